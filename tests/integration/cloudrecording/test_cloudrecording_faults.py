"""Provider faults and operator restarts: retried when retryable, never a second paid session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox
from tests.support.harness import Agora, Cluster, recording
from tests.support.waiting import wait_for

#: Agora resends a notice that got no 200 (here: while the operator is down) at growing intervals;
#: the emulator's (1 s, doubling: 63 s in all) outlast an operator restart on a loaded machine.
RESENDS_ACROSS_A_RESTART = {"retries": 6, "retryIntervalMs": 1000}
#: The harness's own setting, restored after a test that changed it.
RESENDS_DEFAULT = {"retries": 3, "retryIntervalMs": 100}


def phase(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name) or {}).get("status") or {}).get("phase")


def synced(cluster: Cluster, name: str) -> dict[str, Any]:
    conditions = ((cluster.get(name) or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Synced"), {})


def cname_calls(agora: Agora, endpoint: str, cname: str) -> int:
    return sum(1 for r in agora.requests() if r["endpoint"] == endpoint and r.get("cname") == cname)


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_retryable_start_failures_converge(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 4, 503)
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=40, what="Recording after 503s")
    tasks = agora.tasks(name)
    assert len(tasks) == 1
    assert cname_calls(agora, "start", name) == 5
    cleanup(cluster, name)


def test_rate_limit_and_code_65_are_retried(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("acquire", 2, 429, message="API rate limit exceeded")
    agora.fault("start", 1, 206, code=65, message="request not completed")
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=40, what="Recording after 429 and 65")
    assert len(agora.tasks(name)) == 1
    cleanup(cluster, name)


def test_invalid_parameters_are_not_retried(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 1, 400, code=2, message="invalid mixedVideoLayout")
    cluster.create(body)
    wait_for(lambda: synced(cluster, name).get("reason") == "InvalidSpec", what="InvalidSpec")
    obj = cluster.get(name)
    assert obj and obj["status"]["phase"] == "Failed"
    assert "invalid mixedVideoLayout" in synced(cluster, name)["message"]
    assert "InvalidSpec" in {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    time.sleep(3)  # several backoff periods: nothing is retried
    assert cname_calls(agora, "start", name) == 1
    assert cname_calls(agora, "acquire", name) == 1
    # A spec change is a new attempt.
    cluster.patch(name, {"spec": {"maxDuration": "1h"}})
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording after a spec change")
    cleanup(cluster, name)


def test_expired_resource_is_reacquired(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 1, 400, code=433, message="resource expired")
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording after 433")
    assert cname_calls(agora, "acquire", name) == 2
    assert len(agora.tasks(name)) == 1
    cleanup(cluster, name)


def test_restart_during_start_never_starts_a_second_session(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "start", "count": 1, "latencyMs": 1500}
    ).raise_for_status()
    cluster.create(body)
    # The start-pending annotation is written before start is sent.
    wait_for(
        lambda: (
            "recording.mediaops.io/start-pending"
            in ((cluster.get(name) or {}).get("metadata", {}).get("annotations") or {})
        ),
        what="start-pending annotation",
    )
    # The start has reached the emulator (its latency fault is taken) and is being held there.
    wait_for(lambda: agora.http.get("/_emulator/faults").json()["faults"] == [], what="start received")
    sandbox.stop_operator(kill=True)
    time.sleep(2)  # the delayed start starts a task; its sid never reached us
    sandbox.start_operator()
    # The resumed start (same resourceId) answers 201/7: the session runs, its sid is unknown.
    wait_for(
        lambda: synced(cluster, name).get("reason") == "StartResultUnknown",
        timeout=30,
        what="StartResultUnknown",
    )
    assert phase(cluster, name) == "Starting"  # a session may run: not Failed
    assert "recording.mediaops.io/start-pending" in cluster.get(name)["metadata"]["annotations"]  # type: ignore[index]
    assert len(agora.tasks(name)) == 1
    assert cname_calls(agora, "acquire", name) == 1
    cleanup(cluster, name)


def test_restart_during_a_second_start_loses_neither_session(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    """Record, stop, record again with the operator killed while the second start is at Agora:
    the ended session's sid must not pass for the new one, so the new session is adopted from its
    notification and stopped on delete (found by the fault campaign: 25 of 500 Agora lifecycles
    leaked their second session when a crash or a refused status write hit this window)."""
    body = recording()
    name = body["metadata"]["name"]
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", what="first session Recording")
    first = cluster.get(name)["status"]["sid"]  # type: ignore[index]
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: phase(cluster, name) == "Stopped", what="first session Stopped")
    # Agora resends a notice that got no 200 (here: while the operator is down) on a longer schedule.
    agora.http.post("/_emulator/callbacks", json=RESENDS_ACROSS_A_RESTART).raise_for_status()
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "start", "count": 1, "latencyMs": 1500}
    ).raise_for_status()
    cluster.patch(name, {"spec": {"state": "Recording"}})
    wait_for(lambda: agora.http.get("/_emulator/faults").json()["faults"] == [], what="second start received")
    sandbox.stop_operator(kill=True)
    time.sleep(2)  # the held start starts a second task; its answer never reaches the operator
    sandbox.start_operator()
    second = [t for t in agora.tasks(name) if t["sid"] != first]
    assert len(second) == 1 and not second[0]["stopped"]
    wait_for(
        lambda: (cluster.get(name) or {}).get("status", {}).get("sid") == second[0]["sid"],
        timeout=30,
        what="the second session adopted",
    )
    cleanup(cluster, name)
    agora.http.post("/_emulator/callbacks", json=RESENDS_DEFAULT).raise_for_status()
    assert [t["sid"] for t in agora.tasks(name) if not t["stopped"]] == []


def test_a_resumed_start_whose_resource_expired_adopts_with_the_resource_that_started_it(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    """The operator dies while its start is at Agora, and comes back after the resourceId expired:
    the resumed start answers 433, the re-acquired resource answers 53 (the first start's session
    is in progress). The session is then awaited with the resourceId that started it, so once its
    notification names it, it is queried and stopped with that pair (not with the new resourceId,
    which Agora answers 1003 for)."""
    body = recording()
    name = body["metadata"]["name"]
    app = body["spec"]["agora"]["appId"]
    agora.http.put(f"/_emulator/channels/{app}/{name}/users", json={"users": ["7"]}).raise_for_status()
    agora.http.post("/_emulator/callbacks", json=RESENDS_ACROSS_A_RESTART).raise_for_status()
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "start", "count": 1, "latencyMs": 1500}
    ).raise_for_status()
    cluster.create(body)
    wait_for(lambda: agora.http.get("/_emulator/faults").json()["faults"] == [], what="start received")
    sandbox.stop_operator(kill=True)
    time.sleep(2)  # the held start starts the session; its answer never reaches the operator
    first = agora.tasks(name)
    assert len(first) == 1
    agora.http.post("/_emulator/clock", json={"advanceSeconds": 301}).raise_for_status()  # resource TTL
    sandbox.start_operator()
    wait_for(
        lambda: (cluster.get(name) or {}).get("status", {}).get("sid") == first[0]["sid"],
        timeout=30,
        what="the session adopted",
    )
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=30, what="Recording")
    assert (cluster.get(name) or {})["status"]["resourceId"] == first[0]["resourceId"]
    cleanup(cluster, name)
    agora.http.post("/_emulator/callbacks", json=RESENDS_DEFAULT).raise_for_status()
    assert [t["sid"] for t in agora.tasks(name) if not t["stopped"]] == []


def test_restart_while_recording_keeps_tracking_the_same_session(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording")
    sid = cluster.get(name)["status"]["sid"]  # type: ignore[index]
    sandbox.stop_operator()
    sandbox.start_operator()
    queries_before = sum(1 for r in agora.requests() if r["endpoint"] == "query" and sid in r["path"])
    wait_for(
        lambda: (
            sum(1 for r in agora.requests() if r["endpoint"] == "query" and sid in r["path"]) > queries_before
        ),
        timeout=30,
        what="queries after restart",
    )
    assert cluster.get(name)["status"]["sid"] == sid  # type: ignore[index]
    assert cname_calls(agora, "acquire", name) == 1
    assert len(agora.tasks(name)) == 1
    cleanup(cluster, name)


def test_the_timer_outlives_a_kubernetes_api_outage(sandbox: Sandbox, cluster: Cluster, agora: Agora) -> None:
    # kopf applies a timer's patch itself and, once its retries (about 54 s) are used up, stops that
    # object's timer for good. Here every status write fails for a while right when maxDuration
    # ends the session: the timer must keep going and report the stop once the API answers again.
    body = recording(maxDuration="4s")
    name = body["metadata"]["name"]
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording")
    kube = httpx.Client(base_url=sandbox.endpoints["kubernetes"], timeout=10)
    fault = {"method": "PATCH", "resource": "cloudrecordings", "code": 503, "count": 12}
    kube.post("/_emulator/faults", json=fault).raise_for_status()
    wait_for(
        lambda: kube.get("/_emulator/faults").json()["faults"] == [], timeout=60, what="the outage to pass"
    )
    stopped = wait_for(
        lambda: (s := (cluster.get(name) or {}).get("status") or {}).get("phase") == "Stopped" and s,
        timeout=30,
        what="the maxDuration stop reported after the outage",
    )
    assert stopped["stopReason"] == "MaxDurationReached"
    assert [t for t in agora.tasks(name) if not t["stopped"]] == []
    cleanup(cluster, name)


def create_with_start_held(cluster: Cluster, agora: Agora, body: dict[str, Any]) -> None:
    """Create `body` with its Agora start held 1.5 s at the emulator; return once it is held there."""
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "start", "count": 1, "latencyMs": 1500}
    ).raise_for_status()
    cluster.create(body)
    wait_for(lambda: agora.http.get("/_emulator/faults").json()["faults"] == [], what="start received")


@contextmanager
def api_outage(sandbox: Sandbox) -> Iterator[None]:
    """Every Kubernetes API request answers 503 inside the block."""
    kube = httpx.Client(base_url=sandbox.endpoints["kubernetes"], timeout=10)
    outage = {"method": "*", "resource": "*", "code": 503, "count": 1_000_000}
    kube.post("/_emulator/faults", json=outage).raise_for_status()
    try:
        yield
    finally:
        kube.delete("/_emulator/faults").raise_for_status()


def test_an_api_outage_across_the_start_answer_loses_no_session(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    """The Kubernetes API goes down while a start is at Agora, so the session's sid cannot be
    written when the answer arrives and its notices cannot be applied either. Once the API is back,
    the recording must follow that session (not leave it running unknown), so that stopping,
    recording again and deleting leave nothing running (found by the fault campaign: seed 1,
    agora#303, a 30 s outage injected by another lifecycle)."""
    body = recording()
    name = body["metadata"]["name"]
    create_with_start_held(cluster, agora, body)
    with api_outage(sandbox):
        time.sleep(8)  # the start's answer and the session's first notices meet the outage
    first = agora.tasks(name)
    assert len(first) == 1
    wait_for(
        lambda: (cluster.get(name) or {}).get("status", {}).get("sid") == first[0]["sid"],
        timeout=60,
        what="the started session followed",
    )
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: phase(cluster, name) == "Stopped", timeout=30, what="Stopped")
    cluster.patch(name, {"spec": {"state": "Recording"}})
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=60, what="Recording again")
    cleanup(cluster, name)
    assert [t["sid"] for t in agora.tasks(name) if not t["stopped"]] == []


def test_stopped_while_the_operator_was_down_during_a_start_stops_what_it_started(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    """The operator dies while its start is at Agora, and `state: Stopped` is set before it comes
    back: the pending start has no recorded answer, so it may have started a session. The marker
    must be kept (not cleared as a start that never left) so that the session's notice is adopted
    and the session stopped (found by the fault campaign: seed 1, agora#220, which leaked)."""
    body = recording()
    name = body["metadata"]["name"]
    # Agora resends a notice that got no 200 (here: while the operator is down) on a longer schedule.
    agora.http.post("/_emulator/callbacks", json=RESENDS_ACROSS_A_RESTART).raise_for_status()
    create_with_start_held(cluster, agora, body)
    sandbox.stop_operator(kill=True)
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    time.sleep(2)  # the held start starts the session; its answer never reaches the operator
    started = agora.tasks(name)
    assert len(started) == 1 and not started[0]["stopped"]
    sandbox.start_operator()
    wait_for(
        lambda: [t for t in agora.tasks(name) if not t["stopped"]] == [],
        timeout=60,
        what="the session the start left running stopped",
    )
    wait_for(lambda: phase(cluster, name) == "Stopped", timeout=30, what="Stopped")
    assert (cluster.get(name) or {})["status"]["sessions"][-1]["sid"] == started[0]["sid"]
    cleanup(cluster, name)
    agora.http.post("/_emulator/callbacks", json=RESENDS_DEFAULT).raise_for_status()


def test_a_restart_during_an_api_outage_across_the_start_answer_loses_no_session(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    """As above, and the operator is killed before the API comes back: the answered sid, which
    no status write and no notice could record, comes from the operator's journal
    (`OPERATOR_STATE_DIR`, the Pod's emptyDir on a cluster) after the restart."""
    body = recording()
    name = body["metadata"]["name"]
    create_with_start_held(cluster, agora, body)
    with api_outage(sandbox):
        time.sleep(5)  # the start's answer and the session's notices meet the outage
        sandbox.stop_operator(kill=True)
    started = agora.tasks(name)
    assert len(started) == 1
    sandbox.start_operator()
    wait_for(
        lambda: (cluster.get(name) or {}).get("status", {}).get("sid") == started[0]["sid"],
        timeout=60,
        what="the started session followed after the restart",
    )
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=30, what="Recording")
    cleanup(cluster, name)
    assert [t["sid"] for t in agora.tasks(name) if not t["stopped"]] == []


def test_a_query_answered_after_a_stop_and_a_new_start_does_not_end_the_new_session(
    cluster: Cluster, agora: Agora
) -> None:
    """A tick's query of the first session is held 8 s at Agora; meanwhile the recording is stopped
    and started again. The query then answers 404 (the first session is gone): that is not the end
    of the second session, which the recording names by then. Written as its end, the finalizer
    would find nothing to stop and the second session would run on (found by the fault campaign:
    seed 1, agora#82)."""
    body = recording()
    name = body["metadata"]["name"]
    cluster.create(body)
    first = wait_for(
        lambda: (s := (cluster.get(name) or {}).get("status") or {}).get("phase") == "Recording" and s["sid"],
        what="Recording",
    )
    held_s = 8.0
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "query", "cname": name, "count": 1, "latencyMs": int(held_s * 1000)},
    ).raise_for_status()
    wait_for(lambda: agora.http.get("/_emulator/faults").json()["faults"] == [], what="a query held at Agora")
    held_at = time.monotonic()
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: phase(cluster, name) == "Stopped", what="the first session stopped")
    cluster.patch(name, {"spec": {"state": "Recording"}})
    second = wait_for(
        lambda: (
            (s := (cluster.get(name) or {}).get("status") or {}).get("phase") == "Recording"
            and s.get("sid") != first
            and s["sid"]
        ),
        what="the second session Recording",
    )
    assert time.monotonic() < held_at + held_s, "the held query was answered before the second start"
    time.sleep(held_at + held_s + 3 - time.monotonic())  # the 404 is answered and the tick is over
    status = (cluster.get(name) or {})["status"]
    assert (status["phase"], status["sid"]) == ("Recording", second)
    cleanup(cluster, name)
    assert [t["sid"] for t in agora.tasks(name) if not t["stopped"]] == []
