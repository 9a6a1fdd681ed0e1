"""The supervisor's side of previews: it runs the preview makers and feeds them.

PREVIEW_WORKERS maker processes (preview_maker.py) each take one job at a time. Jobs
come from the index: rows whose preview is 'pending', newest first, so a new upload's
preview comes before the backfill of older images. Each job is claimed in the index for
PREVIEW_TIMEOUT + CLAIM_MARGIN (index.claim_previews), so with many app nodes on one
index no two supervisors make the same preview, and a node that dies leaves its jobs to
the others once the claims lapse. A worker that has stored an upload
sends the supervisor SIGUSR1, which makes the queue look at once; otherwise it looks
every LOOK_EVERY seconds (rows that arrive another way: reconcile, a restore). An image
whose bytes another image with a preview holds (an identical upload: storage.py) gets a
hard link to that preview instead of a job: identical images share one preview file
(in a bucket, a server-side copy of it).

Everything here runs in the supervisor's single-threaded loop and never blocks: the
makers' answers are read when select() says they are there, and the loop's timeout
covers each job's deadline. (With STORAGE=s3, sharing a preview and removing one whose
image was deleted meanwhile are one request each to the bucket, within the client's
timeouts: the only waits of this loop on the network.) The outcome of a job goes into the row:
- no job at all while the images volume has less free than ROOM_KEPT_FOR_UPLOADS uploads
  need (previews.py): the last room is for originals, which cannot be made again.
- an answer "later" (the disk is full): still 'pending', and the queue waits
  TRY_AGAIN_AFTER seconds before it hands out more jobs.
- an answer "ok": 'ready'. If the row has gone meanwhile (the image was deleted), the
  preview just written is removed: the delete handler removes it after the row, so
  whichever comes second removes it.
- an answer "failed", a maker past PREVIEW_TIMEOUT (killed), or a maker that died
  (crashed, ran out of memory): 'failed', logged with the reason. A maker that ended
  by itself (exit code 0: it does after MAX_JOBS, or after answering a MemoryError)
  with a job in hand never read it: that job stays 'pending'. The image stays as it
  is; the page shows a placeholder for it.
A row whose outcome could not be written stays 'pending' and is tried again later.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from . import metrics, previews
from .config import Config
from .errors import InsufficientStorage, Unavailable
from .index import ImageRecord, Index, IndexFileError, open_index
from .object_store import ObjectStore, S3Store, open_store

LOOK_EVERY = 2.0
# A claimed job (index.claim_previews) outlives its maker's deadline by this much, so no
# other node takes a job still being made; one claimed by a node that died waits as long.
CLAIM_MARGIN = 30.0
# After a maker could not write a preview for want of disk space.
TRY_AGAIN_AFTER = 30.0
MAX_ANSWER_BYTES = 4096
# A maker that dies before it is ready (it cannot even start) is restarted after a delay
# that doubles up to this; one that dies later (killed past PREVIEW_TIMEOUT), at once.
MAX_RESTART_DELAY = 30.0
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass
class Maker:
    """One maker process, whether it has said it is ready for jobs, and the job it is
    on (the image's name), if any."""

    process: subprocess.Popen[bytes]
    job: str | None = None
    ready: bool = False
    deadline: float = 0.0
    received: bytearray = field(default_factory=bytearray)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def answers(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()


class PreviewQueue:
    def __init__(self, config: Config, store: ObjectStore | None = None):
        self.config = config
        self.store = store if store is not None else open_store(config)
        bucket = None
        if isinstance(self.store, S3Store):
            where = self.store.location  # its credentials go in the makers' environment
            bucket = {
                "endpoint_url": where.endpoint_url,
                "bucket": where.bucket,
                "region": where.region,
                "prefix": where.prefix,
                "addressing": where.addressing,
            }
        self.settings = previews.MakerSettings(
            images_dir=config.images_dir,
            memory_bytes=config.preview_memory_mb * 1024 * 1024,
            max_pixels=config.max_image_pixels,
            bucket=bucket,
            max_image_bytes=config.max_upload_bytes,
        )
        self.makers: list[Maker] = []
        self._index: Index | None = None
        self._look_at = 0.0
        self._quick_deaths = 0
        self._restart_at = 0.0
        self._had_room = True

    def wake(self) -> None:
        """Look for pending previews at the next tick (an upload has just been stored)."""
        self._look_at = 0.0

    def readable(self) -> list[int]:
        return [maker.answers for maker in self.makers]

    def tick(self, ready: list[int] | tuple[int, ...] = ()) -> None:
        """Read the answers in `ready`, end overdue jobs, start missing makers, hand out jobs."""
        now = time.monotonic()
        for maker in list(self.makers):
            if maker.answers in ready:
                self._read_answers(maker)
            if maker.job is not None and now >= maker.deadline:
                self._overdue(maker)
        if len(self.makers) < self.config.preview_workers and now >= self._restart_at:
            self._start_makers()
        idle = self._idle()
        if idle and now >= self._look_at:
            self._look_at = now + LOOK_EVERY
            self._hand_out(idle)

    def next_timeout(self, longest: float) -> float:
        """How long the loop may sleep: until the nearest deadline, at most `longest`."""
        deadlines = [maker.deadline for maker in self.makers if maker.job is not None]
        if len(self.makers) < self.config.preview_workers:
            deadlines.append(self._restart_at)
        if self._idle():
            deadlines.append(self._look_at)
        if not deadlines:
            return longest
        return max(0.0, min(longest, min(deadlines) - time.monotonic()))

    def _idle(self) -> list[Maker]:
        """Makers ready for a job: a maker still starting gets none, so that its start-up
        does not count against PREVIEW_TIMEOUT."""
        return [maker for maker in self.makers if maker.ready and maker.job is None]

    def reaped(self, pid: int, status: int) -> bool:
        """The supervisor reaped `pid`: if it was a maker, settle its job; False otherwise."""
        maker = next((m for m in self.makers if m.pid == pid), None)
        if maker is None:
            return False
        self.makers.remove(maker)
        code = os.waitstatus_to_exitcode(status)
        maker.process.returncode = code  # reaped by the supervisor's waitpid, not Popen's
        self._read_answers(maker)  # an answer written just before the end still counts
        self._close(maker)
        previews.remove_temp_files(self.config.images_dir, pid)
        if maker.job is not None and code == 0:
            # It ended by itself (MAX_JOBS done, or after answering a MemoryError) before
            # reading the job it was just handed: the job stays pending for the next maker.
            self._release(maker.job)
            self._look_at = 0.0
        elif maker.job is not None:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self._settle(maker.job, previews.FAILED, f"the preview maker died ({how})")
        elif not maker.ready:  # it cannot even start: not again at once
            self._quick_deaths += 1
            delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** (self._quick_deaths - 1))
            self._restart_at = time.monotonic() + delay
            logger.warning("a preview maker exited ({}) before it was ready; starting another in {:.1f}s", code, delay)
        return True

    def stop(self) -> None:
        """Close every maker's stdin (it ends after its job) and kill what is left after a
        moment. A job answered meanwhile is settled; one not finished is given back, so
        the next start (of any node) makes it at once, not when its claim lapses."""
        for maker in self.makers:
            self._close_jobs(maker)
        deadline = time.monotonic() + 2.0
        for maker in self.makers:
            try:
                maker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                maker.process.kill()
                maker.process.wait()
            self._read_answers(maker)
            if maker.job is not None:
                self._release(maker.job)
            self._close(maker)
        self.makers.clear()
        if self._index is not None:
            self._index.close()
            self._index = None

    def close_in_child(self) -> None:
        """In a forked worker: drop the makers' pipes, which are the supervisor's alone."""
        for maker in self.makers:
            for pipe in (maker.process.stdin, maker.process.stdout):
                if pipe is not None:
                    pipe.close()

    def _start_makers(self) -> None:
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")])),
            **self._credentials(),
        }
        while len(self.makers) < self.config.preview_workers:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "imagehost.preview_maker", self.settings.to_json()],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=environment,
                )
            except OSError as exc:
                logger.error("cannot start a preview maker: {}", exc)
                self._restart_at = time.monotonic() + MAX_RESTART_DELAY
                return
            assert process.stdout is not None
            os.set_blocking(process.stdout.fileno(), False)
            self.makers.append(Maker(process))

    def _credentials(self) -> dict[str, str]:
        """The bucket's key for the makers' boto3 (from .env too), never on a command line."""
        config = self.config
        if not isinstance(self.store, S3Store) or not config.aws_access_key_id:
            return {}
        return {"AWS_ACCESS_KEY_ID": config.aws_access_key_id, "AWS_SECRET_ACCESS_KEY": config.aws_secret_access_key}

    def _hand_out(self, idle: list[Maker]) -> None:
        index = self._open_index()
        if index is None or not self._room_to_make():
            return  # looked at again after LOOK_EVERY
        try:
            pending = index.claim_previews(len(idle), self.config.preview_timeout + CLAIM_MARGIN)
            jobs = [record for record in pending if not self._shared(index, record)]
        except (sqlite3.Error, Unavailable) as exc:
            self._index_failed(exc)
            return
        for maker, record in zip(idle, jobs, strict=False):
            self._give(maker, record.name, record.type)
        # Counted before the shared ones are left out: a shared preview takes no maker,
        # and the next duplicate must not wait LOOK_EVERY for its link.
        if len(pending) >= len(idle):
            self._look_at = 0.0  # there may be more: look again as soon as a maker is free

    def _room_to_make(self) -> bool:
        """Whether the disk has room for previews beyond what uploads keep (logged when that changes)."""
        try:
            room = previews.room_to_make(self.config.images_dir, self.config.max_upload_bytes)
        except OSError as exc:
            room = False
            logger.error("previews wait: cannot see the free space in IMAGES_DIR ({})", exc)
        if room != self._had_room:
            self._had_room = room
            if room:
                logger.info("previews go on: IMAGES_DIR has room again")
            else:
                logger.warning(
                    "previews wait: IMAGES_DIR has room for fewer than {} more uploads, which they keep",
                    previews.ROOM_KEPT_FOR_UPLOADS,
                )
        return room

    def _shared(self, index: Index, record: ImageRecord) -> bool:
        """Whether `record` got the preview of an identical image, with no decoding."""
        same_content = index.names_with_preview(record.sha256, record.size)
        try:
            if not self.store.share_preview(record.name, same_content):
                return False
        except (Unavailable, InsufficientStorage):
            return False  # logged by the store; a maker makes it instead
        self._settle(record.name, previews.READY)
        return True

    def _give(self, maker: Maker, name: str, mime: str) -> None:
        assert maker.process.stdin is not None
        try:
            maker.process.stdin.write(json.dumps({"name": name, "type": mime}).encode() + b"\n")
            maker.process.stdin.flush()
        except OSError:
            self._release(name)  # it has died; reaped() will see to it
            return
        maker.job = name
        maker.deadline = time.monotonic() + self.config.preview_timeout

    def _read_answers(self, maker: Maker) -> None:
        while True:
            try:
                chunk = os.read(maker.answers, MAX_ANSWER_BYTES)
            except BlockingIOError:
                return
            except OSError:
                return
            if not chunk:
                return
            maker.received += chunk
            while b"\n" in maker.received:
                line, _, rest = maker.received.partition(b"\n")
                maker.received = bytearray(rest)
                self._answered(maker, bytes(line))
            if len(maker.received) > MAX_ANSWER_BYTES:  # not our maker's protocol: end it
                maker.received.clear()
                maker.process.kill()

    def _answered(self, maker: Maker, line: bytes) -> None:
        try:
            answer = json.loads(line)
            if answer == {"ready": True} and not maker.ready:
                maker.ready = True
                self._quick_deaths = 0
                self._look_at = 0.0  # its first job now, not at the next LOOK_EVERY
                return
            name, ok = answer["name"], answer["ok"]
        except (ValueError, KeyError, TypeError):
            logger.error("a preview maker answered something unreadable: {!r}", line[:200])
            maker.process.kill()
            return
        if name != maker.job:
            return
        maker.job = None
        if ok:
            self._settle(name, previews.READY)
        elif answer.get("later"):
            logger.warning("preview of {} postponed: {}", name, answer.get("reason"))
            self._release(name)
            self._look_at = time.monotonic() + TRY_AGAIN_AFTER
        else:
            self._settle(name, previews.FAILED, str(answer.get("reason", "no reason given")))

    def _overdue(self, maker: Maker) -> None:
        """Kill a maker past its deadline; its job fails, and reaped() starts another."""
        name, maker.job = maker.job, None
        maker.process.kill()
        assert name is not None
        self._settle(name, previews.FAILED, f"took longer than PREVIEW_TIMEOUT ({self.config.preview_timeout:g}s)")

    def _settle(self, name: str, state: str, reason: str = "") -> None:
        if reason:
            logger.warning("no preview for {}: {}", name, reason)
        index = self._open_index()
        if index is None:
            return
        try:
            if not index.set_preview(name, state):
                self.store.delete_preview(name)  # deleted while its preview was made
        except (sqlite3.Error, Unavailable, InsufficientStorage) as exc:
            self._index_failed(exc)
            return
        # Once the row says so: an outcome not written is made again, and counted then.
        metrics.preview_finished(state)

    def _release(self, name: str) -> None:
        """Give back the claim on a job no maker made: it is pending for any node at once
        (else when its claim lapses, if this fails)."""
        index = self._open_index()
        if index is None:
            return
        try:
            index.set_preview(name, previews.PENDING)
        except (sqlite3.Error, Unavailable, InsufficientStorage) as exc:
            self._index_failed(exc)

    def _open_index(self) -> Index | None:
        """The supervisor's connection to the index, opened again when the file was
        replaced; None (logged) while there is no usable index file."""
        if self._index is not None and self._index.state() != "ok":
            self._index.close()
            self._index = None
        if self._index is None:
            try:
                self._index = open_index(self.config)
            except IndexFileError as exc:
                logger.error("previews wait: {}", exc)
                return None
        return self._index

    def _index_failed(self, exc: Exception) -> None:
        logger.error("previews wait: the index cannot be used ({}); trying again shortly", exc)
        if self._index is not None:
            self._index.close()
            self._index = None

    @staticmethod
    def _close_jobs(maker: Maker) -> None:
        if maker.process.stdin is not None and not maker.process.stdin.closed:
            try:
                maker.process.stdin.close()
            except OSError:
                pass

    def _close(self, maker: Maker) -> None:
        self._close_jobs(maker)
        if maker.process.stdout is not None and not maker.process.stdout.closed:
            maker.process.stdout.close()
