"""Faults under load, through nginx: a worker SIGKILLed mid-upload, SIGTERM to the backend
and to the whole stack during uploads, a restart of the whole stack, and the index under
write contention from every worker at once.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Self

import pytest
from imagehost.index import COLUMNS
from support import images
from support.client import bearer, request

from .harness import (
    LOAD_SETTINGS,
    Sent,
    access_log_lines,
    as_stored,
    assert_nothing_left_behind,
    image_files,
    index_rows,
    leftovers,
    listed_names,
    measure,
    mixed_payload,
    send_upload,
    served_bytes_match,
    sha256,
    size,
    temp_files,
    wait_until,
)


class Load:
    """`clients` threads uploading mixed sizes through nginx until stopped."""

    def __init__(self, stack, clients: int, pause: float = 0.01):
        self.stack = stack
        self.sent: list[Sent] = []
        self.digests: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pause = pause
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def _client(self, i: int) -> None:
        rng = random.Random(i)
        n = 0
        while not self._stop.is_set():
            data = mixed_payload(rng, f"client {i} upload {n}")
            with self._lock:
                self.digests.add(sha256(data))
            result = send_upload(self.stack, data, f"c{i}-{n}", timeout=60)
            with self._lock:
                self.sent.append(result)
            n += 1
            time.sleep(self._pause if result.status is not None else 0.05)

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)
        assert not any(thread.is_alive() for thread in self._threads), "a client is stuck"


def answered(sent: list[Sent]) -> int:
    """Uploads that got an HTTP answer (not those nginx refused to connect after it stopped)."""
    return sum(1 for s in sent if s.status is not None)


def health_pid(port: int) -> int | None:
    try:
        return request("GET", f"http://127.0.0.1:{port}/api/health", timeout=5).json()["pid"]
    except (OSError, ValueError):
        return None


def check_kept(stack, sent: list[Sent]) -> int:
    """Every 201 serves its exact bytes through nginx; returns how many do not (lost)."""
    kept = [s for s in sent if s.status == 201]
    with ThreadPoolExecutor(4) as pool:
        matches = list(pool.map(lambda s: served_bytes_match(stack, s), kept))
    return matches.count(False)


# --- SIGKILL ------------------------------------------------------------------------------


@pytest.mark.figure("worker SIGKILL under load")
def test_a_worker_sigkilled_mid_upload_fails_only_its_own_requests_with_a_json_502_and_is_back_within_a_second(
    stack_factory, tally
):
    workers = 4
    kills = size(4, 12)
    # Kills are spaced so that the supervisor's crash-loop back-off (a worker that dies
    # again within 10 s is restarted after a delay) does not start; nginx takes a worker
    # out for only a second after 3 failed requests (max_fails=3 fail_timeout=1s).
    spacing = size(2, 3)
    stack = stack_factory(WEB_SERVER_WORKERS=str(workers), **LOAD_SETTINGS)
    ports = stack.worker_ports
    windows = []  # (port, killed at, back at)
    with Load(stack, clients=8) as load:
        time.sleep(0.5)
        for k in range(kills):
            port = ports[k % workers]
            victim = health_pid(port)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            wait_until(
                lambda port=port, victim=victim: health_pid(port) not in (None, victim),
                timeout=10,
                interval=0.01,
                message=f"worker on port {port} replaced",
            )
            windows.append((port, killed_at, time.monotonic()))
            time.sleep(spacing)
        time.sleep(0.5)
    restart_times = [back - killed for _, killed, back in windows]
    tally.case(len(load.sent) + kills)
    measure("uploads under load", answered(load.sent))
    measure("restart after SIGKILL, slowest (s)", max(restart_times), how="max")
    measure("SIGKILLs", kills)

    failed = [s for s in load.sent if s.status != 201]
    measure("requests failed by SIGKILL (each was on the killed worker)", len(failed))
    # Only the killed workers' requests failed, and cleanly: nginx's JSON 502, never a 500.
    lines = access_log_lines(stack, {s.probe for s in failed})
    for s in failed:
        assert (s.status, s.error_code) == (502, "bad_gateway"), (s.probe, s.status, s.failure)
        upstream = re.search(r"upstream=127\.0\.0\.1:(\d+)", lines[s.probe]).group(1)
        assert any(
            int(upstream) == port and s.started <= back + 0.1 and s.ended >= killed for port, killed, back in windows
        ), (s.probe, lines[s.probe])
    lost = check_kept(stack, load.sent)
    measure("lost uploads", lost)
    assert lost == 0

    # No half-written image: every file holds bytes a client sent whole. A request killed
    # between publishing its file and writing its row leaves a whole file without a row,
    # for the next start-up; a killed request's temp file goes when its worker is reaped.
    wait_until(lambda: not temp_files(stack), timeout=10, message="the killed workers' temp files are removed")
    found = leftovers(stack)
    assert found.rows_without_files == set() and found.damaged_files == set()
    for name in image_files(stack):
        assert sha256(stack.stored_bytes(name)) in load.digests
    # (A kill between the hard link and the temp name's unlink leaves both, for one request.)
    assert len(found.files_without_rows) <= len(failed) and not found.temp_files
    measure("whole files without a row after SIGKILL (indexed at the next start)", len(found.files_without_rows))
    measure("temp files of SIGKILLed requests left once their workers restarted (must be 0)", len(found.temp_files))
    assert max(restart_times) < 1.0, restart_times

    # The next start-up's reconcile puts the rest in order; with a shared index, all but
    # the whole files without a row, left for the orphan grace.
    assert stack.stop() == 0
    again = stack_factory(**stack.state_settings(), **LOAD_SETTINGS)
    measure("leftover files", leftovers(again).count)
    if again.shares_its_index():
        after = leftovers(again)
        assert after.files_without_rows <= found.files_without_rows, after
        assert after.count == len(after.files_without_rows), after
    else:
        assert_nothing_left_behind(again)
    assert check_kept(again, load.sent) == 0


# --- SIGTERM ------------------------------------------------------------------------------


def probes_the_workers_logged(stack) -> dict[str, int]:
    """probe -> the status a worker logged for it."""
    found = {}
    for line in stack.app_log().splitlines():
        match = re.search(r" POST /upload\?probe=([\w.-]+) (\d{3}) ", line)
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


@pytest.mark.figure("SIGTERM during uploads")
def test_sigterm_to_the_backend_during_uploads_finishes_every_upload_a_worker_started_and_exits_0(stack_factory, tally):
    stack = stack_factory(WEB_SERVER_WORKERS="2", SHUTDOWN_TIMEOUT="10", **LOAD_SETTINGS)
    supervisor = stack.supervisor_pid()
    with Load(stack, clients=8, pause=0) as load:
        time.sleep(size(1.0, 3.0))
        os.kill(supervisor, signal.SIGTERM)  # what `docker compose stop` sends the backend
        assert stack.process.wait(30) != 0  # the runner stops nginx once the backend is gone
    tally.case(len(load.sent))
    measure("uploads under load", answered(load.sent))
    assert "the backend exited with status 0" in stack.output(200)
    assert re.search(r"supervisor stopped$", stack.app_log(), re.MULTILINE)

    logged = probes_the_workers_logged(stack)
    assert set(logged.values()) <= {201}, {p: s for p, s in logged.items() if s != 201}
    # A stopping worker hangs up its idle keep-alive connections; a request nginx sends on
    # one at that very moment is read, then cut off ("client went away"), and nginx answers
    # it 502 (docs/reliability.md). Such a request came after the SIGTERM and is refused like
    # the others; no request a worker had begun before the SIGTERM may fail.
    log = stack.app_log()
    sigterm = log.index("SIGTERM received")
    cut_off = re.findall(r"client went away mid-request rid=(\w+)", log)
    statuses_by_rid = {
        rid: int(status) for status, rid in re.findall(r'" (\d{3}) \d+ .* rid=(\w+) ', stack.access_log())
    }
    for rid in cut_off:
        assert log.index(f"rid={rid}") > sigterm and statuses_by_rid[rid] == 502, rid
    measure("uploads cut off by a stopping worker's hang-up (answered 502)", len(cut_off))
    for s in load.sent:
        if s.status == 201:  # nginx is gone: the bytes are checked on disk
            assert sha256(stack.stored_bytes(s.created["name"])) == s.digest
        elif s.status is not None:  # nginx could not reach a worker: its JSON 502
            assert (s.status, s.error_code) == (502, "bad_gateway"), (s.status, s.failure)
            assert s.probe not in logged  # and no worker had answered it
        else:  # nginx itself had stopped: the connection was refused
            assert "Connection" in s.failure or "RemoteDisconnected" in s.failure, s.failure
    assert any(s.status == 201 for s in load.sent)
    assert_nothing_left_behind(stack)


@pytest.mark.figure("SIGTERM during uploads")
def test_sigterm_to_the_whole_stack_during_uploads_finishes_those_in_flight_refuses_the_rest_and_exits_0(
    stack_factory, tally
):
    stack = stack_factory(WEB_SERVER_WORKERS="2", **LOAD_SETTINGS)
    with Load(stack, clients=8, pause=0) as load:
        time.sleep(size(1.0, 3.0))
        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(30) == 0
    tally.case(len(load.sent))
    measure("uploads under load", answered(load.sent))
    for s in load.sent:
        if s.status is not None:
            assert s.status == 201, (s.status, s.failure)
            assert sha256(stack.stored_bytes(s.created["name"])) == s.digest
        else:  # accepted by nginx after it stopped listening, or refused outright
            assert "Connection" in s.failure or "RemoteDisconnected" in s.failure, s.failure
    assert any(s.status == 201 for s in load.sent)
    assert_nothing_left_behind(stack)


# --- restart ------------------------------------------------------------------------------


def all_rows(stack) -> list[tuple]:
    # Not the preview column: a preview is made (or fails) in the background meanwhile.
    return stack.index_rows(f"SELECT {COLUMNS.replace(', preview', '')} FROM images ORDER BY id")


@pytest.mark.figure("restart of the whole stack")
def test_after_a_restart_of_the_whole_stack_every_image_and_row_is_intact_and_deletable_with_its_token(
    stack_factory, tally
):
    stack = stack_factory(**LOAD_SETTINGS)
    rng = random.Random(7)
    kept, deleted = {}, []
    for i in range(size(30, 300)):
        data = [
            images.png(rng.randint(1, 30), rng.randint(1, 30), extra=bytes([i % 256]) * i),
            images.jpeg(rng.randint(1, 3000), rng.randint(1, 3000), app_segments=1 + i % 3),
            images.gif(rng.randint(1, 3000), rng.randint(1, 3000)),
        ][i % 3]
        reply = stack.upload(data, f"n{i}.{['png', 'jpg', 'gif'][i % 3]}")
        assert reply.status == 201, reply.body
        kept[reply.json()["name"]] = (data, reply.json()["delete_token"])
        if i % 5 == 4:  # some are deleted before the restart
            name = reply.json()["name"]
            assert stack.request("DELETE", f"/api/images/{name}", headers=bearer(kept.pop(name)[1])).status == 204
            deleted.append(name)
    rows_before = all_rows(stack)
    order_before = listed_names(stack)
    assert stack.stop() == 0

    again = stack_factory(**stack.state_settings(), **LOAD_SETTINGS)
    tally.case(len(kept) + len(deleted))
    assert all_rows(again) == rows_before
    assert listed_names(again) == order_before and set(order_before) == set(kept)
    for name in deleted:
        again.assert_not_served(f"/images/{name}")
    for name, (data, token) in kept.items():
        assert again.get(f"/images/{name}").body == as_stored(data)
        assert again.request("DELETE", f"/api/images/{name}", headers=bearer(token)).status == 204
        again.assert_not_served(f"/images/{name}")
    assert all_rows(again) == [] and image_files(again) == set()
    measure("leftover files", leftovers(again).count)
    assert_nothing_left_behind(again)


# --- the index under contention -----------------------------------------------------------


@pytest.mark.figure("index under write contention")
def test_every_worker_uploading_listing_and_deleting_at_once_never_gets_a_5xx(stack_factory, tally):
    stack = stack_factory(WEB_SERVER_WORKERS="4", **LOAD_SETTINGS)
    rounds = size(15, 100)
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        for n in range(rounds):
            data = images.png(2, 2, extra=f"contention {i} {n}".encode())
            created = stack.upload(data)
            answers = [("upload", created.status)]
            if created.status == 201:
                name, token = created.json()["name"], created.json()["delete_token"]
                answers.append(("metadata", stack.get(f"/api/images/{name}", headers=bearer(token)).status))
                answers.append(("listing", stack.get("/api/images?limit=20", headers=stack.admin()).status))
                answers.append(("delete", stack.request("DELETE", f"/api/images/{name}", headers=bearer(token)).status))
                answers.append(("gone", stack.get(f"/api/images/{name}", headers=stack.admin()).status))
            with lock:
                statuses.extend(answers)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client, range(16)))
    tally.case(len(statuses))
    expected = {"upload": 201, "metadata": 200, "listing": 200, "delete": 204, "gone": 404}
    wrong = [(what, status) for what, status in statuses if status != expected[what]]
    measure("5xx under index contention", sum(1 for _, status in statuses if status >= 500))
    assert wrong == []
    assert index_rows(stack) == {} and image_files(stack) == set()
    assert_nothing_left_behind(stack)


@pytest.mark.figure("index under write contention")
@pytest.mark.sqlite_index
def test_a_writer_holding_the_index_for_2_seconds_delays_uploads_but_fails_none(stack_factory, tally):
    """The workers' busy timeout (5 s) outlasts the lock: they queue instead of failing."""
    stack = stack_factory(WEB_SERVER_WORKERS="2", **LOAD_SETTINGS)
    db = sqlite3.connect(stack.data_dir / "index.sqlite3", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(stack.upload, images.png(2, 2, extra=f"locked {i}".encode())) for i in range(16)]
            time.sleep(2)
            db.execute("COMMIT")
            replies = [future.result() for future in pending]
    finally:
        db.close()
    tally.case(len(replies))
    assert [reply.status for reply in replies] == [201] * 16
    assert_nothing_left_behind(stack)


# --- the supervisor stopped ---------------------------------------------------------------


@pytest.mark.figure("supervisor stopped")
def test_requests_complete_while_the_supervisor_is_stopped_and_the_log_lines_they_drop_are_reported(
    stack_factory, tally
):
    stack = stack_factory(**LOAD_SETTINGS)
    supervisor = stack.supervisor_pid()
    # Long request lines (a worker logs the path, query included, up to 300 characters)
    # fill the log channel's buffer within the batch.
    padding = "p" * 280
    deadline = 10.0  # generous: unblocked, the batch takes well under a second
    pool = ThreadPoolExecutor(8)
    os.kill(supervisor, signal.SIGSTOP)
    try:
        started = time.monotonic()
        gets = [pool.submit(stack.get, f"/api/health?{padding}{n}", timeout=deadline) for n in range(200)]
        uploads = [
            pool.submit(send_upload, stack, images.png(extra=f"stopped {n}".encode()), f"stopped-{n}", deadline)
            for n in range(20)
        ]
        done, late = wait(gets + uploads, timeout=deadline)
        took = time.monotonic() - started
        statuses = [f.result().status for f in gets + uploads if f in done]
    finally:
        # Resumed before the pool is shut down: were requests blocked on the log again,
        # waiting for every one of them first would take minutes.
        os.kill(supervisor, signal.SIGCONT)
        pool.shutdown(cancel_futures=True)
    tally.case(len(gets) + len(uploads))
    measure("requests answered while the supervisor was stopped", len(done))
    assert not late, f"{len(late)} requests waited on the stopped supervisor"
    assert took < deadline
    assert statuses == [200] * len(gets) + [201] * len(uploads)
    # A worker reports its drops ahead of its next line: these requests give each one.
    dropped = max(stack.get("/api/health").json()["log_lines_dropped"] for _ in range(20))
    assert dropped > 0
    wait_until(
        lambda: re.search(r"WARNING worker-\d \d+ log lines dropped", stack.app_log()),
        timeout=10,
        message="a worker reports the lines it dropped",
    )
