"""The instance and its files: one instance per data folder, private folders and files, an
index deleted under a running service, and app.log reopened on SIGHUP."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import threading
import time

import pytest
from imagehost.instance_lock import IMAGES_LOCK_NAME
from support import images
from support.backend import ADMIN_TOKEN, Backend
from support.client import request, upload


def wait_for(condition, timeout: float = 10, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message}: not true after {timeout} s"
        time.sleep(0.05)


def on_the_same_folders(first: Backend, root, **settings) -> Backend:
    """A second backend on `first`'s folders (its own ports and output file)."""
    return Backend(root, workers=1, ADMIN_TOKEN=ADMIN_TOKEN, **{**first.state_settings(), **settings})


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def index_rows(backend: Backend) -> set[str]:
    return {row[0] for row in backend.index_rows("SELECT name FROM images")}


def image_files(backend: Backend) -> set[str]:
    return backend.stored_names()


# --- one instance per data folder -----------------------------------------------------------


def test_a_second_instance_on_the_same_folders_exits_1_naming_the_holder_and_the_first_keeps_serving(
    fresh_backend, tmp_path
):
    first = fresh_backend()
    statuses: list[int] = []
    stop = threading.Event()

    def keep_uploading() -> None:
        for n in range(2000):
            if stop.is_set():
                return
            statuses.append(upload(first.url(n % 2), images.file_form(images.png(extra=f"{n}".encode()))).status)

    uploader = threading.Thread(target=keep_uploading)
    uploader.start()
    second = on_the_same_folders(first, tmp_path / "second", SHUTDOWN_TIMEOUT="1")
    try:
        second.start(wait=False)
        code = second.process.wait(20)
    finally:
        stop.set()
        uploader.join(30)
        second.stop()
    assert code == 1
    assert f"pid {first.process.pid} on host {socket.gethostname()}" in second.output()
    assert str(first.data_dir) in second.output()
    assert statuses and set(statuses) == {201}
    assert image_files(first) == index_rows(first) and len(index_rows(first)) == len(statuses)
    assert list((first.images_dir / ".tmp").iterdir()) == []


def test_an_instance_started_right_after_the_last_was_killed_waits_for_its_workers_to_finish(fresh_backend, tmp_path):
    # Long enough that the killed supervisor's worker is still finishing when the second
    # instance (a new Python process, slow on a loaded machine) first tries the lock; the
    # test ends its request itself (busy.close) once the second says it waits.
    first = fresh_backend(SHUTDOWN_TIMEOUT="30")
    # An upload in flight keeps a worker of the killed supervisor busy for a while.
    body, content_type = images.file_form(images.png_of_size(1024 * 1024))
    with socket.create_connection(("127.0.0.1", first.start_port), timeout=15) as busy:
        busy.sendall(
            (
                f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[:1024]
        )
        time.sleep(0.2)
        first.process.kill()
        first.process.wait()
        second = on_the_same_folders(first, tmp_path / "second")
        try:
            second.start(wait=False)
            wait_for(lambda: "waiting up to" in second.output(), message="the second instance waits")
            busy.close()
            second.wait_healthy(timeout=30)
            assert f"in use by pid {first.process.pid}" in second.output()
            assert upload(second.url(), images.file_form(images.png())).status == 201
        finally:
            second.stop()


# --- private folders ------------------------------------------------------------------------


@pytest.mark.local_storage
@pytest.mark.sqlite_index
def test_data_and_log_folders_and_their_files_are_private_and_images_stay_readable(tmp_path):
    backend = Backend(tmp_path, workers=1, ADMIN_TOKEN=ADMIN_TOKEN)
    # As an older version left them: world-readable.
    for folder in (backend.data_dir, backend.log_dir):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    (backend.log_dir / "app.log").write_text("")
    (backend.log_dir / "app.log").chmod(0o644)
    with backend:
        name = upload(backend.url(), images.file_form(images.png())).json()["name"]
        assert mode(backend.data_dir) == 0o700
        index_files = list(backend.data_dir.glob("index.sqlite3*"))
        assert len(index_files) >= 2 and {mode(p) for p in index_files} == {0o600}  # with -wal and -shm
        assert mode(backend.log_dir) == 0o750 and mode(backend.log_dir / "app.log") == 0o600
        assert mode(backend.images_dir) == 0o755 and mode(backend.images_dir / name) == 0o644
        assert mode(backend.images_dir / ".tmp") == 0o700
        assert mode(backend.images_dir / IMAGES_LOCK_NAME) == 0o600


# --- a missing index ------------------------------------------------------------------------


@pytest.mark.sqlite_index
def test_an_index_deleted_under_a_running_service_makes_health_and_uploads_503_and_creates_no_new_file(fresh_backend):
    backend = fresh_backend(workers=1)
    assert upload(backend.url(), images.file_form(images.png())).status == 201
    files_before = image_files(backend)
    index_path = backend.data_dir / "index.sqlite3"
    index_path.unlink()

    health = request("GET", backend.url() + "/api/health")
    assert health.status == 503 and health.json()["index_file"] == "missing"
    refused = upload(backend.url(), images.file_form(images.png(extra=b"after")))
    assert refused.status == 503 and refused.error_code == "unavailable"
    assert "index file was removed" in refused.json()["error"]["message"]
    assert image_files(backend) == files_before
    assert not index_path.exists()
    wait_for(lambda: "index.sqlite3 is missing" in backend.app_log(), message="the supervisor logs the loss")

    # A worker that restarts now does not create an empty index: the service halts, saying why.
    os.kill(backend.worker_pid(0), signal.SIGKILL)
    assert backend.process.wait(20) == 1
    assert not index_path.exists()
    assert re.search(r"stopped: worker 0 could not start: the index file \S+ is missing", backend.app_log())


@pytest.mark.sqlite_index
def test_an_index_file_that_is_not_a_database_stops_start_up_naming_it_without_a_traceback(tmp_path):
    backend = Backend(tmp_path, workers=1)
    backend.data_dir.mkdir(parents=True)
    index_path = backend.data_dir / "index.sqlite3"
    index_path.write_bytes(b"not a database: text a restore or a typo put here\n" * 100)
    backend.start(wait=False)
    try:
        assert backend.process.wait(20) == 1
    finally:
        backend.stop()
    assert f"cannot use the index file {index_path}: file is not a database" in backend.output()
    assert "Traceback" not in backend.output()


# --- SIGHUP ---------------------------------------------------------------------------------


def test_sighup_reopens_app_log_so_lines_go_to_a_new_file_after_a_rename(fresh_backend):
    backend = fresh_backend()
    log = backend.log_dir / "app.log"
    rotated = backend.log_dir / "app.log.rotated"
    log.rename(rotated)
    backend.process.send_signal(signal.SIGHUP)
    wait_for(log.exists, message="a new app.log")
    request("GET", backend.url(1) + "/api/limits", headers={"X-Request-ID": "after-the-rename"})
    wait_for(lambda: "rid=after-the-rename" in log.read_text(), message="the request's line in the new app.log")
    assert "after-the-rename" not in rotated.read_text()
    assert mode(log) == 0o600
