"""CHANGELOG.md keeps up with pyproject.toml, the one home of the version: the newest
section names the version the code says it is, and the older ones are in order."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# "## [Unreleased] (0.3.0)" or "## [0.2.0] - 2026-11-21"
SECTION = re.compile(r"^## \[(?:Unreleased\] \((?P<coming>[^)]+)\)|(?P<released>[^\]]+)\] - \d{4}-\d{2}-\d{2})$", re.M)


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def changelog_versions() -> list[str]:
    return [m["coming"] or m["released"] for m in SECTION.finditer((REPO / "CHANGELOG.md").read_text())]


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_changelogs_newest_section_is_the_version_in_pyproject():
    versions = changelog_versions()
    assert versions, "CHANGELOG.md has no '## [Unreleased] (X.Y.Z)' or '## [X.Y.Z] - YYYY-MM-DD' section"
    assert versions[0] == project_version(), (
        f"CHANGELOG.md's newest section is {versions[0]}, pyproject.toml says {project_version()}"
    )


def test_the_changelogs_versions_go_from_newest_to_oldest():
    versions = [as_tuple(v) for v in changelog_versions()]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
