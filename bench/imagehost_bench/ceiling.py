"""The ceiling nginx (ceiling.conf.template says what it is and why): start, check, stop.

    with Ceiling(folder, max_upload_bytes) as ceiling:
        ceiling.url("/upload")                  # http://127.0.0.1:PORT/upload
        ceiling.serve_static(path)              # -> "/static/<name>"
        ceiling.check_bodies_read(sizes)        # every upload body reached the sink whole?

It binds 127.0.0.1 only, on free ports, and keeps every file it writes in `folder`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from support.backend import free_port_block
from support.stack import die_with_parent, let_nginx_workers_through, nginx_binary, nginx_user_line

from . import machine

TEMPLATE = Path(__file__).with_name("ceiling.conf.template")
# The production template: the ceiling takes its request-body buffer size from there,
# and includes its proxy settings.
PRODUCTION_TEMPLATE = Path(__file__).resolve().parents[2] / "services/nginx/templates/imagehost.conf.template"
PRODUCTION_PROXY_SETTINGS = PRODUCTION_TEMPLATE.with_name("snippets") / "proxy.conf"
# The room render-config.sh gives the multipart envelope above MAX_UPLOAD_BYTES.
ENVELOPE_BYTES = 65536
# Roughly what imagehost answers to an upload, so both send as many bytes back.
UPLOAD_ANSWER = {
    "name": "q3J9v0Zk2xYwLm8T.jpg",
    "url": "http://127.0.0.1:8080/images/q3J9v0Zk2xYwLm8T.jpg",
    "type": "image/jpeg",
    "size": 204800,
    "width": 4,
    "height": 3,
    "sha256": "9f2c" * 16,
    "original_name": "bench.jpg",
    "created_at": "2026-11-21T05:41:58.123Z",
    "delete_token": "3KYROAxRI9_i33Nxa0RRw61SGTUh8B4e",
    "delete_url": "http://127.0.0.1:8080/api/images/q3J9v0Zk2xYwLm8T.jpg",
}
_UPLOAD_LINE = re.compile(r'"POST /upload HTTP/1\.1" (\d+) .* len=(\d+)$')


class CeilingError(Exception):
    """The ceiling nginx did not start, or does not do what it stands for."""


def production_directive(name: str) -> str:
    """The value of a directive the production template sets once (it must be there)."""
    values = re.findall(rf"^\s*{name}\s+([^;\s]+);", PRODUCTION_TEMPLATE.read_text(), re.MULTILINE)
    if len(values) != 1:
        raise CeilingError(f"{PRODUCTION_TEMPLATE.name} sets {name} {len(values)} times; the ceiling needs one value")
    return values[0]


class Ceiling:
    def __init__(self, folder: Path, max_upload_bytes: int):
        self.run_dir = Path(folder).resolve()
        self.static_dir = self.run_dir / "static"
        self.port = free_port_block(3)
        self.sink_port, self.answer_port = self.port + 1, self.port + 2
        self.max_upload_bytes = max_upload_bytes
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 15) -> Ceiling:
        binary = nginx_binary()
        if not binary:
            raise CeilingError("nginx is not installed (Debian: apt-get install nginx)")
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.static_dir.mkdir(exist_ok=True)
        let_nginx_workers_through(self.static_dir)
        (self.run_dir / "listing.json").write_text('{"items": [], "next_cursor": null}\n')
        config = self.run_dir / "nginx.conf"
        config.write_text(self._render())
        with open(self.run_dir / "nginx.out", "ab") as output:  # nginx keeps its own copy
            self.process = subprocess.Popen(
                [binary, "-p", str(self.run_dir), "-c", str(config), "-e", "stderr"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # The ceiling starts before the bench starts any thread, so preexec_fn is safe.
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.run_dir / "nginx.out").read_text(errors="replace")
                raise CeilingError(f"the ceiling nginx did not start:\n{log[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 15) -> None:
        """SIGQUIT (finish what is in flight), then SIGKILL after `timeout` s. Safe twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _render(self) -> str:
        values = {
            "USER_LINE": nginx_user_line(),
            "RUN_DIR": str(self.run_dir),
            "STATIC_DIR": str(self.static_dir),
            "PORT": str(self.port),
            "SINK_PORT": str(self.sink_port),
            "ANSWER_PORT": str(self.answer_port),
            "CLIENT_MAX_BODY_SIZE": str(self.max_upload_bytes + ENVELOPE_BYTES),
            "CLIENT_BODY_BUFFER_SIZE": production_directive("client_body_buffer_size"),
            "PROXY_SNIPPET": str(PRODUCTION_PROXY_SETTINGS),
            "UPLOAD_ANSWER": json.dumps(UPLOAD_ANSWER, separators=(",", ":")),
        }
        text = TEMPLATE.read_text()
        for name, value in values.items():
            text = text.replace(f"@{name}@", value)
        left = re.search(r"@[A-Z_]+@", text)
        if left:
            raise CeilingError(f"ceiling.conf.template: the bench does not fill {left.group()}")
        return text

    def _listening(self) -> bool:
        try:
            for port in (self.port, self.sink_port, self.answer_port):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    # --- what the scenarios need -------------------------------------------------------

    def pids(self) -> list[int]:
        """nginx's worker processes (the master only watches them)."""
        return machine.children(self.process.pid)

    def serve_static(self, source: Path) -> str:
        """Serve the file `source` (the same inode when possible) as a plain static file;
        returns its path on the ceiling."""
        target = self.static_dir / source.name
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return f"/static/{source.name}"

    def set_listing(self, body: bytes) -> None:
        """What GET /api/images answers from now on: imagehost's own answer, byte for byte."""
        path = self.run_dir / "listing.json"
        path.with_suffix(".new").write_bytes(body)
        path.with_suffix(".new").replace(path)

    def sink_log_size(self) -> int:
        path = self.run_dir / "sink.log"
        return path.stat().st_size if path.exists() else 0

    def check_bodies_read(self, since: int, least_bytes: int) -> tuple[int, int]:
        """Uploads the sink answered (201) after byte offset `since` of sink.log: (how
        many, how many of them with at least `least_bytes` read, from $request_length).

        Requests cut off when wrk stops (499, 400) are not counted. The sink's log is
        buffered for up to a second, so this waits that long first.
        """
        time.sleep(1.2)
        path = self.run_dir / "sink.log"
        with open(path, "rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        answered = [int(m.group(2)) for m in map(_UPLOAD_LINE.search, lines) if m and m.group(1) == "201"]
        return len(answered), sum(1 for length in answered if length >= least_bytes)
