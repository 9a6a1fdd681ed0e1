"""A worker's log lines: handed to the supervisor without ever waiting; what does not fit
is dropped, counted, and reported once lines go through again."""

import socket
import threading

import pytest
from imagehost import logs
from loguru import logger


@pytest.fixture
def channel(monkeypatch):
    # The worker's sink is a module global: put it back, or every later test in this
    # process would see this test's dropped lines in lines_dropped() and /api/health.
    monkeypatch.setattr(logs, "_worker_sink", None)
    receiver, sender = logs.make_log_channel()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # fills after a few lines
    logs.setup_worker_logging(sender, 7, "INFO")
    yield receiver
    logger.remove()
    receiver.close()
    sender.close()


def log_2000_lines() -> None:
    """Log 2000 lines nobody reads; fails (rather than hangs) if logging blocks."""

    def log():
        for n in range(2000):
            logger.info("line {} {}", n, "x" * 200)

    thread = threading.Thread(target=log, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "logging blocked on a channel nobody reads"


def received_lines(receiver: socket.socket) -> list[str]:
    lines = []
    for _ in range(100_000):
        try:
            lines.append(receiver.recv(logs.MAX_LINE_BYTES + 64).decode())
        except BlockingIOError:
            return lines
    raise AssertionError("the channel never emptied")


def test_a_worker_logging_while_nobody_reads_never_blocks_and_counts_what_it_drops(channel):
    log_2000_lines()
    delivered = received_lines(channel)
    assert 0 < len(delivered) < 2000
    assert logs.lines_dropped() == 2000 - len(delivered)


def test_the_first_line_that_goes_through_after_drops_is_preceded_by_how_many_were_dropped(channel):
    log_2000_lines()
    dropped = logs.lines_dropped()
    received_lines(channel)
    logger.info("after the jam")
    warning, line = received_lines(channel)
    assert warning.startswith("WARNING\x00") and f" worker-7 {dropped} log lines dropped" in warning
    assert line.endswith("after the jam\n")
    logger.info("and then")
    assert len(received_lines(channel)) == 1  # reported once
