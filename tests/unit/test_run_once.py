"""Work that runs once however many nodes share the index (the expiry sweep, the start-up
reconcile), on each engine (the `index_engine` fixture): a node that does not lead the
task (Index.leading) skips its turn. SQLite has one instance per folder, so its only
node always leads."""

from __future__ import annotations

import time
import types

import pytest
from imagehost import expiry, storage
from imagehost.config import Config
from imagehost.index_postgres import PostgresEngine
from imagehost.reconcile import reconcile
from support import images
from support.rows import add_row

PAST = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def config(index_engine, tmp_path) -> Config:
    """A node's settings on the engine's index (SQLite's file is DATA_DIR/index.sqlite3)."""
    url = index_engine.url if isinstance(index_engine, PostgresEngine) else ""
    config = Config(images_dir=tmp_path / "images", data_dir=tmp_path, log_dir=tmp_path / "logs", database_url=url)
    storage.prepare_directories(config.images_dir, config.tmp_dir, config.data_dir, config.log_dir)
    return config


def sweep_once(config: Config) -> None:
    """One Sweeper turn, its first, at once (not a second after it was made)."""
    sweeper = expiry.Sweeper(config)
    later = types.SimpleNamespace(monotonic=lambda: time.monotonic() + 3600, time=time.time)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(expiry, "time", later)
            sweeper.tick()
    finally:
        sweeper.close()


def test_an_expiry_turn_is_skipped_by_a_node_that_does_not_lead_and_swept_by_one_that_does(config, index_engine, index):
    shared = isinstance(index_engine, PostgresEngine)
    name = "ExpiredExpired00.png"
    (config.images_dir / name).write_bytes(images.png())
    index.add(**_row(name), expires_at=PAST)
    with index.leading("expiry") as other_leads:  # `index` is the other node's connection
        assert other_leads
        sweep_once(config)
        assert (name in index.names()) is shared
    sweep_once(config)
    assert name not in index.names()
    assert not (config.images_dir / name).exists()


def test_a_start_up_reconcile_leaves_a_shared_index_alone_while_another_node_reconciles_it(config, index_engine, index):
    shared = isinstance(index_engine, PostgresEngine)
    add_row(index, "GoneGoneGoneGone.png")
    with index.leading("reconcile") as other_leads:
        assert other_leads
        report = reconcile(config)
        assert report.rows_removed == (0 if shared else 1)
    assert reconcile(config).rows_removed == (1 if shared else 0)
    assert index.names() == set()


def _row(name: str) -> dict[str, object]:
    return {
        "name": name,
        "type": "image/png",
        "size": len(images.png()),
        "width": 1,
        "height": 1,
        "sha256": "0" * 64,
        "original_name": "",
        "delete_token_hash": None,
    }
