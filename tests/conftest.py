"""Fixtures shared by every suite.

`stack`: the whole service (nginx in front of the supervisor and its workers, started by
the local runner) in a temporary folder, one per test module; open `stack.base_url` in a
browser, or use `stack.get()` / `stack.upload()`. `stack_factory(**settings)`: a stack
with settings of your own (e.g. GALLERY_PUBLIC="true", UPLOAD_RATE_LIMIT="1r/m"), stopped
after the test. tests/support/stack.py documents both.

Both need nginx: without it they skip, except in CI (CI set), where they fail.

`s3_endpoint`: an S3 server for the whole session, Ceph's radosgw started in a temp folder
(tests/support/s3_server.py), or the endpoint the S3_TEST_* variables name (docs/s3.md).
`s3_bucket`: a fresh bucket on it for one test, (S3Endpoint, bucket name), emptied and
removed after the test. `s3_gateway`: the session's radosgw itself (support.s3_server.
Radosgw), for tests that need the server, not just an endpoint. Without Ceph's packages
they skip, failing in CI as above.
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
from support.s3_server import GatewayError, Radosgw, S3Endpoint, endpoint_from_environment, missing_programs
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
def s3_gateway():
    """Ceph's radosgw started for this session, whatever S3_TEST_* say: for the tests that
    need the server itself (its quotas, stopping it).

    A gateway that cannot start skips every test that asks (fails them in CI), once: pytest
    keeps the outcome of a session fixture's setup."""
    missing = missing_programs()
    require(not missing, f"Ceph's S3 gateway is not installed (no {', '.join(missing)}; make test installs it)")
    try:
        gateway = Radosgw().start()
    except GatewayError as exc:
        require(False, f"Ceph's S3 gateway did not start: {exc}")
    with gateway:
        yield gateway


@pytest.fixture(scope="session")
def s3_endpoint(request) -> S3Endpoint:
    """The S3 endpoint of the session: the one the S3_TEST_* variables name, or else the
    session's radosgw (s3_gateway)."""
    given = endpoint_from_environment()
    return given if given is not None else request.getfixturevalue("s3_gateway").endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint):
    """(endpoint, the name of a bucket made for this test), removed with its objects after it."""
    bucket = s3_endpoint.new_bucket()
    yield s3_endpoint, bucket
    s3_endpoint.remove_bucket(bucket)


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
