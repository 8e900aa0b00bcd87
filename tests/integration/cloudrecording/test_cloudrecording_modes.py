"""Individual and web mode end to end through the real operator (mix is in test_cloudrecording_lifecycle):
files become RecordedFiles, snapshots too, web `onhold` pauses; plus acquire `excludeResourceIds` and
the `extraClientRequest` pass-through with its Warning Event."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Agora, Cluster, Files, recording
from tests.support.waiting import wait_for

APP_ID = recording()["spec"]["agora"]["appId"]


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def keys(files: Files, name: str) -> list[str]:
    return sorted(f["spec"]["location"]["key"] for f in files.of_recording(name))


def task_of(agora: Agora, cname: str) -> dict[str, Any]:
    [task] = [t for t in agora.tasks(cname) if not t["stopped"]]
    return task


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what=f"{name} deleted")


def individual(**agora: Any) -> dict[str, Any]:
    body = recording()
    spec = body["spec"]["agora"]
    spec["mode"] = "individual"
    spec["recordingConfig"] = {"channelType": 0, "subscribeUidGroup": 0, "streamTypes": 2}
    spec.pop("recordingFileConfig")
    spec.update(agora)
    return body


def test_individual_mode_records_each_user_into_recorded_files(
    cluster: Cluster, agora: Agora, files: Files
) -> None:
    body = individual(
        excludeResourceIds=["resource-of-the-other-recorder"],
        extraClientRequest={"appsCollection": {"combinationPolicy": "default"}},
    )
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001", "1002"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    task = task_of(agora, name)
    assert task["mode"] == "individual"
    assert task["excludeResourceIds"] == ["resource-of-the-other-recorder"]
    assert "appsCollection.combinationPolicy" in task["requestPaths"]
    warning = next(e for e in cluster.events(name) if e["reason"] == "ExtraClientRequest")
    assert warning["type"] == "Warning" and "appsCollection.combinationPolicy" in warning["message"]
    found = wait_for(lambda: len(k := keys(files, name)) >= 4 and k, what="per-user RecordedFiles")
    sid = task["sid"]
    for uid in ("1001", "1002"):
        for track in ("audio", "video"):
            assert f"teamA/standup/{sid}_{name}__uid_s_{uid}__uid_e_{track}.m3u8" in found
    cleanup(cluster, name)


def test_individual_snapshots_become_recorded_files(cluster: Cluster, agora: Agora, files: Files) -> None:
    body = individual(snapshotConfig={"captureInterval": 5, "fileType": ["jpg"]})
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    agora.advance(12)
    found = wait_for(
        lambda: [k for k in keys(files, name) if k.endswith(".jpg")], what="snapshot RecordedFiles"
    )
    assert all("__uid_s_1001__uid_e_video_" in k for k in found)
    cleanup(cluster, name)


def test_web_mode_pauses_with_onhold_and_publishes_its_files(
    cluster: Cluster, agora: Agora, files: Files
) -> None:
    body = recording()
    spec = body["spec"]["agora"]
    spec["mode"] = "web"
    spec.pop("recordingConfig")
    spec["extensionServiceConfig"] = {
        "extensionServices": [
            {
                "serviceName": "web_recorder_service",
                "serviceParam": {
                    "url": "https://example.com/board",
                    "audioProfile": 0,
                    "videoWidth": 1280,
                    "videoHeight": 720,
                    "maxRecordingHour": 2,
                    "maxVideoDuration": 30,
                },
            }
        ]
    }
    body["spec"]["state"] = "Paused"
    name = body["metadata"]["name"]
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Paused", what="Paused (onhold)")
    sid = status(cluster, name)["sid"]
    assert agora.calls("update", sid) == 0  # started on hold, nothing to update
    cluster.patch(name, {"spec": {"state": "Recording"}})
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    assert agora.calls("update", sid) == 1  # webRecordingConfig.onhold false
    found = wait_for(lambda: [k for k in keys(files, name) if k.endswith(".m3u8")], what="web RecordedFiles")
    assert found[0].startswith(f"teamA/standup/{sid}_")
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: status(cluster, name).get("phase") == "Stopped", what="Stopped")
    assert any(k.endswith(".mp4") for k in keys(files, name))
    cleanup(cluster, name)
