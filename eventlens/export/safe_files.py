"""How the export writes files: every file is created new, never opened through an existing path.

The originals are read-only to eventlens by construction: the staging folder starts empty, each file in it
is created with ``O_EXCL`` (which also refuses to follow a link left at that path), photos are hard links
made with ``os.link`` (which never replaces anything), and a copy is only made when a link is impossible
(another file system, links not permitted), into a file created new as well. A name that already exists
is a bug and raises instead of being written through.

CSV cells that a spreadsheet would run as a formula are neutralised here (:func:`csv_cell`), for every CSV
eventlens writes.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from eventlens.errors import OutputError

log = logging.getLogger(__name__)

#: the longest file name (in bytes, os.fsencode) most file systems allow
FS_NAME_MAX_BYTES = 255
#: room kept for a rank prefix such as ``001_`` in best/ folders (up to 9,999,999 ranks)
RANK_PREFIX_MAX_BYTES = 8
#: the longest photo name eventlens writes, so that any rank-prefixed form still fits
NAME_MAX_BYTES = FS_NAME_MAX_BYTES - RANK_PREFIX_MAX_BYTES
#: link errors that mean "no link possible here", so a copy is made instead: another file system, links
#: not permitted or not supported, or the original has the most links its file system allows
LINK_FALLBACK_ERRNOS = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
)
#: a text cell starting with one of these is run as a formula by spreadsheets (OWASP CSV injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def csv_cell(value: Any) -> Any:
    """``value`` as a safe CSV cell: text a spreadsheet would run as a formula gets a leading ``'``.

    Numbers (also numbers already formatted as text, like ``-0.1234``) are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _number(value):
        return "'" + value
    return value


@contextmanager
def open_new(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a file that does not exist yet for writing (``O_EXCL``: an existing file or link raises)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    if binary:
        fp: IO[Any] = os.fdopen(fd, "wb")
    else:
        fp = os.fdopen(fd, "w", newline="", encoding="utf-8")
    try:
        with fp:
            yield fp
    except OSError as exc:
        if exc.filename is None:  # write() and close() do not name the file
            exc.filename = str(path)
        raise


def write_new_text(path: Path, text: str) -> None:
    with open_new(path) as fp:
        fp.write(text)


def write_json(path: Path, data: Any) -> None:
    write_new_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A new CSV file; every cell goes through :func:`csv_cell`."""
    with open_new(path) as fp:
        writer = csv.writer(fp)
        writer.writerow([csv_cell(h) for h in header])
        writer.writerows([csv_cell(v) for v in row] for row in rows)


def copy_new(src: Path, dst: Path) -> None:
    """Copy ``src`` to a new file ``dst`` with its times and mode (as ``shutil.copy2``, never over a file)."""
    with open(src, "rb") as fin, open_new(dst, binary=True) as fout:
        _copy_bytes(fin, fout)
    shutil.copystat(src, dst)


def _copy_bytes(fin: IO[bytes], fout: IO[bytes]) -> None:
    """In the kernel where it can (``sendfile``, as ``shutil.copyfile`` does), else through a buffer."""
    offset = 0
    try:
        while sent := os.sendfile(fout.fileno(), fin.fileno(), offset, 1 << 30):
            offset += sent
    except OSError as exc:
        if offset or exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        shutil.copyfileobj(fin, fout, 1 << 20)


def place(src: Path, dst: Path, mode: str) -> str:
    """Put ``src`` at the new path ``dst``: ``hardlink`` (copy where no link is possible), ``copy`` or
    ``symlink``. Returns ``"link"`` or ``"copy"``, for the export summary."""
    if mode == "symlink":
        dst.symlink_to(src.resolve())
        return "link"
    if mode == "hardlink":
        try:
            os.link(src, dst, follow_symlinks=False)
            return "link"
        except OSError as exc:
            if exc.errno not in LINK_FALLBACK_ERRNOS:
                raise
            log.debug("cannot link %s (%s): copying", src, exc.strerror)
    copy_new(src, dst)
    return "copy"


def remove_tree(path: Path) -> None:
    """Remove a folder eventlens made (staging, trash); a failure is logged, not raised."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    shutil.rmtree(
        path, onerror=lambda _fn, failed, info: log.warning("cannot remove %s: %s", failed, info[1])
    )


def fsync_dir(path: Path) -> None:
    """Make the renames and creations in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, text: str, durable: bool = False) -> None:
    """Replace ``path`` by ``text`` atomically (temp file, rename); ``durable`` also syncs the file and its
    folder, so that the new content survives a power cut once this returns."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        with open_new(tmp) as fp:
            fp.write(text)
            if durable:
                fp.flush()
                os.fsync(fp.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)


def output_error(exc: OSError, out_dir: Path, swap_pending: bool = False) -> OutputError:
    """The one-line :class:`OutputError` for an ``OSError`` met while writing the export into ``out_dir``.

    ``swap_pending``: a swap was left half done (its journal remains) and the next export finishes it."""
    where = f" ({exc.filename})" if exc.filename else ""
    fix = OutputError.fix_for(exc, out_dir)
    state = (
        "the next export finishes the interrupted one" if swap_pending else "the previous export is unchanged"
    )
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write the export into {out_dir}: {reason}{where}; {fix}; {state}")
