"""Identical uploads share one file (storage.TempUpload.publish with `same_content`), and
every way the shared file can fail to be the right one falls back to the upload's own."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from imagehost import index_sqlite, storage
from imagehost.errors import InsufficientStorage
from support import images

FIRST = "AbCdEfGhIjKlMnOp.png"
DATA = images.png(8, 8, extra=b"shared")


@pytest.fixture
def images_dir(tmp_path) -> Path:
    folder = tmp_path / "images"
    (folder / ".tmp").mkdir(parents=True)
    return folder


def published(images_dir: Path, data: bytes, same_content: list[str]) -> str:
    with storage.TempUpload(images_dir / ".tmp") as temp:
        temp.write(data)
        return temp.publish(images_dir, ".png", same_content)


def first_image(images_dir: Path, data: bytes = DATA, mode: int = 0o644) -> Path:
    path = images_dir / FIRST
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def inode(path: Path) -> int:
    return os.lstat(path).st_ino


def assert_own_file(images_dir: Path, name: str, data: bytes = DATA) -> None:
    path = images_dir / name
    assert path.read_bytes() == data
    assert os.lstat(path).st_nlink == 1 and os.lstat(path).st_mode & 0o777 == 0o644
    assert list((images_dir / ".tmp").iterdir()) == []


def test_an_upload_with_the_bytes_of_a_published_image_becomes_a_second_name_for_its_file(images_dir):
    first = first_image(images_dir)
    name = published(images_dir, DATA, [FIRST])
    assert name != FIRST
    assert inode(images_dir / name) == inode(first) and first.stat().st_nlink == 2
    assert list((images_dir / ".tmp").iterdir()) == []


def test_deleting_the_first_name_leaves_the_shared_file_under_the_second(images_dir):
    first_image(images_dir)
    name = published(images_dir, DATA, [FIRST])
    storage.remove_image(images_dir, FIRST)
    assert (images_dir / name).read_bytes() == DATA and (images_dir / name).stat().st_nlink == 1


def test_a_candidate_deleted_before_the_upload_looks_is_skipped_for_the_uploads_own_file(images_dir):
    name = published(images_dir, DATA, [FIRST, "Missing000000000.png"])
    assert_own_file(images_dir, name)


def test_a_candidate_deleted_between_the_comparison_and_the_link_falls_back_to_the_uploads_own_file(
    images_dir, monkeypatch
):
    first = first_image(images_dir)
    compare = storage.TempUpload._holds_same_bytes_as

    def compare_then_delete(self, fd):
        same = compare(self, fd)
        first.unlink()  # a DELETE of the first image lands here
        return same

    monkeypatch.setattr(storage.TempUpload, "_holds_same_bytes_as", compare_then_delete)
    name = published(images_dir, DATA, [FIRST])
    assert_own_file(images_dir, name)


@pytest.mark.parametrize("by", ["file", "symlink"])
def test_a_candidate_replaced_between_the_comparison_and_the_link_is_not_shared(images_dir, tmp_path, monkeypatch, by):
    first_image(images_dir)
    other = images.png(8, 8, extra=b"OTHERS")
    outside = tmp_path / "outside.png"
    outside.write_bytes(other)
    compare = storage.TempUpload._holds_same_bytes_as

    def compare_then_replace(self, fd):
        same = compare(self, fd)
        replacement = images_dir / "replacement"
        if by == "file":
            replacement.write_bytes(other)
        else:
            replacement.symlink_to(outside)
        os.replace(replacement, images_dir / FIRST)
        return same

    monkeypatch.setattr(storage.TempUpload, "_holds_same_bytes_as", compare_then_replace)
    name = published(images_dir, DATA, [FIRST])
    assert_own_file(images_dir, name)
    assert os.lstat(images_dir / FIRST).st_nlink == 1 and outside.stat().st_nlink == 1
    assert sorted(p.name for p in images_dir.iterdir() if p.name != ".tmp") == sorted([FIRST, name])


@pytest.mark.parametrize(
    "on_disk, mode",
    [
        (images.png(8, 8, extra=b"stalE!"), 0o644),  # a row whose file differs: same size, other bytes
        (DATA + b"\x00", 0o644),  # a longer file
        (DATA, 0o600),  # a file an operator made private: sharing it would hide the upload
    ],
)
def test_a_candidate_that_is_not_the_same_public_file_is_not_shared(images_dir, on_disk, mode):
    first_image(images_dir, on_disk, mode)
    name = published(images_dir, DATA, [FIRST])
    assert_own_file(images_dir, name)
    assert (images_dir / FIRST).read_bytes() == on_disk


def test_a_candidate_that_is_a_symlink_is_not_followed(images_dir, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(DATA)
    (images_dir / FIRST).symlink_to(outside)
    name = published(images_dir, DATA, [FIRST])
    assert_own_file(images_dir, name)
    assert outside.stat().st_nlink == 1


@pytest.mark.parametrize("code", [errno.EPERM, errno.EMLINK])
def test_a_file_that_cannot_take_another_link_is_skipped_for_the_next_candidate_or_the_uploads_own(
    images_dir, monkeypatch, code
):
    first = first_image(images_dir)
    real_link = os.link

    def link(source, destination, **kwargs):
        if Path(source) == first:  # another owner's file (fs.protected_hardlinks), or too many links
            raise OSError(code, os.strerror(code))
        return real_link(source, destination, **kwargs)

    monkeypatch.setattr(os, "link", link)
    name = published(images_dir, DATA, [FIRST])
    assert_own_file(images_dir, name)


def test_a_full_disk_while_linking_the_shared_file_answers_507_and_leaves_nothing(images_dir, monkeypatch):
    first = first_image(images_dir)

    def link(source, destination, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(InsufficientStorage):
        published(images_dir, DATA, [FIRST])
    assert [p.name for p in images_dir.iterdir() if p.is_file()] == [FIRST]
    assert first.stat().st_nlink == 1 and list((images_dir / ".tmp").iterdir()) == []


@pytest.mark.parametrize("code,raised", [(errno.EIO, OSError), (errno.ENOSPC, InsufficientStorage)])
def test_a_shared_publish_whose_directory_fsync_fails_removes_only_its_own_name(images_dir, monkeypatch, code, raised):
    first = first_image(images_dir)

    def sync_directory(directory: str) -> None:
        raise OSError(code, "injected")

    monkeypatch.setattr(storage, "sync_directory", sync_directory)
    with pytest.raises(raised):
        published(images_dir, DATA, [FIRST])
    assert [p.name for p in images_dir.iterdir() if p.is_file()] == [FIRST]
    assert first.read_bytes() == DATA and first.stat().st_nlink == 1


def test_the_index_suggests_the_newest_names_with_the_same_sha256_and_size(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    db = index_sqlite.SqliteIndex(path)
    try:
        for name, sha256, size in [("a", "1" * 64, 10), ("b", "1" * 64, 11), ("c", "2" * 64, 10), ("d", "1" * 64, 10)]:
            db.add(
                name=name,
                type="image/png",
                size=size,
                width=1,
                height=1,
                sha256=sha256,
                original_name="",
                delete_token_hash=None,
            )
        assert db.names_with_content("1" * 64, 10) == ["d", "a"]
        assert db.names_with_content("3" * 64, 10) == []
        plan = " ".join(
            str(row)
            for row in db._connection.execute(
                "EXPLAIN QUERY PLAN SELECT name FROM images WHERE sha256 = ? AND size = ?", ("1" * 64, 10)
            )
        )
        assert "images_sha256" in plan
    finally:
        db.close()
