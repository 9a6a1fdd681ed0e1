"""Run imagehost on this machine, in the foreground: the backend's supervisor and nginx.

    python services/local/run.py [--run-dir DIR]        (`make run` does this)

This module is the runner; run.py beside it is the script that starts it. Tests and the
bench import it (`import local_runner`, with services/local on the path) to find nginx
and tie their children to themselves exactly as `make run` does.

Settings come from `.env` in the current directory when there is one; the process
environment overrides it, so a second instance beside the first needs only

    HTTP_PORT=9000 IMAGES_DIR=/tmp/i DATA_DIR=/tmp/d LOG_DIR=/tmp/l make run

Its nginx config is rendered into DIR (default `run/<HTTP_PORT>`, so instances on
different ports do not share one) by services/nginx/render-config.sh, from the same
template the Docker image uses. When WEB_SERVER_START_PORT is set neither in the
environment nor in `.env`, the workers take the first free ports from 8001 upwards.

SIGINT (Ctrl-C) or SIGTERM stops nginx gracefully, then the backend, and exits 0. If either
process ends by itself the other is stopped too and the exit status is non-zero: 2 for a
setting that cannot be used (the message names the variable), 1 for anything else.
The children run in their own session, so Ctrl-C reaches this process only and the stop
happens in order (so does `make run`: see own_ctrl_c); should this process be killed
outright, the kernel sends them SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from dotenv import dotenv_values
from imagehost.config import ConfigError, default_of, load_config

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "services" / "backend"
RENDER = REPO / "services" / "nginx" / "render-config.sh"
FRONTEND = REPO / "services" / "frontend"

HEALTH_WAIT_SECONDS = 30
FIRST_WORKER_PORT = int(default_of("WEB_SERVER_START_PORT"))
PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    try:
        print(f"imagehost-run: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass  # e.g. `run.py | grep` after Ctrl-C ended grep: stopping matters more


class SettingError(Exception):
    """A setting the runner cannot use; the message names the variable. Exit status 2."""


def read_settings() -> dict[str, str]:
    """`.env` from the current directory (if any) with the process environment on top."""
    settings = {k: v for k, v in dotenv_values(".env").items() if v is not None} if Path(".env").is_file() else {}
    settings.update(os.environ)
    return settings


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_worker_ports(host: str, workers: int) -> int:
    """The first start port from 8001 at which `workers` consecutive ports are free."""
    start = FIRST_WORKER_PORT
    for _ in range(200):
        if all(port_is_free(host, start + i) for i in range(workers)):
            return start
        start += workers
    raise SettingError(f"no {workers} free ports from {FIRST_WORKER_PORT} on: set WEB_SERVER_START_PORT")


def prepare(settings: dict[str, str]) -> dict[str, str]:
    """The environment for both children: settings validated, paths absolute.

    Raises SettingError (or ConfigError, from the backend's own validation) naming the
    variable.
    """
    env = dict(settings)
    try:
        port = int(env.setdefault("HTTP_PORT", default_of("HTTP_PORT")))
    except ValueError:
        raise SettingError(f"HTTP_PORT must be a whole number, got {env['HTTP_PORT']!r}") from None
    if not 1 <= port <= 65535:
        raise SettingError(f"HTTP_PORT must be between 1 and 65535, got {port}")
    env.setdefault("HTTP_BIND", default_of("HTTP_BIND"))
    config = load_config(env, env_file=None)
    if "WEB_SERVER_START_PORT" not in env:
        env["WEB_SERVER_START_PORT"] = str(free_worker_ports(config.bind_host, config.workers))
    env.update(
        IMAGES_DIR=str(config.images_dir),
        DATA_DIR=str(config.data_dir),
        LOG_DIR=str(config.log_dir),
        WEB_SERVER_WORKERS=str(config.workers),
        MAX_UPLOAD_BYTES=str(config.max_upload_bytes),
        UPSTREAM_HOST="::1"
        if config.bind_host == "::"
        else ("127.0.0.1" if config.bind_host == "0.0.0.0" else config.bind_host),
        FRONTEND_DIR=env.get("FRONTEND_DIR") or str(FRONTEND),
        PYTHONPATH=os.pathsep.join(filter(None, [str(BACKEND), env.get("PYTHONPATH", "")])),
    )
    return env


def find_nginx() -> str | None:
    # /usr/sbin is not on an ordinary user's PATH on Debian.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render(env: dict[str, str], run_dir: Path) -> None:
    result = subprocess.run(
        ["sh", str(RENDER), "--local", str(run_dir)], check=False, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SettingError(result.stderr.strip() or f"{RENDER} failed with status {result.returncode}")


def worker_user(nginx_conf: Path) -> str | None:
    """The user nginx's workers switch to (the `user` line render-config.sh writes when
    run as root), or None when they stay whoever starts nginx."""
    for line in nginx_conf.read_text().splitlines():
        words = line.rstrip(";").split()
        if words[:1] == ["user"] and len(words) >= 2:
            return words[1]
    return None


def closed_folder(path: Path, user: str) -> Path | None:
    """The first folder from / down to `path` that `user` cannot pass through (search
    permission), or None. Only the part that exists is checked: the backend creates the
    rest with modes that let nginx in. Asked of the kernel by a shell running as `user`,
    so ACLs and supplementary groups count as they will for nginx's workers."""
    path = path.absolute()
    chain = [folder for folder in [*reversed(path.parents), path] if folder.is_dir()]
    entry = pwd.getpwnam(user)
    result = subprocess.run(
        ["/bin/sh", "-c", 'for f do [ -x "$f" ] || { printf %s "$f"; exit 1; }; done', "sh", *map(str, chain)],
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=os.getgrouplist(user, entry.pw_gid),
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return Path(result.stdout) if result.returncode != 0 else None


def check_worker_access(env: dict[str, str], run_dir: Path) -> None:
    """When nginx's workers run as another user (the runner runs as root), raise
    SettingError unless that user can reach the page, the images and nginx's temp folder.

    Without this, a checkout in /root (mode 0700) starts "fine" and serves 403s and 500s.
    """
    user = worker_user(run_dir / "nginx.conf")
    if user is None:
        return
    for name, folder in (
        ("FRONTEND_DIR", env["FRONTEND_DIR"]),
        ("IMAGES_DIR", env["IMAGES_DIR"]),
        ("the run folder", str(run_dir / "tmp")),
    ):
        blocked = closed_folder(Path(folder), user)
        if blocked is not None:
            raise SettingError(
                f"nginx's workers run as {user}, who cannot pass through {blocked} to reach {name} ({folder}), "
                f"so pages or images would fail to load. Let them through with `chmod o+x {blocked}` "
                f"(others may then pass through it, not list it), or move {name} out of {blocked} "
                f"(for a checkout in /root: clone imagehost elsewhere)."
            )


def die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the runner dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: nothing to do


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    # The runner starts no threads, so preexec_fn is safe here.
    return subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent)  # noqa: PLW1509


def stop(process: subprocess.Popen, first_signal: int, timeout: float, name: str) -> None:
    """Signal, wait up to `timeout`, then SIGKILL. Returns once the process is gone."""
    if process.poll() is not None:
        return
    process.send_signal(first_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        say(f"{name} did not stop within {timeout:g} s; killing it")
        process.kill()
        process.wait()


def health_url(env: dict[str, str]) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(env["HTTP_BIND"], env["HTTP_BIND"])
    return f"http://{f'[{host}]' if ':' in host else host}:{env['HTTP_PORT']}/"


def is_healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "api/health", timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def workers_listening(env: dict[str, str]) -> bool:
    host = env["UPSTREAM_HOST"]
    start = int(env["WEB_SERVER_START_PORT"])
    for port in range(start, start + int(env["WEB_SERVER_WORKERS"])):
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return False
    return True


def serve(env: dict[str, str], run_dir: Path, nginx_binary: str) -> int:
    """Start both, wait for a signal or for one of them to end, stop both. The exit status."""
    received: list[int] = []

    def queue_signal(signum, frame):
        received.append(signum)  # the loop below does the work

    signal.signal(signal.SIGINT, queue_signal)
    signal.signal(signal.SIGTERM, queue_signal)
    timeout = float(env.get("SHUTDOWN_TIMEOUT") or 10) + 5
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS

    backend = spawn([sys.executable, "-m", "imagehost"], env)
    (run_dir / "backend.pid").write_text(f"{backend.pid}\n")
    # nginx only once the workers' ports take connections, so the first requests get no 502.
    while not received and backend.poll() is None and not workers_listening(env) and time.monotonic() < deadline:
        time.sleep(0.1)
    nginx = None
    if not received and backend.poll() is None:
        nginx = spawn([nginx_binary, "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"), "-e", "stderr"], env)
    base_url = health_url(env)
    announced = False
    status = 0
    try:
        while not received:
            if backend.poll() is not None:
                say(f"the backend exited with status {backend.returncode}; stopping")
                status = backend.returncode if backend.returncode > 0 else 1
                break
            if nginx.poll() is not None:
                say(f"nginx exited with status {nginx.returncode} (see above and {env['LOG_DIR']}/nginx/error.log)")
                status = 1
                break
            if not announced and is_healthy(base_url):
                say(f"imagehost is running at {base_url}  (Ctrl-C stops it)")
                announced = True
            elif not announced and time.monotonic() > deadline:
                say(f"not healthy after {HEALTH_WAIT_SECONDS} s; still running (logs in {env['LOG_DIR']})")
                announced = True
            time.sleep(0.2 if not announced else 0.5)
    finally:
        if received:
            say(f"{signal.Signals(received[0]).name}: stopping")
        # nginx first (SIGQUIT: finish what is in flight), then the workers behind it.
        if nginx is not None:
            stop(nginx, signal.SIGQUIT, timeout, "nginx")
        stop(backend, signal.SIGTERM, timeout, "the backend")
        (run_dir / "backend.pid").unlink(missing_ok=True)
    say("stopped")
    return status


@contextlib.contextmanager
def own_ctrl_c():
    """While inside, Ctrl-C on the terminal reaches this process only, not a `make` above it.

    The terminal sends SIGINT to its whole foreground process group. `make run` would get
    it too, and make exits 130 on SIGINT however cleanly its recipe stops. So, when
    started from a terminal, this process takes a process group of its own and makes it
    the terminal's foreground group (as a shell does for a job), and gives the terminal
    back on the way out. Only when standard input is the terminal: not in CI, a service
    manager, or tests (which start this with stdin from /dev/null, and must keep their
    own Ctrl-C).
    """
    terminal = sys.stdin.fileno() if sys.stdin is not None else -1
    try:
        previous = os.tcgetpgrp(terminal) if os.isatty(terminal) else None
    except OSError:
        previous = None
    if previous is None or previous != os.getpgrp():
        yield
        return
    # tcsetpgrp from a background group raises SIGTTOU, which would stop this process.
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(terminal, os.getpgrp())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(terminal, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run-dir", type=Path, help="where the rendered config, pid and temp files go (default: run/<HTTP_PORT>)"
    )
    args = parser.parse_args(argv)
    nginx_binary = find_nginx()
    if not nginx_binary:
        say("nginx is not installed: `sudo apt-get install nginx gettext-base` (Debian), or `make run`")
        return 1
    try:
        env = prepare(read_settings())
        run_dir = (args.run_dir or Path("run") / env["HTTP_PORT"]).resolve()
        render(env, run_dir)
        check_worker_access(env, run_dir)
    except (SettingError, ConfigError) as error:
        say(str(error))
        return 2
    say(
        f"workers on {env['UPSTREAM_HOST']}:{env['WEB_SERVER_START_PORT']}"
        f"+{env['WEB_SERVER_WORKERS']}; config in {run_dir}; logs in {env['LOG_DIR']}"
    )
    with own_ctrl_c():
        return serve(env, run_dir, nginx_binary)
