"""The object store (imagehost/object_store.py): the same contract from the local folder
and from a real S3 server (Ceph's radosgw, or the S3_TEST_* endpoint: docs/s3.md), then
what only S3 has: key prefixes, refused overwrites, wrong credentials, an unreachable
endpoint, and serving without the right to list the bucket."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import pytest
from imagehost import handlers, storage
from imagehost.config import Config
from imagehost.errors import InsufficientStorage, Unavailable
from imagehost.object_store import LocalStore, S3Location, S3Store, open_store
from imagehost.web import Request, RequestBody
from support import images
from support.backend import free_port_block

pytestmark = pytest.mark.runs_once  # both stores, side by side

PICTURE = images.png(extra=b"one")
OTHER_PICTURE = images.png(extra=b"two")


def s3_store(endpoint, bucket: str, prefix: str = "", **changes) -> S3Store:
    location = S3Location(
        endpoint.url,
        bucket,
        endpoint.region,
        prefix,
        endpoint.addressing,
        endpoint.access_key,
        endpoint.secret_key,
    )
    return S3Store(S3Location(**{**location.__dict__, **changes}))


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """Each contract test runs once on a local folder and once on a fresh bucket."""
    if request.param == "local":
        storage.prepare_directories(tmp_path / "images", tmp_path / "tmp", tmp_path / "data", tmp_path / "logs")
        return LocalStore(tmp_path / "images")
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return s3_store(endpoint, bucket)


@pytest.fixture
def upload_of(tmp_path):
    """upload_of(data): a finished TempUpload holding `data`, closed after the test."""
    made = []

    def make(data: bytes) -> storage.TempUpload:
        (tmp_path / "tmp").mkdir(exist_ok=True)
        upload = storage.TempUpload(tmp_path / "tmp")
        upload.write(data)
        made.append(upload)
        return upload

    yield make
    for upload in made:
        upload.__exit__(None, None, None)


def published(store, upload_of, data: bytes = PICTURE, same_content=()) -> str:
    return store.publish(upload_of(data), ".png", same_content)


# --- the contract, on both stores -------------------------------------------------------


def test_a_published_image_has_a_fresh_name_its_size_and_its_bytes(store, upload_of):
    name = published(store, upload_of)
    assert name.endswith(".png") and len(name) == 20
    assert store.size(name) == len(PICTURE)
    assert store.read_range(name, 0, len(PICTURE)) == PICTURE


def test_a_range_read_gives_only_the_bytes_asked_for_and_fewer_at_the_end(store, upload_of):
    name = published(store, upload_of)
    assert store.read_range(name, 1, 3) == PICTURE[1:4]
    assert store.read_range(name, len(PICTURE) - 2, 100) == PICTURE[-2:]
    assert store.read_range(name, len(PICTURE), 10) == b""


def test_two_uploads_of_the_same_bytes_get_two_names(store, upload_of):
    first, second = published(store, upload_of), published(store, upload_of)
    assert first != second
    assert store.read_range(second, 0, len(PICTURE)) == PICTURE


def test_an_identical_image_is_copied_by_the_store_and_each_name_lives_on_alone(store, upload_of):
    first = published(store, upload_of)
    second = published(store, upload_of, same_content=[first])
    assert second != first and store.read_range(second, 0, len(PICTURE)) == PICTURE
    store.delete(first)
    assert store.size(first) is None
    assert store.read_range(second, 0, len(PICTURE)) == PICTURE


def test_an_image_that_only_claims_the_same_content_is_not_shared(store, upload_of):
    other = published(store, upload_of, OTHER_PICTURE)
    name = published(store, upload_of, PICTURE, same_content=[other, "MissingMissing00.png"])
    assert store.read_range(name, 0, len(PICTURE)) == PICTURE
    assert store.read_range(other, 0, len(OTHER_PICTURE)) == OTHER_PICTURE


def test_a_copy_is_a_new_name_with_the_same_bytes(store, upload_of):
    name = published(store, upload_of)
    copy = store.copy(name, ".png")
    assert copy != name and store.read_range(copy, 0, len(PICTURE)) == PICTURE


def test_a_copy_of_a_missing_image_is_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.copy("MissingMissing00.png", ".png")


def test_a_missing_image_has_no_size_and_cannot_be_read(store):
    assert store.size("MissingMissing00.png") is None
    with pytest.raises(FileNotFoundError):
        store.read_range("MissingMissing00.png", 0, 10)


def test_delete_removes_the_image_and_a_second_delete_is_no_error(store, upload_of):
    name = published(store, upload_of)
    store.delete(name)
    store.delete(name)
    assert store.size(name) is None
    assert name not in store.names()


def test_names_are_the_published_images_only(store, upload_of, tmp_path):
    first, second = published(store, upload_of), published(store, upload_of, OTHER_PICTURE)
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    store.write_preview(first, preview)
    assert store.names() == {first, second}


def test_a_preview_is_written_listed_and_deleted_once_or_twice(store, upload_of, tmp_path):
    name = published(store, upload_of)
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    store.write_preview(name, preview)
    assert not preview.exists()
    assert store.preview_names() == {name}
    store.delete_preview(name)
    store.delete_preview(name)
    assert store.preview_names() == set()


def test_delete_many_removes_each_image_and_names_already_gone_are_no_error(store, upload_of):
    first, second, kept = (published(store, upload_of, images.png(extra=bytes([n]))) for n in range(3))
    store.delete(second)
    store.delete_many([first, second])
    assert store.names() == {kept}


def test_withdrawing_an_image_removes_it_and_a_missing_one_is_no_error(store, upload_of):
    name = published(store, upload_of)
    store.withdraw(name)
    store.withdraw(name)
    assert store.size(name) is None


def test_a_local_copy_holds_the_images_bytes_and_a_download_is_gone_after_it(store, upload_of, tmp_path):
    name = published(store, upload_of)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with store.local_copy(name, scratch, len(PICTURE)) as path:
        assert path.read_bytes() == PICTURE
    assert list(scratch.iterdir()) == []


def test_a_bucket_copy_of_an_image_larger_than_allowed_is_refused_and_leaves_nothing(s3_bucket, upload_of, tmp_path):
    # The bucket's alone: the folder's image is read in place, its size checked at upload.
    store = s3_store(*s3_bucket)
    name = published(store, upload_of)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(ValueError, match="larger"), store.local_copy(name, scratch, len(PICTURE) - 1):
        pass
    assert list(scratch.iterdir()) == []


def test_a_local_copy_of_a_missing_image_is_file_not_found(store, tmp_path):
    with pytest.raises(FileNotFoundError), store.local_copy("MissingMissing00.png", tmp_path, 100) as path:
        path.read_bytes()


def test_an_identical_image_shares_the_preview_of_the_first_that_has_one(store, upload_of, tmp_path):
    first = published(store, upload_of)
    second = published(store, upload_of, same_content=[first])
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    store.write_preview(first, preview)
    assert store.share_preview(second, ["MissingMissing00.png", first])
    assert store.preview_names() == {first, second}
    store.delete_preview(first)
    assert store.preview_names() == {second}


def test_no_preview_is_shared_when_none_of_the_identical_images_has_one(store, upload_of):
    name = published(store, upload_of)
    assert not store.share_preview(name, ["MissingMissing00.png"])
    assert store.preview_names() == set()


@pytest.mark.parametrize("name", ["../secret.png", "previews/AbCdEfGhIjKlMnOp.png", "notes.txt", ""])
def test_a_name_that_is_not_an_image_name_never_reaches_the_store(store, name):
    for operation in (store.size, store.delete, store.delete_preview):
        with pytest.raises(ValueError, match="not an image name"):
            operation(name)


@pytest.mark.parametrize("start, length", [(-1, 4), (0, -1)])
def test_a_negative_range_never_reaches_the_store(store, upload_of, start, length):
    name = published(store, upload_of)
    with pytest.raises(ValueError, match="range"):
        store.read_range(name, start, length)


def test_images_live_in_the_folder_unless_storage_is_s3(tmp_path):
    assert open_store(Config(images_dir=tmp_path)) == LocalStore(tmp_path)
    config = Config(
        images_dir=tmp_path,
        storage="s3",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_bucket="photos",
        s3_key_prefix="site/",
        aws_access_key_id="key",
        aws_secret_access_key="secret",
    )
    opened = open_store(config)
    expected = S3Location("http://127.0.0.1:9", "photos", prefix="site/", access_key="key", secret_key="secret")
    assert isinstance(opened, S3Store) and opened.location == expected


# --- S3 only ----------------------------------------------------------------------------


def test_keys_carry_the_prefix_and_another_prefix_sees_none_of_them(s3_bucket, upload_of, tmp_path):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket, prefix="site-a/")
    name = published(store, upload_of)
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    store.write_preview(name, preview)
    keys = {item["Key"] for item in endpoint.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"site-a/{name}", f"site-a/previews/{name}.webp"}
    assert store.names() == {name} and store.preview_names() == {name}
    neighbour = s3_store(endpoint, bucket, prefix="site-b/")
    assert neighbour.names() == set() and neighbour.size(name) is None


def test_other_keys_of_the_bucket_are_not_image_names(s3_bucket, upload_of):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket)
    name = published(store, upload_of)
    for key in ("notes.txt", "folder/AbCdEfGhIjKlMnOp.png", "previews/AbCdEfGhIjKlMnOp.png.webp.bak"):
        endpoint.client().put_object(Bucket=bucket, Key=key, Body=b"x")
    assert store.names() == {name} and store.preview_names() == set()


def test_an_image_is_stored_with_its_type_and_the_sha256_of_its_bytes(s3_bucket, upload_of):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket)
    upload = upload_of(PICTURE)
    name = store.publish(upload, ".png")
    head = endpoint.client().head_object(Bucket=bucket, Key=name)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"sha256": upload.sha256}


def test_publishing_never_overwrites_a_name_already_taken(s3_bucket, upload_of, monkeypatch):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket)
    taken = published(store, upload_of)
    names = iter([taken, "FreshFreshFresh0.png"])
    monkeypatch.setattr(storage, "new_image_name", lambda extension: next(names))
    assert published(store, upload_of, OTHER_PICTURE) == "FreshFreshFresh0.png"
    assert store.read_range(taken, 0, len(PICTURE)) == PICTURE


def test_a_store_that_calls_every_name_taken_is_unavailable_after_a_few_names(s3_bucket, upload_of, monkeypatch):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket)
    taken = published(store, upload_of)
    monkeypatch.setattr(storage, "new_image_name", lambda extension: taken)
    with pytest.raises(Unavailable):
        published(store, upload_of, OTHER_PICTURE)
    with pytest.raises(Unavailable):
        store.copy(taken, ".png")
    assert store.read_range(taken, 0, len(PICTURE)) == PICTURE


def test_wrong_credentials_are_unavailable_not_an_error_of_ours(s3_bucket, upload_of):
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket, secret_key="not-the-secret")
    for attempt in (lambda: published(store, upload_of), lambda: store.size("AbCdEfGhIjKlMnOp.png"), store.names):
        with pytest.raises(Unavailable) as refused:
            attempt()
        assert refused.value.status == 503 and "image store" in refused.value.message


def test_a_missing_bucket_is_unavailable(s3_endpoint, upload_of):
    store = s3_store(s3_endpoint, "imagehost-test-no-such-bucket")
    with pytest.raises(Unavailable):
        published(store, upload_of)


def test_an_unreachable_endpoint_is_unavailable(upload_of):
    nowhere = S3Location(f"http://127.0.0.1:{free_port_block(1)}", "bucket", access_key="a", secret_key="b")
    store = S3Store(nowhere)
    for attempt in (lambda: published(store, upload_of), lambda: store.delete("AbCdEfGhIjKlMnOp.png")):
        with pytest.raises(Unavailable) as refused:
            attempt()
        assert refused.value.status == 503


def test_serving_needs_no_listing_of_the_bucket(s3_bucket, upload_of):
    """A store whose bucket policy forbids listing still publishes, reads, copies and
    deletes: nothing but reconcile ever lists."""
    endpoint, bucket = s3_bucket
    store = s3_store(endpoint, bucket)
    name = published(store, upload_of)
    deny_listing = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
        ],
    }
    endpoint.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny_listing))
    with pytest.raises(Unavailable):
        store.names()  # the policy holds
    copy = published(store, upload_of, same_content=[name])
    assert store.size(copy) == len(PICTURE)
    assert store.read_range(copy, 0, 8) == PICTURE[:8]
    store.delete(name)
    endpoint.client().delete_bucket_policy(Bucket=bucket)


def test_a_bucket_over_its_quota_is_insufficient_storage(s3_gateway, upload_of):
    """The gateway's own quota (radosgw-admin), so a real server's "full" answer."""
    bucket = s3_gateway.endpoint.new_bucket()
    store = s3_store(s3_gateway.endpoint, bucket)
    s3_gateway.limit_bucket(bucket, max_objects=1)
    published(store, upload_of)
    with pytest.raises(InsufficientStorage) as refused:
        published(store, upload_of, OTHER_PICTURE)
    assert refused.value.status == 507 and "image store is full" in refused.value.message
    s3_gateway.endpoint.remove_bucket(bucket)


def test_the_local_store_keeps_images_readable_by_nginx(tmp_path, upload_of):
    storage.prepare_directories(tmp_path / "images", tmp_path / "tmp", tmp_path / "data", tmp_path / "logs")
    store = LocalStore(tmp_path / "images")
    name = published(store, upload_of)
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    os.chmod(preview, 0o600)
    store.write_preview(name, preview)
    for path in (Path(tmp_path / "images" / name), tmp_path / "images" / "previews" / f"{name}.webp"):
        assert path.stat().st_mode & 0o777 == 0o644


class FullIndex:
    """An index whose disk is full: every new row fails as SQLite fails then."""

    def names_with_content(self, sha256, size):
        return []

    def add(self, **row):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise error


def test_an_upload_whose_row_cannot_be_written_is_deleted_from_the_bucket_again(s3_bucket, tmp_path):
    endpoint, bucket = s3_bucket
    config = Config(images_dir=tmp_path / "images", data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    storage.prepare_directories(config.images_dir, config.tmp_dir, config.data_dir, config.log_dir)
    store = s3_store(endpoint, bucket)
    app = handlers.App(config, FullIndex(), worker_id=0, store=store)
    body, content_type = images.file_form(PICTURE)
    request = Request(
        "POST", "/upload", "", {"Content-Type": content_type}, RequestBody(io.BytesIO(body), len(body)), "r"
    )
    with pytest.raises(InsufficientStorage):
        handlers.upload(request, app)
    assert store.names() == set()
    assert list(config.tmp_dir.iterdir()) == []
