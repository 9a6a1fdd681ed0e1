"""/metrics through nginx: every worker's counters added up, the index's gauges, the
token, and who nginx lets reach it at all."""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import images
from support.client import bearer
from support.stack import start_stack

METRICS_TOKEN = "stack-metrics-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # No preview makers: every image's preview stays pending, which the gauge must show.
    with start_stack(tmp_path_factory.mktemp("metrics"), METRICS_TOKEN=METRICS_TOKEN, PREVIEW_WORKERS="0") as stack:
        yield stack


def scrape(stack) -> dict:
    reply = stack.get("/metrics", bearer(METRICS_TOKEN))
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["Content-Type"].startswith("text/plain")
    return samples(reply.body.decode())


def health_on_worker(port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as answer:
        assert answer.status == 200


def test_the_counters_of_every_worker_are_added_up_whichever_worker_answers(stack):
    before = value(scrape(stack), "imagehost_requests_total", route="/api/health", method="GET", code="200")
    for port in stack.worker_ports:  # straight to each worker, past nginx's choice
        for _ in range(3):
            health_on_worker(port)
    for _ in range(4):  # each scrape may be answered by either worker
        after = value(scrape(stack), "imagehost_requests_total", route="/api/health", method="GET", code="200")
        assert after >= before + 3 * len(stack.worker_ports)


def test_an_upload_and_a_refusal_are_counted_by_route_and_code(stack):
    before = scrape(stack)
    created = stack.upload(images.png(9, 7))
    assert created.status == 201
    assert stack.upload(b"not an image at all", "x.png").status == 415
    after = scrape(stack)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("imagehost_requests_total", route="/upload", method="POST", code="201") == 1
    assert grew("imagehost_requests_total", route="/upload", method="POST", code="415") == 1
    assert grew("imagehost_refusals_total", route="/upload", code="unsupported_type") == 1
    assert grew("imagehost_upload_bytes_total") == created.json()["size"]
    assert grew("imagehost_upload_size_bytes_count") == 1
    assert grew("imagehost_request_duration_seconds_count", route="/upload") == 2


def test_the_gauges_are_the_indexs_images_bytes_and_pending_previews(stack):
    for i in range(3):
        assert stack.upload(images.png(4, 4, extra=f"gauge {i}".encode())).status == 201
    overview = stack.get("/api/stats", stack.admin()).json()
    scraped = scrape(stack)
    assert value(scraped, "imagehost_images") == overview["images"] >= 3
    assert value(scraped, "imagehost_stored_bytes") == overview["bytes_stored"]
    assert value(scraped, "imagehost_previews_pending") == overview["images"]  # no preview makers


def test_a_path_no_route_has_is_counted_under_one_label_not_its_own(stack):
    for path in ("/api/no-such-1", "/api/no-such-2"):
        assert stack.get(path).status == 404
    scraped = scrape(stack)
    routes = {dict(labels).get("route") for (name, labels) in scraped if name == "imagehost_requests_total"}
    assert "unmatched" in routes
    assert not any("no-such" in route for route in routes if route)


def test_without_the_metrics_token_it_is_401_and_with_another_403(stack):
    assert stack.get("/metrics").error_code == "unauthorized"
    assert stack.get("/metrics", bearer("wrong-token-0123456789")).error_code == "forbidden"
    assert stack.get("/metrics", stack.admin()).error_code == "forbidden"


def test_a_killed_worker_is_restarted_and_its_counts_stay_in_the_scrape(stack):
    for port in stack.worker_ports:
        health_on_worker(port)
    before = value(scrape(stack), "imagehost_requests_total", route="/api/health", method="GET", code="200")
    victim = stack.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = stack.worker_pids()
        if victim not in pids and len(pids) == len(stack.worker_ports):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the killed worker was not restarted:\n{stack.output()}")
    for port in stack.worker_ports:  # the new worker answers too
        health_on_worker(port)
    for _ in range(4):  # the dead worker's counts are still there (the runner may ask for health too)
        after = value(scrape(stack), "imagehost_requests_total", route="/api/health", method="GET", code="200")
        assert after >= before + len(stack.worker_ports)


def test_nginx_answers_404_to_an_address_outside_metrics_allow(tmp_path):
    with start_stack(tmp_path, METRICS_ALLOW="192.0.2.1 10.0.0.0/8") as stack:
        assert stack.get("/metrics").error_code == "not_found"
        # The workers' own ports are the internal network's way in.
        port = stack.worker_ports[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert b"imagehost_requests_total" in answer.read()


def test_by_default_only_loopback_reaches_it_through_nginx_and_without_a_token(tmp_path):
    with start_stack(tmp_path) as stack:
        reply = stack.get("/metrics")
        assert reply.status == 200
        assert "imagehost_images" in {family.name for family in text_string_to_metric_families(reply.body.decode())}
    rendered = (stack.run_dir / "imagehost.conf").read_text()
    assert "allow 127.0.0.1; deny all;" in rendered


def test_previews_the_supervisor_made_are_on_the_page_a_worker_answers(tmp_path):
    with start_stack(tmp_path, PREVIEW_WORKERS="1") as stack:
        assert stack.upload(images.png(40, 30)).status == 201
        ready = 0.0
        deadline = time.monotonic() + 30
        while ready < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
            reply = stack.get("/metrics")
            assert reply.status == 200
            ready = value(samples(reply.body.decode()), "imagehost_previews_total", outcome="ready")
        assert ready == 1, stack.output()
        pending = value(samples(stack.get("/metrics").body.decode()), "imagehost_previews_pending")
        assert pending == 0
