"""The health check says 503 when the index cannot be read, its file is gone or replaced,
or the images dir cannot be written; a worker never creates or writes an index file of
its own."""

import os
import sqlite3
from dataclasses import replace

import pytest
from imagehost import handlers, index, index_sqlite
from imagehost.config import Config
from imagehost.errors import Unavailable
from imagehost.web import Request
from support.rows import add_row


class IndexStub:
    def __init__(self, readable: bool, file_state: str = "ok"):
        self.readable = readable
        self._state = file_state

    def is_readable(self) -> bool:
        return self.readable

    def state(self) -> str:
        return self._state


def health_of(tmp_path, readable: bool = True, make_dirs: bool = True, file_state: str = "ok"):
    config = replace(Config(), images_dir=tmp_path / "images", data_dir=tmp_path / "data")
    if make_dirs:
        config.tmp_dir.mkdir(parents=True)
    return handlers.health(None, handlers.App(config, IndexStub(readable, file_state), worker_id=3))


def test_health_is_ok_when_storage_and_index_work(tmp_path):
    response = health_of(tmp_path, readable=True)
    assert response.status == 200 and b'"status":"ok"' in response.body and b'"worker":3' in response.body
    assert b'"index_file":"ok"' in response.body and b'"log_lines_dropped":0' in response.body


def test_health_is_503_when_the_index_cannot_be_read(tmp_path):
    response = health_of(tmp_path, readable=False)
    assert response.status == 503 and b'"index_readable":false' in response.body


def test_health_is_503_when_the_images_dir_is_missing(tmp_path):
    response = health_of(tmp_path, readable=True, make_dirs=False)
    assert response.status == 503 and b'"images_dir_writable":false' in response.body


def test_health_is_ok_when_the_temp_folder_has_vanished_since_the_next_upload_makes_it_again(tmp_path):
    config = replace(Config(), images_dir=tmp_path / "images", data_dir=tmp_path / "data")
    config.images_dir.mkdir()
    response = handlers.health(None, handlers.App(config, IndexStub(True), worker_id=0))
    assert response.status == 200 and b'"images_dir_writable":true' in response.body


@pytest.fixture
def opened_index(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    images = index_sqlite.SqliteIndex(path)
    yield images
    images.close()


def test_an_index_file_deleted_under_a_worker_makes_health_503_and_uploads_a_503_saying_so(opened_index):
    assert opened_index.state() == "ok"
    os.unlink(opened_index.path)
    assert opened_index.state() == "missing"
    with pytest.raises(Unavailable, match="index file was removed"):
        add_row(opened_index)
    assert not opened_index.path.exists()


def test_an_index_file_replaced_under_a_worker_makes_its_uploads_a_503_saying_so(opened_index, tmp_path):
    other = tmp_path / "other.sqlite3"
    index_sqlite.migrate(other)
    os.replace(other, opened_index.path)
    assert opened_index.state() == "replaced"
    with pytest.raises(Unavailable, match="index file was replaced"):
        add_row(opened_index)
    with sqlite3.connect(opened_index.path) as db:  # nothing went into the new file either
        assert db.execute("SELECT count(*) FROM images").fetchone() == (0,)


def test_the_health_check_of_a_worker_whose_index_file_is_gone_is_503_naming_it(opened_index, tmp_path):
    os.unlink(opened_index.path)
    config = replace(Config(), images_dir=tmp_path / "images", data_dir=tmp_path)
    config.tmp_dir.mkdir(parents=True)
    response = handlers.health(None, handlers.App(config, opened_index, worker_id=0))
    assert response.status == 503 and b'"index_file":"missing"' in response.body


def test_a_worker_never_creates_a_missing_index_file_and_says_it_is_missing(tmp_path):
    path = tmp_path / "index.sqlite3"
    with pytest.raises(index.IndexFileError, match=r"index file .* is missing"):
        index_sqlite.SqliteIndex(path)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_refuses_an_index_file_that_was_never_migrated(tmp_path):
    path = tmp_path / "index.sqlite3"
    sqlite3.connect(path).close()
    with pytest.raises(index.IndexFileError, match="schema version 0"):
        index_sqlite.SqliteIndex(path)


def test_a_delete_while_the_index_file_is_gone_is_a_503_that_leaves_the_image_in_place(opened_index, tmp_path):
    config = replace(Config(), images_dir=tmp_path / "images", data_dir=tmp_path, admin_token="admin-token-0123456789")
    config.images_dir.mkdir()
    name = add_row(opened_index).name
    (config.images_dir / name).write_bytes(b"the image")
    os.unlink(opened_index.path)
    request = Request(
        "DELETE", f"/api/images/{name}", "", {"Authorization": "Bearer admin-token-0123456789"}, None, "rid"
    )
    # The 503 says "this change was not saved": the image must still be there.
    with pytest.raises(Unavailable, match="not saved"):
        handlers.delete_image(request, handlers.App(config, opened_index, worker_id=0), name)
    assert (config.images_dir / name).read_bytes() == b"the image"
