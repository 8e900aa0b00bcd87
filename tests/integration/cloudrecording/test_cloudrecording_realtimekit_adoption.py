"""RealtimeKit starts whose answer is lost: the meeting's active recording is adopted, never a second
one started, and a resource deleted meanwhile stops it."""

from __future__ import annotations

from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.integration.cloudrecording.test_cloudrecording_realtimekit import (
    SECRET,
    RealtimeKit,
    realtimekit_recording,
    status,
)
from tests.support.harness import TEST_OPERATOR_ENV, Cluster
from tests.support.waiting import wait_for

#: The emulator answers the start after this long: later than the RealtimeKit timeout the operator
#: used before starts had their own (3 × AGORA_TIMEOUT = 6 s here), and than AGORA_START_TIMEOUT.
LATE_MS = 8000


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "AGORA_TIMEOUT": "2", "AGORA_START_TIMEOUT": "1.5"}


@pytest.fixture(scope="module")
def rtk(sandbox: Sandbox, cluster: Cluster) -> RealtimeKit:
    response = cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=SECRET)
    assert response.status_code in (201, 409)
    return RealtimeKit(sandbox.endpoints["realtimekit"])


def lose_next_start_answer(rtk: RealtimeKit) -> None:
    rtk.http.post(
        "/_emulator/faults", json={"endpoint": "start", "count": 1, "latencyMs": LATE_MS, "answerLate": True}
    ).raise_for_status()


def active(rtk: RealtimeKit, meeting: str) -> list[dict[str, Any]]:
    return [r for r in rtk.recordings(meeting) if r["active"]]


def test_lost_start_answer_adopts_the_active_recording(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    lose_next_start_answer(rtk)
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("recordingId"), timeout=30, what="the recording adopted")
    [recording] = rtk.recordings(meeting)
    assert status(cluster, name)["recordingId"] == recording["id"]
    wait_for(
        lambda: (
            "recording.mediaops.io/start-pending"
            not in ((cluster.get(name) or {})["metadata"].get("annotations") or {})
        ),
        what="the start-pending marker cleared after the recordingId was written",
    )
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert active(rtk, meeting) == []


def test_delete_while_the_start_answer_is_lost_stops_the_recording(
    cluster: Cluster, rtk: RealtimeKit
) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    lose_next_start_answer(rtk)
    cluster.create(body)
    wait_for(lambda: rtk.recordings(meeting), what="the recording the lost start began")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="deletion")
    assert active(rtk, meeting) == []  # not left recording when the resource went
    assert len(rtk.recordings(meeting)) == 1
