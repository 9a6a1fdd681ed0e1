"""The tests' free ports (tests/support/ports.py)."""

from __future__ import annotations

import socket

from support.ports import ephemeral_ports_start, free_port_block


def test_a_block_of_ports_lies_below_the_range_outgoing_connections_take_their_ports_from():
    for count in (1, 3, 9):
        for _ in range(50):
            base = free_port_block(count)
            assert base >= 20000 and base + count <= ephemeral_ports_start()


def test_a_block_of_ports_is_free_to_bind_when_it_is_handed_out():
    base = free_port_block(3)
    sockets = [socket.socket() for _ in range(3)]
    try:
        for offset, s in enumerate(sockets):
            s.bind(("127.0.0.1", base + offset))
    finally:
        for s in sockets:
            s.close()
