"""The whole imagehost stack for tests: the local runner (services/local/run.py), so the
real supervisor and workers behind the real nginx with the rendered template, on free
loopback ports, with every file in a folder of the test's own.

    from support.stack import start_stack
    from support import images

    with start_stack(tmp_path, GALLERY_PUBLIC="true") as stack:
        reply = stack.upload(images.png())      # POST /upload through nginx (a client.Reply)
        assert reply.status == 201
        page = stack.base_url + "/"             # http://127.0.0.1:PORT/ for a browser

In pytest, use the fixtures in tests/conftest.py instead: `stack` (one per test module)
and `stack_factory` (a stack with settings of your own, stopped after the test).

The images and the index are where IMAGEHOST_TEST_CONFIG says (support.configuration):
a fresh database and bucket for each stack folder unless the settings name their own.

`start_stack(folder, **settings)` returns once /api/health answers 200 through nginx, and
raises StackError with the end of the runner's output if it does not within the timeout.
Settings are the variables of .env.sample; anything not given gets a test default
(TEST_DEFAULTS: ADMIN_TOKEN is set, uploads are in practice not rate-limited). The
caller's environment and any .env elsewhere are not used, so a developer's settings
cannot leak into a test. `stop()` sends SIGTERM to the runner, which stops nginx, then the
workers; it is safe to call twice.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import local_runner

from .backend import (
    REPO,
    children_of,
    environment_without_settings,
    free_port_block,
    is_preview_maker,
    provisioned,
    require,  # noqa: F401 (the tests import it from here)
)
from .client import Reply, bearer, request, upload
from .configuration import ReadsItsState
from .folders import let_nginx_workers_through
from .images import file_form

RUNNER = REPO / "services" / "local" / "run.py"
RENDER = REPO / "services" / "nginx" / "render-config.sh"

ADMIN_TOKEN = "stack-admin-token-0123456789"
TEST_DEFAULTS = {
    "WEB_SERVER_WORKERS": "2",
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "UPLOAD_RATE_LIMIT": "1000r/s",
    "UPLOAD_RATE_BURST": "1000",
    "LOG_LEVEL": "INFO",
    "SHUTDOWN_TIMEOUT": "5",
}


class StackError(Exception):
    """The stack did not start; the message has the end of the runner's output."""


# The runner's own helpers, so tests and the bench find nginx and tie children to their
# parent exactly as `make run` does.
nginx_binary = local_runner.find_nginx
die_with_parent = local_runner.die_with_parent


def nginx_user_line() -> str:
    """The `user` line render-config.sh --local writes for whoever runs this ("" when not
    root), asked of the script itself, so another nginx config (the bench's ceiling) runs
    its workers as the stack's do."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "IMAGES_DIR": f"{folder}/images",
            "LOG_DIR": f"{folder}/logs",
        }
        subprocess.run(["sh", str(RENDER), "--local", f"{folder}/run"], env=env, check=True, capture_output=True)
        lines = Path(folder, "run", "nginx.conf").read_text().splitlines()
    return next((line for line in lines if line.startswith("user ")), "")


@dataclass
class Stack(ReadsItsState):
    """A running stack. Paths are absolute; `base_url` has no trailing slash. Its images
    and index are read with ReadsItsState's methods (support.configuration)."""

    root: Path
    env: dict[str, str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def http_port(self) -> int:
        return int(self.env["HTTP_PORT"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def worker_ports(self) -> list[int]:
        """From the rendered nginx config, so also right when the runner chose them."""
        config = (self.run_dir / "imagehost.conf").read_text()
        return [int(port) for port in re.findall(r"^\s*server \S+:(\d+) ", config, re.MULTILINE)]

    @property
    def images_dir(self) -> Path:
        return Path(self.env["IMAGES_DIR"])

    @property
    def data_dir(self) -> Path:
        return Path(self.env["DATA_DIR"])

    @property
    def log_dir(self) -> Path:
        return Path(self.env["LOG_DIR"])

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def admin_token(self) -> str:
        return self.env.get("ADMIN_TOKEN", "")

    # --- processes -------------------------------------------------------------------

    def start(self, timeout: float = 30) -> Stack:
        if not nginx_binary():
            raise StackError("nginx is not installed (make test installs it)")
        for folder in (self.root, self.images_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        let_nginx_workers_through(self.root)
        let_nginx_workers_through(self.images_dir)  # may be elsewhere (a test's tmpfs)
        with open(self.root / "runner.out", "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(RUNNER), "--run-dir", str(self.run_dir)],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"the runner exited with status {self.process.returncode}:\n{self.output()}")
            try:
                if self.get("/api/health", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise StackError(f"not healthy within {timeout:g} s:\n{self.output()}")

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the runner and wait; its exit status (None if it never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()  # the kernel sends its children SIGTERM (PDEATHSIG)
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def supervisor_pid(self) -> int:
        return int((self.run_dir / "backend.pid").read_text())

    def nginx_pid(self) -> int:
        return int((self.run_dir / "nginx.pid").read_text())

    def worker_pids(self) -> list[int]:
        """The supervisor's web workers, however many are alive right now (not its preview makers)."""
        return [pid for pid in children_of(self.supervisor_pid()) if not is_preview_maker(pid)]

    def preview_maker_pids(self) -> list[int]:
        return [pid for pid in children_of(self.supervisor_pid()) if is_preview_maker(pid)]

    def output(self, lines: int = 60) -> str:
        """The end of what the runner, the backend and nginx printed."""
        path = self.root / "runner.out"
        text = path.read_text(errors="replace") if path.exists() else "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    def app_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("app*.log")))

    def access_log(self) -> str:
        path = self.log_dir / "nginx" / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- HTTP through nginx ----------------------------------------------------------

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
    ) -> Reply:
        """One request through nginx on a new connection; any status is returned, none raised."""
        return request(method, self.base_url + path, body, headers, timeout)

    def get(self, path: str, headers: dict | None = None, timeout: float = 30) -> Reply:
        return self.request("GET", path, headers=headers, timeout=timeout)

    def upload(
        self, data: bytes, filename: str = "cat.png", content_type: str = "image/png", token: str | None = None
    ) -> Reply:
        """POST /upload through nginx, as `curl -F file=@cat.png` sends it."""
        return upload(self.base_url, file_form(data, filename, content_type), token)

    def admin(self) -> dict:
        """The Authorization header with the admin token."""
        return bearer(self.admin_token)

    def assert_not_served(self, path: str) -> None:
        """Assert that nginx no longer serves `path` (an image or preview deleted or
        expired): a 404, or with images in a bucket, a 200 from nginx's cache only, which
        keeps what it fetched for up to a minute (README, "Images in an S3 bucket"); the
        bucket itself must no longer have it (a fetch from it would not be a HIT)."""
        reply = self.get(path)
        if reply.status == 404:
            return
        cached = self.env.get("STORAGE") == "s3" and reply.headers.get("X-Cache-Status") == "HIT"
        assert cached, f"{path} still served: {reply.status}, X-Cache-Status {reply.headers.get('X-Cache-Status')}"


def start_stack(root: Path, timeout: float = 30, **settings: str | None) -> Stack:
    """Start a stack whose files all live under `root`; see the module docstring.

    A setting given as None is left unset: the runner's default, or a `.env` written into
    `root` beforehand, applies (HTTP_PORT and the three folders must stay set).
    """
    root = Path(root).resolve()
    env = environment_without_settings()
    env.update(TEST_DEFAULTS)
    workers = int(settings.get("WEB_SERVER_WORKERS") or env["WEB_SERVER_WORKERS"])
    first = free_port_block(workers + 1)
    env.update(
        HTTP_BIND="127.0.0.1",
        HTTP_PORT=str(first),
        BIND_HOST="127.0.0.1",
        WEB_SERVER_START_PORT=str(first + 1),
        IMAGES_DIR=str(root / "images"),
        DATA_DIR=str(root / "data"),
        LOG_DIR=str(root / "logs"),
    )
    if os.geteuid() == 0:
        env["FRONTEND_DIR"] = str(frontend_copy(root))
    env.update(provisioned(root, settings).settings)
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return Stack(root, env).start(timeout)


def frontend_copy(root: Path) -> Path:
    """A copy of the page's files under `root`, for a stack started as root.

    nginx's workers then run as www-data (render-config.sh), who may not pass through
    the folders above this checkout (a clone under /root or in a 0700 temp folder); the
    runner would rightly refuse to start. The tests' own folders are let through
    (let_nginx_workers_through), so the page is served from there.
    """
    copy = Path(root) / "frontend"
    if not copy.exists():
        shutil.copytree(REPO / "services" / "frontend", copy)
    return copy
