"""The one exception hierarchy of eventlens.

    EventlensError                 base class; never raised itself
    ├── InputError                 the user's input is unusable (missing folder, unreadable ZIP, bad option)
    │   ├── RejectedFile           one file cannot be processed; carries a one-line reason for rejected.csv
    │   └── BadCursorError         a paging cursor no listing of the catalog gave (or another listing's)
    ├── ConfigError                a setting or config file is invalid (also an unknown model name)
    ├── ModelError                 a face model is missing or failed to load
    │   └── ModelMismatchError     embeddings from different models were about to be compared
    ├── NotFoundError              a photo, face or person id does not exist in the catalog
    ├── CatalogError               the catalog cannot be opened or migrated
    ├── LockedError                another eventlens run is writing to the same output folder
    └── OutputError                the output folder cannot be written (disk full, read-only, permissions)

The CLI maps these to one clear message and an exit code in one place (``eventlens.cli``); nothing else
catches broad exceptions except the per-photo boundary, which turns any failure on one photo into a
rejection instead of a crash.
"""

from __future__ import annotations

import errno
from typing import ClassVar


class EventlensError(Exception):
    """Base class of every error eventlens raises on purpose."""

    exit_code = 1


class InputError(EventlensError):
    """The input the user gave cannot be used as a whole."""

    exit_code = 2


class RejectedFile(InputError):
    """One input file is skipped; ``reason`` is a short, human-readable line for ``rejected.csv``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadCursorError(InputError):
    """A page cursor (``after=``) that is not the ``next_cursor`` of a page of the same listing."""


class ConfigError(EventlensError):
    """A setting or configuration file is invalid."""

    exit_code = 2


class ModelError(EventlensError):
    """A face model is unknown, not installed, or failed to load."""

    exit_code = 3


class ModelMismatchError(ModelError):
    """Embeddings computed by different models (or versions) must never be compared."""


class NotFoundError(EventlensError):
    """A requested photo, face or person does not exist."""

    exit_code = 4


class CatalogError(EventlensError):
    """The catalog database cannot be opened, is newer than this program, or a migration failed."""

    exit_code = 5


class LockedError(EventlensError):
    """Another run holds the output folder's lock (``OUT/.eventlens/lock``); only one may write at a time.

    Exit code 75 is ``EX_TEMPFAIL`` of sysexits.h: the same command succeeds once the other run ends."""

    exit_code = 75


class OutputError(EventlensError):
    """The export cannot be written (disk full, read-only file system, no permission); the previous export
    is left as it was."""

    exit_code = 6

    #: errno -> what to do about it
    FIXES: ClassVar[dict[int, str]] = {
        errno.ENOSPC: "the disk is full: free some space or choose another --out",
        errno.EDQUOT: "the disk quota is used up: free some space or choose another --out",
        errno.EROFS: "the file system is read-only: choose another --out",
        errno.EACCES: "permission denied: make the output folder writable or choose another --out",
        errno.EPERM: "operation not permitted: make the output folder writable or choose another --out",
        errno.ENAMETOOLONG: "a path is too long: choose a shorter --out",
    }

    @classmethod
    def fix_for(cls, exc: OSError, out_dir: object) -> str:
        """The fix to print for ``exc``, met while writing into ``out_dir``."""
        return cls.FIXES.get(exc.errno or 0, f"check {out_dir} and run the command again")
