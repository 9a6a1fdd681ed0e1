"""Logging: every process logs with loguru; only the supervisor writes the files.

Several processes appending to one file and each rotating it on its own would tear
lines and lose them at rotation. So workers send each formatted line as one datagram
on a Unix socketpair made before the fork (a datagram arrives whole or not at all), and
the supervisor writes them, with its own lines, to stderr and to LOG_DIR/app.log, which
it alone rotates by size.
"""

from __future__ import annotations

import socket
import sys

from loguru import logger

from .config import Config

LINE_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} {level: <7} {extra[process]} {message}"
# A datagram must fit the socket buffer; longer lines (huge tracebacks) are cut.
MAX_LINE_BYTES = 60_000
_LEVEL_SEPARATOR = b"\x00"


def make_log_channel() -> tuple[socket.socket, socket.socket]:
    """(receiving end for the supervisor, sending end for the workers)."""
    receiver, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.setblocking(False)
    return receiver, sender


def setup_supervisor_logging(config: Config) -> None:
    logger.remove()
    logger.configure(extra={"process": "supervisor"})
    logger.add(sys.stderr, level=config.log_level, format=LINE_FORMAT, colorize=False)
    logger.add(
        config.log_file,
        level=config.log_level,
        format=LINE_FORMAT,
        rotation=config.log_max_bytes,
        retention=config.log_backups,
        encoding="utf-8",
    )


def setup_worker_logging(sender: socket.socket, worker_id: int, level: str) -> None:
    """Route this process's log lines to the supervisor through `sender`."""
    logger.remove()
    logger.configure(extra={"process": f"worker-{worker_id}"})
    logger.add(_DatagramSink(sender), level=level, format=LINE_FORMAT, colorize=False)


class _DatagramSink:
    def __init__(self, sender: socket.socket):
        self._sender = sender

    def __call__(self, message) -> None:
        line = str(message).encode("utf-8", "replace")[:MAX_LINE_BYTES]
        if not line.endswith(b"\n"):
            line += b"\n"
        level = message.record["level"].name.encode()
        try:
            self._sender.send(level + _LEVEL_SEPARATOR + line)
        except OSError:
            sys.stderr.buffer.write(line)  # the supervisor is gone; say it somewhere
            sys.stderr.flush()


def relay_worker_lines(receiver: socket.socket) -> None:
    """Write every line waiting on `receiver` to the supervisor's sinks, as it is."""
    while True:
        try:
            datagram = receiver.recv(MAX_LINE_BYTES + 64)
        except (BlockingIOError, InterruptedError):
            return
        level, _, line = datagram.partition(_LEVEL_SEPARATOR)
        # raw=True: the worker already formatted the line; write it byte for byte.
        logger.opt(raw=True).log(level.decode("ascii", "replace") or "INFO", line.decode("utf-8", "replace"))
