"""``eventlens person ...`` end to end with the fake backend: corrections made with the CLI survive
``process`` with new photos, a full re-cluster and the import of a ``cluster_labels.json`` that names other
persons; a stale ``OUT/cluster_labels.json`` never reverts a later correction; one-line errors; the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from testkit import A, B, C, D, SyntheticEvent, folder_photos, person_folders, read_csv, read_metadata

from eventlens import lock as output_lock
from eventlens.cli import main


@pytest.fixture
def env(model_cache_dir: Path) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_WORKERS": "1",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }


def run(env: dict[str, str], *args: str, **extra: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={**env, **extra})
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"
    return result


def face(out: Path, photo: str, index: int = 0) -> str:
    """``photo_sha256:face`` of a face, read from face_data.csv as a user would."""
    row = next(
        r for r in read_csv(out / "face_data.csv")[1] if r["photo"] == photo and r["face"] == str(index)
    )
    return f"{row['photo_sha256']}:{row['face']}"


def person_of(out: Path, photo: str, index: int = 0) -> str:
    return next(
        r["person"]
        for r in read_csv(out / "face_data.csv")[1]
        if r["photo"] == photo and r["face"] == str(index)
    )


def summary(out: Path) -> dict[str, tuple[str, str]]:
    return {r["person"]: (r["name"], r["category"]) for r in read_csv(out / "summary.csv")[1]}


def test_cli_corrections_survive_process_re_cluster_and_label_import(
    event: SyntheticEvent, tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    run(env, "process", str(event.root), "--out", str(out), "-q")
    assert person_folders(out) == ["person_001", "person_002", "person_003"]  # A, B, C; D unassigned
    b_face = face(out, "p05.jpg")
    printed = run(env, "person", "rename", "person_001", "Ana", "--out", str(out))
    assert printed.stdout.count("\n") == 1 and "rename: person_001 (no name) -> Ana" in printed.stdout
    assert f"eventlens export --out {out}" in printed.stderr  # the catalog changed; the folders at export
    run(env, "person", "category", "Ana", "main", "--out", str(out), "-q")
    run(env, "person", "not", face(out, "p01.png"), "person_001", "--out", str(out), "-q")
    run(env, "person", "move", face(out, "p07.png"), "--to", "new", "--out", str(out), "-q")  # D: person_004
    run(env, "person", "hide", "person_003", "--out", str(out), "-q")
    run(env, "person", "show-face", "person_002", b_face, "--out", str(out), "-q")
    run(env, "export", "--out", str(out), "-q")

    def check() -> None:
        assert person_folders(out) == ["person_001", "person_002", "person_004"]  # person_003 hidden
        assert summary(out)["person_001"] == ("Ana", "main")
        assert person_of(out, "p01.png") == ""  # not person_001, ever
        assert "p01.png" in folder_photos(out, "unassigned")
        assert person_of(out, "p07.png") == "person_004"
        assert person_of(out, "p06.png") == "person_003"  # hidden, its faces still its own
        assert "p06.png" not in folder_photos(out, "unassigned")
        rep = read_metadata(out / "person_002")["representative_face"]
        assert f"{rep['photo_sha256']}:{rep['face']}" == b_face

    check()
    # new photos, processed into the same folder: the new faces join the persons, the corrections stay
    event.add("new/n1.png", [A, B], 11)
    event.add("new/n2.png", [A], 12)
    event.add("new/n3.png", [D], 13)
    run(env, "process", str(event.root), "--out", str(out), "-q")
    check()
    assert {"new/n1.png", "new/n2.png"} <= folder_photos(out, "person_001")
    assert "new/n3.png" in folder_photos(
        out, "person_004"
    )  # the moved face's person attracts its look-alikes
    # a full re-cluster (the partition is computed from scratch every run), with other settings too
    run(env, "cluster", "--out", str(out), "-q", EVENTLENS_CLUSTER_THRESHOLD="0.4")
    run(env, "export", "--out", str(out), "-q")
    check()
    # a labels file in OUT naming other persons changes only them
    (out / "cluster_labels.json").write_text(
        json.dumps({"person_002": {"name": "Ben", "category": "important"}})
    )
    run(env, "process", str(event.root), "--out", str(out), "-q")
    check()
    assert summary(out)["person_002"] == ("Ben", "important")
    # the file is now stale for person_002 after a CLI rename; the next process must not revert it
    run(env, "person", "rename", "person_002", "Benjamin", "--out", str(out), "-q")
    run(env, "process", str(event.root), "--out", str(out), "-q")
    assert summary(out)["person_002"] == ("Benjamin", "important")
    # an edit of the file by the user is applied (it is newer than the file eventlens read)
    (out / "cluster_labels.json").write_text(
        json.dumps({"person_002": {"name": "Bo", "category": "important"}})
    )
    run(env, "score", "--out", str(out), "-q")
    assert summary(out)["person_002"] == ("Bo", "important")
    history = json.loads(run(env, "person", "history", "--out", str(out), "--json").stdout)
    newest = [(h["action"], h["by"].split(":")[0]) for h in history][:4]
    assert newest == [("rename", "labels"), ("rename", "cli"), ("category", "labels"), ("rename", "labels")]


def test_merge_and_undo_with_the_cli(event: SyntheticEvent, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out"
    run(env, "process", str(event.root), "--out", str(out), "-q")
    run(env, "person", "merge", "person_002", "person_003", "--out", str(out), "-q")
    run(env, "process", str(event.root), "--out", str(out), "-q")
    assert person_folders(out) == ["person_001", "person_002"]
    assert folder_photos(out, "person_002") == event.photos_of(B) | event.photos_of(C)
    undone = run(env, "person", "undo", "--out", str(out)).stdout
    assert "undid #1 (person_003 merged into person_002" in undone
    run(env, "process", str(event.root), "--out", str(out), "-q")
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
    assert folder_photos(out, "person_003") == event.photos_of(C)


def test_errors_are_one_line_and_a_correction_takes_the_lock(
    event: SyntheticEvent, tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    run(env, "process", str(event.root), "--out", str(out), "-q")
    for args, code, words in [
        (["rename", "person_009", "X"], 4, "no person 'person_009'"),
        (["move", "p01.png", "--to", "person_001"], 2, "PHOTO_SHA256:FACE"),
        (["not", "abcdef:0", "person_001"], 4, "no face abcdef:0"),
        (["merge", "person_001", "person_001"], 2, "into itself"),
        (["undo"], 2, "no correction to undo"),
    ]:
        result = CliRunner().invoke(main, ["person", *args, "--out", str(out)], env=env)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == code and len(lines) == 1 and words in lines[0], result.stderr
    held = output_lock.acquire(out / ".eventlens", "test")
    try:
        result = CliRunner().invoke(main, ["person", "rename", "1", "Ana", "--out", str(out)], env=env)
        assert result.exit_code == 75 and "in use by" in result.stderr
    finally:
        held.release()
    missing = CliRunner().invoke(main, ["person", "history", "--out", str(tmp_path / "nope")], env=env)
    assert missing.exit_code == 2 and "holds no eventlens catalog" in missing.stderr


def test_answered_suggestions_and_merges_survive_a_full_re_cluster(
    event: SyntheticEvent, tmp_path: Path, env: dict[str, str]
) -> None:
    """B and C (person_002, person_003) are the one pair not sharing a photo: the only suggestion. "No" keeps
    them apart even at a threshold that joins them; "yes" merges them for good; both are undone by undo."""
    out = tmp_path / "out"
    env = {**env, "EVENTLENS_SUGGESTIONS_MAX_DISTANCE": "1.99"}
    loose = "1.6"  # a threshold at which B's and C's faces link
    run(env, "process", str(event.root), "--out", str(out), "-q")
    listed = json.loads(run(env, "person", "suggestions", "--out", str(out), "--json").stdout)
    assert [(s["person"], s["other"]) for s in listed] == [("person_002", "person_003")]
    answered = run(env, "person", "answer", "person_002", "person_003", "--different", "--out", str(out))
    assert "not_same: person_002 is not the same person as person_003" in answered.stdout
    assert json.loads(run(env, "person", "suggestions", "--out", str(out), "--json").stdout) == []
    run(env, "cluster", "--out", str(out), "-q", EVENTLENS_CLUSTER_MAX_DISTANCE=loose)
    run(env, "export", "--out", str(out), "-q")
    assert folder_photos(out, "person_002") == event.photos_of(B)
    assert folder_photos(out, "person_003") == event.photos_of(C)
    # the control: without the answer, that threshold makes B and C one person
    run(env, "person", "undo", "--out", str(out), "-q")
    run(env, "cluster", "--out", str(out), "-q", EVENTLENS_CLUSTER_MAX_DISTANCE=loose)
    run(env, "export", "--out", str(out), "-q")
    assert "person_003" not in person_folders(out)
    run(env, "cluster", "--out", str(out), "-q")  # back at the default threshold: two persons again
    run(env, "export", "--out", str(out), "-q")
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
    pair = json.loads(run(env, "person", "suggestions", "--out", str(out), "--json").stdout)
    assert len(pair) == 1
    a, b = pair[0]["person"], pair[0]["other"]
    run(env, "person", "answer", a, b, "--same", "--out", str(out), "-q")
    run(env, "cluster", "--out", str(out), "-q")
    run(env, "export", "--out", str(out), "-q")
    assert folder_photos(out, a) == event.photos_of(B) | event.photos_of(C)
    assert json.loads(run(env, "person", "suggestions", "--out", str(out), "--json").stdout) == []
    refit = run(env, "person", "refit", "--out", str(out)).stdout
    assert "refit: 1 answered suggestions, not enough" in refit  # the undone "no" does not count
