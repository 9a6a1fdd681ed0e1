"""bench/run: imagehost's performance benchmark. docs/performance.md explains the report.

Starts, in a fresh temporary folder, the real stack (services/local/run.py: nginx from
the production template via render-config.sh, the supervisor and its workers) with the
upload rate limit raised out of the way, and a ceiling nginx (ceiling.conf.template);
runs every scenario against both in alternation; then what previews cost the uploads
(S6, preview_cost.py: stacks with and without preview makers in alternation) and what
they spare the gallery (G1, gallery.py: headless Chromium); measures the start-up on an
index of 100,000 images; prints the report (Markdown) on stdout and progress on stderr.

With --storage s3 and/or --index postgres (issue 14), it first starts Ceph's radosgw and
a throwaway PostgreSQL cluster (stores.py), gives each stack a fresh bucket and database,
and runs S1-S5, S7 and S8 the same way, then U1 (upload_cpu.py: the backend's CPU per
upload through /upload and as a direct upload, S3 only). The storage floor, S6, G1 and
the start-up measure the local folder and SQLite, and run in the default mode only.

Everything binds 127.0.0.1, every load stops by itself, and everything started is
stopped before the command ends, also on Ctrl-C, SIGTERM or an error. The folder is
removed at the end, except after an error (its logs say what happened).

Exit status: 0 when the report was printed, whatever the verdicts (a benchmark is not a
test); 1 when the bench itself failed; 2 when a tool is missing or a flag is wrong;
130 after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from imagehost.config import Config
from support.stack import StackError, nginx_binary, start_stack

from . import floor, gallery, machine, preview_cost, report, scenarios, startup, upload_cpu, wrk
from .ceiling import Ceiling, CeilingError
from .scenarios import STACK_SETTINGS, say
from .stores import INDEXES, STORAGES, Stores, StoresError, missing_servers

FULL_INDEX_SIZES = [1_000, 10_000, 100_000]
SMOKE_INDEX_SIZES = [100, 1_000]
FULL_STARTUP_IMAGES = 100_000
SMOKE_STARTUP_IMAGES = 1_000
# The storage floor runs at most this long per size.
FLOOR_SECONDS = 5


class Stopped(Exception):
    """SIGTERM arrived: unwind and clean up as for Ctrl-C."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds per scenario, each imagehost then ceiling (default 3)")
    parser.add_argument("--duration", type=int, help="seconds of load per run (default 10)")
    parser.add_argument("--workers", help="comma-separated worker counts to run (default 2,4)")
    parser.add_argument(
        "--smoke", action="store_true", help="for CI: 1 round of 2 s, small index, 2 workers, targets not judged"
    )
    parser.add_argument(
        "--previews", action="store_true", help="only what previews cost the uploads (S6) and spare the gallery (G1)"
    )
    parser.add_argument(
        "--listings",
        action="store_true",
        help="only the listing, by tag and by search (S4, S7, S8), at each index size",
    )
    parser.add_argument(
        "--static",
        action="store_true",
        help="only the static GET (S3); with --storage s3, from the bucket through nginx's warm cache",
    )
    parser.add_argument(
        "--storage", choices=STORAGES, default="local", help="where the stack keeps images: s3 starts a radosgw"
    )
    parser.add_argument(
        "--index", choices=INDEXES, default="sqlite", help="the stack's index: postgres starts a PostgreSQL cluster"
    )
    args = parser.parse_args(argv)
    if args.previews and (args.storage, args.index) != ("local", "sqlite"):
        parser.error("--previews measures the local folder and SQLite: it takes no --storage or --index")
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.duration = args.duration or (2 if args.smoke else 10)
    try:
        args.workers = [int(w) for w in (args.workers or ("2" if args.smoke else "2,4")).split(",")]
    except ValueError:
        parser.error("--workers takes whole numbers separated by commas, e.g. 2,4")
    if args.rounds < 1 or args.duration < 1 or not all(1 <= w <= 64 for w in args.workers):
        parser.error("--rounds and --duration must be at least 1, --workers between 1 and 64")
    args.index_sizes = SMOKE_INDEX_SIZES if args.smoke else FULL_INDEX_SIZES
    args.startup_images = SMOKE_STARTUP_IMAGES if args.smoke else FULL_STARTUP_IMAGES
    args.uploads = upload_cpu.SMOKE_UPLOADS if args.smoke else upload_cpu.UPLOADS
    return args


def run(args: argparse.Namespace, folder: Path, command: str) -> list[str]:
    """Everything (or, with --previews, S6 and G1 only); returns the report's lines."""
    header = machine.describe()
    peaks_per_run = machine.reset_peak_rss(os.getpid())
    with Stores.start(folder, args.storage, args.index) as stores:
        header.append(("stores", stores.describe()))
        if args.previews:
            comparisons, views = measure_previews(args, folder)
            header.append(("load average at end", machine.load_average()))
            return format_report(args, command, header, comparisons, [], [], views, peaks_per_run)
        if args.static:
            comparisons = measure_static(args, folder, stores)
            header.append(("load average at end", machine.load_average()))
            return format_report(args, command, header, comparisons, [], [], None, peaks_per_run)
        if args.listings:
            comparisons = measure_listings(args, folder, stores)
            header.append(("load average at end", machine.load_average()))
            return format_report(args, command, header, comparisons, [], [], None, peaks_per_run)
        if not stores.is_default:
            comparisons = measure_scenarios(args, folder, stores)
            uploads = None
            if args.storage == "s3":
                settings = stores.fresh_settings()
                uploads = upload_cpu.measure(folder, settings, args.workers[0], args.uploads, args.rounds)
            header.append(("load average at end", machine.load_average()))
            return format_report(args, command, header, comparisons, [], [], None, peaks_per_run, uploads)
    bodies = scenarios.Bodies.write(folder)
    comparisons = []
    startups = []
    # First, on a machine that has not yet deleted anything (see floor.py). Then its files
    # go: left in the page cache, their gigabytes made the uploads below pay for
    # reclaiming memory. The listing runs next and creates no files, so the uploads come
    # minutes after this deletion (see _remove_uploaded_files for why that matters).
    floors = []
    for workers in args.workers:
        for size in (scenarios.SMALL_IMAGE_BYTES, scenarios.LARGE_IMAGE_BYTES):
            floors.append(
                floor.measure(
                    folder / "floor" / f"{workers}-{size}",
                    size,
                    min(args.duration, FLOOR_SECONDS),
                    workers,
                    wrk.CONNECTIONS // workers or 1,
                )
            )
            say(f"storage floor, {workers} processes, {size // 1024:,} KiB: {floors[-1].rate:,.0f} uploads/s")
    shutil.rmtree(folder / "floor", ignore_errors=True)
    # The stack runs with the default MAX_UPLOAD_BYTES; the ceiling takes the same bodies.
    with Ceiling(folder / "ceiling", max_upload_bytes=Config().max_upload_bytes) as ceiling:
        for workers in args.workers:
            stack_dir = folder / f"stack-{workers}-workers"
            say(f"{workers} workers: starting the stack in {stack_dir}")
            with start_stack(stack_dir, timeout=60, WEB_SERVER_WORKERS=str(workers), **STACK_SETTINGS) as stack:
                comparisons += scenarios.run_all(
                    stack, ceiling, bodies, folder, args.index_sizes, args.rounds, args.duration
                )
            shutil.rmtree(stack_dir, ignore_errors=True)  # gigabytes of uploads
    issue_12, views = measure_previews(args, folder)
    comparisons += issue_12
    startup_dir = folder / "startup"
    say(f"start-up: writing {args.startup_images:,} image files and their rows")
    startup.prepare(startup_dir, args.startup_images)
    for workers in args.workers:
        times = []
        for number in range(args.rounds):
            times.append(startup.measure(startup_dir, workers))
            say(f"start-up, {workers} workers, round {number + 1}/{args.rounds}: {times[-1]:.2f} s")
        startups.append(report.Startup(workers, args.startup_images, times))
    header.append(("load average at end", machine.load_average()))
    return format_report(args, command, header, comparisons, startups, floors, views, peaks_per_run)


def measure_listings(args: argparse.Namespace, folder: Path, stores: Stores) -> list[scenarios.Comparison]:
    """S4, S7 and S8 alone, for each worker count (issue 13's filtered listings)."""
    comparisons = []
    with Ceiling(folder / "ceiling", max_upload_bytes=Config().max_upload_bytes) as ceiling:
        for workers in args.workers:
            with _stack(folder, workers, stores) as stack:
                comparisons += scenarios.run_listings(stack, ceiling, args.index_sizes, args.rounds, args.duration)
            shutil.rmtree(stack.root, ignore_errors=True)
    return comparisons


def measure_static(args: argparse.Namespace, folder: Path, stores: Stores) -> list[scenarios.Comparison]:
    """S3 alone, for each worker count."""
    comparisons = []
    with Ceiling(folder / "ceiling", max_upload_bytes=Config().max_upload_bytes) as ceiling:
        for workers in args.workers:
            with _stack(folder, workers, stores) as stack:
                comparisons.append(scenarios.run_static(stack, ceiling, folder, args.rounds, args.duration))
            shutil.rmtree(stack.root, ignore_errors=True)
    return comparisons


def measure_scenarios(args: argparse.Namespace, folder: Path, stores: Stores) -> list[scenarios.Comparison]:
    """S1-S5, S7 and S8 for each worker count, each on a stack with a fresh bucket and database."""
    bodies = scenarios.Bodies.write(folder)
    comparisons = []
    with Ceiling(folder / "ceiling", max_upload_bytes=Config().max_upload_bytes) as ceiling:
        for workers in args.workers:
            with _stack(folder, workers, stores) as stack:
                comparisons += scenarios.run_all(
                    stack, ceiling, bodies, folder, args.index_sizes, args.rounds, args.duration
                )
            shutil.rmtree(stack.root, ignore_errors=True)
    return comparisons


def _stack(folder: Path, workers: int, stores: Stores):
    stack_dir = folder / f"stack-{workers}-workers"
    say(f"{workers} workers: starting the stack in {stack_dir}")
    return start_stack(
        stack_dir, timeout=60, WEB_SERVER_WORKERS=str(workers), **STACK_SETTINGS, **stores.fresh_settings()
    )


def measure_previews(args: argparse.Namespace, folder: Path) -> tuple[list[scenarios.Comparison], gallery.Gallery]:
    """S6 for each worker count, then G1 with the first (issue 12's scenarios)."""
    photo_body, photo_type = preview_cost.photo_body(folder)
    comparisons = [
        preview_cost.run(folder, photo_body, photo_type, workers, args.rounds, args.duration)
        for workers in args.workers
    ]
    return comparisons, gallery.measure(folder, args.workers[0], args.rounds)


def format_report(
    args, command, header, comparisons, startups, floors, views, peaks_per_run, uploads=None
) -> list[str]:
    lines = [f"## imagehost benchmark, {header[0][1]}", "", f"- command: `{command}`"]
    lines += [f"- {what}: {value}" for what, value in header[1:]]
    lines += [
        (
            f"- load: wrk, {wrk.THREADS} threads, {wrk.CONNECTIONS} connections, {args.duration} s per run, "
            f"{args.rounds} round(s) of imagehost then ceiling per scenario; figures are medians over rounds"
        ),
        f"- peak RSS: VmHWM {'reset before each run' if peaks_per_run else 'since the worker started'}",
    ]
    busy = report.other_load(comparisons)
    if busy:
        lines.append(
            f"- other processes on the machine used {busy[0]:.0f}% of its CPU during a run (median; max {busy[1]:.0f}%)"
        )
    stolen = report.steal(comparisons)
    if stolen:
        lines.append(
            f"- the hypervisor kept {stolen[0]:.0f}% of the CPUs for other guests during a run "
            f"(steal time, median; max {stolen[1]:.0f}%)"
        )
    if args.smoke:
        lines.append("- smoke run (--smoke): too short and too small to judge; the targets are not judged")
    lines += [
        "",
        "### Scenarios",
        "",
        *report.scenario_rows(comparisons),
        "",
        (
            "ratio: imagehost's req/s over the ceiling's, median of each round's quotient. "
            "errors: imagehost / ceiling, all rounds. CPU ms/req: CPU time of those processes "
            "over the requests wrk completed. The ceiling, per scenario:"
        ),
        "",
        *report.ceiling_legend(comparisons),
    ]
    notes = report.notes(comparisons)
    if notes:
        lines += ["", "Notes:", "", *notes]
    if floors:
        lines += [
            "",
            "### Storage floor",
            "",
            *report.floor_rows(floors, comparisons),
            "",
            (
                "The storage steps of an upload alone (bench/imagehost_bench/floor.py): temp file, SHA-256, "
                "fsync, link, directory fsync, index row, with the backend's code, in threads as many as wrk's "
                "connections, no HTTP. What the upload path can reach at most on this machine."
            ),
        ]
    if views is not None:
        lines += [
            "",
            f"### Gallery page weight ({views.workers} workers)",
            "",
            *report.gallery_rows(views),
            "",
            (
                f"G1: All images with {views.photos} photos of 3000x2000 (JPEGs of 2-3 MB), opened in headless "
                "Chromium in a fresh context (nothing cached), 1280x800 window, with the admin token "
                "(bench/imagehost_bench/gallery.py). Image bytes: Resource Timing's encodedBodySize of every "
                "image response, the whole grid scrolled through. Drawn: ms from the start of the navigation "
                "until every tile in the window has its preview loaded (img.complete, naturalWidth > 0)."
            ),
        ]
    if startups:
        lines += ["", "### Start-up", "", *report.startup_rows(startups)]
    if uploads is not None:
        lines += [
            "",
            f"### Backend CPU per upload: /upload and direct uploads ({uploads.workers} workers)",
            "",
            *report.upload_cpu_rows(uploads),
            "",
            (
                f"U1 (bench/imagehost_bench/upload_cpu.py): {uploads.uploads} uploads of a 200 KiB photo each way "
                "per round, one after another; the CPU time of the supervisor, its workers and its preview makers "
                "from before the first upload until no preview is pending, over the uploads (median over rounds). "
                "nginx and the bucket are not counted."
            ),
        ]
    judged = report.verdicts(comparisons, startups, not args.smoke, views, args.storage)
    if args.previews or args.listings or args.static or (args.storage, args.index) != ("local", "sqlite"):
        # Only the targets this run measured.
        judged = [verdict for verdict in judged if verdict.figure != "-"]
    lines += ["", "### Targets", "", *report.verdict_rows(judged), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [tool for tool, found in (("nginx", nginx_binary()), ("wrk", wrk.wrk_binary())) if not found]
    if missing:
        say(f"{' and '.join(missing)} not installed (Debian: apt-get install {' '.join(missing)})")
        return 2
    servers = missing_servers(args.storage, args.index)
    if servers:
        say(f"{' and '.join(servers)} not installed (make ceph postgresql installs them on Debian)")
        return 2
    command = "bench/run " + shlex.join(sys.argv[1:] if argv is None else argv)

    def stop_on_sigterm(signum, frame):
        raise Stopped()

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Also when started with SIGINT ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="imagehost-bench-"))
    keep = False
    try:
        lines = run(args, folder, command.strip())
        print("\n".join(lines), flush=True)
        return 0
    except (KeyboardInterrupt, Stopped):
        say("interrupted; everything started has been stopped")
        return 130
    except (StackError, CeilingError, StoresError, startup.StartupError, wrk.LoadError, RuntimeError, OSError) as error:
        keep = True
        say(f"failed: {error}")
        say(f"its files (logs under stack-*/logs, ceiling/) are kept in {folder}")
        return 1
    except Exception:
        keep = True
        say(f"the bench itself failed; its files are kept in {folder}")
        raise
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
