"""Fixtures shared by every suite.

`stack`: the whole service (nginx in front of the supervisor and its workers, started by
the local runner) in a temporary folder, one per test module; open `stack.base_url` in a
browser, or use `stack.get()` / `stack.upload()`. `stack_factory(**settings)`: a stack
with settings of your own (e.g. GALLERY_PUBLIC="true", UPLOAD_RATE_LIMIT="1r/m"), stopped
after the test. tests/support/stack.py documents both.

Both need nginx: without it they skip, except in CI (CI set), where they fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The backend package, for the unit tests, however pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "backend"))

from support.stack import Stack, nginx_binary, require, start_stack


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
