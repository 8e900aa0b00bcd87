"""LocalRecording fixtures: the operator with the LocalRecording test timings (a module may override)."""

from __future__ import annotations

import pytest

from tests.support.localrecordings import OPERATOR_ENV


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    """The operator's environment for LocalRecording modules: polls every 0.5 s, restart backoff from 1 s."""
    return OPERATOR_ENV
