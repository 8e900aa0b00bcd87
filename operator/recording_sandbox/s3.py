"""moto's S3 server as its own process: the sandbox's object storage (measured with
moto 5.2.5: the in-process ThreadedMotoServer hung OpenDAL's blocking calls, the separate server works).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from recording_sandbox.ports import free_port


class S3Server:
    """`moto_server` on `host`:free port; any access key and secret are accepted.

    Args:
        log_path: where the server's output goes.
    """

    def __init__(self, log_path: Path, host: str = "127.0.0.1") -> None:
        self.log_path = log_path
        self.host = host
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout_s: float = 30.0) -> str:
        """Start the server and wait until it answers; returns its URL (`http://host:port`).

        Raises:
            TimeoutError: it did not answer within `timeout_s`.
            RuntimeError: the process exited.
        """
        port = free_port(host=self.host)
        moto = Path(sys.executable).parent / "moto_server"
        with self.log_path.open("ab") as log:
            # Popen only forks: it does not wait for the child, so it does not block the loop.
            self._process = subprocess.Popen(  # noqa: ASYNC220
                [str(moto), "-H", self.host, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
            )
        self.url = f"http://{self.host}:{port}"
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"moto_server exited with {self._process.returncode}; see {self.log_path}"
                    )
                try:
                    await client.get(self.url)
                    return self.url
                except httpx.TransportError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"moto_server did not answer within {timeout_s} s") from None
                    await asyncio.sleep(0.1)

    async def create_bucket(self, name: str) -> None:
        """Create a bucket (S3 `CreateBucket`, unsigned: moto does not check signatures)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.put(f"/{name}")
            if response.status_code not in (200, 409):
                raise RuntimeError(f"creating bucket {name}: HTTP {response.status_code}")

    def stop(self) -> None:
        """Stop the server."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
