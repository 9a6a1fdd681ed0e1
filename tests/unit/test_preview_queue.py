"""preview_queue.py driven as the supervisor drives it (select on the makers' answers,
reap, tick), with real maker processes and a temp IMAGES_DIR: the order of the jobs, the
sharing of identical images' previews, and what becomes of a job whose image or maker
went away."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from imagehost import index, index_sqlite, previews
from imagehost.config import Config
from imagehost.preview_queue import Maker, PreviewQueue
from PIL import Image

WAIT = 20.0


@pytest.fixture
def config(tmp_path) -> Config:
    config = Config(
        images_dir=tmp_path / "images", data_dir=tmp_path / "data", log_dir=tmp_path / "logs", preview_workers=1
    )
    for folder in (config.images_dir, config.data_dir, previews.folder(config.images_dir)):
        folder.mkdir(parents=True, exist_ok=True)
    index_sqlite.migrate(config.index_path)
    return config


@pytest.fixture
def queue(config):
    running = PreviewQueue(config)
    yield running
    running.stop()


@pytest.fixture
def db(config):
    opened = index_sqlite.SqliteIndex(config.index_path)
    yield opened
    opened.close()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (width % 256, 80, 160)).save(out, "PNG")
    return out.getvalue()


def add_image(config: Config, db: index.Index, name: str, data: bytes, sha256: str | None = None) -> None:
    (config.images_dir / name).write_bytes(data)
    db.add(
        name=name,
        type="image/png",
        size=len(data),
        width=1,
        height=1,
        sha256=sha256 or name.ljust(64, "0"),
        original_name="",
        delete_token_hash=None,
    )


def run(queue: PreviewQueue, done: Callable[[], bool], timeout: float = WAIT) -> None:
    """The supervisor's loop, for the queue alone, until `done()`; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done within {timeout:g} s"
        ready, _, _ = select.select(queue.readable(), [], [], queue.next_timeout(0.1))
        for maker in list(queue.makers):
            pid, status = os.waitpid(maker.pid, os.WNOHANG)
            if pid:
                queue.reaped(pid, status)
        queue.tick(ready)


def given_jobs(queue: PreviewQueue, monkeypatch) -> list[str]:
    """The names of the jobs the queue hands to makers, in order, from now on."""
    given: list[str] = []
    give = queue._give

    def recording(maker: Maker, name: str, mime: str) -> None:
        given.append(name)
        give(maker, name, mime)

    monkeypatch.setattr(queue, "_give", recording)
    return given


def no_pending(db: index.Index) -> Callable[[], bool]:
    return lambda: previews.PENDING not in db.preview_states().values()


def test_pending_previews_are_made_newest_first(config, db, queue, monkeypatch):
    names = [f"Img{number:013d}.png" for number in range(4)]
    for number, name in enumerate(names):
        add_image(config, db, name, png(40 + number, 30))
    given = given_jobs(queue, monkeypatch)
    run(queue, no_pending(db))
    assert given == names[::-1]
    assert set(db.preview_states().values()) == {previews.READY}
    assert previews.files(config.images_dir) == set(names)


def test_identical_images_are_decoded_once_and_share_one_preview_file(config, db, queue, monkeypatch):
    data = png(64, 48)
    names = [f"Same{number:012d}.png" for number in range(5)]
    for name in names:
        add_image(config, db, name, data, sha256="b" * 64)
    given = given_jobs(queue, monkeypatch)
    run(queue, no_pending(db))
    assert len(given) == 1
    inodes = {os.stat(previews.path_of(config.images_dir, name)).st_ino for name in names}
    assert len(inodes) == 1


def test_a_preview_finished_after_its_image_was_deleted_is_removed(config, db, queue):
    name = "Gone000000000001.png"
    add_image(config, db, name, png(300, 200))
    run(queue, lambda: any(maker.job == name for maker in queue.makers))
    db.delete(name)  # the row only: the maker still finds the file and makes the preview
    run(queue, lambda: all(maker.job is None for maker in queue.makers))
    assert os.listdir(previews.folder(config.images_dir)) == []


def handed_to_a_process_that_exits(queue: PreviewQueue, name: str, code: int) -> None:
    """`name`'s job in the hands of a maker that ends with `code` before reading it; reaped."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"raise SystemExit({code})"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    queue.makers.append(Maker(process, job=name, deadline=time.monotonic() + 60))
    pid, status = os.waitpid(process.pid, 0)
    assert queue.reaped(pid, status)


def test_a_job_handed_to_a_maker_that_ended_by_itself_stays_pending(config, db, queue):
    # A maker ends by itself (exit code 0) after MAX_JOBS, or after answering a
    # MemoryError: the job it was handed meanwhile it never read.
    name = "Next000000000001.png"
    add_image(config, db, name, png(30, 20))
    handed_to_a_process_that_exits(queue, name, 0)
    assert db.preview_states() == {name: previews.PENDING}


def test_a_job_whose_maker_crashed_is_given_up(config, db, queue):
    name = "Lost000000000001.png"
    add_image(config, db, name, png(30, 20))
    handed_to_a_process_that_exits(queue, name, 1)
    assert db.preview_states() == {name: previews.FAILED}


def test_a_maker_gets_its_first_job_only_once_it_says_it_is_ready(config, db, queue, monkeypatch):
    # Python and Pillow take a moment to start (seconds on a small board): that time
    # must not count against PREVIEW_TIMEOUT, or a low one fails every first job.
    name = "First00000000001.png"
    add_image(config, db, name, png(30, 20))
    queue.tick()
    assert [maker.job for maker in queue.makers] == [None]
    run(queue, lambda: all(maker.ready for maker in queue.makers))
    run(queue, no_pending(db))
    assert db.preview_states() == {name: previews.READY}


def test_a_ready_maker_that_was_killed_is_replaced_at_once(config, db, queue):
    # As one killed past PREVIEW_TIMEOUT is: no pause, as for a maker that cannot start.
    run(queue, lambda: queue.makers and all(maker.ready for maker in queue.makers))
    killed = queue.makers[0].pid
    os.kill(killed, signal.SIGKILL)
    run(queue, lambda: killed not in [maker.pid for maker in queue.makers])
    queue.tick()
    assert [maker.pid for maker in queue.makers] not in ([], [killed])


def test_a_maker_that_cannot_start_is_restarted_after_a_pause(config, db, queue, monkeypatch):
    monkeypatch.setattr(queue, "settings", SimpleNamespace(to_json=lambda: "not settings"))
    queue.tick()
    assert len(queue.makers) == 1
    run(queue, lambda: not queue.makers)  # it died reading its settings
    queue.tick()
    assert queue.makers == []
    assert queue.next_timeout(60) > 0.1


def test_no_preview_is_made_while_the_disk_has_only_the_room_kept_for_uploads(config, db, queue, monkeypatch):
    # The last room goes to originals: previews wait, still pending, and are made once
    # space is freed, with no restart.
    room = {"now": False}
    monkeypatch.setattr(previews, "room_to_make", lambda images_dir, max_upload_bytes: room["now"])
    name = "Full000000000001.png"
    add_image(config, db, name, png(30, 20))
    given = given_jobs(queue, monkeypatch)
    run(queue, lambda: queue.makers and all(maker.ready for maker in queue.makers))
    for _ in range(5):
        queue._look_at = 0.0
        queue.tick()
    assert given == []
    assert db.preview_states() == {name: previews.PENDING}
    room["now"] = True
    queue._look_at = 0.0
    run(queue, no_pending(db))
    assert given == [name]
    assert db.preview_states() == {name: previews.READY}


def test_a_job_in_hand_when_the_queue_stops_is_given_back_for_the_next_start(config, db, queue, monkeypatch):
    add_image(config, db, "Img0000000000001.png", png(40, 30))
    handed: list[str] = []

    def hold(maker: Maker, name: str, mime: str) -> None:  # its maker never hears of it: still being made
        maker.job = name
        maker.deadline = time.monotonic() + 3600
        handed.append(name)

    monkeypatch.setattr(queue, "_give", hold)
    run(queue, lambda: handed == ["Img0000000000001.png"])
    assert db.claim_previews(1, 60) == []  # the queue's claim
    queue.stop()
    assert [record.name for record in db.claim_previews(1, 60)] == ["Img0000000000001.png"]
