"""RealtimeKit calls whose TCP connection is reset without an HTTP answer (the emulator's `drop`
fault): a start dropped after RealtimeKit started the recording is never sent again, the meeting's
active recording is adopted and stopped on delete; a stop dropped before RealtimeKit acted is sent
again."""

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


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "AGORA_TIMEOUT": "2"}


@pytest.fixture(scope="module")
def rtk(sandbox: Sandbox, cluster: Cluster) -> RealtimeKit:
    response = cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=SECRET)
    assert response.status_code in (201, 409)
    return RealtimeKit(sandbox.endpoints["realtimekit"])


def drop_next(rtk: RealtimeKit, endpoint: str, when: str) -> None:
    rtk.http.post(
        "/_emulator/faults", json={"endpoint": endpoint, "count": 1, "drop": when}
    ).raise_for_status()


def log_of(rtk: RealtimeKit, endpoint: str, meeting_or_id: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = rtk.http.get("/_emulator/requests").json()["requests"]
    return [r for r in log if r["endpoint"] == endpoint and meeting_or_id in r["path"]]


def active(rtk: RealtimeKit, meeting: str) -> list[dict[str, Any]]:
    return [r for r in rtk.recordings(meeting) if r["active"]]


def test_start_dropped_after_acting_adopts_the_one_recording_and_stops_it_on_delete(
    cluster: Cluster, rtk: RealtimeKit
) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    drop_next(rtk, "start", "after")
    cluster.create(body)
    recording_id = wait_for(lambda: status(cluster, name).get("recordingId"), timeout=30, what="adopted")
    [recording] = rtk.recordings(meeting)
    assert recording_id == recording["id"] and recording["active"]
    starts = [r for r in rtk.http.get("/_emulator/requests").json()["requests"] if r["endpoint"] == "start"]
    assert [r.get("dropped") for r in starts][-1:] == ["after"]
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="deletion")
    assert active(rtk, meeting) == []
    assert len(rtk.recordings(meeting)) == 1  # never a second recording


@pytest.mark.parametrize("when", ["before", "after"])
def test_dropped_stop_still_ends_the_recording(cluster: Cluster, rtk: RealtimeKit, when: str) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    cluster.create(body)
    recording_id = wait_for(lambda: status(cluster, name).get("recordingId"), timeout=30, what="started")
    drop_next(rtk, "action", when)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="deletion")
    assert active(rtk, meeting) == []
    actions = log_of(rtk, "action", recording_id)
    assert [r.get("dropped") for r in actions][:1] == [when]
    if when == "before":
        assert len(actions) >= 2  # the stop RealtimeKit never saw was sent again
