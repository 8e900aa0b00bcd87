"""End-to-end fixtures that need only a kubeconfig.

- `E2E_KUBECONFIG` set (`make e2e-kind`): a real cluster with the operator installed by Helm. The
  Agora emulator runs here, on `0.0.0.0:$E2E_AGORA_PORT`, and the operator reaches it through the
  URL `make e2e-kind` gave it (`config.agora.baseUrls`).
- unset (`make test`): the sandbox (Kubernetes API + Agora emulators) with the real operator.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import kubernetes
import pytest

from recording_sandbox.agora import AgoraEmulator
from tests.support.harness import TEST_OPERATOR_ENV, SandboxThread


@dataclass
class Environment:
    """What the tests need: a Kubernetes client from a kubeconfig, and the Agora emulator's URL."""

    api: kubernetes.client.ApiClient
    agora_url: str
    namespace: str = "default"


class AgoraThread:
    """The Agora emulator alone, on its own event loop in a daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulator = AgoraEmulator()
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        url: str = asyncio.run_coroutine_threadsafe(
            self.emulator.start(self.host, self.port), self.loop
        ).result(30)
        return url

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    kubeconfig = os.environ.get("E2E_KUBECONFIG")
    if kubeconfig:
        port = int(os.environ.get("E2E_AGORA_PORT", "18080"))
        with AgoraThread("0.0.0.0", port):
            api = kubernetes.config.new_client_from_config(config_file=kubeconfig)
            yield Environment(api, f"http://127.0.0.1:{port}")
            api.close()
        return
    state = tmp_path_factory.mktemp("e2e")
    with SandboxThread(state, with_operator=True, operator_env=TEST_OPERATOR_ENV) as sandbox:
        api = kubernetes.config.new_client_from_config(config_file=str(Path(sandbox.kubeconfig)))
        yield Environment(api, sandbox.endpoints["agora"])
        api.close()


@pytest.fixture(scope="module")
def agora(e2e: Environment) -> Iterator[httpx.Client]:
    """The Agora emulator's control API (`/_emulator/...`)."""
    with httpx.Client(base_url=e2e.agora_url, timeout=10) as client:
        yield client
