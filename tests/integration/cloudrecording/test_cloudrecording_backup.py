"""`uploadingStatus: backuped`: Agora uploads some files later (also those its stop could not write
to the storage). Deleting the recording (`Delete`) waits for them to land, so their objects are
deleted with their RecordedFiles, not left behind."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, Files, recording, s3_keys
from tests.support.waiting import wait_for

#: Seconds between the stop and the backed-up files reaching the bucket (emulator).
LANDS_AFTER_S = 4


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "RECORDING_BACKUP_WAIT": "30"}


def backups(agora: Agora) -> dict[str, Any]:
    result: dict[str, Any] = agora.http.get("/_emulator/backups").json()
    return result


def test_delete_waits_for_backed_up_files_and_deletes_them(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.http.post(
        "/_emulator/backups", json={"cname": name, "delaySeconds": LANDS_AFTER_S}
    ).raise_for_status()
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    cluster.create(body)
    wait_for(
        lambda: ((cluster.get(name) or {}).get("status") or {}).get("phase") == "Recording", what="Recording"
    )
    wait_for(lambda: files.of_recording(name), what="RecordedFiles reported by query")
    keys = {f["spec"]["location"]["key"] for f in files.of_recording(name)}
    prefix = "/".join(body["spec"]["storage"]["prefix"])
    assert not keys & s3_keys(s3, "recordings", prefix)  # nothing uploaded yet: it is all backed up

    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=60, what=f"{name} deleted")
    wait_for(lambda: backups(agora)["pending"] == 0, what="the backed-up files landed")
    assert not {k for k in s3_keys(s3, "recordings", prefix) if name in k}  # none left behind
    assert any(e["reason"] == "AwaitingBackupUpload" for e in cluster.events(name))


def test_storage_refusing_at_the_stop_backs_files_up_and_they_land_later(
    cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    bucket = f"late-{uuid.uuid4().hex[:8]}"  # created only after the stop: every upload until then fails
    body = recording(storage__bucket=bucket)
    name = body["metadata"]["name"]
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    cluster.create(body)
    wait_for(lambda: files.of_recording(name), timeout=60, what="RecordedFiles reported by query")
    assert cluster.patch(name, {"spec": {"state": "Stopped"}}).status_code == 200
    status = wait_for(
        lambda: (s := (cluster.get(name) or {}).get("status") or {}).get("phase") == "Stopped" and s,
        timeout=60,
        what="Stopped",
    )
    assert status.get("uploadingStatus") == "backuped"  # Agora kept the files it could not upload

    s3.create_bucket(Bucket=bucket)
    keys = {f["spec"]["location"]["key"] for f in files.of_recording(name)}
    wait_for(lambda: keys <= s3_keys(s3, bucket), timeout=60, what="the backed-up files landed")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=60, what=f"{name} deleted")
    assert not s3_keys(s3, bucket)
