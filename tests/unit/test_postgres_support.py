"""The tests' own PostgreSQL (tests/support/postgres.py): reachable on 127.0.0.1 only, a
fresh database per test, fast rather than durable."""

from __future__ import annotations

import psycopg
import pytest
from support import postgres
from support.stack import require


def test_each_test_gets_an_empty_database_of_its_own(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        name = connection.execute("SELECT current_database()").fetchone()
    assert tables == (0,)
    assert name[0] == postgres_url.rsplit("/", 1)[1]


def test_the_test_cluster_listens_on_the_loopback_address_only_and_does_not_fsync(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        listen = connection.execute("SHOW listen_addresses").fetchone()[0]
        fsync = connection.execute("SHOW fsync").fetchone()[0]
    assert (listen, fsync) == ("127.0.0.1", "off")


def test_a_machine_without_postgresql_says_so_for_the_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(postgres, "BIN_DIR", tmp_path / "no-postgresql")
    with pytest.raises(postgres.ClusterError, match="PostgreSQL 15 is not installed"):
        postgres.Cluster.start()


def test_without_postgresql_a_test_that_needs_it_fails_in_ci_instead_of_skipping(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require(False, "PostgreSQL 15 is not installed")
