"""Free loopback ports for the processes the tests start."""

from __future__ import annotations

import random
import socket


def free_port_block(count: int, low: int = 20000, high: int = 40000) -> int:
    """The first of `count` consecutive ports that are free on 127.0.0.1 right now."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports found")
