"""The real operator drives (sandboxed) Agora Cloud Transcoder tasks: create, query, update, delete."""

from __future__ import annotations

import time
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    TranscoderAgora,
    TranscoderCluster,
    transcoder,
)
from tests.support.kubectl import kubectl
from tests.support.waiting import wait_for

GROUP = "recording.mediaops.io"
RESTART = f"{GROUP}/restart-requested-at"

APP_ID = transcoder()["spec"]["appId"]


def status(cluster: TranscoderCluster, name: str) -> dict[str, Any]:
    return ((cluster.get(name) or {}).get("status")) or {}


def cond(cluster: TranscoderCluster, name: str, type_: str) -> dict[str, Any]:
    return next((c for c in status(cluster, name).get("conditions") or [] if c["type"] == type_), {})


def test_create_update_delete(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001", "1002"])
    assert cluster.create(body).status_code == 201

    st = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "IN_PROGRESS" and s, what="phase IN_PROGRESS"
    )
    assert st["serviceStatus"] == "serviceInProgress"
    assert st["sequenceId"] == 0 and st["instanceId"] == f"default-{name}"
    # The phase and the conditions can reach the API in separate writes (notice, create): converge.
    wait_for(lambda: cond(cluster, name, "Ready").get("status") == "True", what="Ready")
    wait_for(lambda: cond(cluster, name, "Synced").get("status") == "True", what="Synced")
    [task] = agora.live_transcoder_tasks(name)
    assert task["taskId"] == st["taskId"]
    assert [v["rtc"]["rtcUid"] for v in task["config"]["videoInputs"]] == [1001, 1002]

    # A layout change is one update with sequenceId 1, and the task has the new layout.
    regions = body["spec"]["videoInputs"]
    regions[1]["region"] = {"x": 960, "y": 540, "width": 320, "height": 180, "zOrder": 3}
    cluster.patch(name, {"spec": {"videoInputs": regions}})
    wait_for(
        lambda: (
            status(cluster, name).get("sequenceId") == 1 and not status(cluster, name).get("pendingDigest")
        ),
        what="sequenceId 1 applied",
    )
    [task] = agora.live_transcoder_tasks(name)
    assert task["updates"] == [1] and task["sequenceId"] == 1
    assert task["config"]["videoInputs"][1]["region"]["zOrder"] == 3
    assert agora.channel_calls("createTask", name) == 1

    # Deletion deletes the task and releases the finalizer.
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert agora.live_transcoder_tasks(name) == []
    [ended] = agora.transcoder_tasks(name)
    assert ended["stopReason"] == "deleted"


def test_idle_exit_is_reported_and_not_restarted(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder(idleTimeout=5)
    name = body["metadata"]["name"]
    cluster.create(body)  # no input user ever joins: Agora destroys the task after idleTimeout
    first = wait_for(lambda: status(cluster, name).get("taskId"), what="taskId")
    agora.advance(30)
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Exited" and s, what="Exited")
    assert st["exitReason"] == "ProviderEnded"
    assert cond(cluster, name, "Ready")["status"] == "False"
    assert cond(cluster, name, "Ready")["reason"] == "ProviderEnded"
    assert "Exited" in {e["reason"] for e in cluster.events(name)}
    # restartPolicy Never: no new task while the spec is unchanged.
    time.sleep(2)  # several timer ticks
    assert agora.channel_calls("createTask", name) == 1
    assert status(cluster, name)["taskId"] == first
    # A spec change asks for a task again.
    cluster.patch(name, {"spec": {"idleTimeout": 600}})
    wait_for(lambda: status(cluster, name).get("taskId") not in (None, first), what="a new task")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_restart_policy_on_exit_creates_a_new_task(
    cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder(idleTimeout=5, restartPolicy="OnExit")
    name = body["metadata"]["name"]
    cluster.create(body)
    first = wait_for(lambda: status(cluster, name).get("taskId"), what="taskId")
    agora.advance(30)
    # The new taskId is persisted before the rest of the create's status (tasks) is written.
    wait_for(
        lambda: (s := status(cluster, name)).get("taskId") not in (None, first) and s.get("tasks") == 2,
        what="a second task, counted",
    )
    assert len(agora.live_transcoder_tasks(name)) == 1
    assert [t["stopReason"] for t in agora.transcoder_tasks(name) if t["stopped"]] == ["idle"]
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert agora.live_transcoder_tasks(name) == []


def test_restart_requested_replaces_the_task_once(
    sandbox: Sandbox, cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    first = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "IN_PROGRESS" and s["taskId"], what="IN_PROGRESS"
    )
    # What a user (or the Argo CD action `restart`) does: a new annotation value.
    kubectl(sandbox, "annotate", "--overwrite", f"cloudtranscoder/{name}", f"{RESTART}=2026-11-26T01:00:00Z")
    second = wait_for(
        lambda: (t := status(cluster, name).get("taskId")) not in (None, first) and t, what="a new task"
    )
    [live] = agora.live_transcoder_tasks(name)
    assert live["taskId"] == second
    assert [t["stopReason"] for t in agora.transcoder_tasks(name) if t["stopped"]] == ["deleted"]
    annotations = (cluster.get(name) or {})["metadata"]["annotations"]
    assert annotations[f"{GROUP}/restart-handled-at"] == "2026-11-26T01:00:00Z"
    assert "RestartRequested" in {e["reason"] for e in cluster.events(name)}
    # Handled once: later ticks leave the new task alone.
    time.sleep(2)
    assert status(cluster, name)["taskId"] == second and agora.channel_calls("createTask", name) == 2
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert agora.live_transcoder_tasks(name) == []


def test_orphan_leaves_the_task_running(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder(deletionPolicy="Orphan")
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    task_id = wait_for(lambda: status(cluster, name).get("taskId"), what="taskId")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    [task] = agora.live_transcoder_tasks(name)
    assert task["taskId"] == task_id
    assert agora.channel_calls("deleteTask", name) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"videoInputs__0__region__zOrder": 1}, "zOrder"),
        ({"outputs__0__videoOption__fps": 31}, "fps"),
        ({"outputs__0__videoOption__bitrate": 10001}, "bitrate"),
        ({"canvas__width": 119}, "width"),
        ({"idleTimeout": 86401}, "idleTimeout"),
        ({"instanceId": "bad/id"}, "instanceId"),
        ({"outputs__0__audioOption__profileType": "AUDIO_PROFILE_LOUD"}, "profileType"),
        ({"outputs__0__videoOption__codec": "H265"}, "codec"),
        ({"outputs__0__videoOption__mode": "RAW"}, "RAW allows one video input"),
        ({"videoInputs__1__rtc__rtcChannel": "elsewhere"}, "one channel"),
    ],
)
def test_schema_rejects_out_of_range_specs(
    cluster: TranscoderCluster, changes: dict[str, Any], message: str
) -> None:
    body = transcoder()
    for dotted, value in changes.items():
        node: Any = body["spec"]
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[leaf] = value
    response = cluster.create(body)
    assert response.status_code == 422, response.text
    assert message in response.text


def test_schema_rejects_two_rtc_outputs_and_both_token_sources(cluster: TranscoderCluster) -> None:
    body = transcoder()
    body["spec"]["outputs"].append({"rtc": {"rtcChannel": "other", "rtcUid": 1}})
    response = cluster.create(body)
    assert response.status_code == 422 and "one RTC channel" in response.text
    body = transcoder()
    both = {"secretRef": {"name": "a", "key": "b"}, "appCertificateSecretRef": {"name": "a", "key": "c"}}
    body["spec"]["outputs"][0]["rtc"]["token"] = both
    response = cluster.create(body)
    assert (
        response.status_code == 422
        and "exactly one of secretRef and appCertificateSecretRef" in response.text
    )
