"""Slow clients against nginx: slowloris connections trickling their headers, and uploads
trickling their bodies, must not delay anyone else. nginx buffers both, so no Python
worker is held; normal uploads meanwhile answer within a second each.
"""

from __future__ import annotations

import socket
import time

from support import images

from .harness import assert_nothing_left_behind, measure, size

FIGURE_CLASS = "slow clients"
MAX_DELAY = 1.0


class Trickle:
    """`count` connections that each send one byte every `interval` seconds and never finish:
    half of them inside the request headers, half inside a declared 1 MB upload body."""

    def __init__(self, port: int, count: int):
        self.connections: list[tuple[socket.socket, bytes]] = []
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            if i % 2:
                head = (
                    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                    b"Content-Length: 1000000\r\n\r\n--B\r\n"
                )
                s.send(head)
                self.connections.append((s, b"\0"))
            else:
                s.send(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
                self.connections.append((s, b"X"))
        self.bytes_sent = 0
        self.closed_by_server = 0

    def tick(self) -> None:
        for s, byte in list(self.connections):
            try:
                self.bytes_sent += s.send(byte)
            except BlockingIOError:
                pass
            except OSError:
                self.closed_by_server += 1
                self.connections.remove((s, byte))

    def close(self) -> None:
        for s, _ in self.connections:
            s.close()


def test_30_slowloris_connections_for_5_seconds_delay_no_upload_beyond_a_second(stack, tally):
    seconds = size(5, 20)
    trickle = Trickle(stack.http_port, 30)
    delays = []
    try:
        started = time.monotonic()
        next_tick = started
        i = 0
        while time.monotonic() - started < seconds:
            if time.monotonic() >= next_tick:
                trickle.tick()
                next_tick += 0.5
            data = images.png(3, 3, extra=f"between slow clients {i}".encode())
            sent = time.monotonic()
            reply = stack.upload(data)
            delays.append(time.monotonic() - sent)
            assert reply.status == 201, reply.body
            assert stack.get(f"/images/{reply.json()['name']}").body == data
            i += 1
            time.sleep(0.05)
        tally.case(len(delays) + len(trickle.connections))
        # the slow connections were held open (by nginx, not refused) the whole time
        assert len(trickle.connections) == 30, trickle.closed_by_server
    finally:
        trickle.close()
    assert len(delays) >= 10
    measure("slowest upload beside 30 slowloris connections (s)", max(delays), how="max")
    assert max(delays) < MAX_DELAY, sorted(delays)[-5:]
    assert_nothing_left_behind(stack)


def test_uploads_trickled_by_slow_clients_are_buffered_by_nginx_and_leave_nothing_when_dropped(stack, tally):
    trickle = Trickle(stack.http_port, 20)
    try:
        for _ in range(6):
            trickle.tick()
            time.sleep(0.2)
        # nginx holds every half-sent body itself: the workers answer at once
        for _ in range(4):
            sent = time.monotonic()
            assert stack.get("/api/health").status == 200
            assert time.monotonic() - sent < MAX_DELAY
        tally.case(20 + 4)
    finally:
        trickle.close()
    time.sleep(0.3)
    assert_nothing_left_behind(stack)
