"""The machine and its processes, read from /proc: what the report's header says, CPU
time and peak memory per process, and how busy everything else on the box was.

Linux only (proc(5)). Reading a process that has gone away raises ProcessLookupError.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# /proc/<pid>/stat fields after the ")" that ends the command name: state is [0],
# utime [11] and stime [12] (fields 14 and 15 in proc(5)), in clock ticks; cutime [13]
# and cstime [14] (16 and 17), those of its children it has waited for.
UTIME, STIME, CUTIME, CSTIME = 11, 12, 13, 14


def cpus() -> int:
    return len(os.sched_getaffinity(0))


def describe() -> list[tuple[str, str]]:
    """(what, value) pairs for the report's header: date, machine, software versions."""
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpus()} x {_cpu_model()} (nproc {cpus()})"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("nginx", _version(["nginx", "-v"], "/usr/sbin")),
        ("wrk", _version(["wrk", "-v"])),
        ("memory", f"{_meminfo_gib('MemTotal'):.1f} GiB"),
        ("load average at start", load_average()),
    ]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def _meminfo_gib(field: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _version(argv: list[str], extra_path: str = "") -> str:
    binary = shutil.which(argv[0]) or (extra_path and shutil.which(argv[0], path=extra_path))
    if not binary:
        return "not installed"
    result = subprocess.run([binary, *argv[1:]], check=False, capture_output=True, text=True, timeout=10)
    text = (result.stdout + result.stderr).strip().splitlines()
    # "nginx version: nginx/1.22.1"; "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
    return text[0].split("Copyright")[0].replace("nginx version: ", "").strip() if text else "unknown"


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of process `pid` (all its threads), in clock ticks."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return int(fields[UTIME]) + int(fields[STIME])


def reaped_children_ticks(pid: int) -> int:
    """User + system CPU time of the children `pid` has waited for (reaped), in clock ticks."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return int(fields[CUTIME]) + int(fields[CSTIME])


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the largest resident set of `pid` since it started or since reset_peak_rss()."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ProcessLookupError(pid)


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM again from the current RSS (proc(5), clear_refs "5", Linux 4.0+).

    Returns False when the kernel refused (not the process's owner, or too old); the
    peak then covers the process's whole life.
    """
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except PermissionError:
        return False
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise ProcessLookupError(pid) from None
        return False


def children(pid: int) -> list[int]:
    """The direct children of `pid` (e.g. nginx's workers under its master)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").glob("*/children") for child in task.read_text().split()]


def nginx_serving_processes(master: int) -> list[int]:
    """nginx's processes under `master` but its cache loader: that one (with a
    proxy_cache_path, S3 mode) indexes the cache a minute after the start and exits, so
    a run it ended within would read as a worker that died mid-run."""
    serving = []
    for pid in children(master):
        try:
            if not _read(f"/proc/{pid}/cmdline").startswith("nginx: cache loader"):
                serving.append(pid)
        except ProcessLookupError:  # the loader, just gone
            continue
    return serving


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ProcessLookupError(path) from None


def _cpu_ticks_all() -> list[int]:
    """/proc/stat's "cpu" line: user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def _busy_ticks() -> int:
    """CPU time the whole machine spent busy (all CPUs): all but idle, iowait and steal."""
    values = _cpu_ticks_all()
    return sum(values) - values[3] - values[4] - values[7]


def _steal_ticks() -> int:
    """CPU time the hypervisor gave to other guests while this one wanted to run."""
    return _cpu_ticks_all()[7]


def _own_children_ticks() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime) * CLOCK_TICKS


@dataclass
class Meter:
    """CPU ticks of chosen processes over a stretch of time, and of everything else.

    `start()` before the load, `stop()` after it. "Everything else" is the machine's busy
    time less the watched processes, this process and its reaped children (wrk): other
    people's work on a shared box.
    """

    pids: dict[str, list[int]]
    _before: dict[int, int] | None = None
    _busy: int = 0
    _steal: int = 0
    _own: float = 0.0
    _started: float = 0.0

    def start(self) -> None:
        self._before = {pid: cpu_ticks(pid) for group in self.pids.values() for pid in group}
        self._busy, self._steal = _busy_ticks(), _steal_ticks()
        self._own, self._started = _own_children_ticks(), time.monotonic()

    def stop(self) -> CpuUse:
        elapsed = time.monotonic() - self._started
        busy = _busy_ticks() - self._busy
        own = _own_children_ticks() - self._own
        groups = {}
        for name, group in self.pids.items():
            groups[name] = sum(cpu_ticks(pid) - self._before[pid] for pid in group) / CLOCK_TICKS
        watched = sum(groups.values()) * CLOCK_TICKS
        capacity = elapsed * CLOCK_TICKS * cpus()
        other = max(0.0, (busy - watched - own) / capacity * 100) if capacity else 0.0
        steal = (_steal_ticks() - self._steal) / capacity * 100 if capacity else 0.0
        return CpuUse(groups, other, steal)


@dataclass(frozen=True)
class CpuUse:
    seconds: dict[str, float]  # CPU seconds per group of watched processes
    other_cpu_percent: float  # what the rest of the machine used, in % of all its CPUs
    steal_percent: float  # what the hypervisor kept for other guests, in % of all CPUs
