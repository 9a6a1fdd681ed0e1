"""The backend image's ownership changes (services/backend/claim-folders.sh, run by its
entrypoint as root) on this machine, in a temporary folder: a made-up uid and gid stand
for the image's app user, root-owned files planted in the folders stand for what anyone
with access to a bind-mounted host folder could put there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.backend import REPO
from support.stack import require

pytestmark = pytest.mark.runs_once  # a shell script on folders; no app started

CLAIM = REPO / "services" / "backend" / "claim-folders.sh"
APP = 54321  # no such user here: a uid and gid nobody else owns files as


@pytest.fixture
def folders(tmp_path):
    """(images, data, logs, outside): three volumes and a root-owned folder beside them."""
    require(os.geteuid() == 0, "needs root (chown)")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root's\n")
    volumes = [tmp_path / name for name in ("images", "data", "logs")]
    for volume in volumes:
        volume.mkdir()
    return (*volumes, outside)


def claim(images: Path, data: Path, logs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(CLAIM), "--keep", str(logs / "nginx"), f"{APP}:{APP}", str(images), str(data), str(logs)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )


def owner(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid


def test_what_the_host_put_in_the_folders_becomes_the_apps(folders):
    images, data, logs, _ = folders
    (images / "sub").mkdir()
    (images / "sub" / "old.png").write_bytes(b"png")
    (logs / "app.log").write_text("line\n")
    claim(images, data, logs)
    for path in (images, images / "sub", images / "sub" / "old.png", data, logs, logs / "app.log"):
        assert owner(path) == (APP, APP), path


def test_a_symlink_in_a_folder_is_claimed_but_not_what_it_points_to(folders):
    images, data, logs, outside = folders
    (data / "leak").symlink_to(outside / "secret")
    (images / "tree").symlink_to(outside)
    claim(images, data, logs)
    assert owner(data / "leak") == (APP, APP)
    assert owner(outside / "secret") == (0, 0)
    assert owner(outside) == (0, 0)


def test_a_hard_linked_file_is_left_alone_with_a_warning(folders):
    images, data, logs, outside = folders
    os.link(outside / "secret", data / "index.sqlite3-hard")
    result = claim(images, data, logs)
    assert owner(outside / "secret") == (0, 0)
    assert "index.sqlite3-hard" in result.stderr and "hard links" in result.stderr


def test_nginx_logs_stay_nginxs(folders):
    images, data, logs, _ = folders
    (logs / "nginx").mkdir()
    (logs / "nginx" / "access.log").write_text("GET / 200\n")
    claim(images, data, logs)
    assert owner(logs / "nginx") == (0, 0)
    assert owner(logs / "nginx" / "access.log") == (0, 0)
    assert owner(logs) == (APP, APP)


def test_nginx_logs_stay_nginxs_when_LOG_DIR_is_written_with_a_trailing_slash(folders):
    images, data, logs, _ = folders
    (logs / "nginx").mkdir()
    (logs / "nginx" / "access.log").write_text("GET / 200\n")
    # As the entrypoint passes them: "$LOG_DIR/nginx" and "$LOG_DIR", with LOG_DIR=/x/logs/
    subprocess.run(
        ["sh", str(CLAIM), "--keep", f"{logs}//nginx", f"{APP}:{APP}", str(images), str(data), f"{logs}/"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert owner(logs / "nginx" / "access.log") == (0, 0)
    assert owner(logs) == (APP, APP)


def test_missing_folders_are_created_for_the_app(tmp_path):
    require(os.geteuid() == 0, "needs root (chown)")
    images, data, logs = (tmp_path / "new" / name for name in ("images", "data", "logs"))
    claim(images, data, logs)
    assert all(owner(folder) == (APP, APP) for folder in (images, data, logs))
