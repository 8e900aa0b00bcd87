"""RealtimeKit webhooks: the operator registers its webhook, and signed `recording.statusUpdate`
deliveries drive CloudRecording status (real operator and emulator; queries are rare here)."""

from __future__ import annotations

import copy
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from recording_sandbox.runner import Sandbox
from tests.support.harness import Cluster, Files
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
SECRET, SAMPLE = list(
    yaml.safe_load_all((ROOT / "manifests/samples/cloudrecording-realtimekit.yaml").read_text())
)


@pytest.fixture(scope="module")
def rtk(sandbox: Sandbox, cluster: Cluster) -> httpx.Client:
    response = cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=SECRET)
    assert response.status_code in (201, 409)
    return httpx.Client(base_url=sandbox.endpoints["realtimekit"], timeout=10)


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return ((cluster.get(name) or {}).get("status")) or {}


def deliveries(rtk: httpx.Client, recording_id: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = rtk.get("/_emulator/webhooks/log").json()["deliveries"]
    return [d for d in log if d["recordingId"] == recording_id]


def gets(rtk: httpx.Client) -> int:
    log = rtk.get("/_emulator/requests", params={"limit": 10000}).json()["requests"]
    return sum(1 for r in log if r["endpoint"] == "get")


def test_operator_registers_its_webhook(sandbox: Sandbox, rtk: httpx.Client) -> None:
    path = "/client/v4/accounts/sandbox-account/realtime/kit/sandbox-app/webhooks"
    headers = {"Authorization": f"Bearer {SECRET['stringData']['apiToken']}"}
    hooks = wait_for(lambda: rtk.get(path, headers=headers).json()["data"], what="a webhook")
    [hook] = hooks
    assert hook["name"] == "recording-operator" and hook["enabled"]
    assert hook["url"] == sandbox.endpoints["callbacks"]["realtimekit"]
    assert hook["events"] == ["recording.statusUpdate"]


def test_status_updates_drive_the_recording(cluster: Cluster, rtk: httpx.Client, files: Files) -> None:
    rtk.post("/_emulator/webhooks", json={"duplicate": True}).raise_for_status()
    body = copy.deepcopy(SAMPLE)
    name, meeting = f"rtk-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body["metadata"] = {"name": name}
    body["spec"]["realtimeKit"]["meetingId"] = meeting
    rtk.put(
        f"/_emulator/meetings/{meeting}/participants", json={"participants": ["alice"]}
    ).raise_for_status()
    assert cluster.create(body).status_code == 201
    st = wait_for(
        lambda: (s := status(cluster, name)).get("recordingStatus") == "RECORDING" and s, what="RECORDING"
    )
    assert st["phase"] == "Recording"
    recording_id = st["recordingId"]
    rtk.post("/_emulator/clock", json={"advanceSeconds": 10}).raise_for_status()
    rtk.put(f"/_emulator/meetings/{meeting}/participants", json={"participants": []}).raise_for_status()
    rtk.post("/_emulator/clock", json={"advanceSeconds": 61}).raise_for_status()
    st = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="Stopped by webhook"
    )
    assert st["stopReason"] == "ProviderEnded"
    asked = gets(rtk)
    rtk.post("/_emulator/clock", json={"advanceSeconds": 30}).raise_for_status()
    st = wait_for(
        lambda: (s := status(cluster, name)).get("recordingStatus") == "UPLOADED" and s,
        what="UPLOADED by webhook",
    )
    assert gets(rtk) == asked  # the upload's end came as a webhook, not from a GET
    [recorded] = wait_for(lambda: files.of_recording(name), what="RecordedFile")
    assert recorded["metadata"]["labels"]["recording.mediaops.io/recording"] == name
    # Every delivery came twice and was answered 200; the second copies changed nothing.
    sent = wait_for(lambda: (d := deliveries(rtk, recording_id)) and len(d) >= 6 and d, what="deliveries")
    assert all(d["httpStatus"] == 200 for d in sent)
    time.sleep(0.5)
    assert [e["reason"] for e in cluster.events(name)].count("Stopped") == 1
    assert len(files.of_recording(name)) == 1
    rtk.post("/_emulator/webhooks", json={"duplicate": False}).raise_for_status()
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def test_forged_and_unsigned_webhooks_are_refused(sandbox: Sandbox) -> None:
    url = sandbox.endpoints["callbacks"]["realtimekit"]
    body = b'{"event":"recording.statusUpdate","recording":{"id":"x","status":"ERRORED"}}'
    assert httpx.post(url, content=body, headers={"rtk-uuid": "u1"}).status_code == 401
    forged = {"rtk-uuid": "u2", "rtk-signature": "c2lnbmF0dXJl"}
    assert httpx.post(url, content=body, headers=forged).status_code == 401
