"""Direct uploads to the bucket (issue 14, S3_DIRECT_UPLOADS): POST /api/uploads gives a
presigned POST, the file goes straight to the bucket (a real one: radosgw checks the
POST policy), and POST /api/uploads/<id>/complete checks it as /upload checks a body and
answers as /upload answers. What the bucket lets through is checked again: objects put
at a staging key with the app's own credentials, past the policy, are refused and
deleted. Everything goes through nginx, as the page's requests do."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from dataclasses import replace

import pytest
from imagehost.expiry import sweep_staged_uploads
from imagehost.object_store import STAGED_KEPT, S3Location, S3Store, new_upload_id
from support import labelled
from support.client import Reply, request
from support.configuration import bucket_settings
from support.images import multipart, png, png_header_only
from support.s3_server import S3Endpoint, let_anyone_read
from support.stack import start_stack

pytestmark = pytest.mark.runs_once  # its own engines and bucket, whatever the configuration

PREFIX = "site/"
MAX_UPLOAD_BYTES = 200_000
ORIGIN = "http://page.example"


@pytest.fixture(scope="module")
def direct(tmp_path_factory, s3_endpoint: S3Endpoint):
    """(stack, endpoint, bucket): a stack with direct uploads on, its images under PREFIX
    in a fresh bucket with docs/s3.md's policy and CORS rule (the page's origin: ORIGIN)."""
    bucket = s3_endpoint.new_bucket()
    let_anyone_read(s3_endpoint, bucket, PREFIX)
    cors = {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"]}
    s3_endpoint.client().put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [cors]})
    try:
        with start_stack(
            tmp_path_factory.mktemp("direct"),
            **bucket_settings(s3_endpoint, bucket, PREFIX),
            S3_DIRECT_UPLOADS="true",
            MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
        ) as stack:
            yield stack, s3_endpoint, bucket
    finally:
        s3_endpoint.remove_bucket(bucket)


def start(stack, size: int, content_type: str = "image/png", filename: str = "cat.png") -> Reply:
    """POST /api/uploads through nginx."""
    return labelled.send_json(
        stack, "POST", "/api/uploads", {"filename": filename, "size": size, "content_type": content_type}
    )


def started(stack, data: bytes, content_type: str = "image/png", filename: str = "cat.png") -> dict:
    reply = start(stack, len(data), content_type, filename)
    assert reply.status == 201, reply.body
    return reply.json()


def post_to_bucket(answer: dict, data: bytes, content_type: str = "image/png") -> Reply:
    """What the page sends the bucket: the presigned fields, then the file, last."""
    parts = [(name, None, None, value.encode()) for name, value in answer["fields"].items()]
    body, form_type = multipart([*parts, ("file", "cat.png", content_type, data)])
    return request("POST", answer["url"], body, {"Content-Type": form_type})


def complete(stack, upload_id: str, details: dict | None = None) -> Reply:
    path = f"/api/uploads/{upload_id}/complete"
    if details is None:
        return stack.request("POST", path, b"")
    return labelled.send_json(stack, "POST", path, details)


def keys(endpoint: S3Endpoint, bucket: str) -> set[str]:
    pages = endpoint.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def staging_key(upload_id: str) -> str:
    return f"{PREFIX}uploads/{upload_id}"


def put_past_the_policy(endpoint: S3Endpoint, bucket: str, data: bytes) -> str:
    """A staged object written with the app's own credentials, which no POST policy
    limits: what complete must judge by itself. Returns its upload id."""
    upload_id = new_upload_id()
    endpoint.client().put_object(Bucket=bucket, Key=staging_key(upload_id), Body=data)
    return upload_id


def test_a_file_posted_to_the_bucket_and_completed_is_answered_as_upload_answers_and_served_by_nginx(direct):
    stack, endpoint, bucket = direct
    data = labelled.unique_png("direct")
    answer = started(stack, data)
    assert set(answer) == {"id", "url", "fields", "expires_at"}
    assert answer["fields"]["key"] == staging_key(answer["id"])
    assert post_to_bucket(answer, data).status in (200, 201, 204)
    assert staging_key(answer["id"]) in keys(endpoint, bucket)

    reply = complete(stack, answer["id"], {"title": "Straight in", "tags": ["cat", "night"], "expires_in": "1h"})

    assert reply.status == 201, reply.body
    image = reply.json()
    assert set(image) == set(labelled.uploaded(stack, labelled.unique_png("for its keys")))
    assert reply.headers["Location"] == image["url"]
    assert (image["title"], image["tags"], image["original_name"]) == ("Straight in", ["cat", "night"], "cat.png")
    assert image["expires_at"] is not None
    served = stack.get(f"/images/{image['name']}")
    assert served.status == 200 and served.headers["Content-Type"] == "image/png"
    assert hashlib.sha256(served.body).hexdigest() == image["sha256"] and served.body.startswith(b"\x89PNG")
    assert staging_key(answer["id"]) not in keys(endpoint, bucket)  # gone once published


def test_limits_say_that_direct_uploads_are_offered(direct):
    stack, _, _ = direct
    assert stack.get("/api/limits").json()["direct_uploads"] is True


def test_a_declared_size_over_the_limit_is_refused_with_413_and_nothing_signed(direct):
    stack, _, _ = direct
    reply = start(stack, MAX_UPLOAD_BYTES + 1)
    assert reply.status == 413 and reply.error_code == "file_too_large"


@pytest.mark.parametrize("content_type", ["image/svg+xml", "text/html", "application/octet-stream", ""])
def test_a_declared_type_that_is_not_an_accepted_image_type_is_refused_with_415(direct, content_type):
    stack, _, _ = direct
    reply = start(stack, 1000, content_type)
    assert reply.status == 415 and reply.error_code == "unsupported_type"
    assert "POST /upload" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "a.png", "size": "12", "content_type": "image/png"},
        {"size": 12, "content_type": "image/png", "x": 1},
    ],
    ids=["size-as-text", "unknown-field"],
)
def test_a_start_that_is_not_the_json_described_is_a_400(direct, body):
    stack, _, _ = direct
    reply = labelled.send_json(stack, "POST", "/api/uploads", body)
    assert reply.status == 400 and reply.error_code == "bad_request"


def test_a_start_from_another_sites_page_is_refused(direct):
    stack, _, _ = direct
    body = json.dumps({"filename": "a.png", "size": 10, "content_type": "image/png"}).encode()
    headers = {"Content-Type": "application/json", "Origin": "https://evil.example"}
    reply = stack.request("POST", "/api/uploads", body, headers)
    assert reply.status == 403 and reply.error_code == "cross_origin"


def test_the_bucket_refuses_a_post_larger_than_the_policy_allows(direct):
    stack, endpoint, bucket = direct
    answer = started(stack, b"x" * 1000)
    reply = post_to_bucket(answer, png(extra=b"x" * MAX_UPLOAD_BYTES))
    assert reply.status == 400 and b"EntityTooLarge" in reply.body
    assert staging_key(answer["id"]) not in keys(endpoint, bucket)


@pytest.mark.parametrize(
    "data, code",
    [
        (png(extra=b"x" * MAX_UPLOAD_BYTES), "file_too_large"),
        (b"", "empty_file"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_type"),
        (b"just some text, not an image", "unsupported_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "unsupported_type"),
        (png_header_only(20_000, 20_000), "image_too_large"),
    ],
    ids=["too-big", "empty", "svg", "text", "broken-png", "too-many-pixels"],
)
def test_complete_refuses_an_object_put_past_the_policy_and_deletes_it(direct, data, code):
    stack, endpoint, bucket = direct
    upload_id = put_past_the_policy(endpoint, bucket, data)
    reply = complete(stack, upload_id)
    assert reply.error_code == code, reply.body
    assert staging_key(upload_id) not in keys(endpoint, bucket)


def test_a_complete_with_a_bad_title_is_a_400_and_the_same_upload_completes_once_it_is_fixed(direct):
    stack, endpoint, bucket = direct
    data = labelled.unique_png("retried")
    answer = started(stack, data)
    post_to_bucket(answer, data)
    refused = complete(stack, answer["id"], {"expires_in": "soon"})
    assert refused.status == 400 and "expires_in" in refused.json()["error"]["message"]
    assert staging_key(answer["id"]) in keys(endpoint, bucket)
    assert complete(stack, answer["id"], {"expires_in": "1h"}).status == 201


@pytest.mark.parametrize("upload_id", [None, "short", "A" * 21 + "!", "..%2F..%2Fsite%2Fx"], ids=repr)
def test_complete_of_an_unknown_or_malformed_id_is_a_404(direct, upload_id):
    stack, _, _ = direct
    reply = complete(stack, upload_id or new_upload_id())
    assert reply.status == 404 and reply.error_code == "not_found"


def test_a_staged_upload_is_neither_served_by_nginx_nor_listed_as_an_image(direct):
    stack, endpoint, bucket = direct
    upload_id = put_past_the_policy(endpoint, bucket, labelled.unique_png("staged"))
    assert stack.get(f"/images/uploads/{upload_id}").status == 404
    assert not any("uploads" in name for name in store_of(endpoint, bucket).names())


def test_a_staged_object_cannot_be_read_from_the_bucket_without_credentials_and_its_published_image_can(direct):
    stack, _, _ = direct
    data = labelled.unique_png("not public yet")
    answer = started(stack, data)
    assert post_to_bucket(answer, data).status in (200, 201, 204)
    bucket_url = answer["url"].rstrip("/")  # the bucket's own address, path- or virtual-host-style

    staged = request("GET", f"{bucket_url}/{staging_key(answer['id'])}")

    assert staged.status == 403 and data not in staged.body
    image = complete(stack, answer["id"]).json()
    published = request("GET", f"{bucket_url}/{PREFIX}{image['name']}")
    assert published.status == 200 and hashlib.sha256(published.body).hexdigest() == image["sha256"]


def store_of(endpoint: S3Endpoint, bucket: str) -> S3Store:
    """The app's store for the bucket, as the supervisor's sweep holds it."""
    location = S3Location(endpoint.url, bucket, endpoint.region, PREFIX, endpoint.addressing)
    return S3Store(replace(location, access_key=endpoint.access_key, secret_key=endpoint.secret_key))


def test_a_staged_upload_nobody_completed_is_swept_once_its_time_is_past_and_not_before(direct):
    _, endpoint, bucket = direct
    store = store_of(endpoint, bucket)
    upload_id = put_past_the_policy(endpoint, bucket, labelled.unique_png("stale"))
    assert sweep_staged_uploads(store) == 0
    assert staging_key(upload_id) in keys(endpoint, bucket)
    assert sweep_staged_uploads(store, now=time.time() + STAGED_KEPT + 60) >= 1
    assert staging_key(upload_id) not in keys(endpoint, bucket)


def test_the_sweep_leaves_keys_of_the_staging_folder_that_are_no_upload_ids(direct):
    _, endpoint, bucket = direct
    other = f"{PREFIX}uploads/notes-of-another-program.txt"
    endpoint.client().put_object(Bucket=bucket, Key=other, Body=b"not ours")
    sweep_staged_uploads(store_of(endpoint, bucket), now=time.time() + STAGED_KEPT + 60)
    assert other in keys(endpoint, bucket)


@pytest.mark.parametrize("through", ["nginx", "a worker directly"])
def test_the_connection_stays_usable_after_each_refusal(direct, through):
    stack, endpoint, bucket = direct
    port = stack.http_port if through == "nginx" else stack.worker_ports[0]
    too_big = put_past_the_policy(endpoint, bucket, png(extra=b"x" * MAX_UPLOAD_BYTES))
    attempts = [
        ("/api/uploads", {"filename": "a.png", "size": MAX_UPLOAD_BYTES + 1, "content_type": "image/png"}, 413),
        ("/api/uploads", {"filename": "a.png", "size": 10, "content_type": "text/html"}, 415),
        (f"/api/uploads/{new_upload_id()}/complete", {}, 404),
        (f"/api/uploads/{too_big}/complete", {}, 413),
        ("/api/uploads/x/complete", {"title": "t"}, 404),
    ]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for path, body, status in attempts:
            connection.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert (path, response.status) == (path, status)
            assert response.getheader("Connection", "").lower() != "close"
        socket_before = connection.sock
        connection.request("GET", "/api/limits")
        assert connection.getresponse().status == 200 and connection.sock is socket_before
    finally:
        connection.close()


def test_with_local_storage_both_routes_name_post_upload(stack):
    assert stack.get("/api/limits").json()["direct_uploads"] is False
    for path in ("/api/uploads", f"/api/uploads/{new_upload_id()}/complete"):
        reply = labelled.send_json(stack, "POST", path, {"filename": "a.png", "size": 10, "content_type": "image/png"})
        assert reply.status == 404 and reply.error_code == "not_found"
        assert "POST /upload" in reply.json()["error"]["message"]
