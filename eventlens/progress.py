"""Progress reporting for long stages, decoupled from how it is shown.

Stages call ``progress.bar(total, "analyze")`` and ``bar.advance(n)``, and ``progress.status(label, text)``
for a step without a count (loading models, clustering). The CLI passes a tqdm-backed
reporter on stderr (silent when ``--quiet`` or when stderr is not a terminal); library callers pass
nothing and get :data:`SILENT`.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Bar(AbstractContextManager["Bar"], Protocol):
    def advance(self, n: int = 1) -> None: ...

    def note(self, text: str) -> None: ...


class Progress(Protocol):
    def bar(self, total: int | None, label: str, unit: str = "photo") -> Bar: ...

    def status(self, label: str, text: str) -> None:
        """A one-line note of what a stage is doing (e.g. "loading models…"), where bars are shown."""


class _SilentBar:
    def __enter__(self) -> _SilentBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def note(self, text: str) -> None:
        return None


class _Silent:
    def bar(self, total: int | None, label: str, unit: str = "photo") -> Bar:
        return _SilentBar()

    def status(self, label: str, text: str) -> None:
        return None


SILENT: Progress = _Silent()


class _TqdmBar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def __enter__(self) -> _TqdmBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def advance(self, n: int = 1) -> None:
        self._bar.update(n)

    def note(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=False)


class TerminalProgress:
    """tqdm bars on stderr; disabled when stderr is not a TTY unless ``force`` is set."""

    def __init__(self, enabled: bool = True, force: bool = False) -> None:
        self.enabled = enabled and (force or sys.stderr.isatty())

    def bar(self, total: int | None, label: str, unit: str = "photo") -> Bar:
        if not self.enabled:
            return _SilentBar()
        from tqdm import tqdm  # noqa: PLC0415 - only when a bar is shown

        return _TqdmBar(tqdm(total=total, desc=f"{label:>8}", unit=f" {unit}", file=sys.stderr, leave=True))

    def status(self, label: str, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"{label:>8}: {text}\n")
            sys.stderr.flush()
