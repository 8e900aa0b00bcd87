"""RealtimeKit CloudRecordings as the API has them: no spec.storage means the RealtimeKit bucket, and a
track recording carries its layers' file_name_prefix and max_seconds (real operator, emulator)."""

from __future__ import annotations

from typing import Any

from recording_sandbox.runner import Sandbox
from tests.integration.cloudrecording.test_cloudrecording_realtimekit import (
    RealtimeKit,
    realtimekit_recording,
    rtk,
    status,
)
from tests.support.harness import Cluster, Files, s3_keys
from tests.support.waiting import wait_for

__all__ = ["rtk"]  # the module fixture, shared


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_no_storage_records_into_the_realtimekit_bucket(cluster: Cluster, rtk: RealtimeKit) -> None:
    body = realtimekit_recording()
    del body["spec"]["storage"]
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    response = cluster.create(body)
    assert response.status_code == 201, response.text
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    [recording] = rtk.recordings(meeting)
    assert recording["storage"] == "realtimekit_bucket"
    cleanup(cluster, name)


def test_agora_still_needs_storage(cluster: Cluster) -> None:
    from tests.support.harness import recording

    body = recording()
    del body["spec"]["storage"]
    response = cluster.create(body)
    assert response.status_code == 422 and "provider agora needs spec.storage" in response.text


def track(**track: Any) -> dict[str, Any]:
    body = realtimekit_recording()
    body["spec"]["realtimeKit"] = {**body["spec"]["realtimeKit"], "type": "track", "track": track}
    del body["spec"]["realtimeKit"]["composite"]
    del body["spec"]["storage"]
    return body


def test_track_layers_and_max_seconds_reach_the_api_and_stop_it(
    sandbox: Sandbox, cluster: Cluster, rtk: RealtimeKit
) -> None:
    body = track(
        layers={"voices": {"file_name_prefix": "standup_voices", "media_kind": "audio"}}, max_seconds=60
    )
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice", "bob"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    [recording] = rtk.recordings(meeting)
    assert recording["type"] == "TRACK" and recording["maxSeconds"] == 60
    assert recording["layers"] == {"voices": {"file_name_prefix": "standup_voices", "media_kind": "audio"}}
    rtk.advance(61)
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="auto-stop")
    assert st["stopReason"] == "ProviderEnded"
    assert "MAX_SECONDS_REACHED" in next(c for c in st["conditions"] if c["type"] == "Recording")["message"]
    cleanup(cluster, name)


def test_track_schema_rules(cluster: Cluster) -> None:
    too_short = track(max_seconds=30)
    assert cluster.create(too_short).status_code == 422
    bad_prefix = track(layers={"voices": {"file_name_prefix": "has-dash"}})
    assert cluster.create(bad_prefix).status_code == 422


def test_archive_copies_uploaded_files_and_the_recorded_file_points_at_the_copy(
    cluster: Cluster, rtk: RealtimeKit, s3: Any, files: Files
) -> None:
    body = realtimekit_recording()
    del body["spec"]["storage"]  # the RealtimeKit bucket
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    prefix = ["archive", name.replace("-", "")]
    body["spec"]["realtimeKit"]["archive"] = {
        "storage": {
            "vendor": "s3",
            "bucket": "recordings",
            "region": "us-east-1",
            "prefix": prefix,
            "credentialsSecretRef": {"name": "recordings-s3"},
        }
    }
    rtk.participants(meeting, ["alice"])
    assert cluster.create(body).status_code == 201
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Recording" and s, what="Recording")
    rtk.advance(30)
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    wait_for(lambda: status(cluster, name).get("recordingStatus") == "UPLOADED", what="UPLOADED")
    [recorded] = wait_for(lambda: files.of_recording(name), what="a RecordedFile")
    location = recorded["spec"]["location"]
    key_prefix = "/".join(prefix) + f"/{st['recordingId']}/"
    assert location["vendor"] == "s3" and location["bucket"] == "recordings" and "url" not in location
    assert location["key"].startswith(key_prefix)
    obj = s3.get_object(Bucket="recordings", Key=location["key"])
    assert obj["Body"].read().decode().startswith(f"realtimekit {st['recordingId']} ")
    assert "Archived" in {e["reason"] for e in cluster.events(name)}
    cleanup(cluster, name)
    assert s3_keys(s3, "recordings", key_prefix) == set()  # the copy goes with its RecordedFile


def test_archive_needs_the_realtimekit_bucket(cluster: Cluster) -> None:
    body = realtimekit_recording()
    body["spec"]["realtimeKit"]["archive"] = {
        "storage": {
            "vendor": "s3",
            "bucket": "b",
            "region": "us-east-1",
            "credentialsSecretRef": {"name": "x"},
        }
    }
    body["spec"]["storage"] = {
        "vendor": "s3",
        "bucket": "recordings",
        "region": "us-east-1",
        "credentialsSecretRef": {"name": "recordings-s3"},
    }
    response = cluster.create(body)
    assert (
        response.status_code == 422
        and "realtimeKit.archive copies out of the RealtimeKit bucket" in response.text
    )
