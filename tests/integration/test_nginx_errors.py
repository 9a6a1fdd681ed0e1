"""nginx's own errors (no worker answering, a worker too slow, a body too large) come back
in the API's JSON error shape. nginx runs alone here, with the rendered config, in front of
ports where no worker answers."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from support.backend import free_port_block
from support.client import request
from support.stack import RENDER, frontend_copy, let_nginx_workers_through, nginx_binary, require


def render(tmp_path: Path, **settings: str) -> Path:
    env = {"PATH": "/usr/bin:/bin", "IMAGES_DIR": str(tmp_path / "images"), "LOG_DIR": str(tmp_path / "logs"),
           "FRONTEND_DIR": str(frontend_copy(tmp_path)), **settings}
    subprocess.run(["sh", str(RENDER), "--local", str(tmp_path / "run")], env=env, check=True, capture_output=True)
    return tmp_path / "run"


def start_nginx(tmp_path: Path, worker_port: int, read_timeout: str | None = None) -> tuple[subprocess.Popen, str]:
    """nginx alone, in front of one worker port; (process, base URL)."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    http_port = free_port_block(1)
    let_nginx_workers_through(tmp_path)
    run = render(tmp_path, HTTP_PORT=str(http_port), WEB_SERVER_WORKERS="1", WEB_SERVER_START_PORT=str(worker_port))
    if read_timeout:
        conf = run / "snippets" / "proxy.conf"
        assert "proxy_read_timeout 60s;" in conf.read_text()
        conf.write_text(conf.read_text().replace("proxy_read_timeout 60s;", f"proxy_read_timeout {read_timeout};"))
    process = subprocess.Popen([nginx_binary(), "-p", str(run), "-c", str(run / "nginx.conf"), "-e", "stderr"],
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
            return process, f"http://127.0.0.1:{http_port}"
        except OSError:
            assert process.poll() is None, f"nginx exited with status {process.returncode}"
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)


@pytest.fixture
def nginx_without_workers(tmp_path):
    process, base_url = start_nginx(tmp_path, worker_port=free_port_block(1))
    yield base_url
    process.terminate()
    process.wait(10)


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/health"),
    ("GET", "/api/images"),
    ("GET", "/images"),
    ("GET", "/api/images/AbCdEfGhIjKlMnOp.png"),
    ("DELETE", "/api/images/AbCdEfGhIjKlMnOp.png"),
    ("POST", "/upload"),
])
def test_no_worker_answering_is_a_json_502(nginx_without_workers, method, path):
    reply = request(method, nginx_without_workers + path, body=b"x" if method == "POST" else None)
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.error_code == "bad_gateway"


def test_body_over_the_limit_is_a_json_413_before_any_worker_is_asked(nginx_without_workers):
    reply = request("POST", nginx_without_workers + "/upload", body=b"\0" * (20 * 1000 * 1000))
    assert reply.status == 413
    assert reply.error_code == "file_too_large"
    assert reply.json()["error"]["message"] == "The file is too large: at most 5 MiB (5242880 bytes)."


def test_worker_too_slow_to_answer_is_a_json_504(tmp_path):
    # A port whose connections the kernel completes, but that never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    process, base_url = start_nginx(tmp_path, worker_port=silent.getsockname()[1], read_timeout="1s")
    try:
        reply = request("GET", base_url + "/api/health", timeout=20)
    finally:
        process.terminate()
        process.wait(10)
        silent.close()
    assert reply.status == 504
    assert reply.error_code == "gateway_timeout"


def test_every_nginx_error_page_returns_its_status_with_a_contract_body(tmp_path):
    config = (render(tmp_path) / "imagehost.conf").read_text()
    expected = {413: "file_too_large", 429: "rate_limited", 502: "bad_gateway", 503: "unavailable",
                504: "gateway_timeout"}
    for status, code in expected.items():
        target = re.search(rf"^\s*error_page {status} (@\w+);", config, re.MULTILINE).group(1)
        location = re.search(rf"location {target} \{{(.*?)\n    \}}", config, re.DOTALL).group(1)
        assert re.search(r"^\s*include /\S+/json-error\.conf;$", location, re.MULTILINE)
        returned = re.search(r"return (\d+) '(.*)';", location)
        assert int(returned.group(1)) == status
        body = json.loads(returned.group(2).replace("\\n", "\n"))
        assert body == {"error": {"code": code, "message": body["error"]["message"]}}
        assert body["error"]["message"]
