"""The tests' HTTP client (tests/support/client.py) on a port nobody listens on, or one
that hangs up at once."""

from __future__ import annotations

import select
import socket
import struct

import pytest
from support.client import NotSelfConnection


def unused_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_connection_that_would_join_itself_is_refused_as_the_port_would_be():
    # The kernel picks the source port; here it is pinned to the destination, which is
    # what a server's port polled before it listens sometimes gets by chance.
    port = unused_local_port()
    connection = NotSelfConnection("127.0.0.1", port, timeout=2, source_address=("127.0.0.1", port))
    try:
        with pytest.raises(ConnectionRefusedError, match="joined itself"):
            connection.request("GET", "/api/health")
    finally:
        connection.close()


def test_a_connection_the_server_resets_as_it_is_made_is_a_connection_reset_not_a_bare_os_error():
    # A stopping server (nginx under SIGTERM) can reset a connection between the handshake
    # and the client's first look at it; getpeername() then fails with ENOTCONN.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        connection = NotSelfConnection("127.0.0.1", listener.getsockname()[1], timeout=2)
        make_connection = connection._create_connection

        def connect_then_be_reset(*args, **kwargs):
            sock = make_connection(*args, **kwargs)
            accepted, _ = listener.accept()
            accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            accepted.close()  # linger 0: an RST, not a FIN
            readable, _, _ = select.select([sock], [], [], 2)  # the RST has arrived
            assert readable
            return sock

        connection._create_connection = connect_then_be_reset
        try:
            with pytest.raises(ConnectionResetError, match="reset the connection"):
                connection.connect()
        finally:
            connection.close()
