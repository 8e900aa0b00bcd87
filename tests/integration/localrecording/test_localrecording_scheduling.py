"""A work-volume claim that never binds: the claim stays Pending (its storageClassName names no
StorageClass), the recorder Pod stays Pending (`PodScheduled=False` `Unschedulable`, the
scheduler's message), and the LocalRecording says so (`Synced=False` `WorkVolumePending` naming the
claim and the class) with one Warning Event, then records once the user names a class that exists.

Real operator, the sandbox's Pod runner (scheduler and provisioner: it binds claims of known
classes, the default class `standard`), real FFmpeg, moto's S3.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    LRECS,
    NS,
    SrtSource,
    events,
    files_of,
    patch_spec,
    recorder_pods,
    recording,
    status,
)
from tests.support.waiting import wait_for

CLAIMS = f"/api/v1/namespaces/{NS}/persistentvolumeclaims"


def synced(kube: httpx.Client, name: str) -> dict[str, Any]:
    return {c["type"]: c for c in status(kube, name).get("conditions") or []}.get("Synced") or {}


def test_an_unbound_work_claim_is_reported_once_and_a_fixed_class_records(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    name = "no-class"
    claim = f"{name}-work"
    body = recording(
        name, sandbox.endpoints["s3"], source.port, pod={"workVolume": {"storageClassName": "fast-ssd"}}
    )
    assert kube.post(LRECS, json=body).status_code == 201

    condition = wait_for(
        lambda: (c := synced(kube, name)).get("reason") == "WorkVolumePending" and c,
        timeout=60,
        what="Synced=False WorkVolumePending",
    )
    assert condition["status"] == "False"
    assert f"PersistentVolumeClaim {claim} (storageClassName fast-ssd) is Pending" in condition["message"]
    assert "unbound immediate PersistentVolumeClaims" in condition["message"]
    assert kube.get(f"{CLAIMS}/{claim}").json().get("status", {}).get("phase") != "Bound"
    [pod] = recorder_pods(kube, name)
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert pod["status"]["phase"] == "Pending"
    assert status(kube, name).get("phase") == "Starting"
    time.sleep(3)  # six polls later: still one Event, posted once
    warnings = [e for e in events(kube, name) if e["reason"] == "WorkVolumePending"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and warnings[0].get("count", 1) == 1
    assert warnings[0]["message"] == condition["message"]

    # The user names a class the cluster has: the claim is made again with it, binds, and the recorder runs.
    patch_spec(kube, name, {"pod": {"workVolume": {"storageClassName": "standard"}}})
    wait_for(lambda: len(files_of(kube, name)) >= 2, timeout=90, what="files recorded after the fix")
    assert status(kube, name)["phase"] == "Recording"
    wait_for(lambda: synced(kube, name).get("status") == "True", timeout=30, what="Synced=True again")
    bound = kube.get(f"{CLAIMS}/{claim}").json()
    assert bound["spec"]["storageClassName"] == "standard" and bound["status"]["phase"] == "Bound"
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: kube.get(f"{LRECS}/{name}").status_code == 404, timeout=60, what="deleted")
