"""Fixtures shared by every suite.

`stack`: the whole service (nginx in front of the supervisor and its workers, started by
the local runner) in a temporary folder, one per test module; open `stack.base_url` in a
browser, or use `stack.get()` / `stack.upload()`. `stack_factory(**settings)`: a stack
with settings of your own (e.g. GALLERY_PUBLIC="true", UPLOAD_RATE_LIMIT="1r/m"), stopped
after the test. tests/support/stack.py documents both.

Both need nginx: without it they skip, except in CI (CI set), where they fail.

Every stack and Backend runs on the configuration IMAGEHOST_TEST_CONFIG names
(local-sqlite, local-postgres or s3-postgres; support/configuration.py): tests marked
local_storage or sqlite_index run only where that engine is, and the unit tests and
those marked runs_once only in the default, local-sqlite. The summary lists what a run
left out.

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
from support.configuration import (
    ENGINE_MARKERS,
    ENGINES,
    RUNS_ONCE,
    VARIABLE,
    EngineUnavailable,
    chosen,
    deselected_because,
)
from support.postgres import Cluster
from support.s3_server import Radosgw, S3Endpoint
from support.stack import Stack, nginx_binary, require, start_stack

OWN_BASETEMP = pytest.StashKey[Path]()
DESELECTED = pytest.StashKey[list]()
CONFIGURATION = chosen()  # a wrong IMAGEHOST_TEST_CONFIG stops the run here, naming it


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
    for marker, (_, engine, about) in ENGINE_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {about}: runs only in configurations with {engine}")
    config.addinivalue_line(
        "markers", f"{RUNS_ONCE}: does not depend on {VARIABLE} (starts no app, or picks its engines itself)"
    )
    if os.geteuid() == 0 and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="pytest-imagehost-")
        config.stash[OWN_BASETEMP] = Path(config.option.basetemp)


def pytest_collection_modifyitems(config, items):
    """Deselect what does not run in this session's configuration (support.configuration):
    tests about an engine it does not use, and in the other two the unit tests and those
    marked runs_once. The terminal summary names them."""
    configuration = CONFIGURATION
    kept, dropped = [], []
    unit_folder = Path(__file__).parent / "unit"
    for item in items:
        markers = {marker.name for marker in item.iter_markers()}
        why = deselected_because(configuration, markers, unit_folder in Path(item.path).parents)
        if why is None:
            kept.append(item)
        else:
            dropped.append(item)
            config.stash.setdefault(DESELECTED, []).append((why, item.nodeid))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config):
    chosen_one = CONFIGURATION
    return f"configuration: {chosen_one.name} ({VARIABLE}; storage {chosen_one.storage}, index {chosen_one.index})"


def pytest_terminal_summary(terminalreporter, config):
    """Which configuration ran, and what it left out: every test about an engine it does
    not use by name, the ones that run once by count."""
    reporter = terminalreporter
    reporter.section(f"configuration {CONFIGURATION.name}")
    left_out = config.stash.get(DESELECTED, [])
    by_reason: dict[str, list[str]] = {}
    for why, nodeid in left_out:
        by_reason.setdefault(why, []).append(nodeid)
    if not by_reason:
        reporter.write_line("every collected test ran in this configuration")
    for why, nodeids in by_reason.items():
        if why.startswith("the same in every configuration"):
            reporter.write_line(f"deselected {len(nodeids)} tests, {why}")
            continue
        reporter.write_line(f"deselected {len(nodeids)} tests {why}:")
        for nodeid in nodeids:
            reporter.write_line(f"  {nodeid}")


def pytest_sessionfinish(session, exitstatus):
    ENGINES.stop()
    own = session.config.stash.get(OWN_BASETEMP, None)
    if own is not None and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_the_modules_databases_and_buckets():
    """Drop what support.configuration made for the module's own stacks, once they are
    stopped: autouse, so set up before, and torn down after, every other module fixture."""
    mark = ENGINES.mark()
    yield
    ENGINES.release_since(mark)


@pytest.fixture(autouse=True)
def _release_the_tests_databases_and_buckets():
    """The same for what one test made (stack_factory's stacks, a Backend of its own)."""
    mark = ENGINES.mark()
    yield
    ENGINES.release_since(mark)


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
def s3_gateway() -> Radosgw:
    """Ceph's radosgw started for this session, whatever S3_TEST_* say: for the tests that
    need the server itself (its quotas). The same one the configuration's buckets are on
    (support.configuration.ENGINES).

    A gateway that cannot start skips every test that asks (fails them in CI), with why."""
    try:
        return ENGINES.gateway()
    except EngineUnavailable as exc:
        require(False, str(exc))
        raise  # not reached


@pytest.fixture(scope="session")
def s3_endpoint() -> S3Endpoint:
    """The S3 endpoint of the session: the one the S3_TEST_* variables name, or else the
    session's radosgw (s3_gateway)."""
    try:
        return ENGINES.s3_endpoint()
    except EngineUnavailable as exc:
        require(False, str(exc))
        raise  # not reached


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint):
    """(endpoint, the name of a bucket made for this test), removed with its objects after it."""
    bucket = s3_endpoint.new_bucket()
    yield s3_endpoint, bucket
    s3_endpoint.remove_bucket(bucket)


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster:
    """The session's PostgreSQL cluster (support.configuration.ENGINES); a test asking for
    it skips, or fails in CI, with the reason when there is none."""
    try:
        return ENGINES.cluster()
    except EngineUnavailable as exc:
        require(False, str(exc))
        raise  # not reached


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    return postgres_cluster.new_database()
