"""Throughput of ``eventlens enhance`` on the 240-photo 12 MP event, and a before/after contact sheet.

Usage:
    python benchmarks/bench_enhance.py [--photos 240] [--workers 2] [--sheet bench-out/enhance_sheet.png]

The event is built by ``make_event.py`` (cached outside the repository) and processed once by the real
pipeline (``eventlens process``, catalog cached beside the event in ``<event-dir>-processed``). Each
measurement then deletes ``OUT/enhanced`` and runs :func:`eventlens.deliver.stage.enhance` on every photo
(``--photos all``) with ``--workers`` processes, wall time from the call to its return (worker start
included). Two passes:

* ``default``: the default target band: well-exposed photos are byte copies, the rest are corrected;
* ``every photo corrected``: a target band almost no photo is in (photo and face brightness 0.62..0.66),
  so nearly every photo is decoded, corrected and re-encoded at full resolution: the worst case.

The machine's load average is printed before and after: wall-clock photos/s is only comparable on a
quiet machine; the CPU time of the per-photo work (decode, correct, encode, in the workers) and the
photos/s it allows on ``--workers`` cores (pool start and catalog reads excluded) are less
load-dependent. A contact sheet of the most changed photos of the default pass (before | after, with the
corrections) is written to ``--sheet`` (PNG, under the git-ignored ``bench-out/``) for a person to look
at, and one of the "every photo corrected" pass beside it (``<sheet>_every.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from make_event import add_event_options, event_from_args
from PIL import Image, ImageDraw, ImageOps

from eventlens import pipeline
from eventlens.catalog.db import default_url, open_catalog
from eventlens.deliver.stage import ENHANCED_DIR, enhance
from eventlens.settings import load_settings

TARGET_PHOTOS_PER_S = 4.0
THUMB_PX = 360
#: a target band almost no photo is in: nearly every photo is corrected (the worst case)
EVERY_PHOTO_CORRECTED = {
    "photo_brightness_min": 0.62,
    "photo_brightness_max": 0.66,
    "face_brightness_min": 0.62,
    "face_brightness_max": 0.66,
}


def processed_event(event_dir: Path, workers: int) -> Path:
    """The event's output folder with its catalog (``eventlens process`` run once, then cached)."""
    out = event_dir.parent / f"{event_dir.name}-processed"
    if not (out / ".eventlens" / "catalog.sqlite").is_file():
        sys.stderr.write(f"processing the event once into {out} (real models) ...\n")
        pipeline.process(event_dir / "photos", out, load_settings(workers=workers))
    return out


def _run(out: Path, workers: int, **deliver: Any) -> dict[str, Any]:
    shutil.rmtree(out / ENHANCED_DIR, ignore_errors=True)
    settings = load_settings(workers=workers, deliver=deliver or None)
    engine = open_catalog(default_url(out))
    load_before = os.getloadavg()
    try:
        started = time.perf_counter()
        summary = enhance(engine, out, settings, "all", workers=workers)
        wall = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        **summary.model_dump(mode="json"),
        "wall_s": round(wall, 2),
        "photos_per_s": round(summary.photos / wall, 2),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }


def _thumb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((THUMB_PX, THUMB_PX))
        return im


def contact_sheet(out: Path, event_photos: Path, sheet: Path, count: int = 12) -> int:
    """Before | after pairs of the ``count`` photos whose exposure changed most; returns the pairs drawn."""
    meta = json.loads((out / ENHANCED_DIR / "metadata.json").read_text(encoding="utf-8"))
    changed = [e for e in meta["photos"] if e["status"] == "enhanced"]
    changed.sort(key=lambda e: -abs(e["after"]["brightness"] - e["before"]["brightness"]))
    chosen = changed[:count]
    if not chosen:
        return 0
    row_h = THUMB_PX + 44
    canvas = Image.new("RGB", (2 * THUMB_PX + 30, row_h * len(chosen) + 10), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, e in enumerate(chosen):
        y = 10 + i * row_h
        canvas.paste(_thumb(event_photos / e["photo"]), (10, y))
        canvas.paste(_thumb(out / ENHANCED_DIR / e["file"]), (20 + THUMB_PX, y))
        c = e["corrections"]
        b, a = e["before"], e["after"]
        text = (
            f"{e['photo']}: brightness {b['brightness']:.2f}->{a['brightness']:.2f}"
            f" faces {b['face_brightness'] or 0:.2f}->{a['face_brightness'] or 0:.2f}"
            f" | gain {c['exposure_gain']} gamma {c['gamma']} wb {c['white_balance']}"
            f" contrast {c['contrast']} denoise {c['denoise']['chroma_blur_px']}"
            f" sharpen {c['sharpen']['percent']}%"
        )
        draw.text((10, y + THUMB_PX + 4), text, fill=(0, 0, 0))
    sheet.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(sheet)
    return len(chosen)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    p.add_argument("--workers", type=int, default=2, help="enhance worker processes (default 2)")
    p.add_argument("--sheet", type=Path, default=Path("bench-out/enhance_contact_sheet.png"))
    args = p.parse_args(argv)
    event_dir, _manifest = event_from_args(args)
    out = processed_event(event_dir, args.workers)
    default = _run(out, args.workers)
    pairs = contact_sheet(out, event_dir / "photos", args.sheet)
    forced = _run(out, args.workers, **EVERY_PHOTO_CORRECTED)
    every_sheet = args.sheet.with_name(f"{args.sheet.stem}_every{args.sheet.suffix}")
    every_pairs = contact_sheet(out, event_dir / "photos", every_sheet)
    lines = [
        f"## enhance: {default['photos']} photos of 12 MP, {args.workers} workers",
        "",
        "| pass | photos | enhanced | unchanged | failed | wall s | photos/s | CPU s per photo | "
        "photos/s the CPU allows | load avg before / after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("default", default), ("every photo corrected", forced)):
        cpu_per_photo = r["cpu_s"] / max(r["photos"], 1)
        ceiling = args.workers / cpu_per_photo if cpu_per_photo > 0 else 0.0
        lines.append(
            f"| {name} | {r['photos']} | {r['enhanced']} | {r['unchanged']} | {r['failed']} | {r['wall_s']} "
            f"| {r['photos_per_s']} | {cpu_per_photo:.3f} | {ceiling:.1f} "
            f"| {r['load_before'][0]} / {r['load_after'][0]} |"
        )
    lines += [
        "",
        f"target >= {TARGET_PHOTOS_PER_S} photos/s; cores: {os.cpu_count()}; contact sheets "
        f"(before | after): default pass {pairs} pairs, {args.sheet}; every photo corrected "
        f"{every_pairs} pairs, {every_sheet}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
