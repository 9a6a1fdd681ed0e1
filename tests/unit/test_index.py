"""The index's contract, run against both engines (the `index` fixture of conftest.py:
SQLite, then PostgreSQL): rows, keyset paging, filters, search, labels, previews,
albums, expiry, counts, and what happens when the database is out of reach."""

from __future__ import annotations

import random
import threading

import psycopg
import pytest
from imagehost import previews
from imagehost.errors import Unavailable
from imagehost.index import IndexFileError, ListingFilter, SearchTerms
from imagehost.index_postgres import PostgresEngine, PostgresIndex, newest_version
from imagehost.search import search_terms
from support.postgres import free_port

SIZES = {"image/png": 10, "image/jpeg": 20}


def add(index, n: int, **fields):
    """Image number `n`: a PNG unless said otherwise, its own bytes (sha256) unless said."""
    row = {
        "name": f"Image{n:011d}.png",
        "type": "image/png",
        "size": 10,
        "width": 1,
        "height": 1,
        "sha256": f"{n:064x}",
        "original_name": "",
        "delete_token_hash": None,
        **fields,
    }
    return index.add(**row)


def all_pages(index, limit: int, where: ListingFilter | None = None) -> list[str]:
    names, cursor = [], None
    for _ in range(1000):
        records, cursor = index.page(limit, cursor, where)
        names += [record.name for record in records]
        if cursor is None:
            return names
    raise AssertionError("more than 1000 pages")


def found(index, query: str, **conditions) -> set[str]:
    return {record.name for record in index.page(50, None, ListingFilter(search=search_terms(query), **conditions))[0]}


def test_a_row_added_is_the_row_read_back_with_an_id_above_every_earlier_one(index):
    first = add(index, 1, title="A title", tags=("cat", "sky"), expires_at="2030-01-01T00:00:00.000Z")
    second = add(index, 2)
    assert index.get(first.name) == first
    assert first.tag_list == ["cat", "sky"] and first.preview == previews.PENDING
    assert second.id > first.id
    assert index.get("Nothing00000000.png") is None


def test_a_name_already_taken_is_refused_and_the_first_row_stays(index):
    add(index, 1)
    with pytest.raises(Exception):  # noqa: B017,PT011 (each engine's own IntegrityError)
        add(index, 1, size=99)
    assert index.get("Image00000000001.png").size == 10


def test_pages_go_newest_first_and_the_cursor_walks_every_image_once(index):
    for n in range(1, 8):
        add(index, n)
    first, cursor = index.page(3)
    assert [record.name for record in first] == [f"Image{n:011d}.png" for n in (7, 6, 5)]
    assert cursor == first[-1].id
    assert all_pages(index, 3) == [f"Image{n:011d}.png" for n in range(7, 0, -1)]
    assert index.page(7) == (index.page(7)[0], None)  # exactly one page: no next cursor


@pytest.mark.parametrize("seed", [1, 2])
def test_paging_while_images_are_added_and_deleted_never_repeats_or_skips_one(index, seed):
    chance = random.Random(seed)
    for n in range(1, 41):
        add(index, n)
    kept = {f"Image{n:011d}.png" for n in range(1, 41)}
    seen: list[str] = []
    cursor, added = None, 100
    for _ in range(100):
        records, cursor = index.page(4, cursor)
        seen += [record.name for record in records]
        # Between pages: a new upload (newer than every cursor: never on a later page),
        # and a delete of an image not yet seen (it must then not appear).
        added += 1
        add(index, added)
        unseen = sorted(kept - set(seen))
        if unseen:
            gone = chance.choice(unseen)
            assert index.delete(gone)
            kept.discard(gone)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "an image came twice"
    assert set(seen) == kept, "an image that stayed was skipped"


def test_tag_type_and_date_filters_each_narrow_the_listing_and_page_by_id(index):
    add(index, 1, tags=("cat",), created_at="2026-01-01T10:00:00.000Z")
    add(index, 2, tags=("cat", "sky"), type="image/jpeg", created_at="2026-01-02T10:00:00.000Z")
    add(index, 3, tags=("sky",), created_at="2026-01-03T10:00:00.000Z")
    add(index, 4, tags=("cat", "sky"), created_at="2026-01-04T10:00:00.000Z")
    name = "Image{:011d}.png".format
    assert all_pages(index, 1, ListingFilter(tags=("cat",))) == [name(4), name(2), name(1)]
    assert all_pages(index, 1, ListingFilter(tags=("cat", "sky"))) == [name(4), name(2)]
    assert all_pages(index, 1, ListingFilter(type="image/jpeg")) == [name(2)]
    window = ListingFilter(since="2026-01-02T00:00:00.000Z", until="2026-01-04T00:00:00.000Z")
    assert all_pages(index, 1, window) == [name(3), name(2)]
    assert all_pages(index, 1, ListingFilter(tags=("dog",))) == []


def test_a_search_needs_every_word_and_takes_the_last_one_as_the_start_of_a_word(index):
    add(index, 1, title="Black cat", description="on a sofa")
    add(index, 2, title="Black dog", tags=("catalogue",))
    add(index, 3, original_name="cat.png")
    name = "Image{:011d}.png".format
    assert found(index, "black cat") == {name(1), name(2)}  # "cat" also starts "catalogue"
    assert found(index, "black cat ") == {name(1)}  # a space after it: the whole word only
    assert found(index, "cat") == {name(1), name(2), name(3)}  # the original name's words too
    assert found(index, "sofa black") == {name(1)}
    assert found(index, "png") == {name(3)}
    assert found(index, "bird") == set()


def test_a_search_finds_words_whatever_their_case_and_accents(index):
    add(index, 1, title="Café Crème")
    add(index, 2, description="हिन्दी पाठ")
    name = "Image{:011d}.png".format
    assert found(index, "cafe creme") == {name(1)}
    assert found(index, "CAFÉ") == {name(1)}
    assert found(index, "हिन्दी") == {name(2)}


@pytest.mark.parametrize("query", ['a" OR b NEAR(c) *', "x' & !y | z:*", "\\' x -- ;", "NOT AND OR"])
def test_query_syntax_in_a_search_is_only_words_and_never_an_error(index, query):
    add(index, 1, title="nothing to see")
    assert found(index, query) == set()


def test_a_search_combines_with_the_other_filters_and_pages_by_id(index):
    for n in range(1, 6):
        add(index, n, title="sunset", tags=("sea",) if n % 2 else (), type="image/png")
    add(index, 6, title="sunset", type="image/jpeg")
    where = ListingFilter(search=SearchTerms(("sunset",), last_is_prefix=False), tags=("sea",), type="image/png")
    assert all_pages(index, 2, where) == [f"Image{n:011d}.png" for n in (5, 3, 1)]


def test_new_labels_replace_the_old_ones_in_the_row_the_tag_filter_and_the_search(index):
    record = add(index, 1, title="old title", tags=("old",))
    changed = index.update_labels(record.name, title="new title", tags=["fresh", "sky"])
    assert changed == record._replace(title="new title", tags="fresh sky")
    assert index.get(record.name) == changed
    assert found(index, "old ") == set() and found(index, "new") == {record.name}
    assert all_pages(index, 5, ListingFilter(tags=("old",))) == []
    assert all_pages(index, 5, ListingFilter(tags=("fresh",))) == [record.name]
    only_description = index.update_labels(record.name, description="words")
    assert (only_description.title, only_description.tags) == ("new title", "fresh sky")
    assert index.update_labels("Nothing00000000.png", title="x") is None


def test_previews_pending_are_handed_out_newest_first_until_marked_made(index):
    for n in range(1, 5):
        add(index, n, sha256="a" * 64)
    name = "Image{:011d}.png".format
    assert [r.name for r in index.claim_previews(2, 60)] == [name(4), name(3)]
    assert [r.name for r in index.claim_previews(3, 60)] == [name(2), name(1)]  # the rest only
    assert index.claim_previews(2, 60) == []
    assert index.set_preview(name(4), previews.READY)
    assert not index.set_preview("Nothing00000000.png", previews.READY)
    assert index.names_with_preview("a" * 64, 10) == [name(4)]
    index.set_previews({name(1), name(2)}, previews.FAILED)
    assert index.preview_states() == {
        name(1): previews.FAILED,
        name(2): previews.FAILED,
        name(3): previews.PENDING,
        name(4): previews.READY,
    }
    assert index.gauges()[2] == 1


def test_a_claimed_preview_is_handed_out_again_once_its_claim_lapses_or_a_state_is_set(index):
    for n in range(1, 4):
        add(index, n)
    name = "Image{:011d}.png".format
    assert [r.name for r in index.claim_previews(3, 0)] == [name(3), name(2), name(1)]
    assert [r.name for r in index.claim_previews(1, 3600)] == [name(3)]  # a lease of 0 s has lapsed
    assert index.set_preview(name(3), previews.PENDING)  # given back, as a job no maker made
    assert [r.name for r in index.claim_previews(1, 3600)] == [name(3)]


def test_two_nodes_claiming_previews_at_once_never_get_the_same_one(index_engine):
    first, second = index_engine.open(), index_engine.open()
    try:
        for n in range(1, 41):
            add(first, n)
        claimed: list[list[str]] = [[], []]

        def claim_all(opened, into: list[str]) -> None:
            for _ in range(40):
                into += [record.name for record in opened.claim_previews(3, 3600)]

        threads = [threading.Thread(target=claim_all, args=pair) for pair in zip((first, second), claimed, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(claimed[0] + claimed[1]) == sorted(f"Image{n:011d}.png" for n in range(1, 41))
    finally:
        first.close()
        second.close()


def test_rows_with_the_same_bytes_are_found_newest_first(index):
    for n in range(1, 6):
        add(index, n, sha256="b" * 64)
    add(index, 6)
    assert index.names_with_content("b" * 64, 10) == [f"Image{n:011d}.png" for n in (5, 4, 3)]
    assert index.names_with_content("b" * 64, 11) == []


def test_stats_count_images_and_the_bytes_of_identical_images_once(index):
    add(index, 1, sha256="c" * 64, size=100)
    add(index, 2, sha256="c" * 64, size=100)
    add(index, 3, size=7)
    stats = index.stats(3)
    assert (stats["images"], stats["bytes_stored"]) == (3, 107)
    assert [day["uploads"] for day in stats["uploads_per_day"]] == [0, 0, 3]
    assert index.gauges() == (3, 107, 3)
    assert isinstance(stats["bytes_stored"], int)


def test_an_album_keeps_its_images_in_order_and_loses_those_deleted(index):
    for n in range(1, 4):
        add(index, n)
    name = "Image{:011d}.png".format
    album = index.add_album("Album0000001", "Trip", "", "h" * 64, [(name(3), True), (name(1), False)])
    got, images = index.album("Album0000001")
    assert got == album and [r.name for r in images] == [name(3), name(1)]
    assert index.album_ownership(album.id) == {name(3): True, name(1): False}
    index.update_album(album.id, title="Trip 2", images=[(name(2), True), (name(3), True)])
    assert index.delete(name(3))
    got, images = index.album("Album0000001")
    assert got.title == "Trip 2" and [r.name for r in images] == [name(2)]
    assert index.delete_album(album.id) and index.album("Album0000001") is None
    assert not index.delete_album(album.id)


def test_an_album_naming_an_image_without_a_row_is_not_made_nor_changed(index):
    add(index, 1)
    with pytest.raises(LookupError, match="Nothing00000000"):
        index.add_album(
            "Album0000001", "", "", "h" * 64, [("Image00000000001.png", True), ("Nothing00000000.png", True)]
        )
    assert index.album("Album0000001") is None
    album = index.add_album("Album0000002", "Kept", "", "h" * 64, [("Image00000000001.png", True)])
    with pytest.raises(LookupError):
        index.update_album(album.id, title="Lost", images=[("Nothing00000000.png", True)])
    got, images = index.album("Album0000002")
    assert got.title == "Kept" and len(images) == 1


def test_images_past_their_expiry_are_found_oldest_first_and_deleted_with_their_tags(index):
    add(index, 1, expires_at="2026-01-02T00:00:00.000Z", tags=("gone",))
    add(index, 2, expires_at="2026-01-01T00:00:00.000Z")
    add(index, 3, expires_at="2027-01-01T00:00:00.000Z")
    add(index, 4)
    due = index.expired("2026-06-01T00:00:00.000Z", 10)
    assert due == ["Image00000000002.png", "Image00000000001.png"]
    index.delete_many(set(due))
    assert index.names() == {"Image00000000003.png", "Image00000000004.png"}
    assert all_pages(index, 5, ListingFilter(tags=("gone",))) == []


def test_a_task_of_a_shared_index_is_led_by_one_holder_at_a_time_and_of_a_private_one_by_each(index_engine):
    shared = isinstance(index_engine, PostgresEngine)  # SQLite: one instance per folder already
    first, second = index_engine.open(), index_engine.open()
    try:
        with first.leading("expiry") as first_leads:
            with second.leading("expiry") as second_leads:
                assert (first_leads, second_leads) == (True, not shared)
            with second.leading("reconcile") as leads_another_task:
                assert leads_another_task
        with second.leading("expiry") as leads_once_let_go:
            assert leads_once_let_go
    finally:
        first.close()
        second.close()


def test_a_lead_whose_block_fails_is_let_go(index_engine):
    first, second = index_engine.open(), index_engine.open()
    try:
        with pytest.raises(RuntimeError), first.leading("expiry"):
            raise RuntimeError("the sweep failed")
        with second.leading("expiry") as leads:
            assert leads
    finally:
        first.close()
        second.close()


def test_a_usable_index_says_so(index):
    assert index.state() == "ok" and index.is_readable()
    index.require_usable()


# --- PostgreSQL only -------------------------------------------------------------------


def test_a_database_out_of_reach_is_unavailable_not_an_error_of_ours(postgres_url):
    engine = PostgresEngine(postgres_url)
    engine.migrate()
    opened = engine.open()
    try:
        add(opened, 1)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            # Every connection of the pool is cut, as when the server restarts.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        outcomes = []
        for _ in range(3):  # the pool lends its broken connections once, then reconnects
            try:
                outcomes.append(opened.get("Image00000000001.png") is not None)
            except Unavailable:
                outcomes.append("unavailable")
        assert outcomes[-1] is True and set(outcomes) <= {True, "unavailable"}
    finally:
        opened.close()


def test_a_node_killed_while_leading_leaves_the_lead_free(postgres_url):
    engine = PostgresEngine(postgres_url)
    engine.migrate()
    killed, survivor = engine.open(), engine.open()
    try:
        with killed.leading("expiry") as leads:
            assert leads
            # The holder's session ends, as when its node is killed.
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND d.datname = current_database() AND l.pid <> pg_backend_pid()"
                )
            with survivor.leading("expiry") as survivor_leads:
                assert survivor_leads
    finally:
        killed.close()
        survivor.close()


def test_a_server_that_does_not_answer_makes_every_call_a_503(postgres_cluster, postgres_url, monkeypatch):
    monkeypatch.setattr("imagehost.index_postgres.POOL_TIMEOUT", 0.5)
    engine = PostgresEngine(postgres_url)
    engine.migrate()
    port = postgres_cluster.port
    nowhere = PostgresIndex(postgres_url.replace(f":{port}/", f":{_closed_port()}/"))
    try:
        with pytest.raises(Unavailable, match="cannot be reached"):
            nowhere.page(10)
        with pytest.raises(Unavailable):
            nowhere.require_usable()
        assert not nowhere.is_readable()
    finally:
        nowhere.close()


def test_a_database_at_another_schema_version_is_refused_at_open(postgres_url):
    with pytest.raises(IndexFileError, match="schema version 0"):
        PostgresIndex(postgres_url)


def test_nodes_migrating_at_once_apply_each_migration_exactly_once(postgres_url):
    versions, errors = [], []

    def start_node():
        try:
            versions.append(PostgresEngine(postgres_url).migrate())
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    nodes = [threading.Thread(target=start_node) for _ in range(4)]
    for node in nodes:
        node.start()
    for node in nodes:
        node.join(timeout=60)
    assert errors == [] and versions == [newest_version()] * 4
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(newest_version(),)]


def _closed_port() -> int:
    return free_port()


def test_start_up_without_the_database_fails_naming_it_without_its_password(monkeypatch):
    monkeypatch.setattr("imagehost.index_postgres.CONNECT_TIMEOUT", 2)
    url = f"postgresql://app:s3cret@127.0.0.1:{_closed_port()}/images"
    with pytest.raises(IndexFileError, match=r"cannot use the index database \(images on 127\.0\.0\.1:") as refused:
        PostgresEngine(url).migrate()
    assert "s3cret" not in str(refused.value)
