"""Start the real backend (`python -m imagehost`: supervisor + workers) for tests.

Each instance lives in its own directory (images/, data/, logs/) on free loopback
ports, with no `.env` in its working directory and none of the caller's settings
(a developer's UPLOAD_TOKEN or GALLERY_PUBLIC), so only the given settings apply. Its
images and index are where IMAGEHOST_TEST_CONFIG says (support.configuration), unless
the settings name their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import pytest
from imagehost.config import SETTING_NAMES

from .client import request
from .configuration import EngineUnavailable, Provision, ReadsItsState, provision
from .ports import free_port_block

REPO = Path(__file__).resolve().parents[2]
BACKEND_SRC = REPO / "services" / "backend"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
UPLOAD_TOKEN = "upload-token-for-tests-012345678"


def environment_without_settings() -> dict[str, str]:
    """The process environment minus every variable imagehost reads (config.SETTINGS):
    a test's processes inherit PATH and the like, never a developer's settings."""
    return {name: value for name, value in os.environ.items() if name not in SETTING_NAMES}


def require(condition: bool, reason: str) -> None:
    """Skip the calling test when `condition` is false; when CI is set, fail it instead
    (in CI a missing tool is a broken setup, not a reason to skip)."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: failing instead of skipping)")
    pytest.skip(reason)


def provisioned(root: Path, settings: dict[str, object]) -> Provision:
    """support.configuration.provision; skips the calling test (fails it in CI) when the
    configuration's server cannot be had here."""
    try:
        return provision(root, settings)
    except EngineUnavailable as exc:
        require(False, str(exc))
        raise  # not reached: require skipped or failed


class Backend(ReadsItsState):
    """One supervisor process and its workers. A setting given as None is left unset.
    With `own_group`, they are a process group of their own (the supervisor's pid), as a
    node's are: `os.killpg` then kills the node whole, supervisor, workers and preview
    makers at once."""

    def __init__(self, root: Path, workers: int = 2, own_group: bool = False, **settings: str | None):
        self.root = Path(root)
        self.workers = workers
        self.own_group = own_group
        self.images_dir = self.root / "images"
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "logs"
        self.start_port = free_port_block(workers)
        self.env = {
            **environment_without_settings(),
            "PYTHONPATH": str(BACKEND_SRC),
            "WEB_SERVER_WORKERS": str(workers),
            "WEB_SERVER_START_PORT": str(self.start_port),
            "BIND_HOST": "127.0.0.1",
            "IMAGES_DIR": str(self.images_dir),
            "DATA_DIR": str(self.data_dir),
            "LOG_DIR": str(self.log_dir),
            "SHUTDOWN_TIMEOUT": "10",
        }
        self.env.update(provisioned(self.root, settings).settings)
        for name, value in settings.items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = str(value)
        self.process: subprocess.Popen | None = None
        self.output_path = self.root / "backend.out"

    @property
    def ports(self) -> list[int]:
        return [self.start_port + i for i in range(self.workers)]

    def url(self, worker: int = 0) -> str:
        return f"http://127.0.0.1:{self.start_port + worker}"

    def start(self, wait: bool = True) -> Backend:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.output_path, "ab") as output:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "imagehost"],
                cwd=self.root,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                process_group=0 if self.own_group else None,
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        for worker in range(self.workers):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"backend exited with {self.process.returncode}:\n{self.output()}")
                try:
                    if request("GET", self.url(worker) + "/api/health", timeout=2).status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {worker} not healthy after {timeout}s:\n{self.output()}")
                time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """The supervisor's web workers alive right now (not its preview makers)."""
        return [pid for pid in children_of(self.process.pid) if not is_preview_maker(pid)]

    def preview_maker_pids(self) -> list[int]:
        return [pid for pid in children_of(self.process.pid) if is_preview_maker(pid)]

    def worker_pid(self, worker: int) -> int:
        return request("GET", self.url(worker) + "/api/health").json()["pid"]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def app_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("app*.log")))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def children_of(pid: int) -> list[int]:
    """The live children of process `pid` (all its threads')."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return found


def is_preview_maker(pid: int) -> bool:
    """Whether `pid` runs imagehost.preview_maker (a child the supervisor execs, unlike its workers)."""
    try:
        return b"imagehost.preview_maker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
