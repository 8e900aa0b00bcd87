"""Run a :class:`KubeEmulator` on its own event loop thread, for synchronous callers.

Synchronous clients (the ``kubernetes`` package, ``kubectl`` subprocesses, ``kopf.testing.
KopfRunner``) would block an event loop shared with the emulator; this keeps them apart::

    with ThreadedKubeEmulator(crd_paths=[Path("crds")]) as emulator:
        emulator.write_kubeconfig(Path("kubeconfig"))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from recording_sandbox.kube.emulator import KubeEmulator

T = TypeVar("T")


class ThreadedKubeEmulator:
    """A context manager serving a :class:`KubeEmulator` from a background thread.

    Entering returns the emulator (already started, ``url`` set); exiting stops it and joins
    the thread. :meth:`call` runs a function on the emulator's loop thread and returns its result.
    """

    def __init__(
        self,
        *,
        crd_paths: Iterable[Path] = (),
        namespaces: Iterable[str] = ("default",),
        watch_window: int = 10_000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._options: dict[str, Any] = {
            "crd_paths": list(crd_paths),
            "namespaces": list(namespaces),
            "watch_window": watch_window,
        }
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-emulator", daemon=True)
        self.emulator: KubeEmulator | None = None

    def __enter__(self) -> KubeEmulator:
        self._thread.start()

        async def start() -> KubeEmulator:
            emulator = KubeEmulator(**self._options)
            await emulator.start(self._host, self._port)
            return emulator

        self.emulator = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self.emulator

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function()`` on the emulator's loop thread; return its result (or raise its error)."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.emulator is not None:
            asyncio.run_coroutine_threadsafe(self.emulator.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
