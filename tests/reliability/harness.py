"""What the reliability tests share: their sizes, their figures, and the checks that say
nothing was lost and nothing was left behind.

Sizes: every test reads its counts through `size(ci, full)`. `make test` (and CI) runs
the small ones; RELIABILITY_FULL=1, which `bench/reliability` sets, runs the full ones.

Figures: each test adds what it tried to its class (`Tally`), and the load and fault
tests add measures (uploads under load, lost uploads, leftover files, restart times).
With RELIABILITY_REPORT=<file> the session writes them there as JSON when it ends
(conftest.py), and `bench/reliability` prints them as a table.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from imagehost import metadata
from imagehost.validation import MAGIC_LENGTH, detect_type
from support import images
from support.client import request, upload

FULL = os.environ.get("RELIABILITY_FULL", "") == "1"
LOAD_SETTINGS = {"UPLOAD_RATE_LIMIT": "10000r/s", "UPLOAD_RATE_BURST": "100000"}
API_ERROR_STATUSES = {400, 401, 403, 404, 405, 411, 413, 415, 422, 429, 507}


def size(ci: int, full: int) -> int:
    """`full` under RELIABILITY_FULL=1 (bench/reliability), else the CI-sized `ci`."""
    return full if FULL else ci


def examples(ci: int, full: int) -> settings:
    """Hypothesis settings for tests that send HTTP requests to a live stack.

    No deadline (two loaded cores make timings noisy), no example database (a failure is
    reported with its minimal example and `@reproduce_failure` blob instead; nothing is
    written into the work tree), and no health check that would call slow I/O a bug.
    """
    return settings(
        max_examples=size(ci, full),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
            HealthCheck.large_base_example,
        ],
    )


# --- figures ----------------------------------------------------------------------------

_lock = threading.Lock()
FIGURES: dict = {"classes": {}, "measures": {}, "tests": {"passed": 0, "failed": 0}}


@dataclass
class Tally:
    """What one test tried, for its class in the figures. `case()` is thread-safe."""

    figure_class: str
    cases: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def case(self, n: int = 1) -> None:
        with self._lock:
            self.cases += n

    def failure(self, n: int = 1) -> None:
        with self._lock:
            self.failures += n


def add_to_figures(tally: Tally, failed: bool) -> None:
    """Fold a finished test's tally into its class; a failed test counts one failure at least."""
    failures = max(tally.failures, 1 if failed else 0)
    with _lock:
        entry = FIGURES["classes"].setdefault(tally.figure_class, {"cases": 0, "failures": 0, "tests": 0})
        entry["cases"] += max(tally.cases, 1)
        entry["failures"] += failures
        entry["tests"] += 1
        FIGURES["tests"]["failed" if failed else "passed"] += 1


def measure(name: str, value: float, how: str = "sum") -> None:
    """Record a measure: summed over tests ("sum"), or their largest value ("max")."""
    with _lock:
        if how == "max":
            FIGURES["measures"][name] = max(FIGURES["measures"].get(name, value), value)
        else:
            FIGURES["measures"][name] = FIGURES["measures"].get(name, 0) + value


def write_figures(path: str) -> None:
    with _lock:
        Path(path).write_text(json.dumps(FIGURES, indent=2, sort_keys=True))


# --- what is on disk --------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def as_stored(data: bytes) -> bytes:
    """What the server stores for an upload of the image `data` with STRIP_METADATA on,
    the default: metadata.py's rewrite (tests/unit/test_metadata.py and
    tests/integration/test_metadata_stripping.py check that rewrite itself)."""
    image_type = detect_type(data[:MAGIC_LENGTH])
    if image_type is None:
        return data
    out = bytearray()
    metadata.plan_rewrite(image_type.mime, data).write(data, out.extend)
    return bytes(out)


def index_rows(stack) -> dict[str, tuple]:
    """name -> (size, sha256, delete_token_hash) for every row of the stack's index."""
    rows = stack.index_rows("SELECT name, size, sha256, delete_token_hash FROM images")
    return {name: (size_, digest, token_hash) for name, size_, digest, token_hash in rows}


def image_files(stack) -> set[str]:
    """Every stored image (whatever its name): the plain files directly in IMAGES_DIR but
    the instance's lock file, or the objects beside the previews in the bucket."""
    return stack.stored_names()


def temp_files(stack) -> list[Path]:
    tmp = stack.images_dir / ".tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


@dataclass
class Leftovers:
    files_without_rows: set[str]
    rows_without_files: set[str]
    temp_files: list[str]
    damaged_files: set[str]  # a file whose bytes are not the ones its row describes

    @property
    def count(self) -> int:
        return (
            len(self.files_without_rows) + len(self.rows_without_files) + len(self.temp_files) + len(self.damaged_files)
        )


def leftovers(stack) -> Leftovers:
    """Compare the stored images with the index: what is on one side only, or not whole."""
    rows = index_rows(stack)
    files = image_files(stack)
    damaged = set()
    for name in files & set(rows):
        data = stack.stored_bytes(name)
        if (len(data), sha256(data)) != rows[name][:2]:
            damaged.add(name)
    return Leftovers(files - set(rows), set(rows) - files, [p.name for p in temp_files(stack)], damaged)


def assert_nothing_left_behind(stack) -> None:
    """Every file has its row and its bytes, every row its file, and no temp file remains."""
    found = leftovers(stack)
    assert found.count == 0, found


# --- answers ----------------------------------------------------------------------------


def is_json_error(reply) -> bool:
    """The contract's error shape: exactly {"error": {"code", "message"}} as application/json."""
    return is_json_error_body(reply.headers.get("Content-Type", ""), reply.body)


def is_json_error_body(content_type: str, body: bytes) -> bool:
    if not content_type.startswith("application/json"):
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(payload, dict)
        and set(payload) == {"error"}
        and isinstance(payload["error"], dict)
        and set(payload["error"]) == {"code", "message"}
        and bool(payload["error"]["message"])
        and isinstance(payload["error"]["code"], str)
    )


def answered_by_a_worker(reply) -> bool:
    """Workers put X-Request-ID on every answer; nginx's own pages have none."""
    return "X-Request-ID" in reply.headers


# --- uploads under load ------------------------------------------------------------------


def mixed_payload(rng: random.Random, tag: str) -> bytes:
    """A PNG of a size drawn from a mix like real use: mostly small, some medium, a few
    large up to exactly 5 MiB. `tag` makes its bytes unique."""
    roll = rng.random()
    if roll < 0.70:
        total = rng.randint(200, 8_000)
    elif roll < 0.95:
        total = rng.randint(8_000, 300_000)
    elif roll < 0.99:
        total = rng.randint(300_000, 5 * 1024 * 1024)
    else:
        total = 5 * 1024 * 1024
    base = images.png(2, 2, extra=tag.encode())
    return base if total <= len(base) + 12 else _padded(base, tag, total)


def _padded(base: bytes, tag: str, total: int) -> bytes:
    pad = total - len(base) - 12  # a second private chunk of `pad` bytes
    chunk = struct.pack(">I", pad) + b"prVt" + b"\0" * pad
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    return base[:-12] + chunk + base[-12:]


@dataclass
class Sent:
    """One upload as the client saw it."""

    probe: str
    digest: str
    size: int
    started: float
    ended: float = 0.0
    status: int | None = None  # None: no HTTP answer (the connection failed)
    error_code: str | None = None
    created: dict | None = None
    failure: str = ""


def send_upload(stack, data: bytes, probe: str, timeout: float = 60) -> Sent:
    """POST `data` through nginx as `/upload?probe=<probe>` (the probe finds the request in
    nginx's access log and the workers' log)."""
    sent = Sent(probe, sha256(data), len(data), time.monotonic())
    try:
        reply = upload(stack.base_url, images.file_form(data), path=f"/upload?probe={probe}")
    except (OSError, http.client.HTTPException) as exc:
        sent.failure = f"{type(exc).__name__}: {exc}"
    else:
        sent.status = reply.status
        if reply.status == 201:
            sent.created = reply.json()
        elif is_json_error(reply):
            sent.error_code = reply.json()["error"]["code"]
        else:
            sent.failure = f"{reply.status} {reply.headers.get('Content-Type')} {reply.body[:200]!r}"
    sent.ended = time.monotonic()
    return sent


def served_bytes_match(stack, sent: Sent) -> bool:
    """Whether the 201's URL serves exactly the uploaded bytes, through nginx."""
    path = "/images/" + sent.created["name"]
    reply = request("GET", stack.base_url + path, timeout=60)
    return reply.status == 200 and len(reply.body) == sent.size and sha256(reply.body) == sent.digest


def listed_names(stack) -> list[str]:
    """Every name in the listing, following the cursor to the last page."""
    names, cursor = [], None
    while True:
        query = "limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = request("GET", f"{stack.base_url}/api/images?{query}", headers=stack.admin()).json()
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


def access_log_lines(stack, probes: set[str]) -> dict[str, str]:
    """probe -> nginx's access log line for it."""
    found = {}
    for line in stack.access_log().splitlines():
        match = re.search(r"probe=([\w.-]+)", line)
        if match and match.group(1) in probes:
            found[match.group(1)] = line
    return found


# --- raw HTTP ---------------------------------------------------------------------------


@dataclass
class RawAnswer:
    """What came back on a raw connection: the status lines seen and everything read."""

    data: bytes
    timed_out: bool = False
    reset: bool = False

    @property
    def statuses(self) -> list[int]:
        return [
            int(line.split(b" ")[1])
            for line in self.data.split(b"\r\n")
            if line.startswith(b"HTTP/1.") and len(line.split(b" ")) > 1 and line.split(b" ")[1].isdigit()
        ]


def raw_exchange(
    port: int,
    data: bytes,
    *,
    shut_write: bool = False,
    timeout: float = 5.0,
    pause: float = 0.0,
    until_closed: bool = False,
) -> RawAnswer:
    """Send `data` as it is on a new connection to 127.0.0.1:`port` and read until one
    whole response has come (or, with `until_closed`, until the peer closes), or `timeout`
    passes. `shut_write` half-closes after sending (a client that stopped sending);
    `pause` waits that long before reading."""
    answer = RawAnswer(b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            answer.reset = True
            return answer
        time.sleep(pause)
        chunks = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if not until_closed and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            answer.timed_out = True
        except ConnectionResetError:
            answer.reset = True
        answer.data = b"".join(chunks)
    return answer


def _complete(data: bytes) -> bool:
    """True once `data` holds one whole response framed by Content-Length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False


def split_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """The first response in `data`: (status, headers with lower-case names, body)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return status, headers, rest[:length]


def request_head(method: str, target: str, headers: dict[str, str | bytes] | list[tuple[str, str | bytes]]) -> bytes:
    """A request line and headers, as bytes, exactly as given (no header is added)."""
    items = headers.items() if isinstance(headers, dict) else headers
    lines = [f"{method} {target} HTTP/1.1".encode()]
    for name, value in items:
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("latin-1")))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def wait_until(condition, timeout: float, interval: float = 0.05, message: str = "condition") -> float:
    """Poll `condition()` until true; the seconds it took. AssertionError after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{message}: not true after {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started
