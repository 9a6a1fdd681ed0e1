"""S6: what making previews costs the uploads (issue 12).

The S1 load (wrk, 200 KiB uploads, every body distinct), but the body is a photo that
decodes (support.pictures.photo, 1100x733), so each upload gives the preview maker real
work: S1's body is a JPEG frame header over zeros, which the maker gives up on at once.
Each round runs it on a fresh stack with PREVIEW_WORKERS=1 (the default), then on a fresh
stack with PREVIEW_WORKERS=0 (no previews made), and the report sets the two side by side
as it sets imagehost beside the ceiling: the ratio is uploads/s with previews over
uploads/s without. Fresh stacks, because previews still queued when a run ends would
otherwise be made during the next one.

While uploads come faster than one maker makes previews, the maker never rests: the cost
measured is that of a maker busy all the time, the most it can take. How many previews
it made during the run goes into the notes.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import psycopg
from imagehost import previews
from support import images
from support.pictures import photo
from support.stack import Stack, start_stack

from . import wrk
from .scenarios import (
    DISTINCT_MARK,
    SMALL_IMAGE_BYTES,
    STACK_SETTINGS,
    Comparison,
    ImagehostSide,
    Sample,
    measure,
    say,
    warm_up_seconds,
)
from .wrk import Load

PHOTO_SIZE = (1100, 733)
MAX_QUALITY = 85


class StackWithPreviews(ImagehostSide):
    """ImagehostSide, with the preview makers watched too (their own CPU group), so their
    work is not counted as other people's."""

    def groups(self, workers: dict[int, int]) -> dict[str, list[int]]:
        return {**super().groups(workers), "previews": self.stack.preview_maker_pids()}


def photo_body(folder: Path) -> tuple[Path, str]:
    """The upload body file for load.lua and its Content-Type: a multipart form holding
    marked_photo()."""
    body, content_type = images.multipart(
        [("file", "photo.jpg", "image/jpeg", marked_photo())], "----imagehost-bench-boundary"
    )
    path = folder / "upload-photo.body"
    path.write_bytes(body)
    return path, content_type


def marked_photo() -> bytes:
    """A photo JPEG of exactly SMALL_IMAGE_BYTES, with DISTINCT_MARK in zero padding just
    before EOI (decoders skip it, and so do validation and metadata stripping), so
    load.lua can make each body distinct. The photo's quality is the highest (from 85,
    in steps of 5) that leaves room for the mark."""
    room = SMALL_IMAGE_BYTES - len(DISTINCT_MARK)
    for quality in range(MAX_QUALITY, 0, -5):
        jpeg = photo(0, *PHOTO_SIZE, quality=quality)
        if len(jpeg) <= room:
            break
    else:
        raise RuntimeError(f"no {PHOTO_SIZE} photo fits in {SMALL_IMAGE_BYTES:,} bytes")
    padding = bytes(SMALL_IMAGE_BYTES - len(jpeg) - len(DISTINCT_MARK))
    return jpeg[:-2] + padding + DISTINCT_MARK + jpeg[-2:]


def preview_counts(stack: Stack) -> dict[str, int]:
    """How many rows of the index stand at each preview state (pending, ready, failed)."""
    query = "SELECT preview, count(*) FROM images GROUP BY preview"
    if stack.env.get("DATABASE_URL"):
        with psycopg.connect(stack.env["DATABASE_URL"], connect_timeout=10) as connection:
            return dict(connection.execute(query).fetchall())
    uri = f"file:{stack.data_dir / 'index.sqlite3'}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as connection:
        return dict(connection.execute(query).fetchall())


def run(folder: Path, body: Path, content_type: str, workers: int, rounds: int, duration: int) -> Comparison:
    """`rounds` rounds of S6 with `workers` workers; each side on a fresh stack in `folder`."""
    comparison = Comparison(
        workers,
        "S6",
        "upload, 200 KiB photo, previews made (PREVIEW_WORKERS=1)",
        "the same upload on a stack with PREVIEW_WORKERS=0 (no previews made)",
    )
    for number in range(rounds):
        made: dict[str, int] = {}
        for makers, samples in (("1", comparison.imagehost), ("0", comparison.ceiling)):
            stack_dir = folder / f"previews-{makers}-{workers}-workers"
            with start_stack(
                stack_dir, timeout=60, WEB_SERVER_WORKERS=str(workers), PREVIEW_WORKERS=makers, **STACK_SETTINGS
            ) as stack:
                load = Load(stack.base_url + "/upload", ("upload", "201", str(body), content_type))
                wrk.run(load, warm_up_seconds(duration))
                before = preview_counts(stack)
                sample = measure(StackWithPreviews(stack), load, duration)
                after = preview_counts(stack)
            shutil.rmtree(stack_dir, ignore_errors=True)
            samples.append(sample)
            say(
                f"{workers} workers, S6 PREVIEW_WORKERS={makers}, round {number + 1}/{rounds}: "
                f"{sample.load.rate:.0f} uploads/s, p99 {sample.load.p99_ms:.1f} ms, {sample.load.errors} errors"
            )
            if makers == "1":
                made = {
                    state: after.get(state, 0) - before.get(state, 0) for state in (previews.READY, previews.FAILED)
                }
                made[previews.PENDING] = after.get(previews.PENDING, 0)
        comparison.notes.append(_round_note(number, comparison.imagehost[-1], comparison.ceiling[-1], made))
    return comparison


def _round_note(number: int, with_previews: Sample, without: Sample, made: dict[str, int]) -> str:
    """What the maker got done in the round, and what each side's processes used per upload."""
    cpu = lambda sample, group: sample.cpu_ms_per_request.get(group)
    shown = lambda value: "-" if value is None else f"{value:.2f}"
    maker = cpu(with_previews, "previews")
    per_preview = (
        maker * with_previews.load.requests / made[previews.READY]
        if maker is not None and made[previews.READY]
        else None
    )
    return (
        f"round {number + 1}: the maker made {made[previews.READY]:,} previews ({made[previews.FAILED]:,} failed) "
        f"while {with_previews.load.requests:,} uploads were answered, {made[previews.PENDING]:,} still queued at the "
        f"end; {shown(per_preview)} CPU ms per preview. CPU ms per upload with previews / without: workers "
        f"{shown(cpu(with_previews, 'worker'))} / {shown(cpu(without, 'worker'))}, supervisor "
        f"{shown(cpu(with_previews, 'supervisor'))} / {shown(cpu(without, 'supervisor'))}, nginx "
        f"{shown(cpu(with_previews, 'nginx'))} / {shown(cpu(without, 'nginx'))}"
    )
