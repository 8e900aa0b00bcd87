"""Transcoder faults, operator restarts and RTC tokens: retried when retryable, never a second task,
never a second application of one update, and no minted token in status, Events or logs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from agora_rest.utils.AccessToken2 import AccessToken

from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    Cluster,
    TranscoderAgora,
    TranscoderCluster,
    recording,
    transcoder,
)
from tests.support.waiting import wait_for

APP_ID = transcoder()["spec"]["appId"]
CERTIFICATE = "fedcba9876543210fedcba9876543210"
CERT_REF = {"appCertificateSecretRef": {"name": "agora-app", "key": "appCertificate"}}


@pytest.fixture(scope="module")
def cluster(cluster: TranscoderCluster) -> TranscoderCluster:
    """The folder's `cluster`, plus the `agora-app` Secret holding the App Certificate."""
    c = cluster
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "agora-app", "labels": {"recording.mediaops.io/use": "true"}},
        "stringData": {"appCertificate": CERTIFICATE},
    }
    assert c.http.post("/api/v1/namespaces/default/secrets", json=secret).status_code == 201
    return c


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return ((cluster.get(name) or {}).get("status")) or {}


def synced(cluster: Cluster, name: str) -> dict[str, Any]:
    return next((c for c in status(cluster, name).get("conditions") or [] if c["type"] == "Synced"), {})


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def fault(agora: TranscoderAgora, endpoint: str, count: int, status: int | None, latency_ms: int = 0) -> None:
    body = {
        "endpoint": endpoint,
        "count": count,
        "status": status,
        "latencyMs": latency_ms,
        "message": "injected",
    }
    agora.http.post("/_emulator/faults", json=body).raise_for_status()


def test_retryable_failures_converge_on_one_task(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    fault(agora, "builderTokens", 2, 429)
    fault(agora, "createTask", 2, 503)
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "IN_PROGRESS", timeout=40, what="IN_PROGRESS")
    assert len(agora.transcoder_tasks(name)) == 1
    assert agora.channel_calls("createTask", name) == 3
    cleanup(cluster, name)


def test_invalid_config_is_not_retried(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    fault(agora, "createTask", 1, 400)
    cluster.create(body)
    wait_for(lambda: synced(cluster, name).get("reason") == "InvalidSpec", what="InvalidSpec")
    assert status(cluster, name)["phase"] == "Failed"
    assert "InvalidSpec" in {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    time.sleep(2)  # several backoff periods: nothing is retried
    assert agora.channel_calls("createTask", name) == 1
    cluster.patch(name, {"spec": {"idleTimeout": 120}})  # a spec change is a new attempt
    wait_for(lambda: status(cluster, name).get("taskId"), what="a task after a spec change")
    cleanup(cluster, name)


def test_instance_id_conflict_is_reported(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    first = transcoder(instanceId="shared-instance")
    second = transcoder(instanceId="shared-instance")
    cluster.create(first)
    wait_for(lambda: status(cluster, first["metadata"]["name"]).get("taskId"), what="first task")
    cluster.create(second)
    name = second["metadata"]["name"]
    wait_for(lambda: synced(cluster, name).get("reason") == "TaskConflict", what="TaskConflict")
    assert "shared-instance" in synced(cluster, name)["message"]
    cleanup(cluster, first["metadata"]["name"])  # frees the instanceId: the retry succeeds
    wait_for(lambda: status(cluster, name).get("taskId"), timeout=30, what="second task after the conflict")
    cleanup(cluster, name)


def test_restart_mid_update_resends_the_same_sequence_id(
    sandbox: Sandbox, cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001", "1002"])
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "IN_PROGRESS", what="IN_PROGRESS")
    fault(agora, "updateTask", 1, None, latency_ms=3000)  # the update reaches Agora after the crash
    regions = body["spec"]["videoInputs"]
    regions[0]["region"]["width"] = 320
    cluster.patch(name, {"spec": {"videoInputs": regions}})
    wait_for(lambda: status(cluster, name).get("pendingDigest"), what="sequenceId persisted before the call")
    assert status(cluster, name)["sequenceId"] == 1
    sandbox.stop_operator(kill=True)
    wait_for(lambda: agora.live_transcoder_tasks(name)[0]["updates"] == [1], what="the first update applied")
    sandbox.start_operator(log_name="operator-restarted.log")
    st = wait_for(
        lambda: (s := status(cluster, name)).get("sequenceId") == 1 and not s.get("pendingDigest") and s,
        timeout=40,
        what="the update confirmed after the restart",
    )
    [task] = agora.live_transcoder_tasks(name)
    assert task["updates"] == [1, 1]  # re-sent with the same sequenceId ...
    assert task["staleUpdates"] == 1  # ... which Agora ignores: the config was applied once
    assert task["config"]["videoInputs"][0]["region"]["width"] == 320
    assert st["taskId"] == task["taskId"] and agora.channel_calls("createTask", name) == 1
    cleanup(cluster, name)


def _token_fields(token: str) -> dict[str, Any]:
    parsed = AccessToken()
    assert parsed.from_string(token)
    return {"expire": parsed._AccessToken__expire, "app": parsed._AccessToken__app_id.decode()}


def test_minted_tokens_reach_agora_and_nowhere_else(
    sandbox: Sandbox, cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    for key in ("audioInputs", "videoInputs", "outputs"):
        for entry in body["spec"][key]:
            entry["rtc"]["token"] = CERT_REF
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "IN_PROGRESS", what="IN_PROGRESS")
    [task] = agora.live_transcoder_tasks(name)
    tokens = [
        e["rtc"]["rtcToken"] for k in ("audioInputs", "videoInputs", "outputs") for e in task["config"][k]
    ]
    assert len(tokens) == 5 and all(t.startswith("007") for t in tokens)
    assert all(_token_fields(t) == {"expire": 86400, "app": APP_ID} for t in tokens)
    visible = json.dumps(cluster.get(name)) + json.dumps(cluster.events(name))
    visible += (sandbox.state_dir / "operator.log").read_text()
    assert not any(t in visible for t in tokens)
    assert CERTIFICATE not in visible
    cleanup(cluster, name)


def test_cloudrecording_mints_its_token(sandbox: Sandbox, cluster: TranscoderCluster) -> None:
    recordings = Cluster(sandbox.endpoints["kubernetes"])
    too_long = recording(agora__token=CERT_REF)  # resourceExpiredHour defaults to 72 h
    response = recordings.create(too_long)
    assert response.status_code == 422 and "resourceExpiredHour <= 23" in response.text
    body = recording(agora__token=CERT_REF, agora__resourceExpiredHour=2)
    name = body["metadata"]["name"]
    assert recordings.create(body).status_code == 201
    sid = wait_for(
        lambda: status(recordings, name).get("phase") == "Recording" and status(recordings, name)["sid"],
        what="Recording",
    )
    token = sandbox.agora.state.tasks[sid].client_request["token"]
    assert _token_fields(token) == {"expire": 2 * 3600 + 600, "app": body["spec"]["agora"]["appId"]}
    assert token not in json.dumps(recordings.get(name)) + json.dumps(recordings.events(name))
    assert token not in (sandbox.state_dir / "operator.log").read_text()
    cleanup(recordings, name)
