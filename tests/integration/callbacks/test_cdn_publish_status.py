"""NCS `rtmp_publish_status` (event 100) → `status.rtmpPublishStatus` and condition `CdnPublishing` of a
web-mode CloudRecording pushing to a CDN (real operator, Agora emulator sending signed notices)."""

from __future__ import annotations

from typing import Any

from tests.integration.callbacks.test_agora_callbacks import Ncs, ncs
from tests.support.harness import Agora, Cluster, recording
from tests.support.waiting import wait_for

__all__ = ["ncs"]  # the module fixture, shared


def web_recording(rtmp_url: str) -> dict[str, Any]:
    body = recording()
    agora = body["spec"]["agora"]
    agora["mode"] = "web"
    agora.pop("recordingConfig", None)
    agora["extensionServiceConfig"] = {
        "extensionServices": [
            {
                "serviceName": "web_recorder_service",
                "serviceParam": {
                    "url": "https://example.com/board",
                    "audioProfile": 0,
                    "videoWidth": 1280,
                    "videoHeight": 720,
                    "maxRecordingHour": 2,
                },
            },
            {"serviceName": "rtmp_publish_service", "serviceParam": {"outputs": [{"rtmpUrl": rtmp_url}]}},
        ]
    }
    return body


def cdn(cluster: Cluster, name: str) -> tuple[str | None, dict[str, Any]]:
    status = (cluster.get(name) or {}).get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c["type"] == "CdnPublishing"), {})
    return status.get("rtmpPublishStatus"), condition


def reached(cluster: Cluster, name: str, rtmp_status: str) -> dict[str, Any] | None:
    """The CdnPublishing condition once the field and the condition both say `rtmp_status`."""
    field, condition = cdn(cluster, name)
    return condition if field == rtmp_status and condition.get("reason") == rtmp_status.capitalize() else None


def test_cdn_push_status_follows_the_notices(cluster: Cluster, agora: Agora, ncs: Ncs) -> None:
    body = web_recording("rtmp://cdn.example.com/live/first")
    name = body["metadata"]["name"]
    assert cluster.create(body).status_code == 201
    condition = wait_for(lambda: reached(cluster, name, "publishing"), what="publishing")
    assert condition["status"] == "True" and condition["reason"] == "Publishing"
    sid = cluster.get(name)["status"]["sid"]  # type: ignore[index]
    assert any(d.get("eventType") == 100 for d in ncs.deliveries(sid))
    # Paused (web onhold) holds the push.
    cluster.patch(name, {"spec": {"state": "Paused"}})
    condition = wait_for(lambda: reached(cluster, name, "onhold"), what="onhold")
    assert condition["status"] == "False" and condition["reason"] == "Onhold"
    cluster.patch(name, {"spec": {"state": "Recording"}})
    wait_for(lambda: reached(cluster, name, "publishing"), what="publishing again")
    # Stopped: the push disconnects.
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    condition = wait_for(lambda: reached(cluster, name, "disconnected"), what="disconnected")
    assert condition["status"] == "False" and condition["reason"] == "Disconnected"
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
