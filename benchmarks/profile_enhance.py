"""Where the CPU time of ``eventlens enhance`` goes: cProfile over one worker's photos, summed by step.

Usage:
    python benchmarks/profile_enhance.py [--photos 240] [--profile-photos 40] [--band every|default]

The 240-photo 12 MP event and its catalog are those of ``bench_enhance.py`` (built and processed on first
use). ``--profile-photos`` photos (evenly spaced over the event, by path) run through
:func:`eventlens.deliver.worker.run_job` one after the other in this process (set up as a worker) under
cProfile, with the target band of ``bench_enhance.py``'s "every photo corrected" pass (``--band every``,
the default) or the default settings. Outputs go to a temporary folder. Printed: CPU seconds per photo
of each step (the cumulative time of the function doing it: decode, the measures, the tone curve, the
chroma smoothing, the sharpening, encode, ...), then the 25 functions with the most own time. CPU
time of one process, so it hardly depends on the machine's load (printed too). The pool's workers run
glibc's malloc on transparent huge pages (``eventlens.analysis.pool.worker_environment``); to profile
the same, start this script with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` in its environment.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench_enhance import EVERY_PHOTO_CORRECTED, processed_event
from make_event import add_event_options, event_from_args

from eventlens.catalog.db import default_url, open_catalog
from eventlens.deliver.stage import chosen_faces, select_photos
from eventlens.deliver.worker import EnhanceJob, init_worker, run_job
from eventlens.settings import DeliverSettings, load_settings

#: (step, file name ending, function name): what each line of the summary sums
STEPS = (
    ("whole job", "deliver/worker.py", "run_job"),
    ("decode + ICC + orientation (both decodes)", "deliver/files.py", "read_photo"),
    ("  of which JPEG/PNG decoding (ImageFile.load)", "PIL/ImageFile.py", "load"),
    ("  of which ICC conversion to sRGB", "deliver/files.py", "_to_srgb"),
    ("  of which EXIF orientation (transpose)", "PIL/ImageOps.py", "exif_transpose"),
    ("measure (reduced copy, before and after)", "deliver/correction.py", "measure_reduced"),
    ("plan (tone curve choice)", "deliver/correction.py", "plan"),
    ("noise estimate + denoise/sharpen choice", "deliver/correction.py", "finish"),
    ("focus measure at full resolution (all calls)", "deliver/correction.py", "focus"),
    ("apply: tone curve + white balance + denoise + sharpen", "deliver/correction.py", "apply"),
    ("  of which tone curve + white balance (LUT)", "PIL/Image.py", "point"),
    ("  of which chroma blur (GaussianBlur)", "PIL/Image.py", "filter"),
    ("  of which sharpen (detail boost)", "deliver/correction.py", "_detail_boost"),
    ("keep sharpness (focus after, local contrast)", "deliver/correction.py", "keep_sharpness"),
    ("encode + EXIF + write", "deliver/files.py", "save_image"),
    ("byte copy of an unchanged photo", "deliver/files.py", "copy_unchanged"),
)


def _jobs(out: Path, count: int, deliver: dict[str, float], target: Path) -> list[EnhanceJob]:
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            photos, chosen, _ = select_photos(conn, load_settings(), "all")
    finally:
        engine.dispose()
    step = max(1, len(chosen) // count)
    values = DeliverSettings(**deliver).model_dump()
    jobs = []
    for sha in chosen[::step][:count]:
        p = photos[sha]
        idx, _ = chosen_faces(p.faces)
        boxes = tuple(p.faces[i].box for i in idx)
        jobs.append(EnhanceJob(sha, p.local_path, boxes, target / f"{sha[:12]}.jpg", (), values))
    return jobs


def _cumulative(stats: pstats.Stats, ending: str, name: str) -> tuple[float, int]:
    """Cumulative seconds and calls of the function(s) ``name`` in files ending with ``ending``
    (recursive calls counted once, as pstats does)."""
    total, calls = 0.0, 0
    for (path, _line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and path.replace(os.sep, "/").endswith(ending):
            total += ct
            calls += nc
    return total, calls


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    p.add_argument("--profile-photos", type=int, default=40, help="photos run under cProfile (default 40)")
    p.add_argument("--band", choices=("every", "default"), default="every", help="target band (see above)")
    args = p.parse_args(argv)
    event_dir, _manifest = event_from_args(args)
    out = processed_event(event_dir, 2)
    deliver = EVERY_PHOTO_CORRECTED if args.band == "every" else {}
    with tempfile.TemporaryDirectory(prefix="profile_enhance_") as tmp:
        jobs = _jobs(out, args.profile_photos, deliver, Path(tmp))
        init_worker()  # as in the pool's workers
        load_before = os.getloadavg()
        profiler = cProfile.Profile(time.process_time)
        started = time.process_time()
        results = [profiler.runcall(run_job, job) for job in jobs]
        cpu = time.process_time() - started
    n = len(jobs)
    status = {s: sum(r["status"] == s for r in results) for s in ("enhanced", "unchanged", "failed")}
    stats = pstats.Stats(profiler)
    lines = [
        f"## profile: {n} photos of the 12 MP event, band {args.band!r}, one process: {status}",
        f"CPU {cpu:.2f} s = {cpu / max(n, 1):.3f} s per photo (profiler overhead included); "
        f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
        "",
        "| step | CPU ms per photo | calls |",
        "| --- | --- | --- |",
    ]
    for label, ending, name in STEPS:
        seconds, calls = _cumulative(stats, ending, name)
        lines.append(f"| {label} | {1000 * seconds / max(n, 1):.1f} | {calls} |")
    sys.stdout.write("\n".join(lines) + "\n\nfunctions with the most own time:\n")
    sys.stdout.flush()
    stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
