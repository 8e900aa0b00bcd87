"""The Agora emulator in a process of its own (`python -m recording_sandbox agora`).

In the sandbox's own process the emulator shares one event loop with the Kubernetes emulator, the
S3 server and the Pod runner: when that loop stalls (1,000 watch events to serialize), requests
wait in the socket and are all handled, and stamped by the rate limiter, in the same instant. The
emulator then answers 429 to a client that sent at most `qps_limit` requests in every second.
Run apart, it stamps each request when it arrives, as Agora's gateway does.

The child reads its configuration as one JSON object on stdin (never on the command line: it holds
the NCS secret), starts the emulator on a free port, prints `{"url": ...}` on stdout and serves
until SIGTERM. Introspection and control go through the emulator's `/_emulator/` HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, BinaryIO

from recording_sandbox.agora.server import AgoraEmulator

#: `AgoraEmulator` arguments a child accepts (JSON values only: no clock object).
OPTIONS = ("customer_id", "customer_secret", "qps_limit", "transcoder_qps_limit", "status_step_s", "tick_s")


class AgoraProcess:
    """An `AgoraEmulator` running in a child process.

    Args:
        options: `AgoraEmulator` keyword arguments, among `OPTIONS`.
        log_path: where the child's stderr goes.

    Attributes:
        url: `http://HOST:PORT` once started.
        ncs, transcoder_ncs: NCS sender settings (`NcsSender.configure`) applied at start.
        s3_endpoint: where the emulator writes the files it reports for S3 storage (None: nowhere).
    """

    def __init__(self, options: dict[str, Any], log_path: Path) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"options a child process cannot take: {sorted(unknown)}")
        self.options = dict(options)
        self.log_path = log_path
        self.ncs: dict[str, Any] = {}
        self.transcoder_ncs: dict[str, Any] = {}
        self.s3_endpoint: str | None = None
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, host: str = "127.0.0.1", *, timeout_s: float = 30.0) -> str:
        """Start the child on a free port of `host`; returns its base URL.

        Raises:
            RuntimeError: the child exited or printed no URL within `timeout_s`.
        """
        config = {
            "host": host,
            "options": self.options,
            "ncs": self.ncs,
            "transcoderNcs": self.transcoder_ncs,
            "s3Endpoint": self.s3_endpoint,
        }
        with self._open_log() as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "recording_sandbox",
                "agora",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(config).encode() + b"\n")
        await self._process.stdin.drain()
        self._process.stdin.close()
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
            self.url = str(json.loads(line)["url"])
        except (TimeoutError, ValueError, KeyError) as exc:
            await self.stop()
            raise RuntimeError(f"the Agora emulator process did not start (see {self.log_path})") from exc
        return self.url

    def _open_log(self) -> BinaryIO:
        return open(self.log_path, "ab")

    async def stop(self) -> None:
        """SIGTERM the child and wait for it (SIGKILL after 10 s)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def serve(config: dict[str, Any]) -> None:
    """The child: run an emulator per `config` (see `AgoraProcess.start`) until SIGTERM or SIGINT."""
    emulator = AgoraEmulator(**{k: v for k, v in (config.get("options") or {}).items() if k in OPTIONS})
    emulator.uploads.s3_endpoint = config.get("s3Endpoint") or None
    emulator.ncs.configure(config.get("ncs") or {})
    emulator.transcoder.ncs.configure(config.get("transcoderNcs") or {})
    url = await emulator.start(str(config.get("host") or "127.0.0.1"), 0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"url": url}), flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    await emulator.stop()
