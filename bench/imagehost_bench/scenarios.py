"""The scenarios, each run against imagehost and against the ceiling in alternation.

For every scenario, round after round: imagehost, then the ceiling, with the same wrk
load. Both see the same machine within seconds of each other, so the ratio of the two
holds up when other work on the box slows both; a single figure alone would not.

Each run is measured from outside: wrk's count and latencies, the CPU time every worker,
the supervisor and nginx used (/proc/<pid>/stat, before and after), and each worker's
peak RSS during the run (VmHWM, reset before it).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import math
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support import images
from support.client import request
from support.stack import Stack

from . import fill, machine, wrk
from .ceiling import Ceiling
from .stores import empty_bucket
from .wrk import Load, LoadResult

# The stack's settings: uploads must not meet the rate limit (429s would be errors).
STACK_SETTINGS = {"UPLOAD_RATE_LIMIT": "100000r/s", "UPLOAD_RATE_BURST": "100000"}
# load.lua writes a distinct tag over these bytes in each upload body (the same length).
DISTINCT_MARK = b"imagehost-bench-distinct"
SMALL_IMAGE_BYTES = 200 * 1024
LARGE_IMAGE_BYTES = 4608 * 1024  # 4.5 MiB, under the 5 MiB default limit
PAGE = 50
# In S3 mode, S3 measures the warm cache: the image is fetched through nginx until the
# cache answers HIT, at most this many times.
CACHE_WARMING_GETS = 5
# Each round's pool of images to delete holds 1.5 times what the fastest round so far got
# through (and at least 1.5 times this guess), so it lasts the round.
FIRST_DELETE_RATE_GUESS = 1500
POOL_MARGIN = 1.5
POOL_UPLOAD_CONNECTIONS = 16


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Sample:
    """One wrk run against one side, and what the processes behind that side used."""

    load: LoadResult
    cpu_ms_per_request: dict[str, float | None]  # "worker", "supervisor", "nginx"
    peak_rss_kib: dict[int, int]  # worker id -> VmHWM during the run (imagehost only)
    other_cpu_percent: float
    restarted: bool = False
    steal_percent: float = 0.0


@dataclass
class Comparison:
    """A scenario's rounds: imagehost's samples and the ceiling's, in the same order."""

    workers: int
    key: str
    title: str
    ceiling_title: str
    imagehost: list[Sample] = field(default_factory=list)
    ceiling: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ImagehostSide:
    """The stack under test: nginx from the production template, supervisor, workers."""

    name = "imagehost"

    def __init__(self, stack: Stack):
        self.stack = stack
        self.workers = int(stack.env["WEB_SERVER_WORKERS"])
        self.first_port = int(stack.env["WEB_SERVER_START_PORT"])

    def worker_pids(self) -> dict[int, int]:
        """Worker id -> pid, from each worker's own /api/health (bypassing nginx)."""
        pids = {}
        for worker in range(self.workers):
            reply = request("GET", f"http://127.0.0.1:{self.first_port + worker}/api/health", timeout=10)
            pids[worker] = reply.json()["pid"]
        return pids

    def groups(self, workers: dict[int, int]) -> dict[str, list[int]]:
        return {
            "worker": list(workers.values()),
            "supervisor": [self.stack.supervisor_pid()],
            "nginx": machine.nginx_serving_processes(self.stack.nginx_pid()),
        }


class CeilingSide:
    name = "ceiling"

    def __init__(self, ceiling: Ceiling):
        self.ceiling = ceiling

    def worker_pids(self) -> dict[int, int]:
        return {}

    def groups(self, workers: dict[int, int]) -> dict[str, list[int]]:
        return {"nginx": self.ceiling.pids()}


def warm_up_seconds(duration: int) -> int:
    return max(1, duration // 5)


def measure(side, load: Load, duration: int) -> Sample:
    """One wrk run against `side`, with CPU per request and the workers' peak RSS."""
    workers = side.worker_pids()
    for pid in workers.values():
        machine.reset_peak_rss(pid)
    meter = machine.Meter(side.groups(workers))
    meter.start()
    result = wrk.run(load, duration)
    try:
        use = meter.stop()
        peaks = {worker: machine.peak_rss_kib(pid) for worker, pid in workers.items()}
    except ProcessLookupError:  # a worker died during the run: its figures are gone
        return Sample(result, {}, {}, 0.0, restarted=True)
    requests = max(result.requests, 1)
    cpu = {group: seconds * 1000 / requests for group, seconds in use.seconds.items()}
    return Sample(
        result,
        cpu,
        peaks,
        use.other_cpu_percent,
        restarted=side.worker_pids() != workers,
        steal_percent=use.steal_percent,
    )


def compare(
    imagehost: ImagehostSide,
    ceiling: CeilingSide,
    comparison: Comparison,
    loads: tuple[Load, Load],
    rounds: int,
    duration: int,
    before_round: Callable[[int], None] | None = None,
) -> Comparison:
    """Run `rounds` rounds of imagehost then ceiling; fills and returns `comparison`.

    Without `before_round`, each side first gets a short run that is not recorded, so
    the first round does not pay for cold caches (SQLite's pages, Python's first calls).
    With it (the deletes, whose images are used up), `before_round(n)` prepares round n.
    """
    if before_round is None:
        for load in loads:
            wrk.run(load, warm_up_seconds(duration))
    for number in range(rounds):
        if before_round:
            before_round(number)
        for side, load, samples in (
            (imagehost, loads[0], comparison.imagehost),
            (ceiling, loads[1], comparison.ceiling),
        ):
            sample = measure(side, load, duration)
            samples.append(sample)
            say(
                f"{comparison.workers} workers, {comparison.key} {comparison.title}, round {number + 1}/{rounds}, "
                f"{side.name}: {sample.load.rate:.0f} req/s, p99 {sample.load.p99_ms:.1f} ms, "
                f"{sample.load.errors} errors"
            )
            if sample.restarted:
                comparison.notes.append(f"a worker restarted during round {number + 1}")
    return comparison


@dataclass(frozen=True)
class Bodies:
    """The two upload bodies, as files load.lua reads, and their Content-Type.

    Each holds DISTINCT_MARK once, at the end of the JPEG's entropy-coded data (which
    neither validation nor metadata stripping reads), for load.lua to vary.
    """

    small: Path
    large: Path
    content_type: str

    @classmethod
    def write(cls, folder: Path) -> Bodies:
        paths = []
        boundary = "----imagehost-bench-boundary"
        for size in (SMALL_IMAGE_BYTES, LARGE_IMAGE_BYTES):
            body, content_type = images.multipart(
                [("file", "bench.jpg", "image/jpeg", _with_mark(images.jpeg_of_size(size)))], boundary
            )
            paths.append(folder / f"upload-{size}.body")
            paths[-1].write_bytes(body)
        return cls(paths[0], paths[1], content_type)


def _with_mark(jpeg: bytes) -> bytes:
    """`jpeg` (from images.jpeg_of_size) with DISTINCT_MARK over the last bytes of its
    zero padding, just before EOI; the same size."""
    end = len(jpeg) - 2
    return jpeg[: end - len(DISTINCT_MARK)] + DISTINCT_MARK + jpeg[end:]


def run_static(stack: Stack, ceiling: Ceiling, folder: Path, rounds: int, duration: int) -> Comparison:
    """S3: one 200 KiB image, through imagehost's location (in S3 mode, from the bucket
    through nginx's warm cache) and as a plain static file."""
    reply = stack.upload(images.jpeg_of_size(SMALL_IMAGE_BYTES), "bench.jpg", "image/jpeg")
    if reply.status != 201:
        raise RuntimeError(f"uploading the image for S3 failed: {reply.status} {reply.body[:300]!r}")
    name = reply.json()["name"]
    static_path = ceiling.serve_static(_served_file(stack, name, folder))
    where = ", from the bucket through nginx's warm cache" if in_bucket(stack) else ""
    return compare(
        ImagehostSide(stack),
        CeilingSide(ceiling),
        Comparison(
            int(stack.env["WEB_SERVER_WORKERS"]),
            "S3",
            f"GET a 200 KiB image{where}",
            "nginx: the same file, plain static location",
        ),
        (Load(f"{stack.base_url}/images/{name}", ("get", "-")), Load(ceiling.url(static_path), ("get", "-"))),
        rounds,
        duration,
    )


def run_listings(
    stack: Stack, ceiling: Ceiling, index_sizes: list[int], rounds: int, duration: int
) -> list[Comparison]:
    """S4, S7 and S8 at each index size (filled on the way), then S4's deep page."""
    workers = int(stack.env["WEB_SERVER_WORKERS"])
    sides = ImagehostSide(stack), CeilingSide(ceiling)
    base = stack.base_url
    results = []

    def new(key: str, title: str, ceiling_title: str) -> Comparison:
        comparison = Comparison(workers, key, title, ceiling_title)
        results.append(comparison)
        return comparison

    admin = (f"Authorization: Bearer {stack.admin_token}",)
    path = f"/api/images?limit={PAGE}"
    for size in index_sizes:
        added = fill.fill_index(stack.env, size)
        say(f"{workers} workers: index filled to {size:,} images (+{added:,})")
        for key, label, listing in (
            ("S4", "listing", path),
            # S7, S8: the filtered listings of issue 13, each matching about a tenth of the rows.
            ("S7", f"listing by tag ({fill.SEARCHED_TAG})", f"{path}&tag={fill.SEARCHED_TAG}"),
            ("S8", f"search (q={fill.SEARCHED_WORD})", f"{path}&q={fill.SEARCHED_WORD}"),
        ):
            _copy_listing(stack, ceiling, listing)
            compare(
                *sides,
                new(key, f"{label}, {size:,} images", "nginx: proxied, same bytes from a file"),
                (Load(base + listing, ("get", "200"), admin), Load(ceiling.url(listing), ("get", "200"), admin)),
                rounds,
                duration,
            )
    deep = f"/api/images?limit={PAGE}&cursor={2 * PAGE + 1}"
    _copy_listing(stack, ceiling, deep)
    compare(
        *sides,
        new("S4", f"listing, deep page (cursor), {index_sizes[-1]:,} images", "nginx: proxied, same bytes from a file"),
        (Load(base + deep, ("get", "200"), admin), Load(ceiling.url(deep), ("get", "200"), admin)),
        rounds,
        duration,
    )
    return results


def run_all(
    stack: Stack, ceiling: Ceiling, bodies: Bodies, folder: Path, index_sizes: list[int], rounds: int, duration: int
) -> list[Comparison]:
    """Every scenario on one running stack; the listing first, on an index of known size."""
    workers = int(stack.env["WEB_SERVER_WORKERS"])
    sides = ImagehostSide(stack), CeilingSide(ceiling)
    base = stack.base_url
    results = []

    def new(key: str, title: str, ceiling_title: str) -> Comparison:
        comparison = Comparison(workers, key, title, ceiling_title)
        results.append(comparison)
        return comparison

    # S4 first: the listing with 1,000, 10,000, 100,000 rows (and S7, S8: filtered by a
    # tag, and a search), then a deep page.
    results += run_listings(stack, ceiling, index_sizes, rounds, duration)

    # S1, S2: uploads. The ceiling's sink log says whether it read every body whole.
    # Their files are deleted after both: deleting tens of thousands of files slows the
    # creation of new ones for minutes on some filesystems (ext4 without a journal skips
    # recently freed inodes), which would be charged to S2. A bucket is emptied after each:
    # the bench's radosgw keeps objects in memory.
    for key, body, label in (("S1", bodies.small, "200 KiB"), ("S2", bodies.large, "4.5 MiB")):
        args = ("upload", "201", str(body), bodies.content_type)
        since = ceiling.sink_log_size()
        comparison = compare(
            *sides,
            new(key, f"upload, {label} JPEG", "nginx reads the body, a sink drops it"),
            (Load(base + "/upload", args), Load(ceiling.url("/upload"), args)),
            rounds,
            duration,
        )
        uploads, whole = ceiling.check_bodies_read(since, body.stat().st_size)
        comparison.notes.append(
            f"ceiling check: of the {uploads:,} uploads the sink answered, it had read "
            f"{whole:,} whole (at least {body.stat().st_size:,} bytes, by $request_length)"
        )
        if in_bucket(stack):
            say(f"{workers} workers: {empty_bucket(stack.env):,} objects removed from the bucket")
    _remove_uploaded_files(stack)

    results.append(run_static(stack, ceiling, folder, rounds, duration))

    # S5: DELETE with each image's own token; a fresh pool of uploaded images per round.
    pool_file = folder / "delete-pool.txt"
    comparison = new("S5", "DELETE with the delete token", "nginx: proxied, a sink answers 204")

    def fill_pool(number: int) -> None:
        # The fastest rate so far, not the last: rounds on a shared machine vary by half.
        seen = [s.load.rate * (2 if s.load.exhausted_threads else 1) for s in comparison.imagehost]
        count = math.ceil(POOL_MARGIN * max([FIRST_DELETE_RATE_GUESS, *seen]) * duration) + 64
        say(f"{workers} workers, S5 round {number + 1}: uploading {count:,} images to delete")
        pairs = upload_pool(stack, count)
        pool_file.write_text("".join(f"{name} {token}\n" for name, token in pairs))

    delete_args = ("delete", "204", str(pool_file), str(wrk.THREADS))
    compare(
        *sides,
        comparison,
        (Load(base + "/", delete_args), Load(ceiling.url("/"), (*delete_args, "cycle"))),
        rounds,
        duration,
        before_round=fill_pool,
    )
    for side, samples in (("imagehost", comparison.imagehost), ("the ceiling", comparison.ceiling)):
        for number, sample in enumerate(samples):
            if sample.load.exhausted_threads:
                comparison.notes.append(
                    f"round {number + 1}: {side} ran out of images to delete, so its rate is a lower bound"
                )
    return results


def in_bucket(stack: Stack) -> bool:
    """Whether `stack` keeps its images in an S3 bucket (STORAGE=s3)."""
    return stack.env.get("STORAGE") == "s3"


def _served_file(stack: Stack, name: str, folder: Path) -> Path:
    """The file the stack serves as /images/`name`, for the ceiling to serve as well.

    Local: the file in IMAGES_DIR. S3: its bytes fetched through nginx into `folder`,
    until nginx answers from its cache (X-Cache-Status: HIT), so that S3 measures the
    warm cache; RuntimeError when it does not within CACHE_WARMING_GETS requests.
    """
    if not in_bucket(stack):
        return stack.images_dir / name
    for _ in range(CACHE_WARMING_GETS):
        reply = stack.get(f"/images/{name}")
        if reply.status != 200:
            raise RuntimeError(f"GET /images/{name} answered {reply.status}: {reply.body[:300]!r}")
        if reply.headers.get("X-Cache-Status") == "HIT":
            copy = folder / name
            copy.write_bytes(reply.body)
            return copy
    raise RuntimeError(f"nginx did not cache /images/{name} within {CACHE_WARMING_GETS} requests")


def _remove_uploaded_files(stack: Stack) -> None:
    """Free the disk (the uploads wrote gigabytes). Their rows stay: this stack never restarts,
    so no reconcile will miss them, and the listing does not read files."""
    for entry in os.scandir(stack.images_dir):
        if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):  # not the instance lock
            os.unlink(entry.path)


def _copy_listing(stack: Stack, ceiling: Ceiling, path: str) -> None:
    reply = stack.get(path, headers=stack.admin())
    if reply.status != 200:
        raise RuntimeError(f"GET {path} answered {reply.status}: {reply.body[:300]!r}")
    ceiling.set_listing(reply.body)


def upload_pool(stack: Stack, count: int) -> list[tuple[str, str]]:
    """Upload `count` small images through nginx, 16 at a time; (name, delete token) each.

    Each image's bytes differ (a random tag in its entropy-coded data), so each is stored
    in its own file, as a first upload: S5 deletes files, not extra links to one.
    """
    plain = images.jpeg()
    port = int(stack.env["HTTP_PORT"])

    def upload_some(how_many: int) -> list[tuple[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            got = []
            for _ in range(how_many):
                body, content_type = images.file_form(_distinct_tiny_jpeg(plain), "pool.jpg", "image/jpeg")
                connection.request("POST", "/upload", body, {"Content-Type": content_type})
                response = connection.getresponse()
                answer = response.read()
                if response.status != 201:
                    raise RuntimeError(f"pool upload answered {response.status}: {answer[:300]!r}")
                payload = json.loads(answer)
                got.append((payload["name"], payload["delete_token"]))
            return got
        finally:
            connection.close()

    shares = [
        count // POOL_UPLOAD_CONNECTIONS + (i < count % POOL_UPLOAD_CONNECTIONS) for i in range(POOL_UPLOAD_CONNECTIONS)
    ]
    with concurrent.futures.ThreadPoolExecutor(POOL_UPLOAD_CONNECTIONS) as pool:
        return [pair for part in pool.map(upload_some, shares) for pair in part]


def _distinct_tiny_jpeg(plain: bytes) -> bytes:
    """`plain` (images.jpeg(), whose last 16 bytes before EOI are zeros) with a random hex
    tag over those zeros: ASCII, so no 0xFF a marker search could meet."""
    tag = uuid.uuid4().hex[:16].encode()
    return plain[:-18] + tag + plain[-2:]
