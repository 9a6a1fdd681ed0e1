"""Publishing and deleting are all or nothing when the disk or the index fails."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import stat
from dataclasses import replace

import pytest
from imagehost import handlers, storage
from imagehost.config import Config
from imagehost.errors import InsufficientStorage
from imagehost.web import Request, RequestBody
from support import images


@pytest.fixture
def config(tmp_path) -> Config:
    config = Config(images_dir=tmp_path / "images", data_dir=tmp_path / "data")
    config.tmp_dir.mkdir(parents=True)
    return config


def failing_directory_sync(monkeypatch, code: int) -> None:
    def sync_directory(directory: str) -> None:
        raise OSError(code, "injected")

    monkeypatch.setattr(storage, "sync_directory", sync_directory)


def stored(config: Config) -> list[str]:
    return sorted(p.name for p in config.images_dir.iterdir() if p.is_file())


@pytest.mark.parametrize("code,raised", [(errno.EIO, OSError), (errno.ENOSPC, InsufficientStorage)])
def test_a_publish_whose_directory_fsync_fails_removes_its_link_and_raises(config, monkeypatch, code, raised):
    failing_directory_sync(monkeypatch, code)
    with storage.TempUpload(config.tmp_dir) as temp:
        temp.write(images.png())
        with pytest.raises(raised):
            temp.publish(config.images_dir, ".png")
    assert stored(config) == [] and list(config.tmp_dir.iterdir()) == []


class FullIndex:
    def names_with_content(self, sha256, size):
        return []

    def add(self, **row):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise error


def upload_request(data: bytes) -> Request:
    body, content_type = images.file_form(data)
    return Request("POST", "/upload", "", {"Content-Type": content_type}, RequestBody(io.BytesIO(body), len(body)), "r")


def test_an_index_on_a_full_disk_answers_507_and_the_published_file_is_withdrawn(config):
    app = handlers.App(config, FullIndex(), worker_id=0)
    with pytest.raises(InsufficientStorage):
        handlers.upload(upload_request(images.png()), app)
    assert stored(config) == [] and list(config.tmp_dir.iterdir()) == []


class OneRowIndex:
    def __init__(self):
        self.deleted = []

    def get(self, name):
        return type("Record", (), {"delete_token_hash": None})()

    def require_usable(self):
        pass

    def delete(self, name):
        self.deleted.append(name)
        return True


def test_a_delete_whose_directory_fsync_fails_keeps_its_row_and_is_not_acknowledged(config, monkeypatch):
    (config.images_dir / "AbCdEfGhIjKlMnOp.png").write_bytes(images.png())
    failing_directory_sync(monkeypatch, errno.EIO)
    index = OneRowIndex()
    app = handlers.App(replace(config, admin_token="admin-token-0123456789"), index, worker_id=0)
    request = Request(
        "DELETE",
        "/api/images/AbCdEfGhIjKlMnOp.png",
        "",
        {"Authorization": "Bearer admin-token-0123456789"},
        RequestBody(io.BytesIO(b""), 0),
        "r",
    )
    with pytest.raises(OSError, match="injected"):
        handlers.delete_image(request, app, "AbCdEfGhIjKlMnOp.png")
    assert index.deleted == []


def test_an_images_dir_made_under_a_private_umask_and_its_new_parents_can_be_entered_by_nginx(tmp_path):
    images_dir = tmp_path / "new" / "deeper" / "images"
    old_umask = os.umask(0o077)
    try:
        storage.prepare_directories(images_dir, images_dir / ".tmp", tmp_path / "data", tmp_path / "logs")
    finally:
        os.umask(old_umask)
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper", images_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    assert stat.S_IMODE((images_dir / ".tmp").stat().st_mode) == 0o700
