"""Fixtures for the reliability tests; harness.py says how sizes and figures work.

`tally`: every test here gets one (autouse), for the class its module names in
FIGURE_CLASS or its `@pytest.mark.figure("...")` marker names; a test that never counts
its cases counts as one. `small_disk`: a tmpfs of the test's own, for disk-full tests.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from support.stack import require

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

    Needs root; skipped without it, failed when CI is set (CI runs as root).
    """
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    mounted = []

    def mount(size: str, nr_inodes: int | None = None):
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
