"""Faults injected into a running stack, with no test hook in the app: directory fsyncs
that fail, a worker SIGKILLed mid-upload, the temp folder removed under the workers.

Directory fsyncs fail through a `sitecustomize.py` written into the test's folder and
put on the stack's PYTHONPATH: Python imports it at start-up in the runner, the
supervisor and (by fork) every worker, and it wraps `os.fsync` so that a directory's
fsync raises EIO with the probability in IMAGEHOST_FAULT_DIR_FSYNC, from a generator
seeded by IMAGEHOST_FAULT_SEED and the process id.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import images
from support.backend import Backend
from support.client import bearer, request

from .harness import (
    LOAD_SETTINGS,
    assert_nothing_left_behind,
    image_files,
    index_rows,
    listed_names,
    measure,
    send_upload,
    served_bytes_match,
    size,
    temp_files,
    wait_until,
)

FIGURE_CLASS = "injected faults"

SITECUSTOMIZE = '''
"""Test fault injection: a directory's fsync fails with EIO, at a seeded rate."""
import errno, os, random, stat

_rate = float(os.environ.get("IMAGEHOST_FAULT_DIR_FSYNC", "0") or 0)
if _rate > 0:
    _real_fsync = os.fsync
    _generators = {}

    def _fails() -> bool:
        pid = os.getpid()  # a forked worker must not replay its parent's sequence
        if pid not in _generators:
            _generators[pid] = random.Random(f"{os.environ.get('IMAGEHOST_FAULT_SEED', '0')}-{pid}")
        return _generators[pid].random() < _rate

    def fsync(fd):
        number = fd if isinstance(fd, int) else fd.fileno()
        if stat.S_ISDIR(os.fstat(number).st_mode) and _fails():
            raise OSError(errno.EIO, "injected: directory fsync failed")
        return _real_fsync(fd)

    os.fsync = fsync
'''


def stack_with_failing_directory_fsyncs(stack_factory, tmp_path, rate: float):
    injected = tmp_path / "faults"
    injected.mkdir()
    (injected / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return stack_factory(
        PYTHONPATH=str(injected),
        IMAGEHOST_FAULT_DIR_FSYNC=str(rate),
        IMAGEHOST_FAULT_SEED="10",
        WEB_SERVER_WORKERS="2",
        **LOAD_SETTINGS,
    )


def upload_many(stack, count: int) -> list:
    def one(i: int):
        return send_upload(stack, images.png(3, 3, extra=f"fsync fault {i}".encode()), f"f{i}")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.local_storage  # directory fsyncs of IMAGES_DIR
def test_an_upload_whose_directory_fsync_fails_is_a_json_500_and_leaves_no_file_nor_row(stack_factory, tmp_path, tally):
    stack = stack_with_failing_directory_fsyncs(stack_factory, tmp_path, rate=0.2)
    sent = upload_many(stack, size(300, 400))
    tally.case(len(sent))
    created = [s for s in sent if s.status == 201]
    refused = [s for s in sent if s.status != 201]
    measure("uploads failed by an injected directory fsync (JSON 500, nothing left)", len(refused))
    assert refused, "no directory fsync failed: the fault was not injected"
    files, rows = image_files(stack), set(index_rows(stack))
    # (201s, failures, files, rows): the failures left no file and no row.
    assert (len(created), len(refused), len(files), len(rows)) == (len(created), len(refused)) + (len(created),) * 2
    assert all(s.status == 500 and s.error_code == "internal" for s in refused), [
        (s.status, s.failure) for s in refused if s.status != 500
    ]
    # Every 201 is whole, served and listed; every failure left nothing: files == rows == 201s.
    names = {s.created["name"] for s in created}
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda s: served_bytes_match(stack, s), created))
    assert set(listed_names(stack)) == names
    assert files == rows == names
    assert temp_files(stack) == []


@pytest.mark.local_storage  # directory fsyncs of IMAGES_DIR
def test_identical_uploads_whose_directory_fsync_fails_withdraw_only_their_own_name(stack_factory, tmp_path, tally):
    # Eight contents, each sent many times: most uploads are a second name for a file
    # others were answered 201 for; a failed one must take only its own name away.
    stack = stack_with_failing_directory_fsyncs(stack_factory, tmp_path, rate=0.2)

    def one(i: int):
        return send_upload(stack, images.png(3, 3, extra=f"shared {i % 8}".encode()), f"s{i}")

    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(one, range(size(200, 400))))
    tally.case(len(sent))
    created = [s for s in sent if s.status == 201]
    refused = [s for s in sent if s.status != 201]
    assert refused, "no directory fsync failed: the fault was not injected"
    assert all(s.status == 500 and s.error_code == "internal" for s in refused)
    names = {s.created["name"] for s in created}
    assert image_files(stack) == set(index_rows(stack)) == names
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda s: served_bytes_match(stack, s), created))
    inodes = {os.stat(stack.images_dir / name).st_ino for name in names}
    assert len(inodes) < len(names) / 4, "identical uploads were not stored once"
    assert temp_files(stack) == []


@pytest.mark.local_storage  # directory fsyncs of IMAGES_DIR
def test_a_delete_whose_directory_fsync_fails_is_not_acknowledged_and_the_same_delete_again_completes_it(
    stack_factory, tmp_path, tally
):
    stack = stack_with_failing_directory_fsyncs(stack_factory, tmp_path, rate=0.2)
    created = [s.created for s in upload_many(stack, size(150, 300)) if s.status == 201]
    answers = {}

    def delete(image: dict) -> None:
        answers[image["name"]] = stack.request(
            "DELETE", f"/api/images/{image['name']}", headers=bearer(image["delete_token"])
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, created))
    tally.case(len(created))
    failed = [name for name, reply in answers.items() if reply.status != 204]
    measure("deletes failed by an injected directory fsync (500, retried to 204)", len(failed))
    assert failed, "no directory fsync failed: the fault was not injected"
    rows = index_rows(stack)
    for name in failed:
        assert answers[name].status == 500 and answers[name].error_code == "internal", answers[name].body
        # Not acknowledged: the row is still there (the file is no longer served).
        assert name in rows
        assert stack.get(f"/images/{name}").status == 404
    # A client that retries gets its 204 once an fsync succeeds (20 % failures: 20 tries suffice).
    tokens = {image["name"]: image["delete_token"] for image in created}
    for name in failed:
        for _ in range(20):
            reply = stack.request("DELETE", f"/api/images/{name}", headers=bearer(tokens[name]))
            if reply.status != 500:
                break
        assert reply.status == 204, (name, reply.status, reply.body)
    assert index_rows(stack) == {} and image_files(stack) == set() and listed_names(stack) == []


def test_a_worker_sigkilled_mid_upload_leaves_no_temp_file_once_the_supervisor_restarts_it(tmp_path, tally):
    with Backend(tmp_path, workers=1) as backend:
        victim = backend.worker_pid(0)
        tmp = backend.images_dir / ".tmp"
        body, content_type = images.file_form(images.png(2, 2, extra=b"\0" * 500_000))
        with socket.create_connection(("127.0.0.1", backend.ports[0]), timeout=10) as slow:
            slow.sendall(
                f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:100_000]
            )
            wait_until(lambda: any(tmp.iterdir()), timeout=10, message="the upload's temp file exists")
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda: _health_pid(backend) not in (None, victim), timeout=10, message="the worker is restarted"
            )
        tally.case()
        assert list(tmp.iterdir()) == []


def test_the_temp_folder_removed_while_running_is_made_again_and_uploads_go_on(stack_factory, tally):
    stack = stack_factory(**LOAD_SETTINGS)
    shutil.rmtree(stack.images_dir / ".tmp")
    replies = [stack.upload(images.png(2, 2, extra=f"after rmtree {i}".encode())) for i in range(6)]
    tally.case(len(replies))
    assert [r.status for r in replies] == [201] * 6, [r.body for r in replies]
    assert stat.S_IMODE((stack.images_dir / ".tmp").stat().st_mode) == 0o700
    assert_nothing_left_behind(stack)


def _health_pid(backend) -> int | None:
    try:
        reply = request("GET", backend.url(0) + "/api/health", timeout=2)
    except OSError:
        return None
    return reply.json()["pid"] if reply.status == 200 else None
