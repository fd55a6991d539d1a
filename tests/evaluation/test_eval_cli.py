"""``eventlens eval`` without models: registration, options, errors, cheap import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from eventlens.cli import main


def test_eval_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(main, ["eval", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--work", "--sweep", "--min-face-px", "--json", "--workers", "--config"):
        assert option in result.output


def test_eval_refuses_a_folder_without_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "neither identities/ nor groups/annotations/" in result.stderr


def test_importing_the_command_loads_no_numeric_code() -> None:
    code = "import sys, eventlens.evaluation.cli; print('numpy' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
