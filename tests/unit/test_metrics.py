"""metrics.py: what is counted and under which labels, fed through the worker's request
handler over a socketpair; the /metrics handler's token; the metrics folder's trap."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from imagehost import index_sqlite, metrics, worker
from imagehost.config import Config
from imagehost.errors import InsufficientStorage, UnsupportedType
from imagehost.router import Route, Router
from imagehost.web import Request, RequestBody, Response
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]


class FakeServer:
    """What RequestHandler asks of its server (as in test_worker_dispatch.py)."""

    stopping = False

    def __init__(self, routes: tuple[Route, ...]):
        self.app = type("App", (), {"worker_id": 0, "config": Config()})()
        self.router = Router(routes)

    def track(self, handler):
        pass

    def untrack(self, handler):
        pass


def exchange(raw_request: bytes, routes: tuple[Route, ...]) -> bytes:
    """`raw_request` through the worker's request handler; the raw answer."""
    client, server_end = socket.socketpair()
    with client, server_end:
        client.sendall(raw_request)
        client.shutdown(socket.SHUT_WR)
        worker.RequestHandler(server_end, ("127.0.0.1", 1), FakeServer(routes))
        server_end.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ok(request, app, **params):
    return Response(200, b"{}", "application/json")


ROUTES = (Route("GET", "/api/images/{name}", ok), Route("DELETE", "/api/images/{name}", ok))


def test_a_request_to_an_unknown_path_is_counted_under_the_one_unmatched_label():
    before = count("imagehost_requests_total", route="unmatched", method="GET", code="404")
    for path in ("/random-a1", "/random-b2/x", "/api/images/a/b"):
        assert exchange(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), ROUTES).startswith(b"HTTP/1.1 404")
    assert count("imagehost_requests_total", route="unmatched", method="GET", code="404") == before + 3
    assert count("imagehost_refusals_total", route="unmatched", code="not_found") >= 3
    labels = {sample.labels.get("route") for family in REGISTRY.collect() for sample in family.samples}
    assert not any(route and "random" in route for route in labels)


def test_a_routed_request_is_counted_under_its_pattern_not_its_path():
    before = count("imagehost_requests_total", route="/api/images/{name}", method="GET", code="200")
    exchange(b"GET /api/images/abcdefghijkl.png HTTP/1.1\r\nHost: x\r\n\r\n", ROUTES)
    assert count("imagehost_requests_total", route="/api/images/{name}", method="GET", code="200") == before + 1
    assert count("imagehost_request_duration_seconds_count", route="/api/images/{name}") >= 1


def test_a_method_the_route_lacks_is_counted_under_the_routes_pattern():
    before = count("imagehost_refusals_total", route="/api/images/{name}", code="method_not_allowed")
    answer = exchange(b"PUT /api/images/abcdefghijkl.png HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", ROUTES)
    assert answer.startswith(b"HTTP/1.1 405")
    assert count("imagehost_refusals_total", route="/api/images/{name}", code="method_not_allowed") == before + 1


def test_a_request_refused_before_routing_is_counted_as_unrouted():
    before = count("imagehost_requests_total", route="unrouted", method="OTHER", code="505")
    assert exchange(b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", ROUTES).startswith(b"HTTP/1.1 505")
    assert count("imagehost_requests_total", route="unrouted", method="OTHER", code="505") == before + 1


@pytest.mark.parametrize(
    "raised, kind",
    [(InsufficientStorage(), "disk_full"), (OSError(errno.EIO, "fsync failed"), "io_error")],
    ids=["disk_full", "io_error"],
)
def test_disk_full_and_io_errors_are_counted_as_storage_errors(raised, kind):
    def failing(request, app):
        raise raised

    before = count("imagehost_storage_errors_total", kind=kind)
    exchange(b"GET /store HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/store", failing),))
    assert count("imagehost_storage_errors_total", kind=kind) == before + 1


def test_an_ordinary_refusal_is_not_a_storage_error():
    def refusing(request, app):
        raise UnsupportedType()

    before = {kind: count("imagehost_storage_errors_total", kind=kind) for kind in ("disk_full", "io_error")}
    exchange(b"GET /refuse HTTP/1.1\r\nHost: x\r\n\r\n", (Route("GET", "/refuse", refusing),))
    assert {kind: count("imagehost_storage_errors_total", kind=kind) for kind in before} == before


def test_a_stored_upload_counts_its_bytes_and_its_size():
    before = count("imagehost_upload_bytes_total"), count("imagehost_upload_size_bytes_count")
    metrics.upload_stored(5000)
    assert count("imagehost_upload_bytes_total") == before[0] + 5000
    assert count("imagehost_upload_size_bytes_count") == before[1] + 1
    assert count("imagehost_upload_size_bytes_bucket", le="4096.0") < count(
        "imagehost_upload_size_bytes_bucket", le="16384.0"
    )


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "index.sqlite3"
    index_sqlite.migrate(path)
    db = index_sqlite.SqliteIndex(path)
    yield type("App", (), {"config": Config(metrics_token="metrics-token-0123456789"), "index": db})()
    db.close()


def scrape_with(app, authorization: str | None) -> Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return metrics.scrape(Request("GET", "/metrics", "", headers, RequestBody(None, 0), "rid"), app)


def test_the_metrics_page_needs_the_metrics_token_when_one_is_set(app):
    with pytest.raises(metrics.Unauthorized):
        scrape_with(app, None)
    with pytest.raises(metrics.Forbidden):
        scrape_with(app, "Bearer another-token-0123456789")
    page = scrape_with(app, "Bearer metrics-token-0123456789")
    assert page.status == 200 and page.content_type.startswith("text/plain")


def test_every_metric_has_the_imagehost_prefix_and_is_documented(app):
    metrics.preview_finished("ready")
    text = scrape_with(app, "Bearer metrics-token-0123456789").body.decode()
    # `_created` series come from in-process values only; the workers' pages have none.
    ours = {
        family.name
        for family in text_string_to_metric_families(text)
        if family.name.startswith("imagehost") and not family.name.endswith("_created")
    }
    expected = {
        "imagehost_requests",
        "imagehost_refusals",
        "imagehost_request_duration_seconds",
        "imagehost_upload_bytes",
        "imagehost_upload_size_bytes",
        "imagehost_storage_errors",
        "imagehost_previews",
        "imagehost_images",
        "imagehost_stored_bytes",
        "imagehost_previews_pending",
    }
    assert ours == expected
    documented = set(re.findall(r"`(imagehost_\w+?)(?:_total)?`", (REPO / "docs" / "api.md").read_text()))
    assert expected <= documented


def test_the_gauges_are_read_from_the_index(app):
    app.index.add(
        name="abcdefghijkl.png",
        type="image/png",
        size=1234,
        width=1,
        height=1,
        sha256="0" * 64,
        original_name="a.png",
        delete_token_hash=None,
        title="",
        description="",
        tags=[],
        expires_at=None,
    )
    text = scrape_with(app, "Bearer metrics-token-0123456789").body.decode()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert (values["imagehost_images"], values["imagehost_stored_bytes"], values["imagehost_previews_pending"]) == (
        1,
        1234,
        1,
    )


def test_the_metrics_folder_is_refused_once_prometheus_client_counts_in_the_process(tmp_path):
    """The trap metrics.py is built around: the library reads the folder at its import."""
    try:
        with pytest.raises(metrics.MetricsFolderError):
            metrics.use_folder(tmp_path / "metrics")
    finally:
        os.environ.pop(metrics.ENVIRONMENT_VARIABLE, None)
    assert oct((tmp_path / "metrics").stat().st_mode & 0o777) == "0o700"


FIRST_USE_AT_ONCE = """
import sys, threading
sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race is in the first use
from imagehost import metrics
threads, failures = 32, []
start = threading.Barrier(threads)

def first_request():
    start.wait()
    try:
        metrics.request_answered("/upload", "POST", 201, 0.01, None)
    except Exception as exc:
        failures.append(repr(exc))

workers = [threading.Thread(target=first_request) for _ in range(threads)]
for thread in workers:
    thread.start()
for thread in workers:
    thread.join()
print(failures)
"""


@pytest.mark.parametrize("attempt", range(5))
def test_the_first_requests_of_a_worker_on_many_threads_at_once_all_count(attempt):
    # A fresh process each time: the metrics are made on first use, once per process.
    done = subprocess.run(
        [sys.executable, "-c", FIRST_USE_AT_ONCE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.stdout.strip() == "[]", done.stdout[-2000:]


def test_an_index_that_fails_in_any_way_leaves_its_gauges_out_and_the_scrape_answers(app, monkeypatch):
    # Either engine's own errors (sqlite3's, psycopg's), not only the contract's.
    def failing() -> tuple[int, int, int]:
        raise RuntimeError("relation images does not exist")

    monkeypatch.setattr(app.index, "gauges", failing)
    reply = scrape_with(app, "Bearer metrics-token-0123456789")
    assert reply.status == 200
    names = {f.name for f in text_string_to_metric_families(reply.body.decode())}
    assert "imagehost_images" not in names and "imagehost_requests" in names
