"""The start-up reconcile with STORAGE=s3: it lists the bucket under the key prefix and
repairs the index against it, as it does against IMAGES_DIR (tests/unit/test_reconcile.py)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from imagehost import index, index_sqlite, storage
from imagehost.config import Config
from imagehost.object_store import open_store
from imagehost.reconcile import ReconcileRefused, reconcile
from support import images
from support.rows import add_row

pytestmark = pytest.mark.runs_once  # S3 by itself

PREFIX = "site/"


@pytest.fixture
def bucket_config(s3_bucket, tmp_path) -> Config:
    endpoint, bucket = s3_bucket
    config = Config(
        images_dir=tmp_path / "images",
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        storage="s3",
        s3_endpoint_url=endpoint.url,
        s3_bucket=bucket,
        s3_key_prefix=PREFIX,
        s3_region=endpoint.region,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
    )
    storage.prepare_directories(config.images_dir, config.tmp_dir, config.data_dir, config.log_dir)
    index_sqlite.migrate(config.index_path)
    return config


def put(store, tmp_dir, data: bytes) -> str:
    with storage.TempUpload(tmp_dir) as upload:
        upload.write(data)
        return store.publish(upload, ".png")


def rows(config: Config) -> dict[str, index.ImageRecord]:
    db = index_sqlite.SqliteIndex(config.index_path)
    try:
        return {name: db.get(name) for name in db.names()}
    finally:
        db.close()


def test_an_object_without_a_row_is_indexed_as_of_when_it_was_written(bucket_config):
    store = open_store(bucket_config)
    data = images.png(extra=b"orphan")
    name = put(store, bucket_config.tmp_dir, data)
    time.sleep(2)  # so that the moment of the reconcile is not the moment it was written
    report = reconcile(bucket_config, store=store)
    assert report.files_indexed == 1
    record = rows(bucket_config)[name]
    assert record.size == len(data) and record.delete_token_hash is None
    written = datetime.fromisoformat(record.created_at.replace("Z", "+00:00")).timestamp()
    assert abs(written - store.modified(name)) < 1
    assert list(bucket_config.tmp_dir.iterdir()) == []  # the download is gone


def test_a_row_whose_object_is_gone_and_a_preview_without_a_row_are_removed(bucket_config, tmp_path):
    store = open_store(bucket_config)
    kept = put(store, bucket_config.tmp_dir, images.png(extra=b"kept"))
    db = index_sqlite.SqliteIndex(bucket_config.index_path)
    try:
        add_row(db, kept)
        add_row(db, "GoneGoneGoneGone.png")
    finally:
        db.close()
    preview = tmp_path / "preview.webp"
    preview.write_bytes(b"RIFF....WEBP")
    store.write_preview("NoRowNoRowNoRow0.png", preview)
    report = reconcile(bucket_config, store=store)
    assert (report.rows_removed, report.previews_removed) == (1, 1)
    assert set(rows(bucket_config)) == {kept}
    assert store.preview_names() == set()


def test_an_empty_bucket_next_to_an_index_full_of_rows_is_refused_naming_the_bucket(bucket_config):
    db = index_sqlite.SqliteIndex(bucket_config.index_path)
    try:
        for number in range(20):
            add_row(db, f"Row{number:02d}RowRowRowRo.png")
    finally:
        db.close()
    with pytest.raises(ReconcileRefused, match=f"the bucket {bucket_config.s3_bucket}"):
        reconcile(bucket_config)
    assert len(rows(bucket_config)) == 20
