"""IMAGEHOST_TEST_CONFIG (tests/support/configuration.py): which configuration a run is
in, which tests it leaves out, and the database and bucket it makes for an instance."""

from __future__ import annotations

import psycopg
import pytest
from support.configuration import CONFIGURATIONS, ENGINES, StoredState, chosen, deselected_because, provision

LOCAL_SQLITE, LOCAL_POSTGRES, S3_POSTGRES = (CONFIGURATIONS[name] for name in CONFIGURATIONS)


@pytest.mark.parametrize("environ", [{}, {"IMAGEHOST_TEST_CONFIG": ""}])
def test_without_a_choice_the_run_is_local_folder_and_sqlite(environ):
    assert chosen(environ) == LOCAL_SQLITE


def test_each_configuration_is_chosen_by_its_name():
    assert [chosen({"IMAGEHOST_TEST_CONFIG": name}) for name in CONFIGURATIONS] == [
        LOCAL_SQLITE,
        LOCAL_POSTGRES,
        S3_POSTGRES,
    ]


def test_an_unknown_configuration_stops_the_run_naming_the_variable_and_the_choices():
    with pytest.raises(ValueError, match="IMAGEHOST_TEST_CONFIG='s3-sqlite' is not one of local-sqlite, "):
        chosen({"IMAGEHOST_TEST_CONFIG": "s3-sqlite"})


@pytest.mark.parametrize(
    "configuration, markers, unit, left_out",
    [
        (LOCAL_SQLITE, {"local_storage", "sqlite_index", "runs_once"}, True, None),
        (LOCAL_POSTGRES, {"local_storage"}, False, None),
        (LOCAL_POSTGRES, {"sqlite_index"}, False, "about the SQLite index file itself"),
        (S3_POSTGRES, {"local_storage"}, False, "about the local images folder itself"),
        (S3_POSTGRES, set(), True, "the same in every configuration (runs in local-sqlite)"),
        (S3_POSTGRES, {"runs_once"}, False, "the same in every configuration (runs in local-sqlite)"),
        (S3_POSTGRES, {"parametrize"}, False, None),
    ],
)
def test_a_test_is_left_out_only_where_it_cannot_run_or_would_repeat_the_default_run(
    configuration, markers, unit, left_out
):
    assert deselected_because(configuration, markers, unit) == left_out


def test_settings_a_test_gives_win_and_nothing_is_made_for_them(tmp_path):
    made = provision(tmp_path, {"DATABASE_URL": None, "STORAGE": "local"}, S3_POSTGRES)
    assert made.settings == {} and made.releases == []


def test_an_instance_gets_a_fresh_database_kept_for_its_folder_and_dropped_when_its_scope_ends(
    tmp_path, postgres_cluster
):
    mark = ENGINES.mark()
    first = provision(tmp_path / "a", {}, LOCAL_POSTGRES)
    other = provision(tmp_path / "b", {}, LOCAL_POSTGRES)
    again = provision(tmp_path / "a", {}, LOCAL_POSTGRES)  # a restart in the same folder
    url = first.settings["DATABASE_URL"]
    assert again is first and other.settings["DATABASE_URL"] != url
    assert StoredState({"DATABASE_URL": url}).index_rows("SELECT 1") == [(1,)]
    ENGINES.release_since(mark)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url, connect_timeout=10).close()
    assert provision(tmp_path / "a", {}, LOCAL_POSTGRES) is not first
    ENGINES.release_since(mark)


def test_an_instance_on_s3_gets_a_fresh_bucket_anyone_may_read_and_removed_when_its_scope_ends(tmp_path, s3_gateway):
    mark = ENGINES.mark()
    made = provision(tmp_path, {"DATABASE_URL": None}, S3_POSTGRES)
    env = {**made.settings, "IMAGES_DIR": str(tmp_path / "images")}
    stored = StoredState(env)
    stored.put_image_bytes("AbCdEfGhIjKlMnOp.png", b"png")
    stored.put_image_bytes("previews/AbCdEfGhIjKlMnOp.png.webp", b"webp")
    assert stored.image_names() == {"AbCdEfGhIjKlMnOp.png"}
    assert stored.preview_names() == {"AbCdEfGhIjKlMnOp.png.webp"}
    assert stored.image_bytes("AbCdEfGhIjKlMnOp.png") == b"png" and stored.image_bytes("missing.png") is None
    policy = s3_gateway.endpoint.client().get_bucket_policy(Bucket=env["S3_BUCKET"])["Policy"]
    assert '"s3:GetObject"' in policy and f"{env['S3_BUCKET']}/*" in policy
    ENGINES.release_since(mark)
    buckets = {bucket["Name"] for bucket in s3_gateway.endpoint.client().list_buckets()["Buckets"]}
    assert env["S3_BUCKET"] not in buckets
