"""One wrk run: a fixed number of connections for a fixed time, driven by load.lua.

wrk keeps every connection busy (a closed loop: each connection sends its next request
when the answer to the last one is in), so req/s is what the server sustains at that
concurrency and the latencies are what a client waits at that load.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("load.lua")
CONNECTIONS = 16
THREADS = 2
# A request slower than this counts as a timeout error (wrk's default is 2 s, which a
# loaded 2-core box can reach for a 4.5 MiB upload without anything being wrong).
REQUEST_TIMEOUT_S = 10
RESULT_PREFIX = "BENCH-RESULT "


class LoadError(Exception):
    """wrk could not run or printed no result; the message has its output."""


@dataclass(frozen=True)
class Load:
    """What to send: a URL, load.lua's arguments, and extra request headers."""

    url: str
    script_args: tuple[str, ...]
    headers: tuple[str, ...] = ()

    @property
    def counts_statuses(self) -> bool:
        return self.script_args[1] != "-"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect, read, write errors and timeouts
    status_errors: int  # answers other than the expected status (or > 399 when not counted)
    exhausted_threads: int  # delete: threads that ran out of images before the time was up

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.status_errors


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def run(load: Load, duration_s: int) -> LoadResult:
    """Run wrk against `load` for `duration_s` seconds; LoadError if it fails.

    Bounded: wrk stops itself after the duration, and is killed if it has not ended a
    minute later.
    """
    argv = [
        wrk_binary() or "wrk",
        "--threads",
        str(THREADS),
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{duration_s}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_S}s",
        "--script",
        str(SCRIPT),
    ]
    for header in load.headers:
        argv += ["--header", header]
    argv += [load.url, "--", *load.script_args]
    try:
        finished = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=duration_s + 60, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk did not finish within {duration_s + 60} s: {argv}") from exc
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if finished.returncode != 0 or not lines:
        raise LoadError(
            f"wrk exited with {finished.returncode} and no result:\n"
            f"{finished.stdout[-2000:]}\n{finished.stderr[-2000:]}"
        )
    raw = json.loads(lines[-1][len(RESULT_PREFIX) :])
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    status_errors = raw["unexpected"] if load.counts_statuses else raw["status_over_399"]
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        socket_errors=socket_errors,
        status_errors=status_errors,
        exhausted_threads=raw["exhausted_threads"],
    )
