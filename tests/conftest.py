"""Fixtures shared by every suite.

`stack`: the whole service (nginx in front of the supervisor and its workers, started by
the local runner) in a temporary folder, one per test module; open `stack.base_url` in a
browser, or use `stack.get()` / `stack.upload()`. `stack_factory(**settings)`: a stack
with settings of your own (e.g. GALLERY_PUBLIC="true", UPLOAD_RATE_LIMIT="1r/m"), stopped
after the test. tests/support/stack.py documents both.

Both need nginx: without it they skip, except in CI (CI set), where they fail.

`postgres_url`: the URL of a fresh, empty database of the session's throwaway PostgreSQL
cluster (tests/support/postgres.py), started on first use and removed at the end.
Without PostgreSQL it skips, and fails in CI, like the stack.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from support.postgres import Cluster, ClusterError
from support.stack import Stack, nginx_binary, require, start_stack

OWN_BASETEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which reads --basetemp
def pytest_configure(config):
    """As root, and unless --basetemp is given, a temp folder of this session's own under
    /tmp instead of /tmp/pytest-of-root/pytest-N.

    Started as root, nginx's workers run as an unprivileged user, who must pass through a
    stack's folders (support.stack.let_nginx_workers_through opens them). But every pytest
    session that starts resets /tmp/pytest-of-root to 0700, so another session starting
    in the middle of a test (two terminals, or CI jobs side by side) would lock the
    workers out. Removed at the end when every test passed; kept for a look otherwise.
    """
    if os.geteuid() == 0 and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="pytest-imagehost-")
        config.stash[OWN_BASETEMP] = Path(config.option.basetemp)


def pytest_sessionfinish(session, exitstatus):
    own = session.config.stash.get(OWN_BASETEMP, None)
    if own is not None and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    with start_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def stack_factory(tmp_path_factory):
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    started: list[Stack] = []

    def start(**settings: str | None) -> Stack:
        running = start_stack(tmp_path_factory.mktemp("stack"), **settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster | str:
    """The session's PostgreSQL cluster, or why there is none (each test asking for it
    then skips, or fails in CI, with that reason)."""
    try:
        cluster = Cluster.start()
    except ClusterError as exc:
        yield str(exc)
        return
    with cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    require(isinstance(postgres_cluster, Cluster), str(postgres_cluster))
    return postgres_cluster.new_database()
