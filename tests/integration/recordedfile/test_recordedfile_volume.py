"""RecordedFiles on a PersistentVolumeClaim (`storage.vendor: volume`) end to end: the real operator,
the real recorder agent recording a live ffmpeg SRT publisher into the claim (a local directory in
the sandbox), and the deletion Job really running `recording-operator delete-volume-file` as a Pod
of the sandbox's Job controller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from recording_operator.controllers.recordedfile.jobs import deletion_job_name
from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    LRECS,
    NS,
    OPERATOR_ENV,
    RFILES,
    SrtSource,
    files_of,
    get,
    patch_spec,
    recording,
    status,
)
from tests.support.waiting import wait_for

CLAIM = "recordings"
SUB_PATH = "team-a"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
PODS = f"/api/v1/namespaces/{NS}/pods"


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return OPERATOR_ENV


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, Any]:
    return {"with_s3": False}


def claim_dir(sandbox: Sandbox) -> Path:
    """The sandbox's directory of the PersistentVolumeClaim (pods.py: `volumes/<ns>/<claim>`)."""
    return sandbox.state_dir / "volumes" / NS / CLAIM


def volume_recording(name: str, port: int, **spec: Any) -> dict[str, Any]:
    """A LocalRecording of 2 s MP4 segments into the claim, under `team-a/<name>/`."""
    storage = {
        "vendor": "volume",
        "volume": {"claimName": CLAIM, "subPath": SUB_PATH},
        "prefix": [name.replace("-", "")],
    }
    return recording(name, "", port, storage=storage, **spec)


def record_files(kube: httpx.Client, name: str, port: int, count: int, **spec: Any) -> list[dict[str, Any]]:
    """Record until `count` files are stored, stop the recorder, return the RecordedFiles."""
    response = kube.post(LRECS, json=volume_recording(name, port, **spec))
    assert response.status_code == 201, response.text
    wait_for(lambda: len(files_of(kube, name)) >= count, timeout=60, what=f"{count} RecordedFiles")
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=60, what="phase Stopped")
    return files_of(kube, name)


def on_disk(sandbox: Sandbox, file: dict[str, Any]) -> Path:
    return claim_dir(sandbox) / file["spec"]["location"]["volume"]["path"]


def delete_file(kube: httpx.Client, name: str) -> None:
    assert kube.delete(f"{RFILES}/{name}").status_code == 200
    wait_for(lambda: kube.get(f"{RFILES}/{name}").status_code == 404, timeout=60, what=f"{name} to go")


def test_a_deleted_file_is_removed_by_a_job_and_retain_keeps_it(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    name = "vol-files"
    files = record_files(kube, name, source.port, 3)
    prefix = f"{SUB_PATH}/volfiles/"
    for file in files:
        location = file["spec"]["location"]
        assert set(location) == {"volume"} and location["volume"]["claimName"] == CLAIM
        assert location["volume"]["path"].startswith(prefix)
        path = on_disk(sandbox, file)
        assert path.is_file() and path.stat().st_size == file["spec"]["sizeBytes"]
        assert file["spec"]["deletionPolicy"] == "Delete"
    first, second, third = files[:3]
    jobs_before = sandbox.kube.stats.count(verb="create", plural="jobs")

    # Delete policy: the finalizer runs a Job that deletes exactly that file.
    delete_file(kube, first["metadata"]["name"])
    assert not on_disk(sandbox, first).exists()
    assert on_disk(sandbox, second).is_file() and on_disk(sandbox, third).is_file()
    assert sandbox.kube.stats.count(verb="create", plural="jobs") == jobs_before + 1
    # The Job and its Pod belonged to the RecordedFile and went with it.
    job_name = deletion_job_name(first["metadata"]["uid"])
    assert kube.get(f"{JOBS}/{job_name}").status_code == 404
    pods = kube.get(PODS, params={"labelSelector": f"job-name={job_name}"}).json()["items"]
    assert pods == []

    # Retain: the object goes, the file stays, no Job.
    response = kube.patch(
        f"{RFILES}/{second['metadata']['name']}",
        json={"spec": {"deletionPolicy": "Retain"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    delete_file(kube, second["metadata"]["name"])
    assert on_disk(sandbox, second).is_file()
    assert sandbox.kube.stats.count(verb="create", plural="jobs") == jobs_before + 1

    # Deleting the recording (Delete) deletes its remaining files from the claim.
    remaining = files_of(kube, name)
    assert third["metadata"]["name"] in {f["metadata"]["name"] for f in remaining}
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the LocalRecording to go")
    wait_for(lambda: files_of(kube, name) == [], timeout=60, what="its RecordedFiles to go")
    assert all(not on_disk(sandbox, f).exists() for f in remaining)
    assert on_disk(sandbox, second).is_file()  # retained before: not the recording's any more
    assert claim_dir(sandbox).is_dir() and (claim_dir(sandbox) / SUB_PATH).is_dir()


def test_a_path_escaping_the_claim_is_never_handed_to_a_job(sandbox: Sandbox, kube: httpx.Client) -> None:
    outside = sandbox.state_dir / "volumes" / NS / "precious.mp4"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(b"not a recording")
    body = {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "RecordedFile",
        "metadata": {"name": "escaping"},
        "spec": {
            "recordingRef": {"kind": "LocalRecording", "name": "manual"},
            "location": {"volume": {"claimName": CLAIM, "path": "team-a/../../precious.mp4"}},
        },
    }
    assert kube.post(RFILES, json=body).status_code == 201
    wait_for(
        lambda: (kube.get(f"{RFILES}/escaping").json().get("status") or {}).get("phase"), what="registered"
    )
    jobs_before = sandbox.kube.stats.count(verb="create", plural="jobs")
    delete_file(kube, "escaping")
    assert outside.read_bytes() == b"not a recording"
    assert sandbox.kube.stats.count(verb="create", plural="jobs") == jobs_before

    def refusals() -> list[dict[str, Any]]:
        response = kube.get(
            f"/api/v1/namespaces/{NS}/events", params={"fieldSelector": "involvedObject.name=escaping"}
        )
        return [
            e for e in response.json()["items"] if e["reason"] == "InvalidSpec" and "'..'" in e["message"]
        ]

    wait_for(refusals, what="a Warning InvalidSpec Event naming the refused path")


def test_the_recording_goes_only_after_its_volume_files(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    name = "vol-order"
    files = record_files(kube, name, source.port, 2)
    assert all(on_disk(sandbox, f).is_file() for f in files)
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    # While the recording is still there, its files are being deleted; once it is gone, they are.
    wait_for(lambda: get(kube, name) is None, timeout=90, what="the LocalRecording to go")
    assert files_of(kube, name) == []
    assert all(not on_disk(sandbox, f).exists() for f in files)
