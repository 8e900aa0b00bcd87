"""Callback tests: the real operator with its receiver, the Agora emulator sending signed NCS notices.

Queries are made rare (one an hour), so a status change can only come from a notice."""

from __future__ import annotations

import pytest

from tests.support.harness import TEST_OPERATOR_ENV


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {
        **TEST_OPERATOR_ENV,
        "CLOUDRECORDING_QUERY_INTERVAL": "3600",
        "CLOUDTRANSCODER_QUERY_INTERVAL": "3600",
        "CLOUDTRANSCODER_TICK": "0.5",
        # Notices for unknown sessions are counted unmatched at once (not refused while the
        # operator has just started and may not have listed the recordings yet).
        "CALLBACKS_UNMATCHED_GRACE": "0",
    }
