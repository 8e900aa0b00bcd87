"""`CALLBACKS_STOP_UNKNOWN_SESSIONS`: a session no CloudRecording owns is stopped when the operator knows
its resourceId (a start whose answer was lost, given up on when its recording was deleted). Agora's
notices carry no resourceId, so any other unknown session is only reported."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from recording_sandbox.runner import Sandbox
from tests.integration.callbacks.test_agora_callbacks import APP_ID, Ncs, create_with_its_start_answer_lost
from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {
        **TEST_OPERATOR_ENV,
        "CLOUDRECORDING_QUERY_INTERVAL": "3600",
        "CALLBACKS_STOP_UNKNOWN_SESSIONS": "true",
        "CALLBACKS_UNMATCHED_GRACE": "0",
    }


@pytest.fixture
def ncs(sandbox: Sandbox) -> Iterator[Ncs]:
    sender = Ncs(sandbox)
    yield sender
    sender.configure(delayMs=0)


def running(agora: Agora, cname: str) -> list[dict[str, object]]:
    return [t for t in agora.tasks(cname) if not t["stopped"]]


def test_session_of_a_start_given_up_on_is_stopped_when_its_notice_arrives(
    cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    # Notices arrive late (after the finalizer gave up waiting for an adoption), and Agora's answer
    # to the start is lost: the session runs, the operator never learns its sid.
    ncs.configure(delayMs=12000)
    name, task = create_with_its_start_answer_lost(cluster, agora)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="deleted (pending start released)")
    assert [t["sid"] for t in running(agora, name)] == [task["sid"]]  # nothing could stop it without its sid
    wait_for(lambda: running(agora, name) == [], timeout=40, what="the unknown session stopped")
    wait_for(lambda: agora.calls("stop", str(task["sid"])) == 1, what="the stop in the request log")
    assert str(task["resourceId"]) in next(
        r["path"] for r in agora.requests() if r["endpoint"] == "stop" and str(task["sid"]) in r["path"]
    )


def test_other_unknown_sessions_are_reported_not_stopped(cluster: Cluster, agora: Agora, ncs: Ncs) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    wait_for(
        lambda: ((cluster.get(name) or {}).get("status") or {}).get("phase") == "Recording", what="Recording"
    )
    stranger = uuid.uuid4().hex
    response = ncs.post(ncs.notice(40, stranger, name, "999", {"msgName": "recorder_started", "status": 0}))
    assert response.status_code == 200 and response.json()["result"] == "unmatched"
    event = wait_for(
        lambda: next((e for e in cluster.events(name) if e["reason"] == "UnknownSession"), None),
        what="UnknownSession Event",
    )
    assert "carry no resourceId" in event["message"]
    assert agora.calls("stop", stranger) == 0
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def test_a_failed_stop_of_a_start_given_up_on_is_tried_again_at_the_next_notice(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    """The stop of such a session fails (Agora answers 503 to every try): the session is stopped at
    one of its later notices (a running session sends 33 uploading_progress every minute; here every
    2 s), not reported once and left running."""
    ncs.configure(delayMs=12000, progressIntervalMs=2000)
    try:
        name, task = create_with_its_start_answer_lost(cluster, agora)
        sid = str(task["sid"])
        cluster.delete(name)
        wait_for(lambda: cluster.get(name) is None, timeout=30, what="deleted (pending start released)")
        agora.fault("stop", 1000, 503)
        failed = f"unknown Agora session {sid} in channel {name!r}: stopping it failed"
        log = sandbox.state_dir / "operator.log"
        wait_for(lambda: failed in log.read_text(), timeout=40, what="a first stop, refused to the end")
        assert running(agora, name) != []
        agora.http.delete("/_emulator/faults").raise_for_status()
        wait_for(lambda: running(agora, name) == [], timeout=40, what="the unknown session stopped")
    finally:
        ncs.configure(progressIntervalMs=60_000)


def test_a_start_given_up_on_is_still_stopped_after_an_operator_restart(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    """The start given up on is journalled (`OPERATOR_STATE_DIR`, `orphaned-starts.jsonl`): the
    operator killed between the recording's release and the session's first notice still stops the
    session once the notice comes (found by the fault campaign: seed 1, agora#137, released after
    its adoption wait while API outages and operator restarts lost every notice of its session)."""
    ncs.configure(delayMs=20000)
    try:
        name, task = create_with_its_start_answer_lost(cluster, agora)
        cluster.delete(name)
        wait_for(lambda: cluster.get(name) is None, timeout=30, what="deleted (pending start released)")
        sandbox.stop_operator(kill=True)
        sandbox.start_operator()
        assert [t["sid"] for t in running(agora, name)] == [task["sid"]]  # no notice has come yet
        wait_for(lambda: running(agora, name) == [], timeout=40, what="the session stopped after the restart")
    finally:
        ncs.configure(delayMs=0)
