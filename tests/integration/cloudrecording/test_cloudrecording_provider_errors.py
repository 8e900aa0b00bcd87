"""Agora's documented error answers, as the real operator meets them at the emulator: each becomes
its own reason with a message a user can act on, and is retried only when retrying can help."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.support.harness import Agora, Cluster, recording
from tests.support.waiting import wait_for


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status(cluster, name).get("conditions") or [] if c["type"] == type_), {})


def calls(agora: Agora, endpoint: str, cname: str) -> int:
    return sum(1 for r in agora.requests() if r["endpoint"] == endpoint and r.get("cname") == cname)


def set_app(agora: Agora, app_id: str, **settings: bool) -> None:
    agora.http.put(f"/_emulator/apps/{app_id}", json=settings).raise_for_status()


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_cloud_recording_not_enabled_is_its_own_terminal_reason(cluster: Cluster, agora: Agora) -> None:
    app_id = uuid.uuid4().hex
    set_app(agora, app_id, cloudRecording=False)
    body = recording(agora__appId=app_id)
    name = body["metadata"]["name"]
    cluster.create(body)
    synced = wait_for(
        lambda: (c := condition(cluster, name, "Synced")).get("reason") == "RecordingNotEnabled" and c,
        what="Synced RecordingNotEnabled",
    )
    assert f"not enabled for App ID {app_id}" in synced["message"]
    assert "Agora Console" in synced["message"]
    assert status(cluster, name)["phase"] == "Failed"
    assert "RecordingNotEnabled" in {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    time.sleep(3)  # several backoff periods: a disabled service is not asked again
    assert calls(agora, "acquire", name) == 1
    # Enabled in the console, then any spec change is a new attempt.
    set_app(agora, app_id, cloudRecording=True)
    cluster.patch(name, {"spec": {"maxDuration": "1h"}})
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording once enabled")
    cleanup(cluster, name)


def test_no_users_at_start_waits_for_users_then_records(cluster: Cluster, agora: Agora) -> None:
    app_id = uuid.uuid4().hex
    set_app(agora, app_id, startNeedsUsers=True)
    body = recording(agora__appId=app_id)
    name = body["metadata"]["name"]
    cluster.create(body)
    recording_cond = wait_for(
        lambda: (c := condition(cluster, name, "Recording")).get("reason") == "NoUsersInChannel" and c,
        what="Recording=False NoUsersInChannel",
    )
    assert recording_cond["status"] == "False"
    assert "nobody is in channel" in recording_cond["message"]
    assert condition(cluster, name, "Synced")["reason"] == "NoUsersInChannel"
    assert status(cluster, name)["phase"] == "Starting"  # not Failed: it is retried
    wait_for(lambda: calls(agora, "start", name) >= 2, what="the start retried")
    assert agora.tasks(name) == []
    agora.set_users(app_id, name, ["1001"])
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording once a user joined")
    assert len(agora.tasks(name)) == 1
    assert calls(agora, "acquire", name) == calls(agora, "start", name)  # each 435 released its resourceId
    wait_for(lambda: condition(cluster, name, "Recording").get("status") == "True", what="Recording=True")
    cleanup(cluster, name)


def test_stopped_while_nobody_joined_leaves_no_start_pending(cluster: Cluster, agora: Agora) -> None:
    """435 (nobody in the channel) is a definite answer: nothing started, so `state: Stopped` then
    is a plain stop, without a start-result-unknown Warning or a deletion that waits for a session."""
    app_id = uuid.uuid4().hex
    set_app(agora, app_id, startNeedsUsers=True)
    body = recording(agora__appId=app_id)
    name = body["metadata"]["name"]
    cluster.create(body)
    wait_for(
        lambda: condition(cluster, name, "Synced").get("reason") == "NoUsersInChannel",
        what="Synced=False NoUsersInChannel",
    )
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: status(cluster, name).get("phase") == "Stopped", what="Stopped")
    annotations = (cluster.get(name) or {})["metadata"].get("annotations") or {}
    assert "recording.mediaops.io/start-pending" not in annotations
    cleanup(cluster, name)
    reasons = {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    assert not reasons & {"StartResultUnknown", "SessionMayBeRunning"}, reasons
    assert agora.tasks(name) == []


def test_432_is_reacquired_once(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 1, 400, code=432, message="appid, cname or uid does not match the resourceId")
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording after 432")
    assert calls(agora, "acquire", name) == 2
    assert len(agora.tasks(name)) == 1
    cleanup(cluster, name)


def test_432_again_with_a_fresh_resource_is_a_terminal_mismatch(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 2, 400, code=432, message="recording already in progress")
    cluster.create(body)
    synced = wait_for(
        lambda: (c := condition(cluster, name, "Synced")).get("reason") == "ResourceMismatch" and c,
        what="Synced ResourceMismatch",
    )
    uid = body["spec"]["agora"]["uid"]
    assert f"Stop the other recorder using uid {uid}" in synced["message"]
    assert "recording already in progress" in synced["message"]  # Agora's own answer
    assert status(cluster, name)["phase"] == "Failed"
    time.sleep(3)
    assert calls(agora, "start", name) == 2
    cleanup(cluster, name)


def test_update_answering_404_is_confirmed_not_an_invalid_spec(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    sid = status(cluster, name)["sid"]
    agora.fault("updateLayout", 1, 404, code=404, message="failed to find worker")
    cluster.patch(
        name, {"spec": {"agora": {"recordingConfig": {"transcodingConfig": {"mixedVideoLayout": 0}}}}}
    )
    # The session still answers query: the layout is sent again and applied to the same session.
    wait_for(lambda: agora.calls("updateLayout", sid) >= 2, what="updateLayout sent again")
    wait_for(
        lambda: (
            (o := cluster.get(name)) and o["status"].get("observedGeneration") == o["metadata"]["generation"]
        ),
        what="observedGeneration",
    )
    assert condition(cluster, name, "Synced")["status"] == "True"
    assert status(cluster, name)["sid"] == sid and status(cluster, name)["phase"] == "Recording"
    assert "SessionMigrating" in {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    cleanup(cluster, name)
