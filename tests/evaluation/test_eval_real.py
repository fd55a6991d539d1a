"""The quality harness end to end with the real models, on a small subset of ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventlens.cli import main
from eventlens.evaluation.annotations import load_annotations
from eventlens.evaluation.detection import evaluate_detection_in_worker
from eventlens.evaluation.identities import IdentityReport, evaluate_identities
from eventlens.settings import Settings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IDENTITIES = DATA / "identities"
GROUPS = DATA / "groups"
#: two LFW identities (250 x 250 photos) and one of dlib's 150 x 150 face chips: quick to analyse
SUBSET = ("Ariel_Sharon", "George_W_Bush", "John_Salley")
#: (labelled root, work folder, settings, report) of the module's one evaluation
Evaluated = tuple[Path, Path, Settings, IdentityReport]

pytestmark = [
    pytest.mark.real_models,
    pytest.mark.skipif(
        not all((IDENTITIES / s).is_dir() for s in SUBSET), reason=f"shared data not found under {IDENTITIES}"
    ),
]


def _subset(dest: Path) -> Path:
    """``dest/identities/<label>/<file>`` as symlinks to the files of :data:`SUBSET`."""
    root = dest / "identities"
    for label in SUBSET:
        (root / label).mkdir(parents=True)
        for f in sorted((IDENTITIES / label).iterdir()):
            (root / label / f.name).symlink_to(f)
    return root


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Evaluated:
    base = tmp_path_factory.mktemp("eval")
    root = _subset(base / "data")
    settings = Settings(workers=1)
    grid = ([settings.cluster_max_distance, 0.5], [settings.min_faces, 3])
    # the layout of ``eventlens eval --work WORK``: the identities catalog lives in WORK/identities
    report = evaluate_identities(root, base / "work" / "identities", settings, sweep_grid=grid)
    return root, base / "work", settings, report


def test_identity_subset_is_clustered_well(evaluated: Evaluated) -> None:
    _, _, _, report = evaluated
    expected = sum(len(list((IDENTITIES / s).iterdir())) for s in SUBSET)
    assert report.photos + report.duplicate_paths == expected
    assert (report.labels, report.photos_without_face, report.unreadable_photos) == (3, 0, 0)
    assert report.scores.pairwise.precision >= 0.95
    assert report.scores.bcubed.f1 >= 0.8
    assert report.run["analyze"]["photos"] == report.photos


def test_sweep_at_the_settings_reproduces_the_stage(evaluated: Evaluated) -> None:
    _, _, settings, report = evaluated
    assert len(report.sweep) == 4
    at_settings = {(r.threshold, r.min_faces): r.scores for r in report.sweep}
    assert at_settings[(settings.cluster_max_distance, settings.min_faces)] == report.scores


def test_rerun_reuses_the_work_folder(evaluated: Evaluated) -> None:
    root, work, settings, report = evaluated
    again = evaluate_identities(root, work / "identities", settings)
    assert again.run["analyze"]["photos"] == 0
    assert again.scores == report.scores


def test_cli_prints_json_and_skips_missing_parts(evaluated: Evaluated) -> None:
    root, work, _, report = evaluated
    args = ["eval", "--data", str(root.parent), "--work", str(work), "--json", "--workers", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["identities"]["scores"] == report.scores.as_dict()
    assert out["identities"]["run"]["analyze"]["photos"] == 0
    assert "skipped" in out["detection"]
    assert "skipping detection" in result.stderr


@pytest.mark.skipif(not (GROUPS / "annotations").is_dir(), reason=f"shared data not found under {GROUPS}")
def test_detection_on_the_dlib_photos() -> None:
    dlib = [im for im in load_annotations(GROUPS) if im.source == "dlib"]
    report = evaluate_detection_in_worker(GROUPS, Settings(), dlib)
    assert len(report.images) == 9
    head = report.recall_at_least(20)
    assert head.faces == 43
    assert head.recall is not None and head.recall >= 0.7
    assert report.photos_per_s > 0
