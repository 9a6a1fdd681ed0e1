"""Free loopback ports for the processes the tests start."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def ephemeral_ports_start() -> int:
    """The first port the kernel hands to outgoing connections (ip_local_port_range)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port_block(count: int, low: int = 20000) -> int:
    """The first of `count` consecutive ports that are free on 127.0.0.1 right now.

    Below the kernel's ephemeral range: a port picked inside it could be taken, between the
    pick and the server's bind, as the local end of any outgoing connection (a worker's
    to PostgreSQL, nginx's to the bucket), and the server would not start (once in CI:
    nginx's "bind() ... Address already in use")."""
    high = ephemeral_ports_start()
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
