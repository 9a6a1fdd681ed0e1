"""The process model: concurrency, crashes, graceful stops, restarts, start-up checks, logs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from support import images
from support.backend import ADMIN_TOKEN, BACKEND_SRC, Backend, free_port_block
from support.client import bearer, request, upload

ADMIN = bearer(ADMIN_TOKEN)


def rows(backend) -> list[tuple]:
    return backend.index_rows("SELECT name, size, sha256, delete_token_hash FROM images ORDER BY id")


def image_files(backend) -> set[str]:
    return backend.stored_names()


def test_8_threads_uploading_25_images_each_get_200_unique_names_and_200_rows(fresh_backend):
    backend = fresh_backend()

    def upload_many(thread: int) -> list[str]:
        names = []
        for i in range(25):
            data = images.png(3, 3, extra=f"{thread}-{i}".encode())
            reply = upload(backend.url((thread + i) % backend.workers), images.file_form(data))
            assert reply.status == 201, reply.body
            names.append(reply.json()["name"])
        return names

    with ThreadPoolExecutor(8) as pool:
        names = [name for batch in pool.map(upload_many, range(8)) for name in batch]
    assert len(names) == len(set(names)) == 200
    assert len(rows(backend)) == 200
    assert image_files(backend) == set(names)
    assert list((backend.images_dir / ".tmp").iterdir()) == []


def test_a_worker_killed_with_sigkill_is_back_within_a_second(fresh_backend):
    backend = fresh_backend()
    victim = backend.worker_pid(1)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    # The port stays bound by the supervisor: requests wait in its backlog meanwhile.
    while True:
        reply = request("GET", backend.url(1) + "/api/health", timeout=5)
        if reply.status == 200 and reply.json()["pid"] != victim:
            break
        assert time.monotonic() - killed_at < 1.0, "worker 1 was not restarted within a second"
    assert time.monotonic() - killed_at < 1.0
    assert re.search(r"worker 1 died \(signal SIGKILL\)", backend.app_log())
    assert upload(backend.url(1), images.file_form(images.png())).status == 201


def test_a_worker_that_keeps_dying_is_restarted_with_growing_delays(fresh_backend):
    backend = fresh_backend(workers=1)
    for _ in range(4):
        pid = backend.worker_pid(0)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if request("GET", backend.url() + "/api/health", timeout=3).json()["pid"] != pid:
                    break
            except (OSError, ValueError):
                pass
    delays = [float(d) for d in re.findall(r"restarting in ([0-9.]+)s", backend.app_log())]
    assert delays[0] == 0.0 and 0 < delays[1] < delays[2] < delays[3]


def test_sigterm_during_an_upload_lets_it_finish_and_exits_0(fresh_backend):
    backend = fresh_backend()
    data = images.png_of_size(2 * 1024 * 1024)
    body, content_type = images.file_form(data)
    with socket.create_connection(("127.0.0.1", backend.start_port), timeout=15) as s:
        head = (
            f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        s.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)  # the worker is now inside the upload
        backend.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(body[len(body) // 2 :])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert b"Connection: close" in answer
    assert backend.process.wait(15) == 0
    name = re.search(rb'"name":"([^"]+)"', answer).group(1).decode()
    assert backend.stored_bytes(name) == data


def test_a_stopping_backend_refuses_new_connections_and_exits_0(fresh_backend):
    backend = fresh_backend()
    assert backend.stop() == 0
    try:
        request("GET", backend.url() + "/api/health", timeout=2)
        raise AssertionError("still answering after the stop")
    except OSError:
        pass


def test_a_restart_keeps_every_image_its_metadata_and_its_delete_token(fresh_backend):
    backend = fresh_backend()
    uploads = [
        upload(backend.url(), images.file_form(images.png(5, 5, extra=bytes([i])), f"n{i}.png")).json()
        for i in range(5)
    ]
    before = rows(backend)
    assert backend.stop() == 0

    again = Backend(backend.root, workers=backend.workers, ADMIN_TOKEN=ADMIN_TOKEN, **backend.state_settings())
    again.start()
    try:
        assert rows(again) == before
        listing = request("GET", again.url() + "/api/images", headers=ADMIN).json()["items"]
        assert [item["name"] for item in listing] == [u["name"] for u in reversed(uploads)]
        assert [item["original_name"] for item in listing] == [f"n{i}.png" for i in reversed(range(5))]
        first = uploads[0]
        reply = request("DELETE", f"{again.url()}/api/images/{first['name']}", headers=bearer(first["delete_token"]))
        assert reply.status == 204
    finally:
        again.stop()


def test_the_start_up_reconcile_repairs_the_index_and_removes_temp_files(fresh_backend):
    backend = fresh_backend()
    kept = upload(backend.url(), images.file_form(images.png())).json()
    lost = upload(backend.url(), images.file_form(images.png(2, 2))).json()
    assert backend.stop() == 0
    backend.remove_stored(lost["name"])  # a row whose file is gone
    backend.put_stored("OrphanOrphan0001.gif", images.gif(7, 8))  # a file without a row
    backend.put_stored("NotAnImage000001.png", b"text")  # left alone
    (backend.images_dir / ".tmp" / "upload-dead.part").write_bytes(b"half an upload")

    again = Backend(backend.root, workers=backend.workers, ADMIN_TOKEN=ADMIN_TOKEN, **backend.state_settings()).start()
    try:
        names = [row[0] for row in rows(again)]
        assert kept["name"] in names and lost["name"] not in names
        assert "NotAnImage000001.png" not in names
        assert list((again.images_dir / ".tmp").iterdir()) == []
        assert "NotAnImage000001.png" in again.app_log()
        if again.shares_its_index():  # the orphan is left for the grace (tests/unit/test_run_once.py)
            assert "OrphanOrphan0001.gif" not in names
            assert "OrphanOrphan0001.gif" in again.stored_names()
            return
        assert "OrphanOrphan0001.gif" in names
        orphan = request("GET", again.url() + "/api/images/OrphanOrphan0001.gif", headers=ADMIN).json()
        assert (orphan["type"], orphan["width"], orphan["height"]) == ("image/gif", 7, 8)
        # Only the admin can delete what the reconcile indexed: there is no delete token.
        url = again.url() + "/api/images/OrphanOrphan0001.gif"
        assert request("DELETE", url, headers=bearer(kept["delete_token"])).status == 403
        assert request("DELETE", url, headers=ADMIN).status == 204
    finally:
        again.stop()


def run_backend_briefly(tmp_path, **settings) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_SERVER_", "IMAGES_", "DATA_", "LOG_"))}
    env.update(
        PYTHONPATH=str(BACKEND_SRC),
        IMAGES_DIR=str(tmp_path / "i"),
        DATA_DIR=str(tmp_path / "d"),
        LOG_DIR=str(tmp_path / "l"),
        **settings,
    )
    return subprocess.run(
        [sys.executable, "-m", "imagehost"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_a_port_that_cannot_be_bound_stops_start_up_naming_the_port(tmp_path):
    start = free_port_block(2)
    port = start + 1  # worker 0's port is free, worker 1's is taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_backend_briefly(tmp_path, WEB_SERVER_START_PORT=str(start), WEB_SERVER_WORKERS="2")
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and f"port {port}" in result.stderr


def test_a_bad_setting_stops_start_up_naming_the_variable(tmp_path):
    result = run_backend_briefly(tmp_path, WEB_SERVER_WORKERS="many")
    assert result.returncode == 2
    assert "WEB_SERVER_WORKERS" in result.stderr and "'many'" in result.stderr


def test_settings_come_from_dot_env_and_the_environment_overrides_them(tmp_path):
    (tmp_path / ".env").write_text("WEB_SERVER_WORKERS=oops\nMAX_UPLOAD_BYTES=nope\n")
    result = run_backend_briefly(tmp_path, WEB_SERVER_WORKERS="1")
    assert result.returncode == 2 and "MAX_UPLOAD_BYTES" in result.stderr


LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} (DEBUG|INFO|WARNING|ERROR)\s+(supervisor|worker-\d) .+"
)


def test_every_worker_logs_whole_lines_into_one_file_that_rotates(fresh_backend):
    backend = fresh_backend(workers=3, LOG_MAX_BYTES="8192", LOG_BACKUPS="100")
    request_ids = [f"rid-{i:04d}" for i in range(600)]

    def hammer(worker: int) -> None:
        for rid in request_ids[worker::3]:
            assert request("GET", backend.url(worker) + "/api/limits", headers={"X-Request-ID": rid}).status == 200

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)  # the supervisor relays the last datagrams
    log_files = sorted(backend.log_dir.glob("app*.log"))
    assert len(log_files) > 3, "the log did not rotate"
    lines = [line for path in log_files for line in path.read_text().splitlines()]
    assert all(LINE.fullmatch(line) for line in lines), [line for line in lines if not LINE.fullmatch(line)][:3]
    logged = [re.search(r"rid=(rid-\d{4})", line).group(1) for line in lines if "GET /api/limits 200" in line]
    assert sorted(logged) == request_ids
    worker_of = {m.group(2) for line in lines if (m := LINE.fullmatch(line)) and "/api/limits" in line}
    assert worker_of == {"worker-0", "worker-1", "worker-2"}


def test_a_request_line_in_the_log_says_method_path_status_bytes_time_worker_and_request_id(backend):
    request("GET", backend.url(1) + "/api/limits", headers={"X-Request-ID": "trace-me-42"})
    time.sleep(0.2)
    line = next(line for line in backend.app_log().splitlines() if "trace-me-42" in line)
    assert re.search(r" worker-1 GET /api/limits 200 \d+B \d+\.\dms rid=trace-me-42$", line), line


def test_a_client_that_vanishes_mid_upload_leaves_no_temp_file(backend):
    body, content_type = images.file_form(images.png_of_size(3 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", backend.start_port)) as s:
        s.sendall(
            (
                f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: 1024 * 1024]
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while list((backend.images_dir / ".tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((backend.images_dir / ".tmp").iterdir()) == []
    while "client went away" not in backend.app_log() and time.monotonic() < deadline:
        time.sleep(0.05)  # the supervisor relays the worker's line
    assert "client went away" in backend.app_log()
