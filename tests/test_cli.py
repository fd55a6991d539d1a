"""The ``eventlens`` command: each stage, JSON and quiet output, and errors as one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from testkit import EVENT_PHOTOS, SyntheticEvent, person_folders, snapshot

from eventlens.backends.registry import available
from eventlens.cli import main
from eventlens.settings import Settings


@pytest.fixture
def fake_env(model_cache_dir: Path) -> dict[str, str]:
    return {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(model_cache_dir),
    }


def _invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env)


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}\n{result.exception!r}"
    return result


def _one_clear_error(result: Result, *words: str) -> str:
    """The run failed with exactly one ``error`` line on stderr naming ``words``, and no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_process_prints_a_summary(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    result = _ok(_invoke(["process", str(event.root), "--out", str(out), "--workers", "1"], fake_env))
    text = result.stdout
    for stage in ("ingest", "analyze", "cluster", "export", "output"):
        assert any(line.startswith(stage) for line in text.splitlines()), text
    assert "3 persons (3 new)" in text and str(out.resolve()) in text
    assert person_folders(out) == ["person_001", "person_002", "person_003"]
    last = text.splitlines()[-1]
    assert last.startswith("next ") and "person_001 … person_003" in last
    assert "`eventlens person rename person_001 NAME" in last
    assert f"`eventlens export --out {out.resolve()}`" in last


def test_the_summary_counts_faces_too_small_to_cluster(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    env = {**fake_env, "EVENTLENS_CLUSTER_MIN_FACE_PX": "64"}  # the fake faces are 56 px
    args = ["process", str(event.root), "--out", str(tmp_path / "out"), "--workers", "1"]
    text = _ok(_invoke(args, env)).stdout
    (line,) = [line for line in text.splitlines() if line.startswith("cluster")]
    assert line.endswith("; 10 faces too small to cluster (< cluster_min_face_px)"), line


def test_stages_say_what_they_do_on_stderr(
    event: SyntheticEvent, tmp_path: Path, make_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from eventlens import pipeline  # noqa: PLC0415
    from eventlens.progress import TerminalProgress  # noqa: PLC0415

    pipeline.process(event.root, tmp_path / "out", make_settings(), TerminalProgress(force=True))
    err = capsys.readouterr().err
    for stage, words in [("analyze", "loading models"), ("cluster", "grouping"), ("export", "writing")]:
        assert f"{stage:>8}: {words}" in err, err


def test_process_json(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    args = ["process", str(event.root), "--out", str(out), "--workers", "1", "--json"]
    summary = json.loads(_ok(_invoke(args, fake_env)).stdout)
    assert {"run_id", "ingest", "analyze", "cluster", "export", "stage_s", "wall_s"} <= set(summary)
    assert summary["ingest"]["duplicates"] == 1
    assert summary["analyze"]["photos"] == EVENT_PHOTOS + 1
    assert summary["cluster"]["persons"] == 3 and summary["export"]["persons"] == 3
    again = json.loads(_ok(_invoke(args, fake_env)).stdout)
    assert again["analyze"]["photos"] == 0 and again["run_id"] == summary["run_id"] + 1


def test_quiet_prints_nothing(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    result = _ok(
        _invoke(["process", str(event.root), "--out", str(out), "--workers", "1", "--quiet"], fake_env)
    )
    assert result.stdout == ""
    assert (out / "summary.csv").is_file()
    for stage in ("ingest", "analyze", "cluster", "export"):
        args = [stage, str(event.root)] if stage == "ingest" else [stage]
        assert _ok(_invoke([*args, "--out", str(out), "-q", "--workers", "1"], fake_env)).stdout == ""


def test_stage_commands_one_by_one_equal_process(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    staged, whole = tmp_path / "staged", tmp_path / "whole"
    common = ["--out", str(staged), "--workers", "1", "--json"]
    ingest = json.loads(_ok(_invoke(["ingest", str(event.root), *common], fake_env)).stdout)
    assert set(ingest) >= {"run_id", "ingest"} and "analyze" not in ingest
    assert ingest["ingest"]["new_photos"] == EVENT_PHOTOS + 1
    assert not (staged / "summary.csv").exists()
    analyze = json.loads(_ok(_invoke(["analyze", *common], fake_env)).stdout)
    assert analyze["analyze"]["photos"] == EVENT_PHOTOS + 1 and analyze["analyze"]["faces"] == 10
    cluster = json.loads(_ok(_invoke(["cluster", *common], fake_env)).stdout)
    assert cluster["cluster"]["persons"] == 3
    export = json.loads(_ok(_invoke(["export", *common], fake_env)).stdout)
    assert export["export"]["persons"] == 3
    _ok(_invoke(["process", str(event.root), "--out", str(whole), "--workers", "1", "-q"], fake_env))
    assert snapshot(staged) == snapshot(whole)
    # the human summary of a single stage names only that stage
    text = _ok(_invoke(["analyze", "--out", str(staged), "--workers", "1"], fake_env)).stdout
    assert text.startswith("analyze  0 photos")


def test_models_lists_every_backend() -> None:
    text = _ok(_invoke(["models"], {})).stdout
    lines = {line.split(":")[0].strip(): line.split(":", 1)[1] for line in text.splitlines()}
    for kind in ("detector", "landmarker", "embedder"):
        assert [n.strip() for n in lines[kind].split(",")] == available(kind)  # type: ignore[arg-type]


def test_settings_prints_the_effective_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("min_faces: 4\nlink_mode: copy\n", encoding="utf-8")
    result = _ok(_invoke(["settings", "--config", str(cfg)], {"EVENTLENS_MIN_FACES": "6"}))
    values = json.loads(result.stdout)
    assert set(values) == set(Settings.model_fields)
    assert values["min_faces"] == 6 and values["link_mode"] == "copy"


def test_help_and_version() -> None:
    text = _ok(_invoke(["--help"], {})).stdout
    for command in ("process", "ingest", "analyze", "cluster", "export", "models", "settings"):
        assert command in text
    assert "0." in _ok(_invoke(["--version"], {})).stdout


# --- errors ------------------------------------------------------------------------------------------


def test_missing_photos_path(tmp_path: Path, fake_env: dict[str, str]) -> None:
    result = _invoke(["process", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")], fake_env)
    assert result.exit_code == 2
    _one_clear_error(result, "does not exist")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_zip(tmp_path: Path, fake_env: dict[str, str]) -> None:
    bogus = tmp_path / "photos.rar"
    bogus.write_bytes(b"Rar!\x1a\x07\x00" + bytes(100))
    result = _invoke(["process", str(bogus), "--out", str(tmp_path / "out")], fake_env)
    assert result.exit_code == 2
    _one_clear_error(result, "neither a folder nor a ZIP")


@pytest.mark.parametrize(
    ("env", "config", "field"),
    [
        ({"EVENTLENS_MIN_FACES": "0"}, None, "min_faces"),
        ({"EVENTLENS_WORKERS": "many"}, None, "workers"),
        ({}, "cluster_max_distance: 7\n", "cluster_max_distance"),
        ({}, "min_face_size: 30\n", "min_face_size"),
    ],
)
def test_a_bad_setting(
    event: SyntheticEvent,
    tmp_path: Path,
    fake_env: dict[str, str],
    env: dict[str, str],
    config: str | None,
    field: str,
) -> None:
    args = ["process", str(event.root), "--out", str(tmp_path / "out")]
    if config is not None:
        (tmp_path / "bad.yaml").write_text(config, encoding="utf-8")
        args += ["--config", str(tmp_path / "bad.yaml")]
    result = _invoke(args, {**fake_env, **env})
    assert result.exit_code == 2
    _one_clear_error(result, field)
    assert not (tmp_path / "out").exists(), "nothing is written before the settings are valid"


def test_an_unknown_model(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    """An unknown model name is a bad setting, found when the settings load: before anything runs."""
    result = _invoke(
        ["process", str(event.root), "--out", str(tmp_path / "out")],
        {**fake_env, "EVENTLENS_EMBEDDER": "arcface"},
    )
    assert result.exit_code == 2
    _one_clear_error(result, "arcface", "fake", "did you mean")
    assert not (tmp_path / "out").exists()


def test_a_foreign_folder_in_out(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    (out / "person_002").mkdir(parents=True)
    result = _invoke(["process", str(event.root), "--out", str(out), "--workers", "1"], fake_env)
    assert result.exit_code == 2
    _one_clear_error(result, "person_002", "not written by eventlens")


def test_out_is_a_file(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out.txt"
    out.write_text("mine", encoding="utf-8")
    result = _invoke(["process", str(event.root), "--out", str(out)], fake_env)
    assert result.exit_code == 5
    _one_clear_error(result, "cannot create the catalog folder")
    assert out.read_text(encoding="utf-8") == "mine"


def test_a_newer_catalog(event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    _ok(_invoke(["ingest", str(event.root), "--out", str(out), "-q"], fake_env))
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(out / ".eventlens" / "catalog.sqlite") as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    result = _invoke(["export", "--out", str(out)], fake_env)
    assert result.exit_code == 5
    _one_clear_error(result, "newer")


def test_errors_in_a_real_process_have_no_traceback(tmp_path: Path, fake_env: dict[str, str]) -> None:
    """The installed entry point, in a subprocess: one line on stderr, nothing on stdout."""
    not_zip = tmp_path / "x.zip"
    not_zip.write_text("not a zip", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "eventlens.cli", "process", str(not_zip), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, **fake_env},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"error: {not_zip} is neither a folder nor a ZIP archive"]


def test_a_malformed_config_file_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("min_faces: [1, 2\n", encoding="utf-8")
    result = _invoke(["settings", "--config", str(cfg)], {})
    assert result.exit_code == 2
    _one_clear_error(result, "bad.yaml", "not valid YAML")
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_detector_in_settings_suggests_a_name() -> None:
    result = _invoke(["settings"], {"EVENTLENS_DETECTOR": "yolo"})
    assert result.exit_code == 2
    _one_clear_error(result, "detector", "'yolo'", "did you mean", "available: ")
    result = _invoke(["settings"], {"EVENTLENS_DLIB_RUNTIME": "onx"})
    assert result.exit_code == 2
    _one_clear_error(result, "dlib_runtime", "did you mean 'onnxruntime'")


@pytest.mark.parametrize("command", [["process", "{photos}"], ["ingest", "{photos}"], ["cluster"], ["score"]])
def test_errors_under_json_are_a_json_object_on_stdout(
    event: SyntheticEvent, tmp_path: Path, fake_env: dict[str, str], command: list[str]
) -> None:
    args = [a.format(photos=tmp_path / "nowhere") for a in command]
    result = _invoke([*args, "--out", str(tmp_path / "missing-out"), "--json"], fake_env)
    line = _one_clear_error(result)
    assert json.loads(result.stdout) == {"error": line.removeprefix("error: "), "exit_code": result.exit_code}
    assert result.exit_code == 2


def test_the_exit_codes_are_documented() -> None:
    import eventlens.cli  # noqa: PLC0415
    from eventlens import errors  # noqa: PLC0415

    doc = eventlens.cli.__doc__ or ""
    codes = {
        cls.exit_code for cls in vars(errors).values() if isinstance(cls, type) and hasattr(cls, "exit_code")
    }
    for code in sorted(codes | {0, 130, 143}):
        assert f"\n    {code} " in doc, code


def test_a_malformed_nested_environment_variable_is_a_clean_error() -> None:
    result = _invoke(["settings"], {"EVENTLENS_CURATION": "{not json"})
    assert result.exit_code == 2
    _one_clear_error(result, "curation")
