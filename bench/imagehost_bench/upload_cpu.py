"""U1: the backend's CPU per upload, through /upload and as a direct upload to the
bucket (issue 14). S3 mode only: direct uploads go to a bucket.

On a fresh stack (a new bucket and database, S3_DIRECT_UPLOADS=true), round after round,
UPLOADS uploads each way, one after another, of a 200 KiB photo (every one distinct, so
each is stored and gets a preview of its own, as S6's):
- /upload: the multipart form through nginx, as `curl -F file=@photo.jpg` sends it;
- direct: POST /api/uploads through nginx (JSON filename, size, content_type), whose
  answer is a presigned POST; its `fields` and the file as a multipart form straight to
  its `url` (the bucket answers 2xx); then POST /api/uploads/<id>/complete through nginx,
  which answers 201 as /upload does.
A way's figure is the CPU time the backend spent from before its first upload until the
index holds no pending preview again, over the uploads: the supervisor, its web workers
and its preview makers (/proc: utime + stime; a maker that ended meanwhile, as makers do
after a number of jobs, through the supervisor's reaped-children time). nginx and the
bucket are not the backend and are not counted. The report gives each way's median over
the rounds and the ratio direct / /upload of the totals.

A build without direct uploads (POST /api/uploads answers 404 or 405) gives the /upload
figures and says "direct uploads not offered by this build"; any other refusal of a
direct upload is reported with its status and message instead of the direct figures.
Raises RuntimeError when an /upload is refused or the previews are still pending after
PREVIEW_WAIT_S seconds.
"""

from __future__ import annotations

import json
import secrets
import shutil
import statistics
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imagehost import previews
from support import images
from support.backend import children_of, is_preview_maker
from support.client import Reply, request
from support.stack import Stack, start_stack

from . import machine
from .preview_cost import marked_photo, preview_counts
from .scenarios import DISTINCT_MARK, STACK_SETTINGS, say

UPLOADS = 200
SMOKE_UPLOADS = 5
WARM_UPS = 3
PREVIEW_WAIT_S = 120
UPLOAD = "/upload"
DIRECT = "direct"
NOT_OFFERED = "direct uploads not offered by this build"
GROUPS = ("workers", "supervisor", "preview makers")


class DirectRefused(Exception):
    """A step of a direct upload was refused; the message says which, with the answer."""


@dataclass
class UploadCpu:
    """Each way's CPU seconds per group, one dict per round; why direct was not measured."""

    workers: int
    uploads: int
    rounds: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    not_measured: str = ""

    def ms_per_upload(self, way: str, group: str | None = None) -> float | None:
        """The median over rounds of `group`'s CPU ms per upload (all groups when None)."""
        spent = self.rounds.get(way)
        if not spent:
            return None
        groups = GROUPS if group is None else (group,)
        return statistics.median(sum(seconds[g] for g in groups) * 1000 / self.uploads for seconds in spent)


def measure(folder: Path, settings: dict[str, str], workers: int, uploads: int, rounds: int) -> UploadCpu:
    """U1 on a stack of `workers` workers with `settings` (the bucket's and database's)."""
    result = UploadCpu(workers, uploads)
    photo = marked_photo()
    stack_dir = folder / f"upload-cpu-{workers}-workers"
    with start_stack(
        stack_dir, timeout=60, WEB_SERVER_WORKERS=str(workers), S3_DIRECT_UPLOADS="true", **STACK_SETTINGS, **settings
    ) as stack:
        ways = {UPLOAD: upload_through_backend}
        # Not measured: the first calls of each way (imports, clients, pools).
        for _ in range(WARM_UPS):
            upload_through_backend(stack, distinct(photo))
        try:
            for _ in range(WARM_UPS):
                upload_direct(stack, distinct(photo))
            ways[DIRECT] = upload_direct
        except DirectRefused as refusal:
            result.not_measured = str(refusal)
        wait_for_previews(stack)
        for number in range(rounds):
            for way, upload in ways.items():
                try:
                    spent = cpu_of(stack, upload, photo, uploads)
                except DirectRefused as refusal:
                    result.not_measured = str(refusal)
                    continue
                result.rounds.setdefault(way, []).append(spent)
                say(
                    f"{workers} workers, U1 {way}, round {number + 1}/{rounds}: "
                    f"{sum(spent.values()) * 1000 / uploads:.1f} backend CPU ms per upload"
                )
    shutil.rmtree(stack_dir, ignore_errors=True)
    return result


def distinct(photo: bytes) -> bytes:
    """`photo` (marked_photo()) with a random tag of the same length over its DISTINCT_MARK."""
    return photo.replace(DISTINCT_MARK, secrets.token_hex(len(DISTINCT_MARK))[: len(DISTINCT_MARK)].encode())


def upload_through_backend(stack: Stack, data: bytes) -> None:
    """POST /upload through nginx; RuntimeError unless it answers 201."""
    reply = stack.upload(data, "photo.jpg", "image/jpeg")
    if reply.status != 201:
        raise RuntimeError(f"POST /upload answered {reply.status}: {reply.body[:300]!r}")


def upload_direct(stack: Stack, data: bytes) -> None:
    """Init, the presigned POST to the bucket, complete. DirectRefused when a step is
    refused: NOT_OFFERED when POST /api/uploads is no route of this build (404, 405)."""
    declared = {"filename": "photo.jpg", "size": len(data), "content_type": "image/jpeg"}
    offer = stack.request("POST", "/api/uploads", json.dumps(declared).encode(), {"Content-Type": "application/json"})
    if offer.status in (404, 405):
        raise DirectRefused(NOT_OFFERED)
    _expect(offer, 201, "POST /api/uploads")
    presigned = offer.json()
    fields = [(name, None, None, str(value).encode()) for name, value in presigned["fields"].items()]
    form, content_type = images.multipart([*fields, ("file", "photo.jpg", "image/jpeg", data)])
    posted = request("POST", presigned["url"], form, {"Content-Type": content_type})
    if not 200 <= posted.status < 300:
        raise DirectRefused(f"the bucket refused the presigned POST: {posted.status} {posted.body[:300]!r}")
    complete = f"/api/uploads/{urllib.parse.quote(str(presigned['id']), safe='')}/complete"
    _expect(stack.request("POST", complete, b""), 201, f"POST {complete}")


def _expect(reply: Reply, status: int, what: str) -> None:
    if reply.status != status:
        raise DirectRefused(f"{what} answered {reply.status}: {reply.body[:300]!r}")


def wait_for_previews(stack: Stack) -> None:
    """Return once no preview is pending; RuntimeError after PREVIEW_WAIT_S seconds."""
    deadline = time.monotonic() + PREVIEW_WAIT_S
    while preview_counts(stack).get(previews.PENDING, 0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"previews still pending {PREVIEW_WAIT_S} s after the uploads")
        time.sleep(0.1)


Snapshot = tuple[dict[int, tuple[str, int]], int, int]


def cpu_of(stack: Stack, upload: Callable[[Stack, bytes], None], photo: bytes, count: int) -> dict[str, float]:
    """CPU seconds per group the backend spent on `count` uploads of distinct copies of
    `photo` by `upload`, and on the previews they queued."""
    before = _snapshot(stack)
    for _ in range(count):
        upload(stack, distinct(photo))
    wait_for_previews(stack)
    return _spent(before, _snapshot(stack))


def _snapshot(stack: Stack) -> Snapshot:
    """(child pid -> (group, ticks), the supervisor's own ticks, its reaped children's ticks)."""
    supervisor = stack.supervisor_pid()
    children = {}
    for pid in children_of(supervisor):
        try:
            children[pid] = ("preview makers" if is_preview_maker(pid) else "workers", machine.cpu_ticks(pid))
        except ProcessLookupError:  # reaped just now: its time is in the supervisor's reaped ticks
            continue
    return children, machine.cpu_ticks(supervisor), machine.reaped_children_ticks(supervisor)


def _spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots. Children that ended meanwhile are
    counted as preview makers (the only children that end in normal running)."""
    (old, supervisor_before, reaped_before), (new, supervisor_after, reaped_after) = before, after
    ticks = dict.fromkeys(GROUPS, 0)
    ticks["supervisor"] = supervisor_after - supervisor_before
    for pid, (seen_as, now) in new.items():
        group, then = old.get(pid, (seen_as, 0))
        ticks[group] += now - then
    # A child reaped meanwhile: its whole life is in the reaped ticks, what it had used
    # before the first snapshot is not this measurement's.
    gone_before = sum(then for pid, (_, then) in old.items() if pid not in new)
    ticks["preview makers"] += reaped_after - reaped_before - gone_before
    return {group: value / machine.CLOCK_TICKS for group, value in ticks.items()}
