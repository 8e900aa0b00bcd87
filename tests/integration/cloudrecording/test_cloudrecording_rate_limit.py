"""The real operator against an Agora emulator enforcing a low per-App ID limit: every recording
reaches Recording, no 429 is ever received, and deleting them all (stops) goes through while
queries are queued."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording
from tests.support.waiting import wait_for

QPS = 2
COUNT = 20


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "AGORA_RECORDING_QPS": str(QPS)}


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    return {"agora_options": {"qps_limit": QPS}}


def phases(cluster: Cluster, names: list[str]) -> list[str | None]:
    return [((cluster.get(n) or {}).get("status") or {}).get("phase") for n in names]


def test_twenty_recordings_on_two_qps_all_record_without_a_429(cluster: Cluster, agora: Agora) -> None:
    bodies = [recording(f"paced-{i:02d}") for i in range(COUNT)]
    for body in bodies:
        assert cluster.create(body).status_code == 201
    names = [b["metadata"]["name"] for b in bodies]
    wait_for(lambda: all(p == "Recording" for p in phases(cluster, names)), timeout=120, what="all Recording")
    for name in names:
        conditions = (cluster.get(name) or {})["status"]["conditions"]
        assert not any(c["type"] == "Synced" and c["status"] == "False" for c in conditions), name
    log = agora.requests()
    assert [r for r in log if r["httpStatus"] == 429] == []
    assert len(agora.tasks()) == COUNT  # one paid session each
    # Every query every second is far over 2/s: stops must not starve behind them.
    for name in names:
        cluster.delete(name)
    wait_for(lambda: all(cluster.get(n) is None for n in names), timeout=120, what="all deleted")
    log = agora.requests()
    assert sum(r["endpoint"] == "stop" for r in log) == COUNT
    assert [r for r in log if r["httpStatus"] == 429] == []
