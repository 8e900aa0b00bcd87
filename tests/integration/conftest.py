"""Fixtures: one sandbox with the real operator per test module (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recording_operator.sandbox.runner import Sandbox

from .harness import TEST_OPERATOR_ENV, Agora, Cluster, SandboxThread


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("sandbox")
    with SandboxThread(state, with_operator=True, operator_env=TEST_OPERATOR_ENV) as sb:
        yield sb


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Cluster:
    c = Cluster(sandbox.endpoints["kubernetes"])
    c.apply_secrets()
    return c


@pytest.fixture(scope="module")
def agora(sandbox: Sandbox) -> Agora:
    return Agora(sandbox.endpoints["agora"])
