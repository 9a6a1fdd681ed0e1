"""Many app nodes (issue 14): two nodes, each a supervisor with its own DATA_DIR, scratch
IMAGES_DIR and ports, on one PostgreSQL index and one bucket, behind one nginx whose
upstream holds every worker of both (APP_UPSTREAMS). Node A is the local runner (its
nginx is the one in front); node B is a bare supervisor in a process group of its own.

Under upload load B is SIGKILLed whole (supervisor, workers, preview makers). Then every
upload answered 201 stays readable through nginx, byte for byte, and listed; every row's
object is in the bucket; an object without a row (an upload B put in the bucket but did
not index before it died, whose client got no 201) is left by B's start-up reconcile
for the grace (reconcile.ORPHAN_GRACE_SECONDS: it could be another node's upload in
flight) and never listed; uploads begun after the kill all succeed (nginx passes a
refused connection on to A); and B, restarted, rejoins and takes uploads again.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass

import psycopg
import pytest
from support import labelled
from support.backend import Backend, free_port_block
from support.configuration import bucket_settings
from support.s3_server import let_anyone_read
from support.stack import ADMIN_TOKEN, nginx_binary, require, start_stack

pytestmark = pytest.mark.runs_once  # its own engines and bucket, whatever the configuration

PREFIX = "site/"
UPLOADS = 60  # in all, by CLIENTS threads
CLIENTS = 4
KILL_AFTER = 15  # uploads answered before node B is killed
LOAD_SECONDS = 120  # the load's deadline, whatever is left of UPLOADS then
# Until one is served by the restarted node, at most: nginx leaves a node's server out
# for 10 s after it failed (render-config.sh), so this spans more than that.
REJOIN_UPLOADS = 60
REJOIN_SPACING = 0.5
CUT_OFF = "CutOffCutOffCut0.png"


@dataclass
class Upload:
    data: bytes
    began: float
    status: int = 0
    name: str = ""
    error: str = ""


@pytest.fixture
def nodes(tmp_path, postgres_url, s3_bucket):
    """(stack of node A with the nginx in front, node B, the bucket's endpoint, bucket)."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    endpoint, bucket = s3_bucket
    let_anyone_read(endpoint, bucket, PREFIX)
    shared = {
        **bucket_settings(endpoint, bucket, PREFIX),
        "DATABASE_URL": postgres_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,  # the same secrets on every node
    }
    node_b = Backend(tmp_path / "node-b", workers=2, own_group=True, **shared).start()
    try:
        a_port = free_port_block(2)
        with start_stack(
            tmp_path / "node-a",
            WEB_SERVER_START_PORT=str(a_port),
            APP_UPSTREAMS=f"127.0.0.1:{a_port} 127.0.0.1:{node_b.start_port}",
            **shared,
        ) as stack:
            yield stack, node_b, endpoint, bucket
    finally:
        node_b.stop()


def run_load(stack, uploads: list[Upload], stop_at: float) -> list[threading.Thread]:
    """CLIENTS threads uploading each of `uploads` once through nginx (until `stop_at`)."""
    pending = iter(uploads)
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < stop_at:
            with lock:
                upload = next(pending, None)
            if upload is None:
                return
            upload.began = time.monotonic()
            try:
                reply = labelled.upload(stack, upload.data)
            except OSError as exc:
                upload.error = str(exc)
                continue
            upload.status = reply.status
            if reply.status == 201:
                upload.name = reply.json()["name"]
            else:
                upload.error = reply.error_code or ""

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def kill_node(node: Backend) -> float:
    """SIGKILL the node's whole process group; the moment its ports refuse connections."""
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(10)
    wait_for(lambda: all(refuses(port) for port in node.ports), 10, "the killed node's ports closing")
    return time.monotonic()


def rows(postgres_url: str) -> set[str]:
    with psycopg.connect(postgres_url) as db:
        return {name for (name,) in db.execute("SELECT name FROM images").fetchall()}


def objects(endpoint, bucket: str) -> set[str]:
    """The images in the bucket (their names: keys under PREFIX, previews left out)."""
    pages = endpoint.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
    keys = (item["Key"].removeprefix(PREFIX) for page in pages for item in page.get("Contents", []))
    return {key for key in keys if "/" not in key}


def listed(stack) -> set[str]:
    names, cursor = set(), ""
    for _ in range(100):
        page = stack.get(f"/api/images?limit=100{cursor}", headers=stack.admin()).json()
        names |= {item["name"] for item in page["items"]}
        if page["next_cursor"] is None:
            return names
        cursor = f"&cursor={page['next_cursor']}"
    raise AssertionError("more than 100 pages")


def served_by(stack, ports: list[int]) -> int:
    """How many uploads the access log shows answered by a worker on one of `ports`."""
    upstreams = "|".join(f"127\\.0\\.0\\.1:{port}" for port in ports)
    return len(re.findall(rf'"POST /upload [^"]*" 201 .* upstream=(?:\S+, )*(?:{upstreams}) ', stack.access_log()))


def test_a_node_killed_under_upload_load_loses_no_answered_upload_half_publishes_nothing_and_rejoins(
    nodes, postgres_url
):
    stack, node_b, endpoint, bucket = nodes
    uploads = [Upload(labelled.unique_png(f"many nodes {n}"), began=0.0) for n in range(UPLOADS)]
    threads = run_load(stack, uploads, time.monotonic() + LOAD_SECONDS)
    wait_for(lambda: sum(u.status == 201 for u in uploads) >= KILL_AFTER, 60, f"{KILL_AFTER} uploads answered")
    assert served_by(stack, node_b.ports) > 0, "node B took no uploads before it was killed"
    killed_at = kill_node(node_b)
    for thread in threads:
        thread.join(LOAD_SECONDS)
    assert not any(thread.is_alive() for thread in threads)

    answered = [u for u in uploads if u.status == 201]
    failed = [u for u in uploads if u.status != 201 and u.began]
    assert [(u.status, u.error) for u in failed if u.began > killed_at] == []  # nginx passed them on to A
    assert {u.status for u in failed} <= {502}, [(u.status, u.error) for u in failed]  # cut off by the kill
    assert len(answered) + len(failed) == UPLOADS
    for upload in answered:
        reply = stack.get(f"/images/{upload.name}")
        assert (reply.status, reply.body == upload.data) == (200, True), upload.name
    in_index, in_bucket = rows(postgres_url), objects(endpoint, bucket)
    assert {u.name for u in answered} <= listed(stack) == in_index
    assert in_index <= in_bucket  # nothing half-published: every row's image is there
    # An upload B put in the bucket and had not indexed when it died (no 201 was sent for
    # it): the kill may or may not have made one, so one is made for sure.
    endpoint.client().put_object(Bucket=bucket, Key=PREFIX + CUT_OFF, Body=labelled.unique_png("cut off"))
    in_bucket.add(CUT_OFF)
    orphans = in_bucket - in_index

    node_b.start()  # its start-up reconcile leads: no other node is reconciling
    left = re.findall(r"(\d+) files without a row left as maybe still being uploaded", node_b.app_log())
    assert int(left[-1]) == len(orphans)
    assert objects(endpoint, bucket) == in_bucket and rows(postgres_url) == in_index
    assert CUT_OFF not in listed(stack)
    before = served_by(stack, node_b.ports)
    for _ in range(REJOIN_UPLOADS):
        labelled.uploaded(stack)
        if served_by(stack, node_b.ports) > before:
            break
        time.sleep(REJOIN_SPACING)
    assert served_by(stack, node_b.ports) > before, "the restarted node took no uploads"
