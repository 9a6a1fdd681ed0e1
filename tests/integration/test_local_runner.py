"""services/local/run.py, the runner behind `make run`: settings, side-by-side instances,
and a clean stop of both processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import images
from support.backend import environment_without_settings, free_port_block
from support.stack import (
    ADMIN_TOKEN,
    RUNNER,
    frontend_copy,
    let_nginx_workers_through,
    nginx_binary,
    require,
    start_stack,
)

pytestmark = pytest.mark.runs_once  # the runner's settings and processes, whatever the engines


def run_runner(tmp_path: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """services/local/run.py in `tmp_path`, to its end: its exit status and output."""
    return subprocess.run(
        [sys.executable, str(RUNNER), "--run-dir", str(tmp_path / "run")],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def wait_until_gone(pids: list[int], seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture(autouse=True)
def _needs_nginx():
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_nginx_and_every_worker_and_exits_0(tmp_path, signum):
    stack = start_stack(tmp_path)
    pids = [stack.supervisor_pid(), stack.nginx_pid(), *stack.worker_pids()]
    assert len(pids) == 4

    stack.process.send_signal(signum)

    assert stack.process.wait(30) == 0
    assert wait_until_gone(pids, 5) == []
    assert "stopped" in stack.output()


def test_killing_the_runner_outright_still_stops_its_children(tmp_path):
    stack = start_stack(tmp_path)
    pids = [stack.supervisor_pid(), stack.nginx_pid(), *stack.worker_pids()]

    stack.process.kill()
    stack.process.wait(10)

    assert wait_until_gone(pids) == []


def test_two_instances_run_side_by_side_without_choosing_worker_ports(tmp_path):
    first = start_stack(tmp_path / "first", WEB_SERVER_START_PORT=None)
    try:
        second = start_stack(tmp_path / "second", WEB_SERVER_START_PORT=None)
        try:
            assert not set(first.worker_ports) & set(second.worker_ports)
            a, b = first.upload(images.png(extra=b"1")).json(), second.upload(images.png(extra=b"2")).json()
            assert first.get(f"/images/{a['name']}").status == 200
            assert second.get(f"/images/{a['name']}").status == 404
            assert second.get(f"/images/{b['name']}").status == 200
            assert first.run_dir != second.run_dir
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0


def test_environment_overrides_dotenv_and_dotenv_fills_the_rest(tmp_path):
    (tmp_path / ".env").write_text(
        "HTTP_PORT=1\n"  # overridden by the environment
        "ADMIN_TOKEN=from-dotenv-admin-token-000\n"  # not in the environment: used
    )
    with start_stack(tmp_path, ADMIN_TOKEN=None) as stack:
        listing = stack.get("/api/images", headers={"Authorization": "Bearer from-dotenv-admin-token-000"})
        assert listing.status == 200, listing.body
        assert stack.get("/api/images", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status == 403


@pytest.mark.parametrize(
    "variable, value",
    [
        ("UPLOAD_RATE_LIMIT", "fast"),
        ("HTTP_PORT", "eighty"),
        ("MAX_UPLOAD_BYTES", "5M"),
        ("WEB_SERVER_WORKERS", "0"),
    ],
)
def test_unusable_setting_exits_2_naming_the_variable_before_starting_anything(tmp_path, variable, value):
    env = environment_without_settings()
    env.update(
        IMAGES_DIR=str(tmp_path / "i"),
        DATA_DIR=str(tmp_path / "d"),
        LOG_DIR=str(tmp_path / "l"),
        HTTP_PORT="1",
        WEB_SERVER_START_PORT="2",
    )
    env[variable] = value
    result = run_runner(tmp_path, env, timeout=30)
    assert result.returncode == 2
    assert variable in result.stderr
    assert not (tmp_path / "run" / "backend.pid").exists()


def test_nginx_failing_to_start_stops_the_backend_and_exits_1(tmp_path):
    with start_stack(tmp_path / "first") as first:
        env = dict(first.env)
        env.update(
            IMAGES_DIR=str(tmp_path / "i"),
            DATA_DIR=str(tmp_path / "d"),
            LOG_DIR=str(tmp_path / "l"),
            WEB_SERVER_START_PORT=str(free_port_block(len(first.worker_ports))),
        )
        # Same HTTP_PORT as the running stack: nginx cannot bind it.
        result = run_runner(tmp_path, env, timeout=60)
        assert result.returncode == 1
        assert "nginx exited" in result.stderr
        assert "Address already in use" in result.stderr
        assert first.get("/api/health").status == 200


def nginx_worker_users(stack) -> set[str]:
    master = stack.nginx_pid()
    pids = [child for task in Path(f"/proc/{master}/task").glob("*/children") for child in task.read_text().split()]
    assert pids, "nginx has no workers"
    users = subprocess.run(["ps", "-o", "user=", "-p", ",".join(pids)], check=True, capture_output=True, text=True)
    return set(users.stdout.split())


def test_nginx_workers_started_by_root_run_unprivileged_and_still_serve_the_page_and_images(tmp_path):
    require(os.geteuid() == 0, "needs root: the runner as `make run` runs as root")
    with start_stack(tmp_path) as stack:
        users = nginx_worker_users(stack)
        assert "root" not in users and len(users) == 1
        assert stack.get("/").status == 200
        # Over client_body_buffer_size (1m): nginx's worker writes it to run/tmp/client_body.
        data = images.png(8, 8, extra=os.urandom(3 * 1024 * 1024))
        reply = stack.upload(data)
        assert reply.status == 201, reply.body
        served = stack.get(f"/images/{reply.json()['name']}")
        assert (served.status, served.body) == (200, data)
        temp = stack.run_dir / "tmp" / "client_body"
        assert temp.owner() in users


def test_a_folder_nginx_workers_cannot_pass_through_stops_the_runner_naming_it_and_the_fix(tmp_path):
    require(os.geteuid() == 0, "needs root: only then do nginx's workers run as another user")
    let_nginx_workers_through(tmp_path)
    closed = tmp_path / "private"
    closed.mkdir(mode=0o700)
    env = environment_without_settings()
    first = free_port_block(2)
    env.update(
        IMAGES_DIR=str(closed / "images"),
        DATA_DIR=str(tmp_path / "d"),
        LOG_DIR=str(tmp_path / "l"),
        HTTP_BIND="127.0.0.1",
        HTTP_PORT=str(first),
        BIND_HOST="127.0.0.1",
        WEB_SERVER_WORKERS="1",
        WEB_SERVER_START_PORT=str(first + 1),
        FRONTEND_DIR=str(frontend_copy(tmp_path)),
    )
    result = run_runner(tmp_path, env, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"cannot pass through {closed} to reach IMAGES_DIR" in result.stderr
    assert f"chmod o+x {closed}" in result.stderr
    assert not (tmp_path / "run" / "backend.pid").exists()
