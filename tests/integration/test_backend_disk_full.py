"""A full disk: the upload gets 507, nothing partial remains, and space freed is used again."""

from __future__ import annotations

import pytest
from imagehost.instance_lock import IMAGES_LOCK_NAME
from support import images
from support.backend import Backend
from support.client import upload
from support.tmpfs import tmpfs

pytestmark = pytest.mark.local_storage  # IMAGES_DIR on a small tmpfs


@pytest.fixture
def small_images_dir(tmp_path):
    """IMAGES_DIR on a 1 MiB tmpfs (support.tmpfs: skipped where none can be mounted, but
    not in CI)."""
    with tmpfs(tmp_path / "root" / "images", "size=1m") as mount_point:
        yield mount_point


def test_a_full_disk_gives_507_leaves_nothing_and_recovers_without_a_restart(small_images_dir):
    with Backend(small_images_dir.parent) as backend:
        assert backend.images_dir == small_images_dir
        small = upload(backend.url(), images.file_form(images.png_of_size(300_000)))
        assert small.status == 201

        reply = upload(backend.url(), images.file_form(images.png_of_size(900_000)))
        assert (reply.status, reply.error_code) == (507, "insufficient_storage")
        assert sorted(p.name for p in small_images_dir.iterdir()) == sorted(
            [IMAGES_LOCK_NAME, ".tmp", "previews", small.json()["name"]]
        )
        assert list((small_images_dir / ".tmp").iterdir()) == []

        (small_images_dir / small.json()["name"]).unlink()  # space is freed
        assert upload(backend.url(), images.file_form(images.png_of_size(900_000))).status == 201
