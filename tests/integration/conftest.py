"""Fixtures that start the real backend (supervisor + workers) in a temp directory."""

from __future__ import annotations

import pytest
from support.backend import ADMIN_TOKEN, Backend


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """A private-gallery backend with an admin token, shared by a test module."""
    with Backend(tmp_path_factory.mktemp("backend"), ADMIN_TOKEN=ADMIN_TOKEN) as running:
        yield running


@pytest.fixture
def fresh_backend(tmp_path):
    """A backend of the test's own, for tests that kill, restart or fill it."""
    started = []

    def start(workers: int = 2, **settings) -> Backend:
        settings.setdefault("ADMIN_TOKEN", ADMIN_TOKEN)
        running = Backend(tmp_path / f"backend{len(started)}", workers, **settings).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
