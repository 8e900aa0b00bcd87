"""`restartPolicy: OnExit` and Agora's start health check, with the real operator and emulator: a
session Agora ends (idle past maxIdleTime) or one that never reaches status 4/5 is followed by a
new one, the old one kept in status.sessions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    """Agora's 90 s start check shortened to 3 s."""
    return {**TEST_OPERATOR_ENV, "AGORA_START_CHECK": "3"}


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status(cluster, name).get("conditions") or [] if c["type"] == type_), {})


def running(agora: Agora, cname: str) -> list[dict[str, Any]]:
    return [t for t in agora.tasks(cname) if not t["stopped"]]


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_idle_exit_is_followed_by_a_new_session(cluster: Cluster, agora: Agora) -> None:
    body = recording(restartPolicy="OnExit", agora__recordingConfig__maxIdleTime=30)
    name = body["metadata"]["name"]
    cluster.create(body)
    first = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Recording" and s, what="Recording")
    first_sid = first["sid"]
    # Nobody joins: Agora ends the task after maxIdleTime (the emulator's clock jumps past it; the
    # next session then has 30 real seconds), the operator starts another.
    agora.advance(31)
    # The new sid is written as soon as Agora answers the start; the restart's own fields follow in
    # the timer's write of that tick.
    after = wait_for(
        lambda: (
            (s := status(cluster, name)).get("sid") not in (None, first_sid) and "restartCount" in s and s
        ),
        timeout=60,
        what="a new session after the idle exit, and its restartCount",
    )
    assert after["restartCount"] == 1
    ended = after["sessions"][-1]
    assert ended["sid"] == first_sid and ended["stopReason"] == "ProviderEnded"
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])  # the new session stays
    wait_for(
        lambda: (
            status(cluster, name).get("phase") == "Recording"
            and condition(cluster, name, "Recording").get("status") == "True"
        ),
        timeout=60,
        what="Recording again",
    )
    assert "Restarted" in {e["reason"] for e in cluster.events(name) if e["type"] == "Normal"}
    assert [t["sid"] for t in running(agora, name)] == [after["sid"]]
    # state Stopped ends it for good (no restart).
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    stopped = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="Stopped")
    assert stopped["stopReason"] == "Requested"
    assert running(agora, name) == []
    cleanup(cluster, name)


def test_never_leaves_a_provider_ended_session_stopped(cluster: Cluster, agora: Agora) -> None:
    body = recording(agora__recordingConfig__maxIdleTime=30)
    name = body["metadata"]["name"]
    cluster.create(body)
    first = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Recording" and s, what="Recording")
    agora.advance(31)
    wait_for(
        lambda: status(cluster, name).get("stopReason") == "ProviderEnded", timeout=60, what="ProviderEnded"
    )
    assert condition(cluster, name, "Ready")["reason"] == "ProviderEnded"
    wait_for(lambda: len(agora.tasks(name)) == 1 and not running(agora, name), what="the task gone")
    assert status(cluster, name)["sid"] == first["sid"]  # nothing was started again
    assert not status(cluster, name).get("restartCount")
    cleanup(cluster, name)


def test_start_that_never_reaches_status_4_is_stopped_and_restarted(cluster: Cluster, agora: Agora) -> None:
    app_id = uuid.uuid4().hex
    agora.http.put(f"/_emulator/apps/{app_id}", json={"startStalls": True}).raise_for_status()
    body = recording(restartPolicy="OnExit", agora__appId=app_id)
    name = body["metadata"]["name"]
    cluster.create(body)
    first = wait_for(lambda: (s := status(cluster, name)).get("sid") and s, what="a session")
    first_sid = first["sid"]
    after = wait_for(
        lambda: (s := status(cluster, name)).get("sid") not in (None, first_sid) and s,
        timeout=60,
        what="a new session after StartTimedOut",
    )
    ended = after["sessions"][-1]
    assert ended["sid"] == first_sid and ended["stopReason"] == "StartTimedOut"
    assert agora.calls("stop", first_sid) == 1  # the stalled session was stopped, not left running
    warnings = [e for e in cluster.events(name) if e["type"] == "Warning" and e["reason"] == "StartTimedOut"]
    assert warnings and first_sid in warnings[0]["message"]
    assert len(running(agora, name)) <= 1
    cleanup(cluster, name)
