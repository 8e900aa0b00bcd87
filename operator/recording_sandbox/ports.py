"""Free loopback ports for the sandbox's servers (and the tests that start their own)."""

from __future__ import annotations

import socket


def free_port(kind: int = socket.SOCK_STREAM, *, host: str = "127.0.0.1") -> int:
    """A port on `host` that nobody has bound right now.

    Args:
        kind: `socket.SOCK_STREAM` for TCP (default) or `socket.SOCK_DGRAM` for UDP (SRT, RIST listeners).
        host: the address to probe (loopback by default).

    Returns:
        The port number the kernel picked; it is free until someone binds it.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
