"""A TCP proxy with a slow uplink: what a client sends through it, over all its connections
together, reaches the server at `rate_bps` bits per second at most (the answers pass unthrottled).
Tests put it in front of the sandbox's S3 to make uploads take real time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from urllib.parse import urlsplit

CHUNK = 16 * 1024


class ThrottledProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to `target` (`http://host:port`).

    Args:
        target: the server's URL (scheme and path ignored).
        rate_bps: client→server rate in bit/s, shared by every connection.
    """

    def __init__(self, target: str, rate_bps: float) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._bytes_per_s = rate_bps / 8
        self._next_free = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` of the proxy."""
        return f"http://127.0.0.1:{self._port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self._port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, throttled=True),
            self._pipe(up_reader, writer, throttled=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, throttled: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if throttled:
                    now = time.monotonic()
                    self._next_free = max(now, self._next_free) + len(data) / self._bytes_per_s
                    await asyncio.sleep(self._next_free - now)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        """Stop listening and forwarding."""
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
