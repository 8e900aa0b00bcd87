"""Dropped connections for the provider emulators' ``drop`` faults.

A dropped connection is a provider (or a proxy in front of it) that closes the TCP connection
without any HTTP answer: the client reads a reset where the status line should be. ``before``
drops the request unprocessed (the provider never acted); ``after`` processes it first (the
provider acted, the caller never learns it). The client cannot tell the two apart once its request
was sent, which is the point of the fault.
"""

from __future__ import annotations

import socket
import struct

from aiohttp import web

#: Where a ``drop`` fault closes the connection: before the call is processed, or after.
DROP_POINTS = ("before", "after")


def drop_point(value: object) -> str | None:
    """The ``drop`` field of a fault's POST body: ``None`` or one of :data:`DROP_POINTS`.

    Raises:
        ValueError: any other value.
    """
    if value is None:
        return None
    if value not in DROP_POINTS:
        raise ValueError(f"drop must be one of {', '.join(DROP_POINTS)} or null, not {value!r}")
    return str(value)


def drop_connection(request: web.Request) -> web.Response:
    """Reset ``request``'s TCP connection (SO_LINGER 0 then abort: an RST, no status line).

    Returns a response for aiohttp's handler signature; it is never written, the transport is gone.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)
