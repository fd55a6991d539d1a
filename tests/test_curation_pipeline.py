"""Curation end to end with the fake backend: labels, scoring rules from settings, near-duplicates, the
curation columns of ``face_data.csv``, and deterministic ``photo_scores.csv`` and ``best/``.

Expressions are controlled through the landmarks: a test-only landmarker (registered for one test through
:func:`testkit.add_test_backends`) reads an expression code hidden in each fake face's colour (a
small shift of the channels that keeps the identity) and returns the fake backend's 68-point template with
the eyes closed, a smile, an open mouth, or unchanged. The eye model ``fake`` measures EAR on those
landmarks, so closed eyes are really measured as closed.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from testkit import A, B, E, add_test_backends, folder_identities, read_csv, read_metadata

from eventlens import pipeline
from eventlens.backends.fake import _TEMPLATE68, PALETTE, FakeLandmarker, _layout, identity_of_color
from eventlens.cli import main
from eventlens.settings import Settings

# --- expressions hidden in the face colour -----------------------------------------------------------

NEUTRAL, CLOSED, SMILE, TALKING = 0, 1, 2, 3
#: each code step moves every channel this many levels towards the middle (the palette colour, and so
#: the identity, is unchanged: the fake backend quantises to levels 0, 128, 255)
CODE_STEP = 8


def _template(code: int) -> np.ndarray:
    t = _TEMPLATE68.copy()
    if code == CLOSED:
        t[[37, 38, 40, 41], 1] = 0.38  # lids meet on the eye's axis: EAR 0
        t[[43, 44, 46, 47], 1] = 0.38
    elif code == SMILE:
        t[48] = (0.26, 0.70)  # mouth corners out and up
        t[54] = (0.74, 0.70)
    elif code == TALKING:
        t[55:60, 1] += 0.10  # lower lip and jaw drop; the corners follow half way
        t[65:68, 1] += 0.12
        t[[48, 54], 1] += 0.05
    return t


TEMPLATES = {code: _template(code) for code in (NEUTRAL, CLOSED, SMILE, TALKING)}


def face_colour(identity: int, code: int) -> tuple[int, int, int]:
    shift = CODE_STEP * code
    return tuple(c - shift if c == 255 else c + shift for c in PALETTE[identity])  # type: ignore[return-value]


def expression_code(rgb: np.ndarray, box: Sequence[float]) -> int:
    x1, y1, x2, y2 = box
    pixel = rgb[int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
    identity = identity_of_color(pixel)
    if identity < 0:
        return NEUTRAL
    shift = int(np.abs(pixel - np.array(PALETTE[identity])).max())
    return round(shift / CODE_STEP)


class ExpressionLandmarker(FakeLandmarker):
    """The fake landmarker, with each face's template chosen by the expression code in its colour."""

    def landmarks68(self, rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return np.zeros((0, 68, 2), dtype=np.float32)
        return np.concatenate([_layout(box, TEMPLATES[expression_code(rgb, box)]) for box in boxes])


_MODULE = "eventlens_test_expression_backend"


@pytest.fixture
def expressive(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Register ``expressive`` as a landmarker for this test only (runs in this process: workers=1)."""
    module = types.ModuleType(_MODULE)
    module.ExpressionLandmarker = ExpressionLandmarker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, _MODULE, module)
    add_test_backends(monkeypatch, {"landmarker.expressive": f"{_MODULE}:ExpressionLandmarker"})
    yield "expressive"


# --- the curation event ------------------------------------------------------------------------------

WIDTH, HEIGHT, FACE = 320, 240, 56


BACKGROUND = 110
FACES_Y = (60, 118)  # the band the faces are drawn in (with the burst copy's nudge)


def _background(seed: int) -> np.ndarray:
    """Mid grey (grey is no fake identity) around the faces, and above and below them a smooth grey
    pattern drawn from ``seed``, which decides the photo's perceptual hash. The pattern fades in over 20 px
    (no edge), so photos with the same faces are about equally sharp."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.uniform(-100, 100, (3, 4)).astype(np.float32), mode="F")
    deviation = np.asarray(coarse.resize((WIDTH, HEIGHT), Image.BILINEAR), dtype=np.float64)
    y = np.arange(HEIGHT, dtype=np.float64)[:, None]
    away = np.maximum(FACES_Y[0] - 10 - y, y - FACES_Y[1] - 10)  # distance from the faces' band
    grey = BACKGROUND + deviation * np.clip(away / 20, 0.0, 1.0)
    return np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)


def write_curation_photo(path: Path, faces: Sequence[tuple[int, int]], seed: int, nudge: int = 0) -> None:
    rgb = _background(seed).copy()
    for slot, (identity, code) in enumerate(faces):
        x, y = 20 + 100 * slot + nudge, 60 + nudge
        rgb[y : y + FACE, x : x + FACE] = face_colour(identity, code)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


#: photo -> (faces as (identity, expression), background seed, nudge). A (7 photos) becomes person_001,
#: B (6) person_002, E (2) person_003. The two "burst" photos share their background: near-duplicates.
CURATION_EVENT: dict[str, tuple[list[tuple[int, int]], int, int]] = {
    "01_a_closed_b_open.png": ([(A, CLOSED), (B, NEUTRAL)], 1, 0),
    "02_a_open_b_open.png": ([(A, NEUTRAL), (B, NEUTRAL)], 2, 0),
    "03_a_smile.png": ([(A, SMILE)], 3, 0),
    "04_b_closed.png": ([(B, CLOSED)], 4, 0),
    "05_b_open.png": ([(B, NEUTRAL)], 5, 0),
    "06_e_closed.png": ([(E, CLOSED)], 6, 0),
    "07_e_open.png": ([(E, NEUTRAL)], 7, 0),
    "08_a_neutral.png": ([(A, NEUTRAL)], 8, 0),
    "09_no_faces.png": ([], 9, 0),
    "10_burst_smile.png": ([(A, SMILE), (B, SMILE)], 10, 0),
    "11_burst_neutral.png": ([(A, NEUTRAL), (B, NEUTRAL)], 10, 2),
    "12_a_talking.png": ([(A, TALKING)], 12, 0),
}
EXPECTED_EXPRESSION = {NEUTRAL: "neutral", CLOSED: "eyes_closed", SMILE: "smiling", TALKING: "mouth_open"}
PERSON = {A: "person_001", B: "person_002", E: "person_003"}
SIMPLE_LABELS = {"person_001": "main", "person_002": "important"}
EXTENDED_LABELS = {
    "person_001": {"name": "Ana", "category": "main"},
    "person_002": {"name": "Ben", "category": "important"},
}
CORE_COLUMNS = ["photo", "photo_sha256", "face", "x1", "y1", "x2", "y2", "det_score", "person"]
CURATION_COLUMNS = [
    "eyes_open",
    "eyes_open_score",
    "smile",
    "smile_score",
    "mouth_open",
    "yaw",
    "pitch",
    "roll",
    "sharpness",
    "brightness",
    "expression",
]
SCORE_COLUMNS = [
    "rank",
    "photo",
    "final_score",
    "persons",
    "results_string",
    "photo_sha256",
    "disqualified",
    "duplicate_group",
    "duplicate_pick",
    "background_brightness",
    "face_expressions",
]


@pytest.fixture(scope="module")
def photos_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("curation-event")
    for rel, (faces, seed, nudge) in CURATION_EVENT.items():
        write_curation_photo(root / rel, faces, seed, nudge)
    return root


@dataclass
class Scores:
    """photo_scores.csv, by photo."""

    header: list[str]
    rows: list[dict[str, str]]

    @classmethod
    def read(cls, out: Path) -> Scores:
        return cls(*read_csv(out / "photo_scores.csv"))

    def __getitem__(self, photo: str) -> dict[str, str]:
        (row,) = [r for r in self.rows if r["photo"] == photo]
        return row

    def score(self, photo: str) -> float:
        return float(self[photo]["final_score"])

    def rank(self, photo: str) -> int:
        return int(self[photo]["rank"])

    @property
    def order(self) -> list[str]:
        return [r["photo"] for r in self.rows]


def _env(settings_env: dict[str, str], model_cache_dir: Path) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
        **settings_env,
    }


def _cli(args: list[str], model_cache_dir: Path, **env: str) -> Result:
    return CliRunner().invoke(main, args, env=_env(env, model_cache_dir))


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"
    return result


def _one_error_line(result: Result, *words: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _best(out: Path, folder: str = "best") -> list[str]:
    return sorted(p.name for p in (out / folder).iterdir())


def _write_labels(out: Path, labels: dict[str, Any], name: str = "cluster_labels.json") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(labels), encoding="utf-8")
    return path


@pytest.fixture
def processed(
    photos_root: Path, tmp_path: Path, make_settings: Callable[..., Settings], expressive: str
) -> Path:
    """The curation event processed with expressions and the simple-form labels in OUT."""
    out = tmp_path / "out"
    _write_labels(out, SIMPLE_LABELS)
    pipeline.process(photos_root, out, make_settings(landmarker=expressive))
    return out


# --- the event is what the tests assume --------------------------------------------------------------


def test_persons_and_expressions_are_measured_as_drawn(processed: Path, photos_root: Path) -> None:
    for identity, label in PERSON.items():
        assert folder_identities(processed, label, photos_root) == {identity}
    header, rows = read_csv(processed / "face_data.csv")
    assert len(rows) == sum(len(faces) for faces, _, _ in CURATION_EVENT.values())
    for row in rows:
        faces, _, _ = CURATION_EVENT[row["photo"]]
        identity, code = faces[int(row["face"])]  # faces are numbered left to right
        assert row["person"] == PERSON[identity]
        assert row["expression"] == EXPECTED_EXPRESSION[code], row
        assert row["eyes_open"] == ("false" if code == CLOSED else "true")
        assert row["smile"] == ("true" if code == SMILE else "false")
        assert row["mouth_open"] == ("true" if code == TALKING else "false")
        assert abs(float(row["yaw"])) < 5 and abs(float(row["roll"])) < 5


# --- face_data.csv -----------------------------------------------------------------------------------


def test_face_data_keeps_the_core_columns_first_and_adds_the_attributes(processed: Path) -> None:
    header, rows = read_csv(processed / "face_data.csv")
    assert header == CORE_COLUMNS + CURATION_COLUMNS
    boxes = {
        (p["photo"], f["face"]): f
        for label in PERSON.values()
        for p in read_metadata(processed / label)["photos"]
        for f in p["faces"]
    }
    for row in rows:
        face = boxes[(row["photo"], int(row["face"]))]
        assert [float(row[k]) for k in ("x1", "y1", "x2", "y2")] == face["box"]
        assert float(row["det_score"]) == face["det_score"]
        assert len(row["photo_sha256"]) == 64
        assert 0.0 <= float(row["eyes_open_score"]) <= 1.0 and 0.0 <= float(row["smile_score"]) <= 1.0
        assert 0.0 <= float(row["brightness"]) <= 1.0 and 0.0 <= float(row["sharpness"]) <= 1.0


# --- labels ------------------------------------------------------------------------------------------


def test_simple_labels_in_out_are_applied_by_process(processed: Path) -> None:
    _, summary = read_csv(processed / "summary.csv")
    assert {r["person"]: r["category"] for r in summary} == {
        "person_001": "main",
        "person_002": "important",
        "person_003": "other",
    }
    assert read_metadata(processed / "person_001")["category"] == "main"
    assert read_metadata(processed / "person_003")["category"] == "other"


def test_extended_labels_put_names_and_categories_in_summary_and_metadata(
    processed: Path, model_cache_dir: Path
) -> None:
    labels = _write_labels(processed.parent, EXTENDED_LABELS, "names.json")
    result = _ok(_cli(["label", "import", str(labels), "--out", str(processed)], model_cache_dir))
    assert "2 persons updated" in result.stdout
    _ok(_cli(["score", "--out", str(processed), "-q"], model_cache_dir))
    _, summary = read_csv(processed / "summary.csv")
    assert [(r["person"], r["name"], r["category"]) for r in summary] == [
        ("person_001", "Ana", "main"),
        ("person_002", "Ben", "important"),
        ("person_003", "", "other"),
    ]
    ana = read_metadata(processed / "person_001")
    assert (ana["name"], ana["category"]) == ("Ana", "main")
    assert read_metadata(processed / "person_003")["name"] is None


def test_label_export_writes_the_extended_form_and_round_trips(
    processed: Path, model_cache_dir: Path
) -> None:
    names = _write_labels(processed.parent, EXTENDED_LABELS, "names.json")
    _ok(_cli(["label", "import", str(names), "--out", str(processed), "-q"], model_cache_dir))
    printed = json.loads(_ok(_cli(["label", "export", "-", "--out", str(processed)], model_cache_dir)).stdout)
    assert printed == {**EXTENDED_LABELS, "person_003": {"name": None, "category": "other"}}

    # the default file already exists (the simple labels): refused without --force, one clear line
    _one_error_line(_cli(["label", "export", "--out", str(processed)], model_cache_dir), "exists", "--force")
    _ok(_cli(["label", "export", "--out", str(processed), "--force", "-q"], model_cache_dir))
    written = json.loads((processed / "cluster_labels.json").read_text(encoding="utf-8"))
    assert written == printed

    # importing the exported file changes nothing
    _ok(
        _cli(
            ["label", "import", str(processed / "cluster_labels.json"), "--out", str(processed), "-q"],
            model_cache_dir,
        )
    )
    again = json.loads(_ok(_cli(["label", "export", "-", "--out", str(processed)], model_cache_dir)).stdout)
    assert again == printed


def test_label_import_changes_only_the_persons_it_names(processed: Path, model_cache_dir: Path) -> None:
    """An import never erases: persons the file does not name keep their labels (``--merge`` is the only
    behaviour and is accepted for old scripts), and a file without a name keeps the name a person has."""

    def labels() -> dict[str, Any]:
        result = _ok(_cli(["label", "export", "-", "--out", str(processed)], model_cache_dir))
        return json.loads(result.stdout)

    _ok(_cli(["person", "rename", "person_003", "Eve", "--out", str(processed), "-q"], model_cache_dir))
    eve = _write_labels(processed.parent, {"person_003": "important"}, "eve.json")
    for extra in (["--merge"], []):
        _ok(_cli(["label", "import", str(eve), *extra, "--out", str(processed), "-q"], model_cache_dir))
        assert labels() == {
            "person_001": {"name": None, "category": "main"},
            "person_002": {"name": None, "category": "important"},
            "person_003": {"name": "Eve", "category": "important"},
        }
    # recorded like every correction: undo reverts the import
    history = _ok(_cli(["person", "history", "--out", str(processed)], model_cache_dir)).stdout
    assert "labels:eve.json category: person_003 other -> important" in history
    _ok(_cli(["person", "undo", "--out", str(processed), "-q"], model_cache_dir))
    assert labels()["person_003"] == {"name": "Eve", "category": "other"}


def test_imported_labels_survive_the_next_score(processed: Path, model_cache_dir: Path) -> None:
    """`score` re-reads OUT/cluster_labels.json; `label import` of another file must update it first."""
    eve = {"person_003": {"name": "Eve", "category": "important"}}
    names = _write_labels(processed.parent, eve, "n.json")
    _ok(_cli(["label", "import", str(names), "--merge", "--out", str(processed), "-q"], model_cache_dir))
    _ok(_cli(["score", "--out", str(processed), "-q"], model_cache_dir))
    _, summary = read_csv(processed / "summary.csv")
    row = next(r for r in summary if r["person"] == "person_003")
    assert (row["name"], row["category"]) == ("Eve", "important")
    stored = json.loads((processed / "cluster_labels.json").read_text(encoding="utf-8"))
    assert stored["person_003"] == {"name": "Eve", "category": "important"}


def test_unknown_persons_are_reported_not_created(processed: Path, model_cache_dir: Path) -> None:
    labels = _write_labels(processed.parent, {"person_001": "main", "person_099": "important"}, "l.json")
    result = _ok(_cli(["score", "--labels", str(labels), "--out", str(processed), "--json"], model_cache_dir))
    reported = json.loads(result.stdout)["labels"]
    assert reported["unknown_persons"] == ["person_099"] and reported["updated"] == 1
    _, summary = read_csv(processed / "summary.csv")
    assert "person_099" not in {r["person"] for r in summary}
    assert not (processed / "person_099").exists()
    text = _ok(_cli(["label", "import", str(labels), "--out", str(processed)], model_cache_dir)).stdout
    assert "not in the catalog: person_099" in text


@pytest.mark.parametrize("command", [["label", "import"], ["score", "--labels"]])
def test_an_invalid_category_is_one_clean_error_line(
    processed: Path, model_cache_dir: Path, command: list[str]
) -> None:
    before = (processed / "photo_scores.csv").read_bytes()
    labels = _write_labels(processed.parent, {"person_001": "bride"}, "bad.json")
    result = _cli([*command, str(labels), "--out", str(processed)], model_cache_dir)
    assert result.exit_code == 2
    _one_error_line(result, "person_001", "'bride'", "main, important, other")
    assert (processed / "photo_scores.csv").read_bytes() == before  # nothing changed
    _, summary = read_csv(processed / "summary.csv")
    assert summary[0]["category"] == "main"


# --- scoring rules -----------------------------------------------------------------------------------


def test_closed_eyes_of_a_main_person_disqualify_the_photo(processed: Path) -> None:
    scores = Scores.read(processed)
    row = scores["01_a_closed_b_open.png"]
    assert row["disqualified"] == "true"
    assert "person_001:main eyes=closed" in row["results_string"]
    assert "REQUIRED_EYES_OPEN" in row["results_string"]
    assert scores.order[-1] == "01_a_closed_b_open.png"  # after every other photo, even one without faces
    assert scores.score("01_a_closed_b_open.png") > scores.score("09_no_faces.png")
    assert [r["photo"] for r in scores.rows if r["disqualified"] == "true"] == ["01_a_closed_b_open.png"]
    assert "01_a_closed_b_open.png" not in " ".join(_best(processed))


RULES_WITHOUT_REQUIREMENT = {
    "main": {"presence": 3.0, "eyes_closed_penalty": 4.0, "smile_reward": 2.0, "require_eyes_open": False},
    "important": {"presence": 1.5, "eyes_closed_penalty": 2.0, "smile_reward": 1.0},
    "other": {"presence": 0.2, "eyes_closed_penalty": 0.5, "smile_reward": 0.3},
}


def _assert_not_disqualified(out: Path) -> None:
    scores = Scores.read(out)
    row = scores["01_a_closed_b_open.png"]
    assert row["disqualified"] == "false" and "REQUIRED_EYES_OPEN" not in row["results_string"]
    assert "person_001:main eyes=closed" in row["results_string"]  # still penalised, and said so
    assert scores.rank("01_a_closed_b_open.png") < scores.rank("09_no_faces.png")
    assert scores.score("01_a_closed_b_open.png") < scores.score("02_a_open_b_open.png")
    assert all(r["disqualified"] == "false" for r in scores.rows)


def test_the_requirement_is_switched_off_by_an_environment_variable(
    processed: Path, model_cache_dir: Path
) -> None:
    rules = json.dumps(RULES_WITHOUT_REQUIREMENT)
    _ok(_cli(["score", "--out", str(processed), "-q"], model_cache_dir, EVENTLENS_CURATION__CATEGORIES=rules))
    _assert_not_disqualified(processed)
    _ok(_cli(["score", "--out", str(processed), "-q"], model_cache_dir))  # back to the defaults
    assert Scores.read(processed)["01_a_closed_b_open.png"]["disqualified"] == "true"


def test_the_requirement_is_switched_off_by_a_config_file(processed: Path, model_cache_dir: Path) -> None:
    config = processed.parent / "eventlens.yaml"
    main_rule = "{presence: 3.0, eyes_closed_penalty: 4.0, smile_reward: 2.0, require_eyes_open: false}"
    config.write_text(
        "curation:\n"
        "  categories:\n"
        f"    main: {main_rule}\n"
        "    important: {presence: 1.5, eyes_closed_penalty: 2.0, smile_reward: 1.0}\n"
        "    other: {presence: 0.2, eyes_closed_penalty: 0.5, smile_reward: 0.3}\n",
        encoding="utf-8",
    )
    _ok(_cli(["score", "--out", str(processed), "--config", str(config), "-q"], model_cache_dir))
    _assert_not_disqualified(processed)


def test_important_closed_eyes_cost_more_than_other_closed_eyes(processed: Path) -> None:
    scores = Scores.read(processed)
    important_drop = scores.score("05_b_open.png") - scores.score("04_b_closed.png")
    other_drop = scores.score("07_e_open.png") - scores.score("06_e_closed.png")
    assert "person_002:important eyes=closed" in scores["04_b_closed.png"]["results_string"]
    assert "person_003:other eyes=closed" in scores["06_e_closed.png"]["results_string"]
    assert other_drop > 0
    assert important_drop > other_drop + 1.0  # penalties 2.0 and 0.5 by default
    assert scores["04_b_closed.png"]["disqualified"] == "false"  # important: penalised, not required


def test_a_smile_raises_the_score(processed: Path) -> None:
    scores = Scores.read(processed)
    assert scores.score("03_a_smile.png") > scores.score("08_a_neutral.png") + 1.0
    assert scores.rank("03_a_smile.png") < scores.rank("08_a_neutral.png")
    smile = float(scores["03_a_smile.png"]["results_string"].split("smile=")[1].split()[0])
    neutral = float(scores["08_a_neutral.png"]["results_string"].split("smile=")[1].split()[0])
    # the drawn faces' mouth pixels are not a photo's: the landmark part of the smile model carries it
    assert smile > 0.75 and neutral < 0.5


def test_a_burst_yields_one_pick(processed: Path) -> None:
    scores = Scores.read(processed)
    pick, other = scores["10_burst_smile.png"], scores["11_burst_neutral.png"]
    assert pick["duplicate_group"] == other["duplicate_group"]
    assert (pick["duplicate_pick"], other["duplicate_pick"]) == ("true", "false")
    assert f"near_duplicate_of_group={other['duplicate_group']}" in other["results_string"]
    assert "near_duplicate" not in pick["results_string"]
    # every other photo is unique
    groups = [r["duplicate_group"] for r in scores.rows]
    assert len(set(groups)) == len(groups) - 1
    assert all(r["duplicate_pick"] == "true" for r in scores.rows if r["photo"] != "11_burst_neutral.png")
    # the copy is penalised below the pick and left out of best/ and the persons' best/
    assert scores.score("11_burst_neutral.png") < scores.score("10_burst_smile.png") - 4.0
    best = _best(processed)
    assert any(name.endswith("10_burst_smile.png") for name in best)
    assert not any(name.endswith("11_burst_neutral.png") for name in best)
    for person in ("person_001", "person_002"):
        assert not any(name.endswith("11_burst_neutral.png") for name in _best(processed, f"{person}/best"))


def test_best_folders_follow_the_ranking(processed: Path) -> None:
    scores = Scores.read(processed)
    qualified = [
        r["photo"] for r in scores.rows if r["disqualified"] == "false" and r["duplicate_pick"] == "true"
    ]
    assert _best(processed) == [f"{i:03d}_{photo}" for i, photo in enumerate(qualified, start=1)]
    assert [int(r["rank"]) for r in scores.rows] == list(range(1, len(CURATION_EVENT) + 1))
    finals = [(r["disqualified"], -float(r["final_score"])) for r in scores.rows]
    assert finals == sorted(finals)
    ana_best = [name.split("_", 1)[1] for name in _best(processed, "person_001/best")]
    assert ana_best[0] in ("03_a_smile.png", "10_burst_smile.png")  # her smiles come first
    assert ana_best[-1] == "01_a_closed_b_open.png"  # her closed eyes last


def test_results_string_explains_the_score(processed: Path) -> None:
    scores = Scores.read(processed)
    assert scores.header == SCORE_COLUMNS
    burst = scores["10_burst_smile.png"]["results_string"]
    parts = burst.split("; ")
    assert parts[0].startswith("person_001:main eyes=open smile=")
    assert parts[1].startswith("person_002:important eyes=open smile=")
    assert parts[-1].startswith("photo sharp=")
    assert scores["09_no_faces.png"]["results_string"].startswith("photo sharp=")
    assert scores["10_burst_smile.png"]["persons"] == "person_001;person_002"


def test_thresholds_come_from_settings(
    photos_root: Path, tmp_path: Path, make_settings: Callable[..., Settings], expressive: str
) -> None:
    """A stricter smile threshold turns the drawn smiles into no smiles, without analysing again."""
    out = tmp_path / "out"
    pipeline.process(photos_root, out, make_settings(landmarker=expressive))
    strict = make_settings(landmarker=expressive, curation={"smile_min_score": 0.999})
    event = pipeline.Event.open(out, strict, create=False)
    try:
        with event.run("score") as summary:
            pipeline.run_export(event, summary)
    finally:
        event.close()
    _, rows = read_csv(out / "face_data.csv")
    assert {r["smile"] for r in rows} == {"false"}
    assert "smiling" not in {r["expression"] for r in rows}


# --- determinism -------------------------------------------------------------------------------------


def _curation_outputs(out: Path) -> tuple[bytes, dict[str, list[str]]]:
    best = {
        folder.relative_to(out).as_posix(): sorted(p.name for p in folder.iterdir())
        for folder in sorted([out / "best", *out.glob("person_*/best")])
    }
    return (out / "photo_scores.csv").read_bytes(), best


def test_photo_scores_and_best_are_deterministic(
    photos_root: Path, tmp_path: Path, make_settings: Callable[..., Settings], expressive: str
) -> None:
    settings = make_settings(landmarker=expressive)
    outputs = []
    for name in ("one", "two"):
        out = tmp_path / name
        _write_labels(out, SIMPLE_LABELS)
        pipeline.process(photos_root, out, settings)
        outputs.append(_curation_outputs(out))
    assert outputs[0] == outputs[1]
    pipeline.process(photos_root, tmp_path / "one", settings)  # again into the same folder
    assert _curation_outputs(tmp_path / "one") == outputs[0]
    scores, best = outputs[0]
    assert len(scores.splitlines()) == len(CURATION_EVENT) + 1
    assert len(best["best"]) == len(CURATION_EVENT) - 2  # minus the disqualified photo and the burst copy
    assert set(best) == {"best", "person_001/best", "person_002/best", "person_003/best"}


def test_photo_scores_and_best_do_not_depend_on_the_number_of_workers(
    photos_root: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Worker processes build their backends from the registry's defaults: the plain fake landmarker."""
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"workers-{workers}"
        _write_labels(out, SIMPLE_LABELS)
        summary = pipeline.process(photos_root, out, make_settings(workers=workers))
        assert summary.analyze.workers == workers
        outputs.append(_curation_outputs(out))
    assert outputs[0] == outputs[1]
    assert len(outputs[0][1]["best"]) == len(CURATION_EVENT) - 1  # all eyes open now; one burst copy out


def test_photo_scores_have_background_brightness_and_face_expressions(processed: Path) -> None:
    scores = Scores.read(processed)
    for photo, (faces, _seed, _nudge) in CURATION_EVENT.items():
        row = scores[photo]
        expected = [f"{PERSON[identity]}:{EXPECTED_EXPRESSION[code]}" for identity, code in faces]
        assert row["face_expressions"].split(";") == (expected or [""]), photo
        # the background is the grey band around the faces (BACKGROUND) plus a pattern averaging near it
        assert abs(float(row["background_brightness"]) - BACKGROUND / 255) < 0.12, photo


def test_every_person_gets_offline_tags_and_a_caption(processed: Path) -> None:
    _header, rows = read_csv(processed / "summary.csv")
    ana = read_metadata(processed / "person_001")
    # A: 7 photos, alone in 03, 08, 12; with B in 01, 02, 10, 11; smiling in 03 and 10 only
    assert "portrait" in ana["tags"] and "with:person_002" in ana["tags"]
    assert "smiling" not in ana["tags"] and "group-photos" not in ana["tags"]
    assert ana["caption"].startswith("person_001 appears in 7 photos, 3 of them alone")
    assert "Most often with person_002 (4 photos)." in ana["caption"]
    for row in rows:
        meta = read_metadata(processed / row["person"])
        assert meta["caption"] and row["caption"] == meta["caption"]
        assert row["tags"] == ";".join(meta["tags"])
    # E appears with nobody
    assert not any(t.startswith("with:") for t in read_metadata(processed / "person_003")["tags"])
