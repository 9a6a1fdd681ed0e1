"""A worker's log lines: handed to the supervisor without ever waiting; what does not fit
is dropped, counted, and reported once lines go through again."""

import re
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


def test_a_request_line_reads_as_loguru_writes_every_other_line(channel):
    # request_line formats the line itself (for speed); app.log must not tell the difference.
    logger.info("GET /api/limits 200 41B 0.3ms rid=a")
    logs.request_line("GET /api/limits 200 41B 0.3ms rid=b")
    by_loguru, by_hand = received_lines(channel)
    stamp = r"INFO\x00\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}([+-]\d{4}) "
    by_loguru_zone, by_hand_zone = (re.match(stamp, line) for line in (by_loguru, by_hand))
    assert by_loguru_zone and by_hand_zone, (by_loguru, by_hand)
    assert by_hand_zone[1] == by_loguru_zone[1]
    assert by_hand.split(" ", 1)[1] == by_loguru.split(" ", 1)[1].replace("rid=a", "rid=b")


def test_request_lines_are_left_out_when_the_log_level_is_above_info(channel, monkeypatch):
    receiver, sender = logs.make_log_channel()
    logs.setup_worker_logging(sender, 8, "WARNING")
    logs.request_line("GET / 200 1B 0.1ms rid=quiet")
    logger.warning("loud")
    assert [line.split(" worker-8 ")[1] for line in received_lines(receiver)] == ["loud\n"]
    receiver.close()
    sender.close()


def test_request_lines_are_dropped_and_counted_like_other_lines_when_nobody_reads(channel):
    for n in range(2000):
        logs.request_line(f"GET /api/images 200 1B 0.1ms rid={n}")
    delivered = received_lines(channel)
    assert 0 < len(delivered) < 2000
    assert logs.lines_dropped() == 2000 - len(delivered)
    logs.request_line("GET /after 200 1B 0.1ms rid=after")
    warning, line = received_lines(channel)
    assert f" worker-7 {2000 - len(delivered)} log lines dropped" in warning
    assert line.endswith("rid=after\n")


def test_the_supervisor_relays_waiting_lines_in_order_each_under_its_own_level():
    receiver, sender = logs.make_log_channel()
    written: list[tuple[str, str]] = []
    logger.remove()
    logger.add(lambda message: written.append((message.record["level"].name, str(message))), format="{message}")
    try:
        for level, text in [("INFO", "one\n"), ("INFO", "two\n"), ("WARNING", "three\n"), ("INFO", "four\n")]:
            sender.send(level.encode() + b"\x00" + text.encode())
        assert logs.relay_worker_lines(receiver) == 4
    finally:
        logger.remove()
        receiver.close()
        sender.close()
    assert "".join(text for _, text in written) == "one\ntwo\nthree\nfour\n"
    assert [level for level, text in written for _ in text.splitlines()] == ["INFO", "INFO", "WARNING", "INFO"]


def test_the_supervisor_relays_at_most_a_bounded_number_of_lines_per_turn(monkeypatch):
    monkeypatch.setattr(logs, "MAX_LINES_PER_RELAY", 10)
    receiver, sender = logs.make_log_channel()
    logger.remove()
    try:
        for n in range(15):
            sender.send(f"INFO\x00line {n}\n".encode())
        assert logs.relay_worker_lines(receiver) == 10
        assert logs.relay_worker_lines(receiver) == 5
        assert logs.relay_worker_lines(receiver) == 0
    finally:
        receiver.close()
        sender.close()
