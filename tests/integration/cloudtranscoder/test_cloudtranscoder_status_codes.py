"""Cloud Transcoder status codes as Agora documents them, and CDN (stream URL) inputs and outputs, with
the real operator and the emulator (https://docs.agora.io/en/cloud-transcoding/reference/status-codes)."""

from __future__ import annotations

from typing import Any

from tests.support.harness import TranscoderAgora, TranscoderCluster, transcoder
from tests.support.waiting import wait_for

APP_ID = transcoder()["spec"]["appId"]


def status(cluster: TranscoderCluster, name: str) -> dict[str, Any]:
    return ((cluster.get(name) or {}).get("status")) or {}


def cleanup(cluster: TranscoderCluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_202_accepted_without_a_task_is_followed_until_the_task_answers(
    cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    # Agora takes the create but answers 202 without the task: "received, not finished".
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "createTask", "count": 1, "status": 202, "answerLate": True, "message": "accepted"},
    ).raise_for_status()
    cluster.create(body)
    st = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "IN_PROGRESS" and s, what="IN_PROGRESS"
    )
    [task] = agora.live_transcoder_tasks(name)
    assert st["taskId"] == task["taskId"] and st["tasks"] == 1  # the accepted create's task, not a second
    assert agora.channel_calls("builderTokens", name) == 1
    assert agora.channel_calls("createTask", name) == 2  # the 202, then the same token again (201)
    assert "CreateAccepted" in {e["reason"] for e in cluster.events(name) if e["type"] == "Warning"}
    assert st.get("message")  # services.cloudTranscoder.message as Agora reports it
    cleanup(cluster, name)


def test_404_is_confirmed_with_backoff_before_the_task_counts_as_gone(
    cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "IN_PROGRESS", what="IN_PROGRESS")
    task_id = status(cluster, name)["taskId"]
    # Three 404s in a row (the first query and two confirmations): the third confirmation finds it.
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "queryTask", "count": 3, "status": 404, "message": "not found"}
    ).raise_for_status()
    wait_for(
        lambda: (
            sum(
                1
                for r in agora.requests()
                if r["endpoint"] == "queryTask" and task_id in r["path"] and r["httpStatus"] == 404
            )
            == 3
        ),
        what="three 404s",
    )
    wait_for(
        lambda: any(
            r["endpoint"] == "queryTask" and task_id in r["path"] and r["httpStatus"] == 200
            for r in agora.requests()[-50:]
        ),
        what="answered again",
    )
    st = status(cluster, name)
    assert st["phase"] == "IN_PROGRESS" and st["taskId"] == task_id and not st.get("exitReason")
    cleanup(cluster, name)


def test_cdn_input_is_transcoded_into_a_channel(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    url = "rtmp://cdn.example.com/live/source"
    body["spec"]["audioInputs"] = [{"streamUrl": url, "volume": 150, "repeat": -1}]
    body["spec"]["videoInputs"] = [
        {
            "streamUrl": url,
            "repeat": -1,
            "region": {"x": 0, "y": 0, "width": 1280, "height": 720, "zOrder": 2},
        }
    ]
    body["spec"]["outputs"][0]["rtc"]["rtcChannel"] = f"{name}-out"
    assert cluster.create(body).status_code == 201
    st = wait_for(lambda: (s := status(cluster, name)).get("taskId") and s, what="a task")
    [task] = [t for t in agora.transcoder_tasks() if t["taskId"] == st["taskId"]]
    config = task["config"]["transcoder"] if "transcoder" in task["config"] else task["config"]
    assert config["audioInputs"] == [{"streamUrl": url, "volume": 150, "repeat": -1}]
    assert config["videoInputs"][0]["streamUrl"] == url
    cleanup(cluster, name)


def test_channel_is_pushed_to_a_cdn(cluster: TranscoderCluster, agora: TranscoderAgora) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    url = "rtmp://cdn.example.com/live/mixed"
    output = body["spec"]["outputs"][0]
    output.pop("rtc")
    output["streamUrl"] = url
    agora.set_users(APP_ID, name, ["1001"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "IN_PROGRESS", what="IN_PROGRESS")
    [task] = agora.live_transcoder_tasks(name)
    config = task["config"]["transcoder"] if "transcoder" in task["config"] else task["config"]
    assert config["outputs"][0]["streamUrl"] == url and "rtc" not in config["outputs"][0]
    cleanup(cluster, name)
