"""Logging: every process logs with loguru; only the supervisor writes the files.

Several processes appending to one file and each rotating it on its own would tear
lines and lose them at rotation. So workers send each formatted line as one datagram
on a Unix socketpair made before the fork (a datagram arrives whole or not at all), and
the supervisor writes them, with its own lines, to stderr and to LOG_DIR/app.log, which
it alone rotates by size, and reopens on SIGHUP (for logrotate without copytruncate).

A worker never waits for the log: when the supervisor is not reading (stopped, or
busy), the socket's buffer fills and a line that does not fit is dropped and counted,
rather than holding up the request that logged it. The count is reported in a warning
line once lines go through again, and in the worker's /api/health.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from loguru import logger

from .config import Config

if TYPE_CHECKING:
    from loguru import Message

LINE_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} {level: <7} {extra[process]} {message}"
# A datagram must fit the socket buffer; longer lines (huge tracebacks) are cut.
MAX_LINE_BYTES = 60_000
_LEVEL_SEPARATOR = b"\x00"
# Lines relayed in one go before the supervisor's loop gets its turn again.
MAX_LINES_PER_RELAY = 1000


def make_log_channel() -> tuple[socket.socket, socket.socket]:
    """(receiving end for the supervisor, sending end for the workers)."""
    receiver, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.setblocking(False)
    return receiver, sender


def setup_supervisor_logging(config: Config) -> None:
    """Log to stderr only: what comes before the instance lock must not touch LOG_DIR."""
    logger.remove()
    logger.configure(extra={"process": "supervisor"})
    logger.add(sys.stderr, level=config.log_level, format=LINE_FORMAT, colorize=False)


def open_log_file(config: Config, previous: int | None = None) -> int:
    """Start writing to LOG_DIR/app.log (anew if `previous`, the id this returned
    before, is given: after a rename, lines go to a new file at the old path).

    Returns the sink's id. Raises OSError when the file cannot be opened.
    """
    if previous is not None:
        logger.remove(previous)  # closes the old file, flushed
    return logger.add(
        config.log_file,
        level=config.log_level,
        format=LINE_FORMAT,
        rotation=config.log_max_bytes,
        retention=config.log_backups,
        encoding="utf-8",
    )


def setup_worker_logging(sender: socket.socket, worker_id: int, level: str) -> None:
    """Route this process's log lines to the supervisor through `sender`."""
    global _worker_sink  # noqa: PLW0603 (one sink per process, read by lines_dropped)
    process = f"worker-{worker_id}"
    logger.remove()
    logger.configure(extra={"process": process})
    _worker_sink = _DatagramSink(sender, process, logs_requests=logger.level(level).no <= logger.level("INFO").no)
    logger.add(_worker_sink, level=level, format=LINE_FORMAT, colorize=False)


def request_line(message: str) -> None:
    """Log `message` at INFO: the one line each answered request logs (worker.py).

    In a worker the line is written here as LINE_FORMAT writes it and handed straight to
    the datagram sink: loguru's way (a record, the caller's frame, the time zone, the
    format) cost a seventh of a worker's CPU on a listing (docs/performance.md).
    """
    sink = _worker_sink
    if sink is None:
        logger.info(message)  # no arguments: loguru does not format the message
    elif sink.logs_requests:
        sink.send("INFO", f"{_clock.now()} INFO    {sink.process} {message}\n")


def lines_dropped() -> int:
    """How many log lines this worker has dropped so far (0 in the supervisor)."""
    return _worker_sink.dropped_total if _worker_sink else 0


class _DatagramSink:
    """Hands each line to the supervisor without ever blocking (loguru calls it under
    its own lock, one line at a time; request_line calls send() on its own)."""

    def __init__(self, sender: socket.socket, process: str, logs_requests: bool):
        self._sender = sender
        self.process = process
        self.logs_requests = logs_requests
        self.dropped_total = 0
        self._dropped_unreported = 0
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        self.send(message.record["level"].name, str(message))

    def send(self, level: str, text: str) -> None:
        line = text.encode("utf-8", "replace")[:MAX_LINE_BYTES]
        if not line.endswith(b"\n"):
            line += b"\n"
        with self._lock:
            if self._dropped_unreported and not self._report_drops():
                self._drop()
                return
            try:
                self._sender.send(level.encode() + _LEVEL_SEPARATOR + line, socket.MSG_DONTWAIT)
            except BlockingIOError:
                self._drop()
            except OSError:
                sys.stderr.buffer.write(line)  # the supervisor is gone; say it somewhere
                sys.stderr.flush()

    def _drop(self) -> None:
        self.dropped_total += 1
        self._dropped_unreported += 1

    def _report_drops(self) -> bool:
        """Send 'N log lines dropped' ahead of the next line; False if it did not fit either."""
        warning = (
            f"{_clock.now()} WARNING {self.process} {self._dropped_unreported} log lines dropped "
            f"(the supervisor was not reading; {self.dropped_total} in all)\n"
        )
        try:
            self._sender.send(b"WARNING" + _LEVEL_SEPARATOR + warning.encode(), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True  # the next send says the same to stderr
        self._dropped_unreported = 0
        return True


class _Clock:
    """The time as LINE_FORMAT writes it (2026-11-27T14:40:13.046+0000, local time), the
    part down to the second made once a second."""

    def __init__(self) -> None:
        self._second: tuple[int, str, str] = (-1, "", "")  # replaced whole: threads share it

    def now(self) -> str:
        now = time.time()
        second, date_time, zone = self._second
        if int(now) != second:
            second, local = int(now), time.localtime(now)
            date_time, zone = time.strftime("%Y-%m-%dT%H:%M:%S", local), time.strftime("%z", local)
            self._second = (second, date_time, zone)
        return f"{date_time}.{int((now - second) * 1000):03d}{zone}"


_clock = _Clock()
_worker_sink: _DatagramSink | None = None


def relay_worker_lines(receiver: socket.socket) -> int:
    """Write the lines waiting on `receiver` (up to MAX_LINES_PER_RELAY) to the
    supervisor's sinks, as they are; returns how many.

    Lines of one level in a row go to loguru as one message: under load a thousand lines
    a second arrive, and a call to loguru for each cost the supervisor more than the writing.
    """
    batch: list[str] = []
    batch_level = ""
    relayed = 0
    while relayed < MAX_LINES_PER_RELAY:
        try:
            datagram = receiver.recv(MAX_LINE_BYTES + 64)
        except (BlockingIOError, InterruptedError):
            break
        relayed += 1
        raw_level, _, line = datagram.partition(_LEVEL_SEPARATOR)
        level = raw_level.decode("ascii", "replace") or "INFO"
        if batch and level != batch_level:
            _write_raw(batch_level, batch)
            batch = []
        batch_level = level
        batch.append(line.decode("utf-8", "replace"))
    if batch:
        _write_raw(batch_level, batch)
    return relayed


def _write_raw(level: str, lines: list[str]) -> None:
    # raw=True: the workers already formatted the lines; written byte for byte.
    logger.opt(raw=True).log(level, "".join(lines))
