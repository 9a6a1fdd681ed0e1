"""The tests' HTTP client (tests/support/client.py) on a port nobody listens on."""

from __future__ import annotations

import socket

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
