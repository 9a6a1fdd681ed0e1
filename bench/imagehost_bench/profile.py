"""bench/profile: where the time goes while one scenario runs, as bench/run loads it.

    bench/profile S1                 # 200 KiB uploads, 2 workers, 8 s of sampling
    bench/profile S2 --workers 4
    bench/profile S4 --gil           # listing at 100,000 images; Python frames holding the GIL
    bench/profile S4 --index postgres  # the same with the index in a throwaway PostgreSQL

Starts the real stack as bench/run does (same settings, fresh folder), puts wrk's load on
it, and while the load runs samples:

- the whole machine with `perf record -a -g -e cpu-clock` (Debian: linux-perf), shown as
  each process's share of all CPU time, split by the system call it was in, and the
  hottest kernel and user functions;
- worker 0 with `py-spy record` (in tests/requirements.txt): by default wall-clock
  samples of every thread (--idle), so waiting counts (a thread in fsync is sampled in
  fsync, an idle keep-alive connection in readinto); with --gil only the thread holding
  the GIL, so Python's own CPU.

Either profiler may be missing; the other still runs. Prints Markdown on stdout.
Everything binds 127.0.0.1, the load stops by itself, the folder is removed at the end.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from support.stack import nginx_binary, start_stack

from . import REPO, fill, scenarios, stores, wrk
from .scenarios import STACK_SETTINGS, say
from .wrk import Load

WARM_UP_SECONDS = 2
# The load outlasts the sampling on both ends.
LOAD_MARGIN_SECONDS = 2
LISTING_IMAGES = 100_000
TOP = 12
# Samples per second: py-spy reads every thread's stack from outside; at 200/s with
# --idle it took a third of this 2-core machine, which distorts what it measures.
PY_SPY_RATE = 50


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/profile", description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenario",
        choices=["S1", "S2", "S4"],
        help="S1: 200 KiB uploads, S2: 4.5 MiB uploads, S4: listing at 100,000 images",
    )
    parser.add_argument("--seconds", type=int, default=8, help="seconds of sampling (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--gil", action="store_true", help="py-spy samples only the thread holding the GIL")
    parser.add_argument(
        "--index", choices=["sqlite", "postgres"], default="sqlite", help="postgres starts a PostgreSQL cluster"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 120 or not 1 <= args.workers <= 64:
        parser.error("--seconds must be 1 to 120, --workers 1 to 64")
    return args


def py_spy_binary() -> str | None:
    local = REPO / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def perf_binary() -> str | None:
    return shutil.which("perf")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (nginx_binary() and wrk.wrk_binary()):
        say("nginx and wrk are needed (Debian: apt-get install nginx wrk)")
        return 2
    if not (perf_binary() or py_spy_binary()):
        say("neither perf (Debian: linux-perf) nor py-spy (make setup installs it) is installed")
        return 2
    missing = stores.missing_servers("local", args.index)
    if missing:
        say(f"not installed: {'; '.join(missing)} (make postgresql installs it)")
        return 2
    folder = Path(tempfile.mkdtemp(prefix="imagehost-profile-"))
    try:
        with stores.Stores.start(folder, "local", args.index) as servers:
            lines = profile(args, folder, servers.fresh_settings())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines), flush=True)
    return 0


def profile(args: argparse.Namespace, folder: Path, settings: dict[str, str]) -> list[str]:
    bodies = scenarios.Bodies.write(folder)
    with start_stack(
        folder / "stack", timeout=60, WEB_SERVER_WORKERS=str(args.workers), **{**STACK_SETTINGS, **settings}
    ) as stack:
        if args.scenario == "S4":
            fill.fill_index(stack.env, LISTING_IMAGES)
            load = Load(
                stack.base_url + f"/api/images?limit={scenarios.PAGE}",
                ("get", "200"),
                (f"Authorization: Bearer {stack.admin_token}",),
            )
        else:
            body = bodies.small if args.scenario == "S1" else bodies.large
            load = Load(stack.base_url + "/upload", ("upload", "201", str(body), bodies.content_type))
        wrk.run(load, WARM_UP_SECONDS)
        worker_pid = scenarios.ImagehostSide(stack).worker_pids()[0]
        result: list[wrk.LoadResult] = []
        loading = threading.Thread(target=lambda: result.append(wrk.run(load, args.seconds + 2 * LOAD_MARGIN_SECONDS)))
        loading.start()
        time.sleep(LOAD_MARGIN_SECONDS)
        say(f"sampling for {args.seconds} s")
        samplers = _start_samplers(folder, worker_pid, args)
        for sampler in samplers.values():
            sampler.wait(args.seconds + 60)
        loading.join()
    lines = [f"## bench/profile {args.scenario}, {args.workers} workers, {args.seconds} s, index: {args.index}", ""]
    if result:
        lines += [
            (
                f"Load: {result[0].rate:,.0f} req/s, p99 {result[0].p99_ms:.1f} ms (wrk, {wrk.CONNECTIONS} "
                f"connections, over its whole run of {args.seconds + 2 * LOAD_MARGIN_SECONDS} s)."
            ),
            "",
        ]
    for name, summary in (
        ("perf", lambda: _perf_summary(folder / "perf.data")),
        ("py-spy", lambda: _py_spy_summary(folder / "py-spy.txt", args.gil)),
    ):
        if name in samplers:
            lines += summary() if samplers[name].returncode == 0 else _failure(folder, name, samplers[name])
    return lines


def _start_samplers(folder: Path, worker_pid: int, args: argparse.Namespace) -> dict[str, subprocess.Popen]:
    """perf and py-spy, each if installed; their output goes to FOLDER/<name>.out."""
    commands = {}
    perf = perf_binary()
    if perf:
        commands["perf"] = [
            perf,
            "record",
            "-a",
            "-g",
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-o",
            str(folder / "perf.data"),
            "--",
            "sleep",
            str(args.seconds),
        ]
    py_spy = py_spy_binary()
    if py_spy:
        # --idle: threads that wait (in fsync, on a lock) are sampled where they wait.
        commands["py-spy"] = [
            py_spy,
            "record",
            "-p",
            str(worker_pid),
            "-d",
            str(args.seconds),
            "-r",
            str(PY_SPY_RATE),
            "-f",
            "raw",
            "-o",
            str(folder / "py-spy.txt"),
            "--nonblocking",
            "--gil" if args.gil else "--idle",
        ]
    samplers = {}
    for name, argv in commands.items():
        with open(folder / f"{name}.out", "wb") as output:  # the child keeps its own copy
            samplers[name] = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return samplers


def _failure(folder: Path, name: str, sampler: subprocess.Popen) -> list[str]:
    """What a sampler that failed said, for the report."""
    said = (folder / f"{name}.out").read_text(errors="replace").strip()[-1500:]
    return [f"{name} exited with status {sampler.returncode}:", "", "```", said, "```", ""]


def _perf_summary(data: Path) -> list[str]:
    """Each process's share of the machine's CPU, by system call; the hottest functions."""
    script = ""
    if data.exists():
        script = subprocess.run(
            [perf_binary() or "perf", "script", "-i", str(data), "-F", "comm,ip,sym"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        ).stdout
    by_process: collections.Counter[str] = collections.Counter()
    by_call: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    hottest: collections.Counter[tuple[str, str]] = collections.Counter()
    for sample in script.split("\n\n"):
        rows = [row.split(None, 1) for row in sample.strip().splitlines() if row.strip()]
        if not rows:
            continue
        process = re.sub(r"[/:].*$", "", rows[0][0])  # kworker/1:2H-kb -> kworker
        functions = [row[1] if len(row) > 1 else "?" for row in rows[1:]]
        call = next((f.split("+")[0] for f in functions if f.startswith("__x64_sys_")), "no system call")
        by_process[process] += 1
        by_call[process][call.removeprefix("__x64_sys_")] += 1
        hottest[(process, functions[0].split("+")[0] if functions else "?")] += 1
    if not by_process:
        return ["### perf: the whole machine", "", "perf recorded no samples on this machine.", ""]
    total = sum(by_process.values())
    share = lambda n: f"{n * 100 / total:.1f}%"
    lines = [
        "### perf: the whole machine",
        "",
        "| process | share of all CPU | in system calls (share of all CPU) |",
        "|---|---|---|",
    ]
    for process, count in by_process.most_common(6):
        calls = ", ".join(f"{call} {share(n)}" for call, n in by_call[process].most_common(6))
        lines.append(f"| {process} | {share(count)} | {calls} |")
    lines += [
        "",
        "Hottest functions (kernel and user):",
        "",
        "| process | function | share of all CPU |",
        "|---|---|---|",
    ]
    lines += [f"| {process} | `{function}` | {share(n)} |" for (process, function), n in hottest.most_common(TOP)]
    return [*lines, ""]


def _py_spy_summary(raw: Path, gil: bool) -> list[str]:
    """Worker 0's hottest lines: where its threads were when sampled."""
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaves[stack.split(";")[-1]] += int(count)
    total = sum(leaves.values()) or 1
    what = (
        "the thread holding the GIL"
        if gil
        else "every thread, wall clock (waiting counts; idle keep-alive connections wait in readinto)"
    )
    lines = [f"### py-spy: worker 0, {what}", "", "| share of samples | where |", "|---|---|"]
    lines += [f"| {n * 100 / total:.1f}% | `{frame}` |" for frame, n in leaves.most_common(TOP)]
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
