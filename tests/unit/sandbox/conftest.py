"""Fixtures for the Kubernetes API emulator's tests: an emulator on port 0 and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from recording_sandbox.kube import KubeEmulator

KUBE_FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "kube"


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    emulator = KubeEmulator(crd_paths=[KUBE_FIXTURES], namespaces=["default", "other"])
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def kube_http(kube: KubeEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=kube.url) as session:
        yield session
