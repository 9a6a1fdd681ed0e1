"""support.tmpfs, the small disk of the disk-full tests: on a machine that will not mount
one (a container without the right to mount) they skip with the reason, but not in CI."""

from __future__ import annotations

import os

import pytest
from support.tmpfs import tmpfs

REFUSAL = "mount: /somewhere: permission denied."


@pytest.fixture
def mount_refused(tmp_path, monkeypatch):
    """A `mount` first on PATH that refuses, as it does in a container not allowed to mount."""
    fake = tmp_path / "bin" / "mount"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho '{REFUSAL}' >&2\nexit 32\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "disk"


def test_a_tmpfs_the_machine_will_not_mount_skips_the_test_with_mounts_own_words(mount_refused, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="permission denied"), tmpfs(mount_refused, "size=1m"):
        pytest.fail("the body ran without a tmpfs")


def test_in_ci_a_tmpfs_the_machine_will_not_mount_fails_the_test(mount_refused, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="permission denied"), tmpfs(mount_refused, "size=1m"):
        pass
