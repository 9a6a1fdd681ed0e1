"""previews.py and the preview bookkeeping around it: no decoder in the request path,
rows from before previews start pending, the start-up reconcile puts previews and rows
back in step, identical images share one preview file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from imagehost import index_sqlite, previews
from imagehost.config import Config
from imagehost.reconcile import reconcile
from support import images
from support.backend import BACKEND_SRC


@pytest.fixture
def config(tmp_path) -> Config:
    config = Config(images_dir=tmp_path / "images", data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    for folder in (config.images_dir, config.tmp_dir, config.data_dir, previews.folder(config.images_dir)):
        folder.mkdir(parents=True, exist_ok=True)
    index_sqlite.migrate(config.index_path)
    return config


def add_image(config: Config, name: str, preview: str | None = None) -> None:
    """A PNG file and its row; with `preview`, that state and (unless pending) a preview file."""
    data = images.png()
    (config.images_dir / name).write_bytes(data)
    db = index_sqlite.SqliteIndex(config.index_path)
    try:
        db.add(
            name=name,
            type="image/png",
            size=len(data),
            width=4,
            height=3,
            sha256="a" * 64,
            original_name="cat.png",
            delete_token_hash="h",
        )
        if preview is not None:
            db.set_preview(name, preview)
    finally:
        db.close()
    if preview == previews.READY:
        previews.path_of(config.images_dir, name).write_bytes(b"RIFF a preview")


def states(config: Config) -> dict[str, str]:
    db = index_sqlite.SqliteIndex(config.index_path)
    try:
        return db.preview_states()
    finally:
        db.close()


def in_previews(config: Config) -> list[str]:
    return sorted(os.listdir(previews.folder(config.images_dir)))


# --- no decoder where requests are served --------------------------------------------------

REQUEST_PATH_MODULES = [
    "imagehost.worker_process",
    "imagehost.worker",
    "imagehost.handlers",
    "imagehost.routes",
    "imagehost.supervisor",
    "imagehost.preview_queue",
    "imagehost.uploads",
    "imagehost.metadata",
    "imagehost.validation",
    "imagehost.reconcile",
    "imagehost.previews",
]


def test_no_module_of_the_request_path_or_the_supervisor_imports_an_image_decoder():
    script = (
        "import importlib, sys\n"
        f"for module in {REQUEST_PATH_MODULES!r}:\n"
        "    importlib.import_module(module)\n"
        "print(sorted(m for m in sys.modules if m == 'PIL' or m.startswith('PIL.')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(BACKEND_SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- rows from before previews ----------------------------------------------------------------


def test_rows_of_an_index_from_before_previews_become_pending_when_it_is_migrated(tmp_path):
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as db:
        for script in sorted(index_sqlite.MIGRATIONS_DIR.glob("000[12]_*.sql")):
            db.executescript(script.read_text())
        db.execute("PRAGMA user_version = 2")
        db.executemany(
            "INSERT INTO images (name, type, size, width, height, sha256, original_name, created_at,"
            " delete_token_hash) VALUES (?, 'image/png', 1, 1, 1, 'x', '', '2026-01-01T00:00:00.000Z', NULL)",
            [("Old0000000000001.png",), ("Old0000000000002.png",)],
        )
    db.close()
    assert index_sqlite.migrate(path) == index_sqlite.newest_version() >= 3
    opened = index_sqlite.SqliteIndex(path)
    try:
        assert opened.preview_states() == {"Old0000000000001.png": "pending", "Old0000000000002.png": "pending"}
        assert [r.name for r in opened.claim_previews(10, 60)] == ["Old0000000000002.png", "Old0000000000001.png"]
    finally:
        opened.close()


def test_pending_previews_come_newest_first_and_leave_out_those_being_made(config):
    for number in range(5):
        add_image(config, f"Img{number:013d}.png")
    db = index_sqlite.SqliteIndex(config.index_path)
    try:
        db.set_preview("Img0000000000004.png", previews.READY)
        being_made = db.claim_previews(1, 60)
        pending = db.claim_previews(2, 60)
    finally:
        db.close()
    assert [record.name for record in being_made] == ["Img0000000000003.png"]
    assert [record.name for record in pending] == ["Img0000000000002.png", "Img0000000000001.png"]


# --- the start-up reconcile ----------------------------------------------------------------------


def test_start_up_removes_a_preview_whose_image_has_no_row(config):
    add_image(config, "Kept000000000001.png", previews.READY)
    orphan = previews.path_of(config.images_dir, "Gone000000000001.png")
    orphan.write_bytes(b"RIFF an orphan")
    report = reconcile(config)
    assert report.previews_removed == 1
    assert in_previews(config) == ["Kept000000000001.png.webp"]


def test_start_up_makes_a_ready_preview_whose_file_is_missing_pending_again(config):
    add_image(config, "Lost000000000001.png", previews.READY)
    add_image(config, "Kept000000000001.png", previews.READY)
    add_image(config, "Fail000000000001.png", previews.FAILED)
    previews.path_of(config.images_dir, "Lost000000000001.png").unlink()
    report = reconcile(config)
    assert report.previews_to_make_again == 1
    assert states(config) == {
        "Lost000000000001.png": previews.PENDING,
        "Kept000000000001.png": previews.READY,
        "Fail000000000001.png": previews.FAILED,
    }


def test_start_up_removes_the_makers_unfinished_dot_files_and_leaves_other_files(config):
    add_image(config, "Kept000000000001.png", previews.READY)
    folder = previews.folder(config.images_dir)
    (folder / previews.temp_name(4242, "0123456789abcdef")).write_bytes(b"half a preview")
    (folder / ".keep").write_bytes(b"")  # not a maker's file: nobody's business here
    reconcile(config)
    assert in_previews(config) == [".keep", "Kept000000000001.png.webp"]


def test_a_dead_makers_dot_files_are_removed_by_its_pid_and_no_others(config):
    folder = previews.folder(config.images_dir)
    mine, other = previews.temp_name(4242, "aaaa"), previews.temp_name(4243, "bbbb")
    for name in (mine, other):
        (folder / name).write_bytes(b"half a preview")
    assert previews.remove_temp_files(config.images_dir, 4242) == 1
    assert in_previews(config) == [other]


# --- names and sharing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_name, image",
    [
        ("AbCdEfGhIjKlMnOp.png.webp", "AbCdEfGhIjKlMnOp.png"),
        ("AbCdEfGhIjKlMnOp.avif.webp", "AbCdEfGhIjKlMnOp.avif"),
        ("AbCdEfGhIjKlMnOp.png", None),
        (".4242-abcd.part", None),
        ("../AbCdEfGhIjKlMnOp.png.webp", None),
        ("AbCdEfGhIjKlMnOp.bmp.webp", None),
        ("short.png.webp", None),
    ],
)
def test_only_a_previews_name_belongs_to_an_image(file_name, image):
    assert previews.image_name_of(file_name) == image


def test_an_identical_image_shares_the_first_ones_preview_file(config):
    first = previews.path_of(config.images_dir, "Same000000000001.png")
    first.write_bytes(b"RIFF the preview")
    assert previews.share(config.images_dir, "Same000000000002.png", ["Gone000000000001.png", "Same000000000001.png"])
    second = previews.path_of(config.images_dir, "Same000000000002.png")
    assert os.stat(second).st_ino == os.stat(first).st_ino


def test_an_image_whose_twins_have_no_preview_file_shares_nothing(config):
    assert not previews.share(config.images_dir, "Same000000000002.png", ["Gone000000000001.png"])
    assert in_previews(config) == []


@pytest.mark.parametrize(
    "bytes_free, files, files_free, room",
    [
        (8 * 1000, 100, 8, True),
        (8 * 1000 - 1, 100, 100, False),  # too few bytes for the uploads kept room for
        (10**9, 100, 7, False),  # too few files
        (10**9, 0, 0, True),  # a file system with no inode limit reports 0 files
    ],
)
def test_previews_are_made_only_with_room_left_for_eight_of_the_largest_uploads(
    monkeypatch, tmp_path, bytes_free, files, files_free, room
):
    disk = os.statvfs_result((4096, 1, 10**6, bytes_free, bytes_free, files, files_free, files_free, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: disk)
    assert previews.ROOM_KEPT_FOR_UPLOADS == 8
    assert previews.room_to_make(tmp_path, max_upload_bytes=1000) is room
