"""What every ``eventlens`` command shares: the shared options and the one mapping of errors to a line
and an exit code (:func:`fail_cleanly`). Its own module so that command modules (``eventlens.cli``,
``eventlens.evaluation.cli``) use it without importing each other."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from eventlens.errors import EventlensError

DEFAULT_OUT = Path("eventlens-output")


EXIT_SIGINT = 130
EXIT_SIGTERM = 143
_RESUME_HINT = "finished photos are saved; run the same command again to resume"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: it takes Ctrl-C's path (run marked ``interrupted``, workers
    stopped, finished photos kept)."""


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fail(message: str, exit_code: int, as_json: bool) -> NoReturn:
    """One line on stderr and, under --json, ``{"error": ..., "exit_code": ...}`` on stdout."""
    click.echo(f"error: {message}" if exit_code < EXIT_SIGINT else f"\n{message}", err=True)
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": exit_code}))
    sys.exit(exit_code)


def fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            with _sigterm_as_interrupt():
                return fn(*args, **kwargs)
        except EventlensError as exc:
            fail(str(exc), exc.exit_code, as_json)
        except Terminated:
            fail(f"interrupted by SIGTERM: {_RESUME_HINT}", EXIT_SIGTERM, as_json)
        except KeyboardInterrupt:
            fail(f"interrupted: {_RESUME_HINT}", EXIT_SIGINT, as_json)

    return wrapper


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command shares: output folder, config, workers, verbosity and output format."""
    decorators = [
        click.option(
            "--out",
            "out_dir",
            type=click.Path(path_type=Path),
            default=DEFAULT_OUT,
            show_default=True,
            help="Output folder (holds the catalog in OUT/.eventlens).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="YAML settings file (default: ./eventlens.yaml if present).",
        ),
        click.option("--workers", type=int, help="Worker processes (default: one per core)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary."),
        click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON summary."),
        click.option("--verbose", "-v", is_flag=True, help="Log details to stderr."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fail_cleanly(fn)
