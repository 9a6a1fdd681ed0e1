"""`index`: a migrated, empty index of each engine in turn (SQLite in tmp_path, then a
fresh PostgreSQL database of the session's test cluster), closed after the test. A test
that takes it runs once per engine, so both keep the same contract."""

from __future__ import annotations

import pytest
from imagehost.index_postgres import PostgresEngine
from imagehost.index_sqlite import SqliteEngine


@pytest.fixture(params=["sqlite", "postgresql"])
def index_engine(request, tmp_path):
    """The engine (migrated) of a new empty index."""
    if request.param == "sqlite":
        engine = SqliteEngine(tmp_path / "index.sqlite3")
    else:
        engine = PostgresEngine(request.getfixturevalue("postgres_url"))
    engine.migrate()
    return engine


@pytest.fixture
def index(index_engine):
    opened = index_engine.open()
    yield opened
    opened.close()
