"""Work that runs once however many nodes share the index (the expiry sweep, the start-up
reconcile), on each engine (the `index_engine` fixture): a node that does not lead the
task (Index.leading) skips its turn. SQLite has one instance per folder, so its only
node always leads. And the reconcile of one node is safe while others upload: what it
finds half-way through another node's upload or preview it leaves alone."""

from __future__ import annotations

import os
import time
import types

import pytest
from imagehost import expiry, previews, storage
from imagehost.config import Config
from imagehost.index_postgres import PostgresEngine
from imagehost.object_store import open_store
from imagehost.reconcile import ORPHAN_GRACE_SECONDS, reconcile
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


def test_an_image_without_a_row_is_left_for_the_grace_on_a_shared_index_and_indexed_after_it(
    config, index_engine, index
):
    shared = isinstance(index_engine, PostgresEngine)
    new, old = "NewNewNewNewNew0.png", "OldOldOldOldOld0.png"
    for name in (new, old):
        (config.images_dir / name).write_bytes(images.png())
    long_ago = time.time() - ORPHAN_GRACE_SECONDS - 60
    os.utime(config.images_dir / old, (long_ago, long_ago))
    report = reconcile(config)
    assert (report.files_indexed, report.files_too_new) == ((1, 1) if shared else (2, 0))
    assert index.names() == ({old} if shared else {new, old})
    assert (config.images_dir / new).exists()


class OtherNodeAtWork:
    """The node's store, where another node uploads `name` (image, then row) just after
    the images are listed, and makes a preview for its new upload `preview_of` (image,
    row, then preview) just before the previews are listed."""

    def __init__(self, config: Config, index, name: str, preview_of: str):
        self._store = open_store(config)
        self._config, self._index, self._name, self._preview_of = config, index, name, preview_of

    def __getattr__(self, attribute: str):
        return getattr(self._store, attribute)

    def names(self) -> set[str]:
        listed = self._store.names()
        self._upload(self._name)
        return listed

    def preview_names(self) -> set[str]:
        self._upload(self._preview_of)
        previews.folder(self._config.images_dir).mkdir(exist_ok=True)
        previews.path_of(self._config.images_dir, self._preview_of).write_bytes(b"RIFF....WEBP")
        self._index.set_preview(self._preview_of, previews.READY)
        return self._store.preview_names()

    def _upload(self, name: str) -> None:
        (self._config.images_dir / name).write_bytes(images.png())
        self._index.add(**_row(name))


def test_an_upload_and_a_preview_another_node_finishes_while_reconcile_runs_are_kept(config, index):
    store = OtherNodeAtWork(config, index, name="UploadedMeanwhil.png", preview_of="PreviewMeanwhile.png")
    report = reconcile(config, store=store)
    assert (report.rows_removed, report.previews_removed) == (0, 0)
    assert index.names() == {"UploadedMeanwhil.png", "PreviewMeanwhile.png"}
    assert previews.files(config.images_dir) == {"PreviewMeanwhile.png"}
    assert index.get("PreviewMeanwhile.png").preview == previews.READY


class OtherNodeDeleting:
    """The node's store, while another node deletes `names` (each image, then its row) as
    the images are listed: the images are gone from the listing, the rows only after it."""

    def __init__(self, config: Config, index, names: list[str]):
        self._store = open_store(config)
        self._config, self._index, self._names = config, index, names

    def __getattr__(self, attribute: str):
        return getattr(self._store, attribute)

    def names(self) -> set[str]:
        for name in self._names:
            (self._config.images_dir / name).unlink()
        listed = self._store.names()
        for name in self._names:
            self._index.delete(name)
        return listed


@pytest.mark.parametrize("index_engine", ["postgresql"], indirect=True)  # only a shared index has other nodes
def test_images_another_node_deletes_while_reconcile_lists_them_are_not_taken_for_lost_ones(config, index):
    deleted = [f"Deleted{number:09d}.png" for number in range(25)]  # more than missing_allowed
    for name in [*deleted, "KeptKeptKeptKep.png"]:
        (config.images_dir / name).write_bytes(images.png())
        index.add(**_row(name))
    report = reconcile(config, store=OtherNodeDeleting(config, index, deleted))  # not refused
    assert report.rows_removed == 0
    assert index.names() == {"KeptKeptKeptKep.png"}


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
