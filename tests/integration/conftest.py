"""Fixtures: one sandbox with the real operator per test module (see tests/support/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox
from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, Files, SandboxThread, s3_client
from tests.support.localrecordings import SrtSource, kube_client


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    """The operator's environment in `sandbox` (a folder's conftest.py may override it)."""
    return TEST_OPERATOR_ENV


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    """Further `Sandbox` options of `sandbox`, e.g. `{"with_s3": False}` (a module may override it)."""
    return {}


@pytest.fixture(scope="module")
def sandbox(
    tmp_path_factory: pytest.TempPathFactory, operator_env: dict[str, str], sandbox_options: dict[str, Any]
) -> Iterator[Sandbox]:
    """The sandbox with the real operator, one per test module."""
    state = tmp_path_factory.mktemp("sandbox")
    with SandboxThread(state, with_operator=True, operator_env=operator_env, **sandbox_options) as sb:
        yield sb


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> Cluster:
    return Cluster.of(sandbox)


@pytest.fixture(scope="module")
def agora(sandbox: Sandbox) -> Agora:
    return Agora.of(sandbox)


@pytest.fixture(scope="module")
def files(sandbox: Sandbox, cluster: Cluster) -> Files:
    """RecordedFiles of the module's sandbox (after `cluster` applied the sample Secrets)."""
    return Files(sandbox.endpoints["kubernetes"])


@pytest.fixture(scope="module")
def s3(sandbox: Sandbox) -> Any:
    """A boto3 client of the module's sandbox S3 server."""
    return s3_client(sandbox.endpoints["s3"])


@pytest.fixture(scope="module")
def kube(sandbox: Sandbox) -> httpx.Client:
    """A client of the module's sandbox Kubernetes API, with the `s3` Secret LocalRecordings use."""
    return kube_client(sandbox)


@pytest.fixture
def source() -> Iterator[SrtSource]:
    """A live SRT test stream (ffmpeg listener) for one test."""
    src = SrtSource(free_port())
    yield src
    src.close()
