"""A start whose answer is lost: never repeated, said so on the resource, adopted, stopped on delete.

The emulator processes the start at once (a paid session runs) and answers after the operator's
start timeout. Adoption is what the callback receiver does when Agora's notification names the sid:
a merge patch on /status writing `sid` and `resourceId` while the start-pending annotation is there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording
from tests.support.waiting import wait_for

PENDING = "recording.mediaops.io/start-pending"
#: The emulator answers the start after this long; the operator gives up after AGORA_START_TIMEOUT.
LATE_MS = 4000


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "AGORA_START_TIMEOUT": "1.5", "RECORDING_ADOPT_WAIT": "12"}


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    """No callbacks: here only the test adopts (`adopt`), so the waiting is seen; adoption by Agora's
    notification is tested in tests/integration/callbacks."""
    return {"callbacks": False}


def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status_of(cluster, name).get("conditions") or [] if c["type"] == type_), {})


def annotations(cluster: Cluster, name: str) -> dict[str, str]:
    return ((cluster.get(name) or {}).get("metadata") or {}).get("annotations") or {}


def running(agora: Agora, name: str) -> list[dict[str, Any]]:
    return [t for t in agora.tasks(name) if not t["stopped"]]


def starts(agora: Agora, name: str) -> int:
    return sum(1 for r in agora.requests() if r["endpoint"] == "start" and r.get("cname") == name)


def lose_next_start_answer(agora: Agora) -> None:
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "start", "count": 1, "latencyMs": LATE_MS, "answerLate": True},
    ).raise_for_status()


def adopt(cluster: Cluster, name: str, task: dict[str, Any]) -> None:
    """What the callback receiver does with a notification naming the session's sid."""
    response = cluster.http.patch(
        cluster._crs(name) + "/status",
        json={"status": {"sid": task["sid"], "resourceId": task["resourceId"]}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()


def unknown_start(cluster: Cluster, agora: Agora) -> tuple[str, dict[str, Any]]:
    body = recording()
    name = body["metadata"]["name"]
    lose_next_start_answer(agora)
    cluster.create(body)
    wait_for(
        lambda: condition(cluster, name, "Synced").get("reason") == "StartResultUnknown",
        timeout=30,
        what="Synced=False StartResultUnknown",
    )
    wait_for(lambda: len(running(agora, name)) == 1, what="the session the lost start began")
    return name, running(agora, name)[0]


def test_lost_start_answer_is_not_retried_and_waits_for_adoption(cluster: Cluster, agora: Agora) -> None:
    name, task = unknown_start(cluster, agora)
    wait_for(lambda: starts(agora, name) >= 1, what="the late start answer in the log")
    status = status_of(cluster, name)
    assert status["phase"] == "Starting"  # not Failed: a session may be running
    assert "sid" not in status or status["sid"] is None
    pending = json.loads(annotations(cluster, name)[PENDING])
    assert pending["resourceId"] == task["resourceId"] and pending.get("unknownSince")
    warnings = [e for e in cluster.events(name) if e["reason"] == "StartResultUnknown"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert f"channel {name}" in warnings[0]["message"] and f"uid {task['uid']}" in warnings[0]["message"]
    assert starts(agora, name) == 1  # the start is never sent again
    assert len(agora.tasks(name)) == 1

    adopt(cluster, name, task)
    wait_for(lambda: status_of(cluster, name).get("phase") == "Recording", what="Recording after adoption")
    wait_for(lambda: PENDING not in annotations(cluster, name), what="marker cleared after adoption")
    assert condition(cluster, name, "Synced")["status"] == "True"
    assert status_of(cluster, name)["sid"] == task["sid"]
    assert starts(agora, name) == 1

    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")
    assert running(agora, name) == []


def test_delete_while_start_unknown_waits_for_adoption_then_stops(cluster: Cluster, agora: Agora) -> None:
    name, task = unknown_start(cluster, agora)
    cluster.delete(name)
    adopt(cluster, name, task)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what=f"{name} deleted")
    assert running(agora, name) == []  # the adopted session was stopped before the resource went
    wait_for(lambda: starts(agora, name) >= 1, what="the late start answer in the log")
    assert starts(agora, name) == 1


def test_delete_while_start_unknown_releases_with_a_warning_after_the_wait(
    cluster: Cluster, agora: Agora
) -> None:
    name, task = unknown_start(cluster, agora)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=40, what=f"{name} released after the wait")
    warnings = [e for e in cluster.events(name) if e["reason"] == "SessionMayBeRunning"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    message = warnings[0]["message"]
    assert f"channel {name}" in message and f"uid {task['uid']}" in message
    assert task["resourceId"] in message and "maxIdleTime" in message
    # Not something this operator can stop without a sid: it is still running at the emulator.
    assert len(running(agora, name)) == 1


def test_stopped_while_start_unknown_says_a_session_may_run_then_stops_the_adopted_one(
    cluster: Cluster, agora: Agora
) -> None:
    """`state: Stopped` while the start's answer is unknown: Ready does not claim that no session
    runs (one may), and the session, once adopted, is stopped."""
    name, task = unknown_start(cluster, agora)
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    ready = wait_for(
        lambda: (c := condition(cluster, name, "Ready")).get("reason") == "Stopped" and c,
        what="Ready Stopped",
    )
    assert (
        "may have started a session" in ready["message"] and "no session is running" not in ready["message"]
    )
    assert PENDING in annotations(cluster, name)
    adopt(cluster, name, task)
    wait_for(lambda: running(agora, name) == [], timeout=30, what="the adopted session stopped")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")
