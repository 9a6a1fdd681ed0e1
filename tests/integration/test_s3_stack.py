"""The whole stack with STORAGE=s3 (issue 14): the runner, the backend and nginx in front
of a real bucket (Ceph's radosgw, a gateway of this module's own since one test stops
it). Uploads go into the bucket, nginx serves them and their previews from it, and
delete, dedup, expiry and refusals leave the bucket as they should."""

from __future__ import annotations

import time

import pytest
from support import camera, labelled
from support.client import request
from support.configuration import bucket_settings
from support.s3_server import Radosgw, let_anyone_read, missing_programs
from support.stack import nginx_binary, require, start_stack

pytestmark = pytest.mark.runs_once  # S3 by itself, on a gateway of its own

PREFIX = "site/"
PREVIEW_WAIT = 30  # seconds: a maker's start-up, a download and a tiny preview
SWEEP_WAIT = 40  # the sweep runs every 15 s; the image expires 2 s after its upload
GATEWAY_WAIT = 30
HEALTH_WAIT = 20  # REACHABLE_CHECKED_FOR, and the client's retries against a stopped gateway


@pytest.fixture(scope="module")
def bucket_stack(tmp_path_factory):
    """(stack, gateway, bucket): a stack storing images under PREFIX in a fresh bucket
    anyone may read there, as docs/s3.md asks."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    require(not missing_programs(), "Ceph's S3 gateway is not installed (make test installs it)")
    with Radosgw().start() as gateway:
        endpoint = gateway.endpoint
        bucket = endpoint.new_bucket()
        let_anyone_read(endpoint, bucket, PREFIX)
        with start_stack(
            tmp_path_factory.mktemp("s3-stack"),
            **bucket_settings(endpoint, bucket, PREFIX),
        ) as stack:
            yield stack, gateway, bucket


def keys(gateway, bucket: str) -> set[str]:
    pages = gateway.endpoint.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.25)


def test_an_upload_goes_into_the_bucket_and_nginx_serves_it_from_there_with_the_safe_headers(bucket_stack):
    stack, gateway, bucket = bucket_stack
    data = labelled.unique_png("served")
    answer = labelled.uploaded(stack, data)
    name = answer["name"]
    assert PREFIX + name in keys(gateway, bucket)
    assert not (stack.images_dir / name).exists()  # IMAGES_DIR is scratch space only
    reply = stack.get(f"/images/{name}")
    assert reply.status == 200 and reply.body == data
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in reply.headers["Content-Security-Policy"]
    assert [h for h in reply.headers if h.lower().startswith(("x-amz", "x-rgw"))] == []


def test_the_object_in_the_bucket_is_the_upload_stripped_of_its_private_metadata(bucket_stack):
    stack, gateway, bucket = bucket_stack
    original = camera.camera_jpeg(6)
    name = labelled.uploaded(stack, original, "camera.jpg")["name"]
    stored = gateway.endpoint.client().get_object(Bucket=bucket, Key=PREFIX + name)["Body"].read()
    assert stored != original
    assert [text for text in camera.PRIVATE if text.encode() in stored] == []
    assert [text for text in camera.PRIVATE if text.encode() in original] != []


def test_the_preview_is_made_from_the_bucket_put_into_it_and_served_as_webp(bucket_stack):
    stack, gateway, bucket = bucket_stack
    name = labelled.uploaded(stack)["name"]
    wait_for(lambda: f"{PREFIX}previews/{name}.webp" in keys(gateway, bucket), PREVIEW_WAIT, "the preview")
    reply = stack.get(f"/images/previews/{name}.webp")
    assert reply.status == 200 and reply.headers["Content-Type"] == "image/webp"
    assert reply.body.startswith(b"RIFF") and reply.body[8:12] == b"WEBP"
    # The maker's local files go once the preview is in the bucket: a moment after it
    # shows there (the put is answered before the maker removes its file).
    previews_folder = stack.images_dir / "previews"
    wait_for(lambda: not any(previews_folder.iterdir()), 5, "the maker's local files to go")


def test_the_listing_gives_the_uploaded_image(bucket_stack):
    stack, _, _ = bucket_stack
    name = labelled.uploaded(stack)["name"]
    listing = stack.get("/api/images?limit=200", headers=stack.admin())
    assert listing.status == 200
    assert name in [image["name"] for image in listing.json()["items"]]


def test_an_identical_upload_is_a_second_object_copied_in_the_bucket(bucket_stack):
    stack, gateway, bucket = bucket_stack
    data = labelled.unique_png("twice")
    first, second = labelled.uploaded(stack, data)["name"], labelled.uploaded(stack, data)["name"]
    assert first != second and {PREFIX + first, PREFIX + second} <= keys(gateway, bucket)
    assert stack.get(f"/images/{second}").body == data


def test_a_delete_removes_the_object_and_its_preview_from_the_bucket(bucket_stack):
    stack, gateway, bucket = bucket_stack
    answer = labelled.uploaded(stack)
    name = answer["name"]
    preview = f"{PREFIX}previews/{name}.webp"
    wait_for(lambda: preview in keys(gateway, bucket), PREVIEW_WAIT, "the preview")
    token = {"Authorization": f"Bearer {answer['delete_token']}"}
    reply = stack.request("DELETE", f"/api/images/{name}", headers=token)
    assert reply.status == 204
    left = keys(gateway, bucket)
    assert PREFIX + name not in left and preview not in left


def test_an_expired_image_leaves_the_bucket_within_a_sweep(bucket_stack):
    stack, gateway, bucket = bucket_stack
    name = labelled.uploaded(stack, expires_in="2s")["name"]
    assert PREFIX + name in keys(gateway, bucket)
    wait_for(lambda: PREFIX + name not in keys(gateway, bucket), SWEEP_WAIT, "the expired image's removal")
    assert stack.get(f"/api/images/{name}", headers=stack.admin()).status == 404


@pytest.mark.parametrize(
    "data, filename",
    [(b"just some text, not an image", "notes.png"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "broken.png")],
    ids=["text", "broken-png"],
)
def test_a_refused_upload_leaves_nothing_in_the_bucket(bucket_stack, data, filename):
    stack, gateway, bucket = bucket_stack
    before = keys(gateway, bucket)
    reply = labelled.upload(stack, data, filename)
    assert 400 <= reply.status < 500 and reply.error_code
    assert keys(gateway, bucket) == before


def test_with_the_gateway_stopped_uploads_and_health_get_a_json_503_and_work_again_once_it_is_back(bucket_stack):
    stack, gateway, bucket = bucket_stack
    gateway.stop_gateway()
    try:
        reply = labelled.upload(stack)
        assert reply.status == 503 and reply.error_code == "unavailable"
        assert "image store" in reply.json()["error"]["message"]
        # Each worker's answer about the bucket stands for REACHABLE_CHECKED_FOR seconds.
        wait_for(lambda: health_says(stack, 503, False), HEALTH_WAIT, "health saying the bucket is out of reach")
    finally:
        gateway.start_gateway()
    name = labelled.uploaded(stack)["name"]
    assert PREFIX + name in keys(gateway, bucket)
    wait_for(lambda: health_says(stack, 200, True), HEALTH_WAIT, "health saying the bucket is back")


def health_says(stack, status: int, reachable: bool) -> bool:
    """Whether every worker's /api/health answers `status` with store_reachable `reachable`."""
    answers = [request("GET", f"http://127.0.0.1:{port}/api/health") for port in stack.worker_ports]
    return all(a.status == status and a.json()["store_reachable"] is reachable for a in answers)
