"""A full disk: the upload gets 507, nothing partial remains, and space freed is used again."""

from __future__ import annotations

import os
import subprocess

import pytest
from imagehost.instance_lock import IMAGES_LOCK_NAME
from support import images
from support.backend import Backend
from support.client import upload


@pytest.fixture
def small_images_dir(tmp_path):
    """IMAGES_DIR on a 1 MiB tmpfs (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("mounting a tmpfs needs root, and CI runs as root")
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "root" / "images"
    mount_point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_gives_507_leaves_nothing_and_recovers_without_a_restart(small_images_dir):
    with Backend(small_images_dir.parent) as backend:
        assert backend.images_dir == small_images_dir
        small = upload(backend.url(), images.file_form(images.png_of_size(300_000)))
        assert small.status == 201

        reply = upload(backend.url(), images.file_form(images.png_of_size(900_000)))
        assert (reply.status, reply.error_code) == (507, "insufficient_storage")
        assert sorted(p.name for p in small_images_dir.iterdir()) == sorted(
            [IMAGES_LOCK_NAME, ".tmp", small.json()["name"]])
        assert list((small_images_dir / ".tmp").iterdir()) == []

        (small_images_dir / small.json()["name"]).unlink()  # space is freed
        assert upload(backend.url(), images.file_form(images.png_of_size(900_000))).status == 201
