"""CloudTranscoder fixtures: the top-level `sandbox` with the transcoder's fast timings, and `cluster`
and `agora` as the transcoder's typed clients."""

from __future__ import annotations

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import TRANSCODER_TEST_ENV, TranscoderAgora, TranscoderCluster


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    """The transcoder's fast timings on top of the common test timings."""
    return TRANSCODER_TEST_ENV


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> TranscoderCluster:
    return TranscoderCluster.of(sandbox)


@pytest.fixture(scope="module")
def agora(sandbox: Sandbox) -> TranscoderAgora:
    return TranscoderAgora.of(sandbox)
