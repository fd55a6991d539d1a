"""Peak memory of a process tree, sampled from ``/proc`` (Linux only).

:class:`TreeMemorySampler` polls a root process and all its descendants every ``interval_s`` in a
background thread. Per sample it sums the resident set (RSS, which counts shared pages such as the numpy
and dlib libraries once per process) and the proportional set (PSS, shared pages split between their
users: the honest "how much RAM does this tree take"). Per process it keeps the kernel's own high-water
mark ``VmHWM``, so a single process's peak is exact even between samples; the totals are only as good as
the sampling interval.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")


@dataclass
class ProcessPeak:
    """The largest memory one process of the tree was seen using."""

    pid: int
    role: str
    peak_rss_mb: float = 0.0  # max of sampled VmRSS and the kernel's VmHWM
    cpu_s: float = 0.0  # user + system time at the last sample (a lower bound of its total)


@dataclass
class TreeMemory:
    """What a :class:`TreeMemorySampler` measured."""

    samples: int = 0
    peak_total_rss_mb: float = 0.0
    peak_total_pss_mb: float = 0.0
    peak_processes: int = 0
    processes: dict[int, ProcessPeak] = field(default_factory=dict)

    @property
    def sampled_cpu_s(self) -> float:
        """CPU seconds of the tree's processes as last seen (misses the time after the last sample)."""
        return sum(p.cpu_s for p in self.processes.values())

    @property
    def largest_process(self) -> ProcessPeak | None:
        return max(self.processes.values(), key=lambda p: p.peak_rss_mb, default=None)

    def as_dict(self) -> dict[str, object]:
        largest = self.largest_process
        return {
            "samples": self.samples,
            "peak_total_rss_mb": round(self.peak_total_rss_mb, 1),
            "peak_total_pss_mb": round(self.peak_total_pss_mb, 1),
            "peak_processes": self.peak_processes,
            "sampled_cpu_s": round(self.sampled_cpu_s, 2),
            "largest_process": None
            if largest is None
            else {"role": largest.role, "rss_mb": round(largest.peak_rss_mb, 1)},
            "per_process": [
                {
                    "pid": p.pid,
                    "role": p.role,
                    "peak_rss_mb": round(p.peak_rss_mb, 1),
                    "cpu_s": round(p.cpu_s, 2),
                }
                for p in sorted(self.processes.values(), key=lambda p: p.pid)
            ],
        }


def _children_by_parent() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (_PROC / entry.name / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids[ppid].append(int(entry.name))
    return kids


def _children_of(pid: int) -> list[int]:
    """Children of ``pid`` from ``/proc/PID/task/*/children`` (any thread may have started them)."""
    kids: list[int] = []
    for task in (_PROC / str(pid) / "task").iterdir():
        try:
            kids.extend(int(v) for v in (task / "children").read_text().split())
        except OSError:
            continue
    return kids


def descendants(root: int) -> list[int]:
    """``root`` and every process below it.

    Reads the few ``children`` files of the tree when the kernel has them (cheap), else scans all of
    ``/proc``.
    """
    if (_PROC / str(root) / "task" / str(root) / "children").exists():
        lookup = _children_of
    else:
        table = _children_by_parent()
        lookup = lambda pid: table.get(pid, [])  # noqa: E731
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            todo.extend(lookup(pid))
        except OSError:
            continue  # exited meanwhile
    return found


def _status_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _cpu_s(pid: int) -> float:
    fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def _pss_kb(pid: int) -> int:
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_FINAL_ROLES = frozenset({"main", "worker", "resource_tracker"})


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "main"
    try:
        cmdline = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "resource_tracker" in cmdline:
        return "resource_tracker"
    if "multiprocessing" in cmdline or "spawn_main" in cmdline:
        return "worker"
    return Path(cmdline.split(" ", 1)[0]).name or "?"


class TreeMemorySampler:
    """Sample the memory of ``root_pid`` and its descendants until :meth:`stop`.

    PSS is read on every ``pss_every``-th sample only: the kernel walks the page tables for it, which
    costs about a millisecond per large process, and the sampler should not slow down what it measures.
    """

    def __init__(self, root_pid: int, interval_s: float = 0.1, pss_every: int = 10) -> None:
        self.root = root_pid
        self.interval_s = interval_s
        self.pss_every = max(1, pss_every)
        self.result = TreeMemory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def start(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def stop(self) -> TreeMemory:
        self._stop.set()
        self._thread.join()
        return self.result

    def sample(self) -> None:
        """Take one sample now."""
        rss_total = pss_total = 0
        alive = 0
        with_pss = self.result.samples % self.pss_every == 0
        for pid in descendants(self.root):
            try:
                status = _status_kb(pid)
            except OSError:
                continue  # exited meanwhile
            if "VmRSS" not in status:
                continue  # a zombie
            alive += 1
            rss_total += status["VmRSS"]
            if with_pss:
                pss_total += _pss_kb(pid)
            peak = self.result.processes.get(pid)
            if peak is None:
                peak = self.result.processes[pid] = ProcessPeak(pid, _role(pid, self.root))
            elif peak.role not in _FINAL_ROLES:
                peak.role = _role(pid, self.root)  # first seen between fork and exec: the parent's cmdline
            peak.peak_rss_mb = max(peak.peak_rss_mb, max(status.values()) / 1024)
            with contextlib.suppress(OSError):
                peak.cpu_s = _cpu_s(pid)
        r = self.result
        r.samples += 1
        r.peak_total_rss_mb = max(r.peak_total_rss_mb, rss_total / 1024)
        r.peak_total_pss_mb = max(r.peak_total_pss_mb, pss_total / 1024)
        r.peak_processes = max(r.peak_processes, alive)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.sample()
            self._stop.wait(max(0.0, self.interval_s - (time.perf_counter() - started)))
