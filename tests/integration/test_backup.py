"""Backups and the version, through the real nginx: POST/GET /backup/ and /api/backup,
/version and /api/version, and a whole backup made under load, restored into wiped
folders, with every image, row and delete token working again."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import psycopg
import pytest
from imagehost import backups, storage
from support import images
from support.backend import REPO
from support.client import bearer
from support.configuration import ENGINES
from support.postgres import restore_dump

ROWS = "SELECT name, delete_token_hash FROM images ORDER BY id"
UPLOADERS = 3
LOAD_SECONDS = 4.0


def command_env(stack) -> dict[str, str]:
    """The stack's settings, for `python -m imagehost backup|restore` run beside it."""
    return {**stack.env, "PYTHONPATH": str(REPO / "services" / "backend")}


def run_imagehost(stack, *args: str) -> subprocess.CompletedProcess:
    """`python -m imagehost ARGS` beside the stack, with its settings, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "imagehost", *args],
        env=command_env(stack),
        cwd=stack.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def snapshot_rows(data: bytes, folder: Path) -> list[tuple]:
    """The (name, delete_token_hash) rows of a downloaded snapshot, read back the way an
    operator would: a SQLite file opened (after a quick_check), a pg_dump restored by
    pg_restore into a fresh database of the tests' cluster."""
    if data.startswith(b"PGDMP"):  # pg_dump's custom format
        return dump_rows(data, folder)
    path = folder / "downloaded.sqlite3"
    path.write_bytes(data)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        return connection.execute(ROWS).fetchall()
    finally:
        connection.close()


def dump_rows(data: bytes, folder: Path) -> list[tuple]:
    path = folder / "downloaded.pgdump"
    path.write_bytes(data)
    cluster = ENGINES.cluster()
    url = cluster.new_database()
    try:
        restore_dump(path, url)
        with psycopg.connect(url) as connection:
            return connection.execute(ROWS).fetchall()
    finally:
        cluster.drop_database(url)


def snapshot_suffix(stack) -> str:
    """The kind of snapshot the stack's index makes: pg_dump's with PostgreSQL."""
    return backups.DUMP_SUFFIX if stack.shares_its_index() else backups.SQLITE_SUFFIX


@pytest.mark.parametrize("path", ["/backup/", "/api/backup"])
def test_a_post_makes_a_snapshot_and_answers_its_name_and_size(stack, path):
    assert stack.upload(images.png()).status == 201
    reply = stack.request("POST", path, headers=stack.admin())
    assert reply.status == 201, reply.body
    made = reply.json()
    assert backups.is_snapshot_name(made["name"]) and made["name"].endswith(snapshot_suffix(stack))
    snapshot = stack.data_dir / "backups" / made["name"]
    assert snapshot.stat().st_size == made["size"]
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert (stack.data_dir / "backups").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("path", ["/backup/", "/api/backup"])
def test_a_get_downloads_the_newest_snapshot_with_every_row(stack, path, tmp_path):
    uploaded = [stack.upload(images.png(rgb=(i, 1, 2))).json()["name"] for i in range(3)]
    made = stack.request("POST", "/backup/", headers=stack.admin()).json()
    reply = stack.get(path, headers=stack.admin())
    assert reply.status == 200
    assert made["name"].endswith(snapshot_suffix(stack))
    expected_type = "application/octet-stream" if stack.shares_its_index() else "application/vnd.sqlite3"
    assert reply.headers["Content-Type"] == expected_type
    assert reply.headers["Content-Disposition"] == f'attachment; filename="{made["name"]}"'
    assert int(reply.headers["Content-Length"]) == made["size"] == len(reply.body)
    rows = snapshot_rows(reply.body, tmp_path)
    assert set(uploaded) <= {name for name, _ in rows}
    assert all(token_hash for _, token_hash in rows)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_backups_need_the_admin_token(stack, method):
    assert stack.request(method, "/backup/").error_code == "unauthorized"
    assert stack.request(method, "/backup/").status == 401
    wrong = stack.request(method, "/api/backup", headers=bearer("not-the-admin-token"))
    assert (wrong.status, wrong.error_code) == (403, "forbidden")


def test_backups_are_refused_when_no_admin_token_is_set_even_with_a_public_gallery(stack_factory):
    stack = stack_factory(ADMIN_TOKEN="", GALLERY_PUBLIC="true")
    reply = stack.request("POST", "/backup/", headers=bearer("anything"))
    assert (reply.status, reply.error_code) == (403, "forbidden")
    assert "ADMIN_TOKEN" in reply.json()["error"]["message"]


def test_a_post_with_a_body_is_refused_and_makes_no_snapshot(stack_factory):
    stack = stack_factory()
    reply = stack.request("POST", "/backup/", body=b"x" * 100, headers=stack.admin())
    assert (reply.status, reply.error_code) == (400, "bad_request")
    assert backups.snapshots(stack.data_dir / "backups") == []


def test_a_get_before_any_snapshot_is_a_404(stack_factory):
    stack = stack_factory()
    reply = stack.get("/backup/", headers=stack.admin())
    assert (reply.status, reply.error_code) == (404, "not_found")


def test_only_the_newest_snapshots_are_kept(stack):
    names = [
        stack.request("POST", "/api/backup", headers=stack.admin()).json()["name"] for _ in range(backups.KEPT + 2)
    ]
    kept = [path.name for path in backups.snapshots(stack.data_dir / "backups")]
    assert kept == names[-backups.KEPT :]
    assert stack.get("/backup/", headers=stack.admin()).headers["Content-Disposition"].endswith(f'"{names[-1]}"')


def test_backup_without_the_slash_is_not_an_address(stack):
    reply = stack.request("POST", "/backup", headers=stack.admin())
    assert (reply.status, reply.error_code) == (404, "not_found")


@pytest.mark.parametrize("path", ["/version", "/api/version"])
def test_the_version_answers_pyproject_s_version_the_commit_and_python(stack, path):
    reply = stack.get(path)
    assert reply.status == 200
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=False, capture_output=True, text=True)
    assert reply.json() == {
        "version": project["version"],
        "commit": head.stdout.strip() if head.returncode == 0 else "unknown",
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def upload_for(stack, seconds: float, answered: list[dict], stop: threading.Event) -> None:
    """Upload until `stop` or `seconds`, keeping (answer, time answered) of each 201."""
    deadline = time.monotonic() + seconds
    count = 0
    while not stop.is_set() and time.monotonic() < deadline and count < 500:
        count += 1
        reply = stack.upload(images.png(rgb=(count % 256, threading.get_ident() % 256, 7)))
        if reply.status == 201:
            answered.append({**reply.json(), "answered_at": time.monotonic()})


@pytest.mark.local_storage  # make backup archives IMAGES_DIR (it refuses a bucket)
def test_a_backup_made_under_load_restores_every_image_row_and_delete_token(stack_factory, tmp_path):
    stack = stack_factory()
    answered: list[dict] = []
    stop = threading.Event()
    uploaders = [
        threading.Thread(target=upload_for, args=(stack, LOAD_SECONDS, answered, stop)) for _ in range(UPLOADERS)
    ]
    for thread in uploaders:
        thread.start()
    try:
        time.sleep(LOAD_SECONDS / 3)
        backup_started = time.monotonic()
        backup = run_imagehost(stack, "backup", "--output", str(tmp_path / "out"))
    finally:
        for thread in uploaders:
            thread.join(LOAD_SECONDS + 30)
        stop.set()
    assert backup.returncode == 0, backup.stderr
    archive = Path(backup.stdout.strip())
    before = [image for image in answered if image["answered_at"] < backup_started]
    after = [image for image in answered if image["answered_at"] > backup_started]
    assert before and after, "uploads went on before and during the backup"

    assert stack.stop() == 0
    shutil.rmtree(stack.images_dir)
    shutil.rmtree(stack.data_dir)
    restore = run_imagehost(stack, "restore", str(archive))
    assert restore.returncode == 0, restore.stderr
    stack.start()

    listed: dict[str, dict] = {}
    cursor = ""
    for _ in range(100):
        page = stack.get(f"/api/images?limit=200&cursor={cursor}", headers=stack.admin()).json()
        listed |= {item["name"]: item for item in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    fields = ("url", "type", "size", "width", "height", "sha256", "original_name", "created_at")
    for image in before:
        assert {f: listed[image["name"]][f] for f in fields} == {f: image[f] for f in fields}
        served = stack.get(f"/images/{image['name']}")
        assert served.status == 200 and len(served.body) == image["size"]
        deleted = stack.request("DELETE", f"/api/images/{image['name']}", headers=bearer(image["delete_token"]))
        assert deleted.status == 204, deleted.body
        stack.assert_not_served(f"/images/{image['name']}")


@pytest.mark.local_storage  # make backup archives IMAGES_DIR (it refuses a bucket)
def test_restore_refuses_while_the_service_runs(stack, tmp_path):
    made = run_imagehost(stack, "backup", "--output", str(tmp_path))
    assert made.returncode == 0, made.stderr
    refused = run_imagehost(stack, "restore", made.stdout.strip())
    assert refused.returncode == 1
    assert "another imagehost instance" in refused.stderr


@pytest.mark.local_storage  # make backup archives IMAGES_DIR (it refuses a bucket)
def test_identical_uploads_are_backed_up_and_restored_as_one_file_with_every_name_and_token(stack_factory, tmp_path):
    stack = stack_factory()
    data = images.png(12, 12, extra=b"backed up once")
    uploaded = [stack.upload(data).json() for _ in range(5)]
    other = stack.upload(images.png(12, 12, extra=b"another image")).json()
    backup = run_imagehost(stack, "backup", "--output", str(tmp_path / "out"))
    assert backup.returncode == 0, backup.stderr
    assert stack.stop() == 0
    shutil.rmtree(stack.images_dir)
    shutil.rmtree(stack.data_dir)
    restore = run_imagehost(stack, "restore", backup.stdout.strip())
    assert restore.returncode == 0, restore.stderr
    stack.start()

    inodes = {(stack.images_dir / image["name"]).stat().st_ino for image in uploaded}
    assert len(inodes) == 1 and (stack.images_dir / other["name"]).stat().st_ino not in inodes
    for image in [*uploaded, other]:
        assert stack.get(f"/images/{image['name']}").status == 200
        deleted = stack.request("DELETE", f"/api/images/{image['name']}", headers=bearer(image["delete_token"]))
        assert deleted.status == 204, deleted.body
    assert storage.image_files(stack.images_dir) == set()
