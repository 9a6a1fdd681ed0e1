"""What is running: the project's version, the git commit and the Python version.

The version has one home, `[project] version` in pyproject.toml: at the checkout's root,
or beside the package in the Docker image (services/backend/Dockerfile copies it there).
The commit is `git rev-parse HEAD` of the checkout when git can tell, else the COMMIT
file the Docker image is built with (its IMAGEHOST_COMMIT build argument), else
"unknown". Worked out once per process (`about()` is cached; the supervisor calls it
before forking, so workers inherit the answer), never per request.
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
import tomllib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The image: /srv/imagehost/{imagehost,pyproject.toml,COMMIT}. A checkout:
# services/backend/imagehost, with pyproject.toml two folders further up.
_PROJECT_DIRS = (PACKAGE_DIR.parent, PACKAGE_DIR.parent.parent.parent)  # .parent of / is /: never an IndexError
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
UNKNOWN = "unknown"


@functools.cache
def about() -> dict[str, str]:
    """{"version", "commit", "python"}: strings, "unknown" for what cannot be found."""
    return {"version": project_version(), "commit": commit(), "python": platform.python_version()}


def project_version() -> str:
    for folder in _PROJECT_DIRS:
        version = _version_in(folder / "pyproject.toml")
        if version:
            return version
    return UNKNOWN


def _version_in(path: Path) -> str | None:
    """`[project] version` of the file at `path` when it is imagehost's, else None."""
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        return None
    version = project.get("version")
    if project.get("name") != "imagehost" or not isinstance(version, str):
        return None
    return version


def commit() -> str:
    for folder in _PROJECT_DIRS:
        found = _git_head(folder) or _commit_file(folder / "COMMIT")
        if found:
            return found
    return UNKNOWN


def _git_head(folder: Path) -> str | None:
    """HEAD of the git checkout at `folder`; None without git, a checkout or a quick answer."""
    if not (folder / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    head = result.stdout.strip()
    return head if result.returncode == 0 and _COMMIT.fullmatch(head) else None


def _commit_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return text if _COMMIT.fullmatch(text) else None
