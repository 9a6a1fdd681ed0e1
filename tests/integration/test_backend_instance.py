"""The instance and its files: an index deleted under a running service, and app.log
reopened on SIGHUP."""

from __future__ import annotations

import os
import re
import signal
import time

from support import images
from support.backend import Backend
from support.client import request, upload


def wait_for(condition, timeout: float = 10, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message}: not true after {timeout} s"
        time.sleep(0.05)


def image_files(backend: Backend) -> set[str]:
    return {p.name for p in backend.images_dir.iterdir() if p.is_file()}


# --- a missing index ------------------------------------------------------------------------


def test_an_index_deleted_under_a_running_service_makes_health_and_uploads_503_and_creates_no_new_file(
        fresh_backend):
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
