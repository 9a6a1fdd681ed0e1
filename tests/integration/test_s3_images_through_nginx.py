"""STORAGE=s3 on nginx's side: /images/ and /images/previews/ proxied to a real bucket
(Ceph's radosgw) through the disk cache, rendered from the same template as local mode.
nginx runs alone here (the whole stack in S3 mode: test_s3_stack.py); the objects are
put by imagehost's own S3Store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from imagehost import storage
from imagehost.object_store import S3Location, S3Store
from support import images
from support.backend import free_port_block
from support.client import Reply, request
from support.s3_server import Radosgw, S3Endpoint, let_anyone_read, missing_programs
from support.stack import RENDER, frontend_copy, let_nginx_workers_through, nginx_binary, require

pytestmark = pytest.mark.runs_once  # S3 by itself

PREFIX = "site/"
PICTURE = images.png(extra=b"served from the bucket")
PREVIEW = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
NGINX_START_SECONDS = 10


class NginxForBucket:
    """nginx alone, rendered with STORAGE=s3 for `bucket` behind `endpoint`."""

    def __init__(self, folder: Path, endpoint: S3Endpoint, bucket: str):
        require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
        self.port = free_port_block(1)
        folder.mkdir(parents=True, exist_ok=True)
        let_nginx_workers_through(folder)
        env = {
            "PATH": "/usr/bin:/bin",
            "IMAGES_DIR": str(folder / "images"),
            "LOG_DIR": str(folder / "logs"),
            "FRONTEND_DIR": str(frontend_copy(folder)),
            "HTTP_PORT": str(self.port),
            "WEB_SERVER_START_PORT": str(free_port_block(2)),
            "STORAGE": "s3",
            "S3_ENDPOINT_URL": endpoint.url,
            "S3_BUCKET": bucket,
            "S3_KEY_PREFIX": PREFIX,
            "S3_CACHE_MAX_SIZE": "64m",
        }
        self.run = folder / "run"
        self.cache = self.run / "cache" / "images"
        self.env = env
        self.render()
        self.start()

    def render(self) -> None:
        subprocess.run(["sh", str(RENDER), "--local", str(self.run)], env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [nginx_binary(), "-p", str(self.run), "-c", str(self.run / "nginx.conf"), "-e", "stderr"],
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def origin_socket(self) -> Path:
        """The origin server's socket, as rendered (in /tmp when the run folder is deep)."""
        return Path(re.search(r"listen unix:(\S+);", (self.run / "imagehost.conf").read_text()).group(1))

    def cache_file(self, path: str) -> Path:
        """The cache's file for `path` (its key is the path)."""
        key = f"\nKEY: {path}\n".encode()
        found = [f for f in self.cache.rglob("*") if f.is_file() and key in f.read_bytes()[:1024]]
        assert len(found) == 1, (path, found)
        return found[0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, method: str = "GET", headers: dict | None = None) -> Reply:
        body = b"x" if method in ("PUT", "POST") else None
        return request(method, self.base_url + path, body=body, headers=headers)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + NGINX_START_SECONDS
        while True:
            try:
                self.get("/images/")
                return
            except OSError:
                assert self.process.poll() is None, f"nginx exited with status {self.process.returncode}"
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def store_for(endpoint: S3Endpoint, bucket: str) -> S3Store:
    location = S3Location(
        endpoint.url, bucket, endpoint.region, PREFIX, "path", endpoint.access_key, endpoint.secret_key
    )
    return S3Store(location)


def put_image(store: S3Store, tmp_dir: Path, data: bytes = PICTURE) -> str:
    tmp_dir.mkdir(exist_ok=True)
    with storage.TempUpload(tmp_dir) as upload:
        upload.write(data)
        return store.publish(upload, ".png")


@pytest.fixture(scope="module")
def served(s3_endpoint, tmp_path_factory):
    """(nginx, store, endpoint, bucket): a bucket anyone may read under PREFIX, and nginx in front."""
    bucket = s3_endpoint.new_bucket()
    let_anyone_read(s3_endpoint, bucket, PREFIX)
    nginx = NginxForBucket(tmp_path_factory.mktemp("nginx-s3"), s3_endpoint, bucket)
    yield nginx, store_for(s3_endpoint, bucket), s3_endpoint, bucket
    nginx.stop()
    s3_endpoint.remove_bucket(bucket)


def test_an_image_in_the_bucket_is_served_with_the_safe_headers_and_none_of_the_buckets(served, tmp_path):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    reply = nginx.get(f"/images/{name}")
    assert reply.status == 200 and reply.body == PICTURE
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in reply.headers["Content-Security-Policy"]
    assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert reply.headers.get_all("Cache-Control") == ["public, max-age=31536000, immutable"]
    leaked = [h for h in reply.headers if h.lower().startswith(("x-amz", "x-rgw")) or h in ("ETag", "Last-Modified")]
    assert leaked == []
    assert reply.headers["Server"] == "nginx"


def test_a_preview_in_the_bucket_is_served_as_webp(served, tmp_path):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    preview = tmp_path / "preview.webp"
    preview.write_bytes(PREVIEW)
    store.write_preview(name, preview)
    reply = nginx.get(f"/images/previews/{name}.webp")
    assert reply.status == 200 and reply.body == PREVIEW
    assert reply.headers["Content-Type"] == "image/webp"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "key, stored_as, served_as",
    [
        ("CopiedInByHand01.jpg", "binary/octet-stream", "image/jpeg"),  # a copy made when switching to S3
        ("CopiedInByHand02.png", "text/html", "image/png"),
        ("previews/CopiedInByHand03.gif.webp", "application/xml", "image/webp"),
    ],
)
def test_the_type_served_comes_from_the_name_never_from_the_objects_own_content_type(served, key, stored_as, served_as):
    nginx, _, endpoint, bucket = served
    endpoint.client().put_object(Bucket=bucket, Key=PREFIX + key, Body=PICTURE, ContentType=stored_as)
    reply = nginx.get(f"/images/{key}")
    assert reply.status == 200 and reply.body == PICTURE
    assert reply.headers.get_all("Content-Type") == [served_as]


def test_a_second_request_is_answered_from_the_cache(served, tmp_path):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    assert nginx.get(f"/images/{name}").headers["X-Cache-Status"] == "MISS"
    again = nginx.get(f"/images/{name}")
    assert again.status == 200 and again.body == PICTURE and again.headers["X-Cache-Status"] == "HIT"


def test_a_missing_image_is_the_apis_json_404_not_the_buckets_answer(served):
    nginx, _, _, _ = served
    reply = nginx.get("/images/MissingMissing00.png")
    assert reply.status == 404 and reply.error_code == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/images/",
        "/images/?list-type=2",
        "/images/?prefix=site/",
        "/images/previews/",
        "/images/notes.txt",
        "/images/site/notes.txt",
        "/images/..%2fnotes.txt",
        "/images/%2e%2e/outside/AbCdEfGhIjKlMnOp.png",
        "/images/AbCdEfGhIjKlMnOp",
    ],
)
def test_a_listing_or_a_key_that_is_not_an_image_name_is_refused(served, path):
    nginx, _, endpoint, bucket = served
    endpoint.client().put_object(Bucket=bucket, Key=f"{PREFIX}notes.txt", Body=b"private notes")
    reply = nginx.get(path)
    assert reply.status == 404 and reply.error_code == "not_found"
    assert b"private notes" not in reply.body and b"ListBucketResult" not in reply.body


@pytest.mark.parametrize("path", ["/images/" + "a" * 4000 + ".png", "/images/previews/" + "a" * 4000 + ".png.webp"])
def test_a_name_too_long_to_be_an_image_name_is_a_404_not_a_failed_cache_lookup(served, path):
    # Such a name once reached the cache, whose key then did not fit its buffer: a 502.
    nginx, _, _, _ = served
    reply = nginx.get(path)
    assert reply.status == 404 and reply.error_code == "not_found"


def test_an_image_named_key_outside_the_prefix_is_not_reachable(served):
    nginx, _, endpoint, bucket = served
    endpoint.client().put_object(Bucket=bucket, Key="OutsideOutside00.png", Body=PICTURE)
    reply = nginx.get("/images/OutsideOutside00.png")
    assert reply.status == 404 and reply.error_code == "not_found"


def test_a_query_string_never_reaches_the_bucket(served, tmp_path):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    for query in ("acl", "uploads", "tagging", "list-type=2"):
        reply = nginx.get(f"/images/{name}?{query}")
        assert reply.status == 200 and reply.body == PICTURE, query


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST"])
def test_only_get_and_head_reach_the_bucket(served, tmp_path, method):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    reply = nginx.get(f"/images/{name}", method=method)
    assert reply.status == 405 and reply.error_code == "method_not_allowed"
    assert store.read_range(name, 0, len(PICTURE)) == PICTURE
    head = nginx.get(f"/images/{name}", method="HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(PICTURE))


def test_a_cached_image_is_served_with_the_gateway_stopped_and_an_uncached_one_is_a_json_502(tmp_path):
    """A gateway of the test's own, since it is stopped."""
    require(not missing_programs(), "Ceph's S3 gateway is not installed (make test installs it)")
    with Radosgw().start() as gateway:
        bucket = gateway.endpoint.new_bucket()
        let_anyone_read(gateway.endpoint, bucket, PREFIX)
        store = store_for(gateway.endpoint, bucket)
        cached, never_asked = put_image(store, tmp_path / "tmp"), put_image(store, tmp_path / "tmp", images.png())
        nginx = NginxForBucket(tmp_path / "nginx", gateway.endpoint, bucket)
        try:
            assert nginx.get(f"/images/{cached}").status == 200
            gateway.stop()
            again = nginx.get(f"/images/{cached}")
            assert again.status == 200 and again.body == PICTURE
            assert again.headers["X-Cache-Status"] in ("HIT", "STALE")
            missing = nginx.get(f"/images/{never_asked}")
            assert missing.status == 502 and missing.error_code == "bad_gateway"
        finally:
            nginx.stop()


# Where nginx's cache file puts the image: after its own header (336 bytes), the key and
# the origin server's answer, padded to this (render-config.sh, cache_alignment).
PAGE = 4096


@pytest.mark.parametrize(
    "path, size",
    [
        ("/images/ShortName012.jpg", 35),
        ("/images/" + "L" * 128 + ".avif", 5000),
        ("/images/MidLengthNameOf-40-characters-xxxxxx.png", 300 * 1024),
        ("/images/previews/" + "P" * 128 + ".webp.webp", 5 * 1024 * 1024),
    ],
)
def test_a_cached_image_starts_on_a_page_of_its_cache_file_whatever_its_name_and_size(served, path, size):
    # sendfile sends an image that starts on a page more cheaply (render-config.sh).
    nginx, _, endpoint, bucket = served
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    endpoint.client().put_object(Bucket=bucket, Key=PREFIX + path.removeprefix("/images/"), Body=data)
    assert nginx.get(path).headers["X-Cache-Status"] == "MISS"
    hit = nginx.get(path)
    assert hit.status == 200 and hit.body == data and hit.headers["X-Cache-Status"] == "HIT"
    stored = nginx.cache_file(path).read_bytes()
    assert stored.index(b"\r\n\r\n") + 4 == PAGE
    assert stored[PAGE:] == data


def expire(cache_file: Path) -> None:
    """Make nginx's entry out of date: valid_sec, the second field of its header."""
    with cache_file.open("r+b") as f:
        f.seek(8)
        f.write((1).to_bytes(8, "little"))


def test_an_expired_entry_is_revalidated_by_its_etag_and_a_deleted_image_then_is_a_404(served, tmp_path):
    nginx, store, endpoint, bucket = served
    name = put_image(store, tmp_path / "tmp")
    path = f"/images/{name}"
    assert nginx.get(path).status == 200
    expire(nginx.cache_file(path))
    again = nginx.get(path)
    assert again.status == 200 and again.body == PICTURE and again.headers["X-Cache-Status"] == "REVALIDATED"
    assert nginx.cache_file(path).read_bytes().index(b"\r\n\r\n") + 4 == PAGE
    endpoint.client().delete_object(Bucket=bucket, Key=PREFIX + name)
    assert nginx.get(path).headers["X-Cache-Status"] == "HIT"  # still within its minute
    expire(nginx.cache_file(path))
    gone = nginx.get(path)
    assert gone.status == 404 and gone.error_code == "not_found"


def test_nginx_killed_starts_again_over_the_origin_socket_it_left_behind(tmp_path, s3_endpoint):
    bucket = s3_endpoint.new_bucket()
    let_anyone_read(s3_endpoint, bucket, PREFIX)
    name = put_image(store_for(s3_endpoint, bucket), tmp_path / "tmp")
    first = NginxForBucket(tmp_path / "nginx", s3_endpoint, bucket)
    workers = [
        int(pid) for pid in Path(f"/proc/{first.process.pid}/task/{first.process.pid}/children").read_text().split()
    ]
    for pid in [first.process.pid, *workers]:  # all of it at once, as the OOM killer or a power cut would
        os.kill(pid, signal.SIGKILL)
    first.process.wait(10)
    assert first.origin_socket().exists()
    again = NginxForBucket(tmp_path / "nginx", s3_endpoint, bucket)  # rendered again, as every start does
    try:
        reply = again.get(f"/images/{name}")
        assert reply.status == 200 and reply.body == PICTURE
    finally:
        again.stop()
        s3_endpoint.remove_bucket(bucket)


def test_a_byte_range_is_a_206_from_the_bucket_and_from_the_cache_as_from_a_local_file(served, tmp_path):
    nginx, store, _, _ = served
    name = put_image(store, tmp_path / "tmp")
    for status in ("MISS", "HIT"):
        part = nginx.get(f"/images/{name}", headers={"Range": "bytes=0-9"})
        assert part.status == 206 and part.body == PICTURE[:10], status
        assert part.headers["Content-Range"] == f"bytes 0-9/{len(PICTURE)}"
        assert part.headers["X-Cache-Status"] == status
    assert nginx.get(f"/images/{name}").headers["Accept-Ranges"] == "bytes"


def test_rendering_again_while_nginx_runs_leaves_its_origin_socket_alone(served, tmp_path):
    # As a second `make run` on the same port does before the running one refuses it.
    nginx, store, _, _ = served
    nginx.render()
    assert nginx.origin_socket().exists()
    name = put_image(store, tmp_path / "tmp")  # never asked for: fetched through the socket
    reply = nginx.get(f"/images/{name}")
    assert reply.status == 200 and reply.body == PICTURE and reply.headers["X-Cache-Status"] == "MISS"
