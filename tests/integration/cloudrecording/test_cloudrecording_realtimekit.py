"""CloudRecordings with `provider: realtimekit`: the real operator against the RealtimeKit emulator."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
import yaml

from recording_sandbox.runner import Sandbox
from tests.support.harness import ROOT, Cluster, Files, s3_keys
from tests.support.waiting import wait_for

DOCS = list(yaml.safe_load_all((ROOT / "manifests/samples/cloudrecording-realtimekit.yaml").read_text()))
SECRET, SAMPLE = DOCS[0], DOCS[1]


class RealtimeKit:
    """The RealtimeKit emulator's control API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def participants(self, meeting_id: str, users: list[str]) -> None:
        self.http.put(
            f"/_emulator/meetings/{meeting_id}/participants", json={"participants": users}
        ).raise_for_status()

    def recordings(self, meeting_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get("/_emulator/recordings").json()["recordings"]
        return [r for r in found if r["meetingId"] == meeting_id]

    def calls(self, endpoint: str) -> int:
        return sum(
            1
            for r in self.http.get("/_emulator/requests", params={"limit": 10000}).json()["requests"]
            if r["endpoint"] == endpoint
        )

    def fault(self, endpoint: str, count: int, status: int) -> None:
        self.http.post(
            "/_emulator/faults", json={"endpoint": endpoint, "count": count, "status": status}
        ).raise_for_status()

    def advance(self, seconds: float) -> None:
        self.http.post("/_emulator/clock", json={"advanceSeconds": seconds}).raise_for_status()


@pytest.fixture(scope="module")
def rtk(sandbox: Sandbox, cluster: Cluster) -> RealtimeKit:
    response = cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=SECRET)
    assert response.status_code in (201, 409)
    return RealtimeKit(sandbox.endpoints["realtimekit"])


def realtimekit_recording(**spec_changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["metadata"] = {"name": f"rtk-{uuid.uuid4().hex[:8]}"}
    body["spec"]["realtimeKit"]["meetingId"] = str(uuid.uuid4())
    body["spec"].update(spec_changes)
    return body


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return ((cluster.get(name) or {}).get("status")) or {}


def test_composite_lifecycle_with_pause_and_files(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice", "bob"])
    assert cluster.create(body).status_code == 201
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Recording" and s, what="Recording")
    assert st["recordingId"] and "sid" not in st
    [recording] = rtk.recordings(meeting)
    assert recording["id"] == st["recordingId"]

    cluster.patch(name, {"spec": {"state": "Paused"}})
    wait_for(lambda: status(cluster, name).get("phase") == "Paused", what="Paused")
    assert rtk.recordings(meeting)[0]["status"] == "PAUSED"
    cluster.patch(name, {"spec": {"state": "Recording"}})
    wait_for(lambda: status(cluster, name).get("recordingStatus") == "RECORDING", what="resumed")

    rtk.advance(30)
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    st = wait_for(
        lambda: (s := status(cluster, name)).get("recordingStatus") == "UPLOADED" and s,
        what="UPLOADED with files",
    )
    assert st["phase"] == "Stopped" and st["stopReason"] == "Requested"
    assert (
        st["files"]["count"] == 1
        and st["files"]["latest"].startswith("townhall_")
        and st["files"]["totalBytes"]
    )
    # The uploaded file becomes a RecordedFile: the RealtimeKit bucket's download URL and its expiry.
    files = Files(str(cluster.http.base_url))
    [recorded] = wait_for(lambda: files.of_recording(name), what="a RecordedFile")
    location = recorded["spec"]["location"]
    assert st["files"]["latest"] in location["url"] and location["expiresAt"]
    assert recorded["spec"]["recordingRef"] == {"kind": "CloudRecording", "name": name}
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    wait_for(lambda: not files.of_recording(name), what="its RecordedFile deleted with it")
    assert rtk.calls("action") >= 3


def s3_recording(policy: str) -> dict[str, Any]:
    """A composite recording into the sandbox S3's `recordings` bucket under a unique prefix."""
    body = realtimekit_recording(deletionPolicy=policy)
    body["spec"]["storage"] = {
        "vendor": "s3",
        "bucket": "recordings",
        "region": "us-east-1",
        "prefix": ["rtk", body["metadata"]["name"].replace("-", "")],
        "credentialsSecretRef": {"name": "recordings-s3"},
    }
    return body


def _uploaded_to_s3(cluster: Cluster, rtk: RealtimeKit, s3: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Record, stop, wait for the upload; return the RecordedFile after checking it names a stored object."""
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    rtk.advance(30)
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: status(cluster, name).get("recordingStatus") == "UPLOADED", what="UPLOADED")
    files = Files(str(cluster.http.base_url))
    [recorded] = wait_for(lambda: files.of_recording(name), what="a RecordedFile")
    location = recorded["spec"]["location"]
    prefix = "/".join(body["spec"]["storage"]["prefix"]) + "/"
    assert location["vendor"] == "s3" and location["bucket"] == "recordings" and "url" not in location
    assert location["key"].startswith(prefix) and location["key"].endswith(".mp4")
    assert recorded["spec"]["credentialsSecretRef"] == {"name": "recordings-s3"}
    assert location["key"] in s3_keys(s3, "recordings", prefix)
    wait_for(lambda: (files.get(recorded["metadata"]["name"]) or {}).get("status", {}).get("phase") == "Available",
             what="the RecordedFile Available")  # fmt: skip
    return recorded


def test_external_s3_files_are_deleted_with_the_recording(
    cluster: Cluster, rtk: RealtimeKit, s3: Any, files: Files
) -> None:
    body = s3_recording("Delete")
    name = body["metadata"]["name"]
    recorded = _uploaded_to_s3(cluster, rtk, s3, body)
    key = recorded["spec"]["location"]["key"]
    prefix = key.rsplit("/", 1)[0] + "/"
    neighbour = key.replace(".mp4", "_neighbour.mp4")
    s3.put_object(Bucket="recordings", Key=neighbour, Body=b"not reported by RealtimeKit")

    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, what="the recording to go")
    # The recording's finalizer waits for its RecordedFiles, whose finalizers delete the objects.
    assert files.of_recording(name) == []
    assert s3_keys(s3, "recordings", prefix) == {neighbour}


def test_orphaned_external_s3_files_stay(cluster: Cluster, rtk: RealtimeKit, s3: Any, files: Files) -> None:
    body = s3_recording("Orphan")
    name = body["metadata"]["name"]
    recorded = _uploaded_to_s3(cluster, rtk, s3, body)
    key = recorded["spec"]["location"]["key"]

    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, what="the recording to go")
    [kept] = files.of_recording(name)
    assert kept["metadata"]["uid"] == recorded["metadata"]["uid"]
    assert "ownerReferences" not in kept["metadata"]
    assert key in s3_keys(s3, "recordings", key.rsplit("/", 1)[0] + "/")
    # The RecordedFile still governs the object: deleting it (its policy is Delete) deletes the object.
    assert files.delete(kept["metadata"]["name"]).status_code == 200
    wait_for(lambda: not files.of_recording(name), what="the orphaned RecordedFile to go")
    assert key not in s3_keys(s3, "recordings", key.rsplit("/", 1)[0] + "/")


def test_files_uploaded_while_the_operator_is_down_get_their_recorded_file(
    sandbox: Sandbox, cluster: Cluster, rtk: RealtimeKit, s3: Any, files: Files
) -> None:
    body = s3_recording("Delete")
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    sandbox.stop_operator()
    # RealtimeKit ends the recording (empty meeting) and uploads it while no operator runs.
    rtk.advance(30)
    rtk.participants(meeting, [])
    rtk.advance(61)
    wait_for(lambda: rtk.recordings(meeting)[0]["status"] == "UPLOADED", what="UPLOADED at RealtimeKit")
    assert files.of_recording(name) == []
    sandbox.start_operator()
    st = wait_for(
        lambda: (s := status(cluster, name)).get("recordingStatus") == "UPLOADED" and s, what="seen"
    )
    assert st["phase"] == "Stopped" and st["stopReason"] == "ProviderEnded"
    [recorded] = wait_for(lambda: files.of_recording(name), what="its RecordedFile")
    key = recorded["spec"]["location"]["key"]
    assert key in s3_keys(s3, "recordings", key.rsplit("/", 1)[0] + "/")
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, what="the recording to go")
    assert key not in s3_keys(s3, "recordings", key.rsplit("/", 1)[0] + "/")


def test_auto_stop_is_seen_as_stopped_with_its_reason(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    rtk.advance(10)
    rtk.participants(meeting, [])
    rtk.advance(61)
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="auto-stop")
    assert st["stopReason"] == "ProviderEnded"
    assert "ALL_PEERS_LEFT" in next(c for c in st["conditions"] if c["type"] == "Recording")["message"]
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_deletion_stops_the_recording(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    cluster.create(body)
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert not [r for r in rtk.recordings(meeting) if r["active"]]


def test_start_fault_is_retried_without_a_second_recording(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    rtk.fault("start", 2, 503)
    cluster.create(body)
    wait_for(
        lambda: status(cluster, name).get("phase") == "Recording", timeout=30, what="Recording after 503s"
    )
    assert len(rtk.recordings(meeting)) == 1
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_track_recording_waits_for_the_meeting(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    body["spec"]["realtimeKit"] = {
        **body["spec"]["realtimeKit"],
        "type": "track",
        "track": {"user_ids": ["alice"]},
    }
    del body["spec"]["realtimeKit"]["composite"]
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    cluster.create(body)
    wait_for(
        lambda: any(c["reason"] == "MeetingNotActive" for c in status(cluster, name).get("conditions", [])),
        what="MeetingNotActive",
    )
    rtk.participants(meeting, ["alice", "bob"])
    wait_for(
        lambda: status(cluster, name).get("phase") == "Recording",
        timeout=30,
        what="Recording once the meeting runs",
    )
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_schema_rejects_bad_realtimekit_specs(cluster: Cluster) -> None:
    no_block = realtimekit_recording()
    del no_block["spec"]["realtimeKit"]
    assert "provider realtimekit needs spec.realtimeKit" in cluster.create(no_block).text
    track_to_s3 = realtimekit_recording()
    track_to_s3["spec"]["realtimeKit"] = {**track_to_s3["spec"]["realtimeKit"], "type": "track"}
    del track_to_s3["spec"]["realtimeKit"]["composite"]
    track_to_s3["spec"]["storage"] = {
        "vendor": "s3",
        "bucket": "b",
        "region": "us-east-1",
        "credentialsSecretRef": {"name": "recordings-s3"},
    }
    assert "track recordings are written to the realtimekit-bucket only" in cluster.create(track_to_s3).text
    too_short = realtimekit_recording()
    too_short["spec"]["realtimeKit"]["composite"]["max_seconds"] = 10
    assert cluster.create(too_short).status_code == 422
