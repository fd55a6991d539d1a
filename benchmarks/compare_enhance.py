"""Do two revisions of ``eventlens enhance`` write the same corrections? Decisions equal, pixels close.

Usage:
    python benchmarks/compare_enhance.py [REV_A] [REV_B] [--band every|default] [--workers 2] [--photos 240]

REV_A (default ``main``) and REV_B (default ``.``, the work tree as it is) are unpacked as in
``compare_outputs.py``; each runs ``eventlens enhance --photos all`` on its own copy of the catalog of
the 240-photo 12 MP event of ``bench_enhance.py`` (built and processed on first use), with the target
band of its "every photo corrected" pass (``--band every``, the default: nearly every photo is decoded,
corrected and re-encoded) or the default settings. Then, photo by photo:

* the decisions in ``enhanced/metadata.json`` must be identical: status, reason and every correction
  (gain, gamma, white balance, levels, denoise, sharpen, local contrast);
* the measures recorded there (before, after, sharpness at full resolution) may differ by measurement
  noise: the largest difference is printed;
* a photo left unchanged must be the same bytes in both; an enhanced one is decoded from both outputs
  and compared pixel by pixel: mean and largest absolute difference (0..255 levels), and the share of
  pixels more than 2 levels apart.

Exit status 1 when a decision differs, an unchanged photo's bytes differ, or a photo's mean absolute
pixel difference reaches ``--max-mean-diff`` (default 1 level).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from bench_enhance import EVERY_PHOTO_CORRECTED, processed_event
from compare_outputs import copy_catalog, eventlens, unpack
from make_event import add_event_options, event_from_args
from PIL import Image

log = logging.getLogger("compare_enhance")
#: the parts of a photo's metadata entry that are decisions (the rest are measures)
DECISIONS = ("status", "reason", "corrections", "format", "icc", "size")
MEASURES = ("before", "after", "sharpness_full")


def _numbers(value: object, prefix: str = "") -> dict[str, float]:
    """Every number in a nested dict, keyed by its path."""
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for k, v in value.items():
            out.update(_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: float(value)} if isinstance(value, int | float) and not isinstance(value, bool) else {}


def _pixels(a: Path, b: Path) -> tuple[float, int, float]:
    """Mean and largest absolute difference, and the share of values more than 2 levels apart."""
    with Image.open(a) as image_a, Image.open(b) as image_b:
        x = np.asarray(image_a.convert("RGB"), dtype=np.int16)
        y = np.asarray(image_b.convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return float("inf"), 255, 1.0
    d = np.abs(x - y)
    return float(d.mean()), int(d.max()), float((d > 2).mean())


def _run(src: Path, catalog_of: Path, out: Path, config: Path, workers: int) -> dict[str, Any]:
    copy_catalog(catalog_of, out)
    args = [
        "enhance",
        "--photos",
        "all",
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--config",
        str(config),
    ]
    eventlens(src, args)
    meta: dict[str, Any] = json.loads((out / "enhanced" / "metadata.json").read_text(encoding="utf-8"))
    return meta


def compare(meta_a: dict[str, Any], meta_b: dict[str, Any], out_a: Path, out_b: Path) -> dict[str, Any]:
    """The differences between two enhance outputs (see the module)."""
    photos_a = {e["photo"]: e for e in meta_a["photos"]}
    photos_b = {e["photo"]: e for e in meta_b["photos"]}
    problems = [f"only in A: {p}" for p in sorted(set(photos_a) - set(photos_b))]
    problems += [f"only in B: {p}" for p in sorted(set(photos_b) - set(photos_a))]
    worst_measure: tuple[float, str] = (0.0, "")
    pixel_rows = []
    for name in sorted(set(photos_a) & set(photos_b)):
        a, b = photos_a[name], photos_b[name]
        for key in DECISIONS:
            if a.get(key) != b.get(key):
                problems.append(f"{name}: {key} differs: {a.get(key)!r} vs {b.get(key)!r}")
        na, nb = _numbers({k: a.get(k) for k in MEASURES}), _numbers({k: b.get(k) for k in MEASURES})
        for key in set(na) & set(nb):
            worst_measure = max(worst_measure, (abs(na[key] - nb[key]), f"{name}: {key}"))
        if a["status"] == "failed" or b["status"] == "failed":
            continue
        file_a, file_b = out_a / "enhanced" / a["file"], out_b / "enhanced" / b["file"]
        if a["status"] == "unchanged":
            if file_a.read_bytes() != file_b.read_bytes():
                problems.append(f"{name}: unchanged, but the bytes differ")
            continue
        pixel_rows.append((name, *_pixels(file_a, file_b)))
    return {"problems": problems, "worst_measure": worst_measure, "pixels": pixel_rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev_a", nargs="?", default="main")
    p.add_argument("rev_b", nargs="?", default=".")
    add_event_options(p)
    p.add_argument("--band", choices=("every", "default"), default="every", help="target band (see above)")
    p.add_argument("--workers", type=int, default=2, help="enhance worker processes (default 2)")
    p.add_argument("--max-mean-diff", type=float, default=1.0, help="largest mean |pixel difference| allowed")
    p.add_argument(
        "--work", type=Path, help="folder for the sources and outputs (default: a temp dir, removed)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    event_dir, _manifest = event_from_args(args)
    catalog_of = processed_event(event_dir, args.workers)
    work = args.work or Path(tempfile.mkdtemp(prefix="compare_enhance_"))
    try:
        config = work / "eventlens.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        band = EVERY_PHOTO_CORRECTED if args.band == "every" else {}
        config.write_text(json.dumps({"deliver": band}) + "\n", encoding="utf-8")  # JSON is YAML
        metas, outs = {}, {}
        for side, rev in (("A", args.rev_a), ("B", args.rev_b)):
            src = unpack(rev, work / f"src_{side.lower()}")
            outs[side] = work / side
            metas[side] = _run(src, catalog_of, outs[side], config, args.workers)
        result = compare(metas["A"], metas["B"], outs["A"], outs["B"])
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    rows, problems = result["pixels"], result["problems"]
    means = [r[1] for r in rows]
    statuses = {
        s: sum(e["status"] == s for e in metas["B"]["photos"]) for s in ("enhanced", "unchanged", "failed")
    }
    lines = [
        f"## enhance {args.rev_a} vs {args.rev_b}: {len(metas['B']['photos'])} photos, band {args.band!r}, "
        f"B: {statuses}",
        f"decisions: {f'{len(problems)} differences' if problems else 'identical'}",
        f"largest difference of a recorded measure: {result['worst_measure'][0]:.4f} "
        f"({result['worst_measure'][1] or '-'})",
    ]
    if rows:
        worst = max(rows, key=lambda r: r[1])
        lines.append(
            f"pixels of {len(rows)} enhanced photos: mean |difference| {np.mean(means):.3f} levels "
            f"(worst photo {worst[1]:.3f}: {worst[0]}), largest {max(r[2] for r in rows)}, "
            f"values > 2 levels apart {100 * max(r[3] for r in rows):.3f} % at most"
        )
    lines += [f"  {line}" for line in problems]
    sys.stdout.write("\n".join(lines) + "\n")
    too_far = bool(rows) and max(means) >= args.max_mean_diff
    return 1 if problems or too_far else 0


if __name__ == "__main__":
    sys.exit(main())
