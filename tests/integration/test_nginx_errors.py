"""nginx's own errors (no worker answering, a worker too slow, a body too large, a request
it cannot read) come back in the API's JSON error shape, each one the backend's error of
that kind (errors.py: status, code, message). nginx runs alone here, with the rendered
config, in front of ports where no worker answers."""

from __future__ import annotations

import inspect
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from imagehost import errors
from support.backend import free_port_block
from support.client import request
from support.stack import RENDER, frontend_copy, let_nginx_workers_through, nginx_binary, require

pytestmark = pytest.mark.runs_once  # nginx alone; no app started


def render(tmp_path: Path, **settings: str) -> Path:
    env = {
        "PATH": "/usr/bin:/bin",
        "IMAGES_DIR": str(tmp_path / "images"),
        "LOG_DIR": str(tmp_path / "logs"),
        "FRONTEND_DIR": str(frontend_copy(tmp_path)),
        **settings,
    }
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
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(run), "-c", str(run / "nginx.conf"), "-e", "stderr"], stderr=subprocess.DEVNULL
    )
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


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/health"),
        ("GET", "/api/images"),
        ("GET", "/images"),
        ("GET", "/api/images/AbCdEfGhIjKlMnOp.png"),
        ("DELETE", "/api/images/AbCdEfGhIjKlMnOp.png"),
        ("POST", "/upload"),
    ],
)
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


# The backend's error table: every contract code and its class.
CONTRACT = {cls.code: cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.AppError)}


def backend_error(code: str, max_upload_bytes: int) -> errors.AppError:
    """The backend's error for `code`, as it would word it knowing what nginx knows."""
    cls = CONTRACT[code]
    return cls(max_upload_bytes) if cls is errors.FileTooLarge else cls()


def error_pages(config: str) -> dict[int, tuple[int, str]]:
    """The rendered config's error pages: {nginx's error status: (the status it sends,
    the text of the page's location)}. nginx sends the status after `=`, if any."""
    pages = {}
    for statuses, overwrite, target in re.findall(
        r"^\s*error_page ([\d ]+?) (?:=(\d+) )?([@/][\w/]+);", config, re.MULTILINE
    ):
        prefix = "location " if target.startswith("@") else "location = "
        location = re.search(
            rf"^    {re.escape(prefix + target)} \{{(.*?)\n    \}}", config, re.DOTALL | re.MULTILINE
        ).group(1)
        for status in statuses.split():
            pages[int(status)] = (int(overwrite or status), location)
    return pages


@pytest.mark.parametrize("max_upload_bytes", ["5242880", "1536", "1073741824"])
def test_every_nginx_error_page_is_the_backend_error_of_its_code(tmp_path, max_upload_bytes):
    config = (render(tmp_path, MAX_UPLOAD_BYTES=max_upload_bytes) / "imagehost.conf").read_text()
    pages = error_pages(config)
    assert {400, 403, 404, 405, 413, 414, 429, 494, 501, 502, 503, 504, 505} <= set(pages)
    for status, (sent, location) in pages.items():
        returned, body = re.search(r"^\s*return (\d+) '(.*)';$", location, re.MULTILINE).groups()
        body = json.loads(body.replace("\\n", "\n"))
        error = backend_error(body["error"]["code"], int(max_upload_bytes))
        assert sent == int(returned) == error.status, status
        assert body == error.to_body(), status
        assert re.search(r"^\s*include /\S+/json-error\.conf;$", location, re.MULTILINE), status
        for name, value in error.headers.items():
            assert f'add_header {name} "{value}" always;' in location, (status, name)


def raw_exchange(base_url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` (it asks to close) and read the one answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while len(answer) < 1 << 20 and (chunk := connection.recv(65536)):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


@pytest.mark.parametrize(
    "raw, error",
    [
        pytest.param(b"GET /%00 HTTP/1.1\r\n", errors.BadRequest, id="a URL nginx cannot decode"),
        pytest.param(
            b"GET /api/health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n",
            errors.HeadersTooLarge,
            id="a header over nginx's buffer",
        ),
        pytest.param(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n", errors.UriTooLong, id="a URL over nginx's buffer"),
        pytest.param(b"GET / HTTP/2.0\r\n", errors.HttpVersionNotSupported, id="HTTP/2.0 in the request line"),
        pytest.param(b"TRACE /api/health HTTP/1.1\r\n", errors.MethodNotAllowed, id="TRACE"),
        pytest.param(
            b"POST /upload HTTP/1.1\r\nTransfer-Encoding: gzip\r\n",
            errors.Unimplemented,
            id="an unknown transfer coding",
        ),
        pytest.param(b"GET /.env HTTP/1.1\r\n", errors.NotFound, id="a dotfile"),
        pytest.param(b"GET /js/ HTTP/1.1\r\n", errors.NotFound, id="a folder of the page"),
        pytest.param(b"GET /api/health HTTP/1.1\r\n", errors.BadGateway, id="no worker answering"),
    ],
)
def test_what_nginx_refuses_itself_is_the_backend_error_of_that_kind(nginx_without_workers, raw, error):
    status, headers, body = raw_exchange(nginx_without_workers, raw + b"Host: x\r\nConnection: close\r\n\r\n")
    assert status == error.status
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    assert json.loads(body) == error().to_body()
