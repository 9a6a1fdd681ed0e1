"""The supervisor's expiry tick (expiry.Sweeper.tick) also removes the direct uploads
nobody completed, in the same call, once S3_DIRECT_UPLOADS is on; the bucket side
(what is stale, what is left alone) is tried against a real bucket in
tests/integration/test_s3_direct_uploads.py."""

from __future__ import annotations

import time

import pytest
from imagehost import expiry
from imagehost.config import Config
from imagehost.index_sqlite import SqliteEngine
from imagehost.object_store import STAGED_KEPT, S3Location, S3Store


class RecordingBucket(S3Store):
    """A bucket that is never asked anything, and notes each sweep of staged uploads."""

    def __init__(self) -> None:
        super().__init__(S3Location("http://127.0.0.1:9", "photos"))
        self.swept_before: list[float] = []

    def remove_stale_uploads(self, written_before: float) -> int:
        self.swept_before.append(written_before)
        return 0


def tick_at(tmp_path, monkeypatch, seconds_after_due: list[float], **settings) -> RecordingBucket:
    """A sweeper's ticks, the first once its first sweep is due and each other
    `seconds_after_due` after that."""
    config = Config(
        data_dir=tmp_path / "data",
        images_dir=tmp_path / "images",
        storage="s3",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_bucket="photos",
        **settings,
    )
    config.data_dir.mkdir()
    SqliteEngine(config.index_path).migrate()
    bucket = RecordingBucket()
    sweeper = expiry.Sweeper(config, store=bucket)
    due = time.monotonic() + expiry.SWEEP_EVERY * 2
    try:
        for seconds in [0.0, *seconds_after_due]:
            monkeypatch.setattr(expiry.time, "monotonic", lambda moment=due + seconds: moment)
            sweeper.tick()
    finally:
        sweeper.close()
    return bucket


def tick_once(tmp_path, monkeypatch, **settings) -> RecordingBucket:
    return tick_at(tmp_path, monkeypatch, [], **settings)


def test_the_expiry_tick_removes_direct_uploads_staged_longer_than_they_are_kept(tmp_path, monkeypatch):
    bucket = tick_once(tmp_path, monkeypatch, s3_direct_uploads=True)
    assert bucket.swept_before == [pytest.approx(time.time() - STAGED_KEPT, abs=30)]


def test_without_direct_uploads_the_expiry_tick_leaves_the_staging_folder_alone(tmp_path, monkeypatch):
    assert tick_once(tmp_path, monkeypatch, s3_direct_uploads=False).swept_before == []


def test_the_staging_folder_is_listed_at_most_once_per_staged_sweep_interval(tmp_path, monkeypatch):
    every = expiry.STAGED_SWEEP_EVERY
    turns = [expiry.SWEEP_EVERY, every - 1, every + expiry.SWEEP_EVERY]
    bucket = tick_at(tmp_path, monkeypatch, turns, s3_direct_uploads=True)
    assert len(bucket.swept_before) == 2  # the first turn, and the first after the interval
