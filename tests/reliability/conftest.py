"""Fixtures for the reliability tests; harness.py says how sizes and figures work.

`tally`: every test here gets one (autouse), for the class its module names in
FIGURE_CLASS or its `@pytest.mark.figure("...")` marker names; a test that never counts
its cases counts as one. `small_disk`: a tmpfs of the test's own, for disk-full tests.
"""

from __future__ import annotations

import itertools
import os
from contextlib import ExitStack

import pytest
from support.tmpfs import tmpfs

from .harness import Tally, add_to_figures, write_figures


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "figure(name): the class a reliability test counts under in the figures")


@pytest.fixture(autouse=True)
def tally(request) -> Tally:
    marker = request.node.get_closest_marker("figure")
    figure_class = marker.args[0] if marker else getattr(request.module, "FIGURE_CLASS", request.module.__name__)
    counted = Tally(figure_class)
    yield counted
    add_to_figures(counted, failed=getattr(request.node, "reliability_failed", False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        item.reliability_failed = True
    return report


def pytest_sessionfinish(session) -> None:
    path = os.environ.get("RELIABILITY_REPORT")
    if path:
        write_figures(path)


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs: `small_disk(size="2m", nr_inodes=None)` returns its (empty) folder.

    Skipped where no tmpfs can be mounted (not root, or a container not allowed to mount),
    failed then when CI is set (support.tmpfs).
    """
    numbers = itertools.count()
    with ExitStack() as mounted:

        def mount(size: str, nr_inodes: int | None = None):
            options = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
            return mounted.enter_context(tmpfs(tmp_path / f"disk{next(numbers)}", options))

        yield mount
