"""Build a realistic 12 MP "event" from the shared photos, for the throughput benchmark.

Usage: python benchmarks/make_event.py [--data ../shared/data] [--photos 240] [--event-dir DIR]
                                      [--size 4000x3000]

Every photo of ``data/groups`` (multi-person; a quarter of the event, so all 59 from 236 photos on, a
seeded sample below) is used, then identity photos in a seeded order fill the event up to ``--photos``;
when those run out, seeded *variants* of identity photos (mirrored, zoomed and shifted crops) are added,
as an event holds many shots of the same people. Each source is fitted to 4000x3000 (landscape and square
sources) or 3000x4000 (portrait sources) by a 4:3 centre crop and a Lanczos resize, then saved as JPEG
quality 90 with an EXIF ``DateTimeOriginal`` on an afternoon time line. A seeded 10 % are stored rotated
with ``Orientation=6``, so decoders must rotate them. Enlarged from mostly small sources, the photos are
smoother than a detailed camera photo (0.9 MB per file on average), so entropy decoding may be a little
cheaper than on real camera files.

Tight face crops are left out: the 112x112 aligned celebrity crops and the 150x150 dlib face chips would
become 12 MP frames filled edge to edge by one face, which no event camera produces (and a face that
touches every border is not what the detector or the timing should be judged on). LFW photos (250x250,
head and shoulders with background) are kept: enlarged they read as close portraits.

What the default event (240 photos, seed 20240615) holds, as found by ``eventlens process`` with default
settings (``bench_throughput.py`` prints it for every run): 2099 faces, 8.7 per photo; by faces per photo
1: 122 photos, 2: 53, 3-5: 30, 6-10: 15, 11-20: 5, 21+: 15, none without a face. The 59 group photos
hold 1833 of the faces (31 per photo: class, team, crowd and parade shots), the 181 portraits 266 (1.5
per photo, partly visible bystanders included). The crowd shots make per-face work (landmarks,
embedding, attributes) weigh more than at an event of mostly portraits and small groups.

The event is written to ``<event-dir>/photos/`` with ``<event-dir>/manifest.json`` beside it (not inside,
so the pipeline does not see it). It is rebuilt only when the manifest's parameters differ from the
requested ones or a listed file is missing. Building uses one process per core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

#: bump when the way photos are built changes, so cached events are rebuilt
BUILDER_VERSION = 2
DEFAULT_PHOTOS = 240
DEFAULT_SEED = 20240615
DEFAULT_SIZE = (4000, 3000)  # landscape width x height: 12 MP, 4:3
DEFAULT_QUALITY = 90
DEFAULT_ROTATED_FRACTION = 0.10
#: share of group photos in the event (capped by how many there are: 59 of the default 240)
GROUP_SHARE = 0.25
#: identity photos whose long side is below this are tight face crops (112 px aligned, 150 px chips)
MIN_IDENTITY_SIDE_PX = 200
#: a variant crops this fraction of the 4:3 window (then mirrors), so its pixels differ from the original
VARIANT_ZOOM = 0.8
EVENT_START = datetime(2024, 6, 15, 14, 0, 0)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
PHOTOS_SUBDIR = "photos"
MANIFEST_NAME = "manifest.json"

_EXIF_ORIENTATION = 0x0112
_EXIF_MAKE = 0x010F
_EXIF_MODEL = 0x0110
_EXIF_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_EXIF_DATETIME_ORIGINAL = 0x9003


def default_event_dir(photos: int, size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """``~/.cache/eventlens/bench/event-12mp-<N>`` (another name for non-default sizes)."""
    label = "12mp" if size == DEFAULT_SIZE else f"{size[0]}x{size[1]}"
    return Path.home() / ".cache" / "eventlens" / "bench" / f"event-{label}-{photos}"


def parse_size(text: str) -> tuple[int, int]:
    """``"4000x3000"`` -> ``(4000, 3000)``; the landscape size (portrait photos get it swapped)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 4000x3000, got {text!r}") from exc
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (each side >= 16 px)")
    return max(w, h), min(w, h)


@dataclass(frozen=True)
class Source:
    """One shared photo the event may use; ``rel_path`` is relative to the data folder."""

    rel_path: str
    kind: str  # "group" | "identity"
    width_px: int  # as displayed
    height_px: int
    size_bytes: int


@dataclass(frozen=True)
class PhotoJob:
    """How to build one event photo."""

    file_name: str
    source: str  # path relative to the data folder
    kind: str
    variant: int  # 0: the source as is; k > 0: the k-th mirrored, zoomed crop
    orientation: int  # EXIF orientation written: 1 or 6 (stored rotated 90 degrees counter-clockwise)
    taken_at: str  # EXIF format "YYYY:MM:DD HH:MM:SS"


def _displayed_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        w, h = im.size
        if im.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


def list_sources(data_dir: Path) -> tuple[list[Source], list[Source], int]:
    """Group photos, usable identity photos (both sorted) and the number of tight crops left out."""
    groups: list[Source] = []
    identities: list[Source] = []
    excluded = 0
    for kind, root, pattern in (
        ("group", data_dir / "groups", "*"),
        ("identity", data_dir / "identities", "*/*"),
    ):
        for path in sorted(root.glob(pattern)):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            w, h = _displayed_size(path)
            if kind == "identity" and max(w, h) < MIN_IDENTITY_SIDE_PX:
                excluded += 1
                continue
            src = Source(path.relative_to(data_dir).as_posix(), kind, w, h, path.stat().st_size)
            (groups if kind == "group" else identities).append(src)
    return groups, identities, excluded


def _pick(
    groups: list[Source],
    identities: list[Source],
    photos: int,
    rng: random.Random,
    group_share: float = GROUP_SHARE,
) -> list[tuple[Source, int]]:
    """``photos`` (source, variant) pairs: group photos, then identity photos and their variants.

    Group photos make up ``group_share`` (default :data:`GROUP_SHARE`) of the event (with seeded variants
    of them when there are not enough), all of them from ``len(groups) / GROUP_SHARE``
    photos on (a seeded sample below, so a small event keeps the mix); identity photos in seeded order
    fill the rest, then seeded variants of identity photos (round k: all identities reshuffled, variant k).
    """
    wanted = min(max(1, round(photos * group_share)), photos)
    n_groups = min(len(groups), wanted)
    chosen = (
        groups if n_groups == len(groups) else sorted(rng.sample(groups, n_groups), key=lambda s: s.rel_path)
    )
    picked = [(s, 0) for s in chosen]
    group_variant = 1
    while len(picked) < wanted:  # a crowd-heavy event: seeded variants of the group photos too
        pool = groups[:]
        rng.shuffle(pool)
        picked += [(s, group_variant) for s in pool[: wanted - len(picked)]]
        group_variant += 1
    variant = 0
    while len(picked) < photos:
        pool = identities[:]
        rng.shuffle(pool)
        picked += [(s, variant) for s in pool[: photos - len(picked)]]
        variant += 1
    return picked


def plan_event(
    groups: list[Source],
    identities: list[Source],
    photos: int,
    seed: int,
    rotated_fraction: float,
    group_share: float = GROUP_SHARE,
) -> list[PhotoJob]:
    """The photos of the event in shooting order (seeded: the same arguments give the same plan)."""
    rng = random.Random(seed)
    picked = _pick(groups, identities, photos, rng, group_share)
    rng.shuffle(picked)  # an event interleaves group shots and portraits
    rotated = set(rng.sample(range(len(picked)), round(len(picked) * rotated_fraction)))
    jobs = []
    taken = EVENT_START
    for i, (src, variant) in enumerate(picked):
        # bursts of a few seconds between shots of one scene, longer pauses between scenes
        taken += timedelta(seconds=rng.choice((1, 2, 3)) if rng.random() < 0.3 else rng.randint(10, 180))
        jobs.append(
            PhotoJob(
                file_name=f"EVT_{i + 1:04d}.jpg",
                source=src.rel_path,
                kind=src.kind,
                variant=variant,
                orientation=6 if i in rotated else 1,
                taken_at=taken.strftime("%Y:%m:%d %H:%M:%S"),
            )
        )
    return jobs


def _crop_box(
    width: int, height: int, target: tuple[int, int], variant: int
) -> tuple[float, float, float, float]:
    """The centred 4:3 window of a ``width`` x ``height`` source; variants zoom in and shift it."""
    aspect = target[0] / target[1]
    cw, ch = (width, width / aspect) if width / height < aspect else (height * aspect, height)
    cx, cy = width / 2, height / 2
    if variant:
        cw, ch = cw * VARIANT_ZOOM, ch * VARIANT_ZOOM
        shift = random.Random(variant * 7919 + width * 31 + height)
        cx += shift.uniform(-0.5, 0.5) * (width - cw)
        cy += shift.uniform(-0.5, 0.5) * (height - ch)
    return cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2


def build_photo(
    job: PhotoJob, data_dir: Path, out_dir: Path, size: tuple[int, int], quality: int
) -> dict[str, Any]:
    """Write one event photo and return its manifest entry."""
    with Image.open(data_dir / job.source) as opened:
        im = ImageOps.exif_transpose(opened).convert("RGB")
    target = size if im.width >= im.height else (size[1], size[0])
    im = im.resize(target, Image.Resampling.LANCZOS, box=_crop_box(im.width, im.height, target, job.variant))
    if job.variant:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if job.orientation == 6:
        im = im.transpose(Image.Transpose.ROTATE_90)  # a viewer turns it 90 degrees clockwise back
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = job.orientation
    exif[_EXIF_MAKE] = "eventlens-bench"
    exif[_EXIF_MODEL] = f"make_event v{BUILDER_VERSION}"
    exif[_EXIF_DATETIME] = job.taken_at
    exif.get_ifd(_EXIF_IFD)[_EXIF_DATETIME_ORIGINAL] = job.taken_at
    path = out_dir / job.file_name
    im.save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return {
        **asdict(job),
        "stored_px": list(im.size),
        "displayed_px": list(target),
        "size_bytes": path.stat().st_size,
    }


def _build_star(args: tuple[PhotoJob, Path, Path, tuple[int, int], int]) -> dict[str, Any]:
    return build_photo(*args)


def _fingerprint(sources: list[Source]) -> str:
    text = "\n".join(f"{s.rel_path}\t{s.size_bytes}" for s in sources)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def requested_params(
    data_dir: Path,
    photos: int,
    seed: int,
    size: tuple[int, int],
    quality: int,
    rotated_fraction: float,
    sources: list[Source],
    group_share: float = GROUP_SHARE,
) -> dict[str, Any]:
    """What determines the event's content: compared with the manifest to decide whether to rebuild."""
    extra = {} if group_share == GROUP_SHARE else {"group_share": group_share}  # old manifests stay valid
    return {
        **extra,
        "builder_version": BUILDER_VERSION,
        "data_dir": str(data_dir.resolve()),
        "sources_sha256_16": _fingerprint(sources),
        "photos": photos,
        "seed": seed,
        "size": list(size),
        "jpeg_quality": quality,
        "rotated_fraction": rotated_fraction,
    }


def read_manifest(event_dir: Path) -> dict[str, Any] | None:
    """The event's manifest, or None when absent or unreadable."""
    try:
        return json.loads((event_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(event_dir: Path, manifest: dict[str, Any]) -> bool:
    photos_dir = event_dir / PHOTOS_SUBDIR
    try:
        return all(
            (photos_dir / p["file_name"]).stat().st_size == p["size_bytes"] for p in manifest["photos"]
        )
    except (OSError, KeyError, TypeError):
        return False


def _summary(entries: list[dict[str, Any]], excluded_crops: int, build_s: float) -> dict[str, Any]:
    return {
        "photos": len(entries),
        "from_groups": sum(e["kind"] == "group" for e in entries),
        "from_identities": sum(e["kind"] == "identity" for e in entries),
        "variants": sum(e["variant"] > 0 for e in entries),
        "distinct_sources": len({e["source"] for e in entries}),
        "rotated_orientation_6": sum(e["orientation"] == 6 for e in entries),
        "portrait": sum(e["displayed_px"][1] > e["displayed_px"][0] for e in entries),
        "total_mb": round(sum(e["size_bytes"] for e in entries) / 1e6, 1),
        "excluded_tight_crops": excluded_crops,
        "build_s": round(build_s, 1),
    }


def ensure_event(
    data_dir: Path,
    event_dir: Path,
    photos: int = DEFAULT_PHOTOS,
    seed: int = DEFAULT_SEED,
    size: tuple[int, int] = DEFAULT_SIZE,
    quality: int = DEFAULT_QUALITY,
    rotated_fraction: float = DEFAULT_ROTATED_FRACTION,
    workers: int = 0,
    log: Any = None,
    group_share: float = GROUP_SHARE,
) -> dict[str, Any]:
    """Build the event into ``event_dir`` unless an identical one is there; return its manifest.

    ``workers`` processes build the photos (0: one per core). ``event_dir`` must be absent, empty or a
    previous event (it holds ``manifest.json``): it is replaced as a whole, via ``<event_dir>.partial``.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    if photos < 1:
        raise ValueError(f"photos must be >= 1, got {photos}")
    if not (data_dir / "groups").is_dir() or not (data_dir / "identities").is_dir():
        raise FileNotFoundError(f"{data_dir} has no groups/ and identities/ folders (use --data)")
    groups, identities, excluded = list_sources(data_dir)
    if not groups or not identities:
        raise FileNotFoundError(f"{data_dir} holds no usable group or identity photos")
    params = requested_params(
        data_dir, photos, seed, size, quality, rotated_fraction, groups + identities, group_share
    )
    old = read_manifest(event_dir)
    if old is not None and old.get("params") == params and _is_complete(event_dir, old):
        return old
    if event_dir.exists() and old is None and any(event_dir.iterdir()):
        raise FileExistsError(
            f"{event_dir} exists and is not a benchmark event (no {MANIFEST_NAME}); not touching it"
        )

    jobs = plan_event(groups, identities, photos, seed, rotated_fraction, group_share)
    partial = event_dir.with_name(event_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / PHOTOS_SUBDIR).mkdir(parents=True)
    n_proc = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    say(f"building {len(jobs)} photos of {size[0]}x{size[1]} into {event_dir} on {n_proc} processes ...")
    started = time.perf_counter()
    args = [(job, data_dir, partial / PHOTOS_SUBDIR, size, quality) for job in jobs]
    if n_proc == 1:
        entries = [_build_star(a) for a in args]
    else:
        with multiprocessing.get_context("spawn").Pool(n_proc) as pool:
            entries = pool.map(_build_star, args, chunksize=max(1, math.ceil(len(args) / (n_proc * 8))))
    manifest = {
        "params": params,
        "summary": _summary(entries, excluded, time.perf_counter() - started),
        "photos": entries,
    }
    (partial / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if event_dir.exists():
        shutil.rmtree(event_dir)
    partial.rename(event_dir)
    say(f"built in {manifest['summary']['build_s']} s: {json.dumps(manifest['summary'])}")
    return manifest


def add_event_options(p: argparse.ArgumentParser) -> None:
    """The event options shared by this script and ``bench_throughput.py``."""
    p.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="shared data folder, relative to the repo root (default ../shared/data)",
    )
    p.add_argument(
        "--photos",
        "-n",
        type=int,
        default=DEFAULT_PHOTOS,
        help=f"photos in the event (default {DEFAULT_PHOTOS})",
    )
    p.add_argument(
        "--event-dir",
        type=Path,
        help="where the built event is cached (default ~/.cache/eventlens/bench/event-12mp-<N>)",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        default=DEFAULT_SIZE,
        help="landscape size WxH; portrait photos get it swapped (default 4000x3000 = 12 MP)",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"selection seed (default {DEFAULT_SEED})")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help="JPEG quality (default 90)")
    p.add_argument(
        "--rotated-fraction",
        type=float,
        default=DEFAULT_ROTATED_FRACTION,
        help="share stored rotated with EXIF Orientation=6 (default 0.1)",
    )
    p.add_argument(
        "--build-workers", type=int, default=0, help="processes building the event (default: cores)"
    )


def resolve_data_dir(data: Path) -> Path:
    """``data`` as given when absolute, else relative to the repository root (the parent of benchmarks/)."""
    return data if data.is_absolute() else (Path(__file__).resolve().parents[1] / data).resolve()


def event_from_args(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """Build (or reuse) the event the parsed options describe; return its folder and manifest."""
    event_dir = (args.event_dir or default_event_dir(args.photos, args.size)).expanduser().resolve()
    manifest = ensure_event(
        resolve_data_dir(args.data),
        event_dir,
        photos=args.photos,
        seed=args.seed,
        size=args.size,
        quality=args.quality,
        rotated_fraction=args.rotated_fraction,
        workers=args.build_workers,
    )
    return event_dir, manifest


def main(argv: list[str] | None = None) -> None:
    """Build the event and print its manifest summary as JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    args = p.parse_args(argv)
    event_dir, manifest = event_from_args(args)
    print(json.dumps({"event_dir": str(event_dir), **manifest["summary"]}, indent=2))


if __name__ == "__main__":
    main()
