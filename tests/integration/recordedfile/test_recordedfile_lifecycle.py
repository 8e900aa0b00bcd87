"""RecordedFiles end to end: the real operator, the Agora emulator writing into a real S3 server
(moto in server mode), and boto3 checking what is really stored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    TEST_OPERATOR_ENV,
    Agora,
    Cluster,
    Files,
    recorded_file,
    recording,
    s3_keys,
)
from tests.support.waiting import wait_for

ENV = {**TEST_OPERATOR_ENV, "RECORDEDFILE_AUDIT_INTERVAL": "1"}
APP = "0123456789abcdef0123456789abcdef"
BUCKET = "recordings"


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return ENV


def _phase(files: Files, name: str) -> str | None:
    obj = files.get(name)
    return (obj.get("status") or {}).get("phase") if obj else None


def _recording_files(cluster: Cluster, agora: Agora, files: Files, **changes: Any) -> tuple[str, list[str]]:
    """Start a recording of a unique channel with a unique prefix; wait for its RecordedFiles."""
    body = recording(**changes)
    name = body["metadata"]["name"]
    body["spec"]["storage"]["prefix"] = ["teamA", name.replace("-", "")]
    agora.set_users(APP, name, ["1001"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: len(files.of_recording(name)) >= 2, timeout=30, what="RecordedFiles of the recording")
    keys = [f["spec"]["location"]["key"] for f in files.of_recording(name)]
    return name, keys


def test_reported_files_are_stored_and_deleted_with_the_recording(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    name, keys = _recording_files(cluster, agora, files)
    prefix = keys[0].rsplit("/", 1)[0] + "/"
    objects = files.of_recording(name)
    assert all(o["spec"]["recordingRef"] == {"kind": "CloudRecording", "name": name} for o in objects)
    assert all(o["metadata"]["ownerReferences"][0]["name"] == name for o in objects)
    assert all(k.startswith(prefix) for k in keys) and {k.rsplit(".", 1)[-1] for k in keys} >= {"m3u8", "mp4"}
    wait_for(
        lambda: all(_phase(files, o["metadata"]["name"]) == "Available" for o in objects),
        what="phase Available",
    )
    assert set(keys) <= s3_keys(s3, BUCKET, prefix)
    # A neighbour with the same prefix that no provider reported: never deleted.
    neighbour = f"{prefix}{keys[0].rsplit('/', 1)[1].split('.')[0]}_neighbour.mp4"
    s3.put_object(Bucket=BUCKET, Key=neighbour, Body=b"not ours")

    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    assert files.of_recording(name) == []
    assert s3_keys(s3, BUCKET, prefix) == {neighbour}


def test_orphan_leaves_files_and_data(cluster: Cluster, agora: Agora, files: Files, s3: Any) -> None:
    name, keys = _recording_files(cluster, agora, files, deletionPolicy="Orphan")
    assert cluster.patch(name, {"spec": {"state": "Stopped"}}).status_code == 200
    wait_for(lambda: (cluster.get(name) or {}).get("status", {}).get("phase") == "Stopped", what="Stopped")
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    left = files.of_recording(name)
    assert sorted(f["spec"]["location"]["key"] for f in left) == sorted(keys)
    assert all(not f["metadata"].get("ownerReferences") for f in left)
    assert set(keys) <= s3_keys(s3, BUCKET)
    for f in left:  # clean up: these delete their data (their own deletionPolicy is Delete)
        files.delete(f["metadata"]["name"])
    wait_for(lambda: not files.of_recording(name), what="orphaned files deleted by hand")
    assert not set(keys) & s3_keys(s3, BUCKET)


def test_delete_deletes_only_the_object_and_retain_keeps_it(files: Files, s3: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    kept, gone = f"manual/{tag}/kept.mp4", f"manual/{tag}/gone.mp4"
    neighbour = f"manual/{tag}/gone.mp4.part"
    for key in (kept, gone, neighbour):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 2048)
    assert files.create(recorded_file(f"kept-{tag}", kept, deletionPolicy="Retain")).status_code == 201
    assert files.create(recorded_file(f"gone-{tag}", gone)).status_code == 201
    wait_for(lambda: _phase(files, f"gone-{tag}") == "Available", what="Available")
    wait_for(lambda: _phase(files, f"kept-{tag}") == "Available", what="Available")

    files.delete(f"kept-{tag}")
    files.delete(f"gone-{tag}")
    wait_for(lambda: files.get(f"kept-{tag}") is None and files.get(f"gone-{tag}") is None, what="both gone")
    assert s3_keys(s3, BUCKET, f"manual/{tag}/") == {kept, neighbour}


def test_a_file_already_gone_counts_as_deleted_and_missing_is_reported(files: Files, s3: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    key = f"manual/{tag}/vanishing.mp4"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1024)
    assert files.create(recorded_file(f"vanish-{tag}", key)).status_code == 201
    wait_for(lambda: _phase(files, f"vanish-{tag}") == "Available", what="Available")
    s3.delete_object(Bucket=BUCKET, Key=key)  # someone deletes the data behind the operator's back
    wait_for(lambda: _phase(files, f"vanish-{tag}") == "Missing", what="phase Missing")
    obj = files.get(f"vanish-{tag}")
    assert obj is not None
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotFound")
    files.delete(f"vanish-{tag}")
    wait_for(lambda: files.get(f"vanish-{tag}") is None, what="the file to go")


def test_a_new_recordings_first_files_are_created_without_listing_recordedfiles(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, files: Files
) -> None:
    # A recording whose status never showed a file cannot have RecordedFiles: its first report creates
    # them without a LIST (a thousand sessions ending together would send a thousand LISTs).
    body = recording()
    name = body["metadata"]["name"]
    body["spec"]["storage"]["prefix"] = ["teamA", name.replace("-", "")]
    agora.set_users(APP, name, ["1001"])
    lists = sandbox.kube.stats.count(verb="list", plural="recordedfiles")
    assert cluster.create(body).status_code == 201
    wait_for(
        lambda: ((cluster.get(name) or {}).get("status", {}).get("files") or {}).get("count", 0) >= 2,
        timeout=30,
        what="files in the recording's status",
    )
    assert sandbox.kube.stats.count(verb="list", plural="recordedfiles") == lists
    assert len(files.of_recording(name)) >= 2


def test_an_operator_restart_neither_duplicates_nor_recreates_files(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    name, _ = _recording_files(cluster, agora, files)
    before = {f["metadata"]["name"]: f["metadata"]["uid"] for f in files.of_recording(name)}
    sid = wait_for(lambda: (cluster.get(name) or {}).get("status", {}).get("sid"), what="the sid")
    sandbox.stop_operator()
    creates = sandbox.kube.stats.count(verb="create", plural="recordedfiles")
    queries = agora.calls("query", sid)
    sandbox.start_operator()
    # The restarted operator queries the running session again (two reports of the same files).
    wait_for(lambda: agora.calls("query", sid) >= queries + 2, timeout=30, what="queries after the restart")
    after = files.of_recording(name)
    locations = [f["spec"]["location"]["key"] for f in after]
    assert len(locations) == len(set(locations))  # one RecordedFile per stored object
    assert {
        f["metadata"]["name"]: f["metadata"]["uid"] for f in after if f["metadata"]["name"] in before
    } == before
    # Existing RecordedFiles were found by one LIST, not re-created (no burst of 409s per file).
    new = [f for f in after if f["metadata"]["name"] not in before]
    assert sandbox.kube.stats.count(verb="create", plural="recordedfiles") - creates == len(new)
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    assert not set(locations) & s3_keys(s3, BUCKET)


def test_a_file_deleted_by_hand_stays_deleted_across_an_operator_restart(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    """Agora keeps listing the file in the running session's `query`; the restarted operator rebuilds
    what it published from the cluster, where the deleted object no longer is, and must not create
    it again (it would come back as Missing)."""
    name, _ = _recording_files(cluster, agora, files)
    victim = files.of_recording(name)[0]
    victim_name, victim_key = victim["metadata"]["name"], victim["spec"]["location"]["key"]
    wait_for(lambda: _phase(files, victim_name) == "Available", what="phase Available")
    files.delete(victim_name)
    wait_for(lambda: files.get(victim_name) is None, what="the file to go")
    assert victim_key not in s3_keys(s3, BUCKET)  # its own deletionPolicy (Delete) deleted the data
    recording_status = (cluster.get(name) or {}).get("status") or {}
    assert victim_name in recording_status["deletedFiles"]

    sid = recording_status["sid"]
    sandbox.stop_operator()
    queries = agora.calls("query", sid)
    sandbox.start_operator()
    # The restarted operator queries the running session (which still lists the file) twice.
    wait_for(lambda: agora.calls("query", sid) >= queries + 2, timeout=30, what="queries after the restart")
    assert files.get(victim_name) is None
    assert victim_key not in {f["spec"]["location"]["key"] for f in files.of_recording(name)}
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")


def test_a_recordings_file_policy_is_each_new_files_own(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    """`files.deletionPolicy: Retain` on a recording whose own deletionPolicy is Delete: deleting one
    of its RecordedFiles by hand keeps the stored object."""
    body = recording(**{"files": {"deletionPolicy": "Retain"}})
    name = body["metadata"]["name"]
    body["spec"]["storage"]["prefix"] = ["teamA", name.replace("-", "")]
    agora.set_users(APP, name, ["1001"])
    assert cluster.create(body).status_code == 201
    wait_for(lambda: len(files.of_recording(name)) >= 2, timeout=30, what="RecordedFiles of the recording")
    objects = files.of_recording(name)
    keys = [o["spec"]["location"]["key"] for o in objects]
    assert {o["spec"]["deletionPolicy"] for o in objects} == {"Retain"}
    one = objects[0]
    wait_for(lambda: _phase(files, one["metadata"]["name"]) == "Available", what="phase Available")
    files.delete(one["metadata"]["name"])
    wait_for(lambda: files.get(one["metadata"]["name"]) is None, what="the file to go")
    assert one["spec"]["location"]["key"] in s3_keys(s3, BUCKET)
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    assert set(keys) <= s3_keys(s3, BUCKET)  # every file Retain: the data stays with the recording gone
