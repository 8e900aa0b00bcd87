"""A storage error does not wedge a LocalRecording: with a wrong bucket the recording says so once
(condition and one Warning Event, its message free of request ids), stops when asked, keeps what it
recorded on its work volume, and stores it once the user fixes the spec.

Real operator, the sandbox's Pod runner, real FFmpeg, moto's S3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    LRECS,
    SrtSource,
    events,
    files_of,
    objects,
    patch_spec,
    recorder_pods,
    recording,
    status,
)
from tests.support.waiting import wait_for


def condition(kube: httpx.Client, name: str, type_: str) -> dict[str, Any]:
    return {c["type"]: c for c in status(kube, name).get("conditions") or []}.get(type_) or {}


def warnings(kube: httpx.Client, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in events(kube, name) if e["reason"] == reason and e["type"] == "Warning"]


def test_a_wrong_bucket_is_reported_once_keeps_the_media_and_the_fixed_spec_stores_it(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    name = "wrong-bucket"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["storage"]["bucket"] = "no-such-bucket"
    assert kube.post(LRECS, json=body).status_code == 201

    # Recording, but nothing can be stored: one clear condition, one Event.
    synced = wait_for(
        lambda: (c := condition(kube, name, "Synced")).get("reason") == "StorageUnavailable" and c,
        timeout=60,
        what="Synced=False StorageUnavailable",
    )
    assert synced["status"] == "False"
    assert "no-such-bucket" in synced["message"] or "NoSuchBucket" in synced["message"], synced
    wait_for(lambda: status(kube, name).get("stats", {}).get("outTimeMs", 0) > 7000, timeout=30,
             what="a few segments recorded")  # fmt: skip

    # Asked to stop, it stops: not wedged in Stopping.
    patch_spec(kube, name, {"active": False})
    stopped = wait_for(lambda: (s := status(kube, name)).get("phase") == "Stopped" and s, timeout=90,
                       what="phase Stopped")  # fmt: skip
    assert recorder_pods(kube, name) == []
    assert files_of(kube, name) == []
    assert condition(kube, name, "Synced")["reason"] == "StorageUnavailable", stopped["conditions"]
    posted = warnings(kube, name, "StorageUnavailable")
    # One Event for the cause; its repeats count up that Event's series (`count`), as client-go does.
    assert len(posted) == 1, [e["message"] for e in posted]
    assert "request" not in posted[0]["message"].lower(), posted[0]["message"]
    log = Path(sandbox.state_dir / "operator.log").read_text(encoding="utf-8").splitlines()
    logged = [ln for ln in log if "StorageUnavailable" in ln and name in ln and "WARNING" in ln]
    assert len(logged) == 1, logged

    # The user fixes the bucket and starts again: what was recorded meanwhile is stored too.
    patch_spec(kube, name, {"active": True, "storage": {"bucket": "recordings"}})
    wait_for(lambda: status(kube, name).get("phase") == "Recording", timeout=60, what="recording again")
    files = wait_for(lambda: len(f := files_of(kube, name)) >= 3 and f, timeout=60,
                     what="the files recorded meanwhile")  # fmt: skip
    assert wait_for(lambda: condition(kube, name, "Synced").get("status") == "True", what="Synced again")
    stored = objects(s3, name)
    assert {f["spec"]["location"]["key"] for f in files} <= set(stored)
    first_pod_media_ms = sum(f["spec"].get("durationMs", 0) for f in files)
    assert first_pod_media_ms >= 6000, json.dumps([f["spec"] for f in files])
    assert len(warnings(kube, name, "StorageUnavailable")) == 1
