"""The locks that every install uses (services/backend/requirements.txt, tests/requirements.txt)
agree with the ranges they are made from (requirements.in beside each): a range edited
without `make lock` fails here, not on someone's machine a month later."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
BACKEND_LOCK = REPO / "services" / "backend" / "requirements.txt"
TESTS_LOCK = REPO / "tests" / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> dict[str, str]:
    """{package: exact version} of a lock written by `make lock`."""
    found = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


def ranges(source: Path) -> list[Requirement]:
    """The requirements of a requirements.in, following its `-r` includes."""
    found = []
    for line in source.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement.startswith("-r "):
            found += ranges(source.parent / requirement[3:].strip())
        elif requirement:
            found.append(Requirement(requirement))
    return found


@pytest.mark.parametrize("lock", [BACKEND_LOCK, TESTS_LOCK], ids=["backend", "tests"])
def test_every_range_of_a_requirements_in_is_met_by_the_version_its_lock_pins(lock):
    pinned = pins(lock)
    for wanted in ranges(lock.with_suffix(".in")):
        version = pinned.get(canonicalize_name(wanted.name))
        assert version is not None, f"{wanted.name} is not in {lock.relative_to(REPO)}: run make lock"
        assert wanted.specifier.contains(version, prereleases=True), (
            f"{lock.relative_to(REPO)} pins {wanted.name}=={version}, outside {wanted}: run make lock"
        )


def test_the_tests_lock_pins_the_backends_packages_at_the_backends_versions():
    backend, tests = pins(BACKEND_LOCK), pins(TESTS_LOCK)
    assert backend, "no pins found in the backend's lock"
    assert {name: tests.get(name) for name in backend} == backend


@pytest.mark.parametrize("lock", [BACKEND_LOCK, TESTS_LOCK], ids=["backend", "tests"])
def test_every_pin_of_a_lock_carries_hashes_so_pip_can_require_them(lock):
    entries = [entry for entry in re.split(r"\n(?=\S)", lock.read_text()) if PIN.match(entry)]
    assert entries, f"no pins found in {lock.relative_to(REPO)}"
    for entry in entries:
        assert "--hash=sha256:" in entry, f"{lock.relative_to(REPO)}: {entry.splitlines()[0]} has no hash"
