"""One writer per output folder: an exclusive ``flock`` on ``OUT/.eventlens/lock``.

Every command that writes to the catalog or the output folder holds the lock for its whole run. The lock
file holds the holder's PID, command and start time, for the message the second run prints. The kernel
releases a ``flock`` when its holder dies, so a lock file left by a killed run never blocks the next one;
the file itself is never deleted (deleting it would let two runs lock two different files).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eventlens.errors import CatalogError, LockedError, OutputError

LOCK_FILE = "lock"


@dataclass
class OutputLock:
    """A held lock; :meth:`release` (or process exit) frees it."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def acquire(work_dir: Path, command: str) -> OutputLock:
    """Lock ``work_dir`` (``OUT/.eventlens``, created if needed) for ``command``, or raise LockedError."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. --out names a file
        raise CatalogError(f"cannot create the catalog folder {work_dir}: {exc.strerror or exc}") from exc
    path = work_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    except OSError as exc:  # a read-only or full file system, no permission
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write to {work_dir}: {reason}; {OutputError.fix_for(exc, work_dir)}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise LockedError(
            f"{work_dir.parent} is in use by {holder}; wait for it or stop it, then run this again"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise CatalogError(f"cannot lock {path}: {exc.strerror or exc}") from exc
    record = {
        "pid": os.getpid(),
        "command": command,
        "started_at": datetime.now(UTC).isoformat("T", "seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    return OutputLock(path, fd)


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file (the holder may not have written it yet)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"PID {int(record['pid'])} (eventlens {record['command']}, started {record['started_at']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another eventlens run"
