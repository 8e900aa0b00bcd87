"""A recorder killed (`kill -9` of the agent) while its recording stops or is deleted loses at most 10
media seconds: the controller runs a store-only recorder Pod for what the killed one left on the work
claim before it reports Stopped (or releases the recording's finalizer), also when the status write
after the dead Pod's release is refused.

Real operator, the sandbox's Pod runner (whose work volume claim outlives the Pods), real FFmpeg
(SRT source and recorder), moto's S3; durations are ffprobe's of the stored objects.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox
from tests.integration.localrecording.test_localrecording_crash_safety import (
    LOST_PER_KILL_MAX_S,
    ffprobe_seconds,
    recording_since,
)
from tests.support.localrecordings import (
    BUCKET,
    LRECS,
    NS,
    PODS,
    SrtSource,
    events,
    files_of,
    get,
    objects,
    patch_spec,
    recording,
    status,
)
from tests.support.waiting import wait_for

#: The annotation the controller writes on a recorder Pod it stops.
STOP_REASON = "recording.mediaops.io/stop-reason"
#: Media seconds recorded before the stop (more than a killed recorder's in-flight file may hold).
RECORD_S = 25


def media_seconds(s3: Any, keys: list[str], tmp_path: Path) -> float:
    """Sum of the ffprobe durations of the stored objects `keys`."""
    total = 0.0
    for key in keys:
        local = tmp_path / key.rsplit("/", 1)[-1]
        local.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        total += ffprobe_seconds(local)
    return total


def stop_and_kill(sandbox: Sandbox, kube: httpx.Client, pod: str, stop: Callable[[], None]) -> float:
    """Run `stop` (a stop or a delete of the recording), then, as soon as the controller marks the
    recorder Pod `pod` as being stopped (its stop-reason annotation, written just before its graceful
    delete), `kill -9` its agent (FFmpeg goes with the container). Returns when `stop` was called."""
    pid = sandbox.pods.pid_of(NS, pod)
    assert pid is not None
    stopped_at = time.time()
    stop()
    wait_for(
        lambda: (
            STOP_REASON in ((kube.get(f"{PODS}/{pod}").json().get("metadata") or {}).get("annotations") or {})
        ),
        timeout=30,
        interval=0.02,
        what="the recorder Pod being stopped",
    )
    os.kill(pid, signal.SIGKILL)
    return stopped_at


def delete(kube: httpx.Client, name: str) -> None:
    """Delete the recording (its finalizer decides when it goes)."""
    assert kube.delete(f"{LRECS}/{name}").status_code == 200


def start(kube: httpx.Client, body: dict[str, Any]) -> tuple[str, float]:
    """Create the recording and wait until it records; returns its Pod and the wall time of its first
    media second."""
    response = kube.post(LRECS, json=body)
    assert response.status_code == 201, response.text
    first = recording_since(kube, body["metadata"]["name"], None)
    return first["podName"], time.time() - first["stats"]["outTimeMs"] / 1000


def assert_stored_with_files(
    kube: httpx.Client, s3: Any, name: str, source_s: float, tmp_path: Path, what: str
) -> None:
    """A store-only Pod ran for what the killed recorder left, every stored object has a RecordedFile,
    and at most LOST_PER_KILL_MAX_S of the `source_s` media seconds sent before the stop were lost."""
    reasons = [e.get("reason") for e in events(kube, name)]
    assert "StoringWorkVolume" in reasons, reasons
    files = files_of(kube, name)
    stored = sorted(objects(s3, name))
    assert sorted(f["spec"]["location"]["key"] for f in files) == stored, "every object has a RecordedFile"
    media_s = media_seconds(s3, stored, tmp_path)
    print(f"FIGURES {what} source_s={source_s:.1f} stored_media_s={media_s:.1f} files={len(stored)}")
    assert source_s - media_s <= LOST_PER_KILL_MAX_S, (source_s, media_s, [f["spec"] for f in files])


def test_agent_killed_while_stopping_loses_at_most_ten_media_seconds(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, tmp_path: Path
) -> None:
    name = "stop-kill"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["output"] = {"fileNameTemplate": "{recording}-{index}"}  # defaults otherwise
    pod, started = start(kube, body)
    time.sleep(RECORD_S)

    stop_requested = stop_and_kill(sandbox, kube, pod, lambda: patch_spec(kube, name, {"active": False}))
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=120, what="phase Stopped")

    final = status(kube, name)
    assert final.get("storeOnlyAttempts") is None, final
    assert_stored_with_files(kube, s3, name, stop_requested - started, tmp_path, "stop+kill")


def test_agent_killed_while_deleted_is_stored_before_the_finalizer_goes(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, tmp_path: Path
) -> None:
    name = "delete-kill"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["output"] = {"fileNameTemplate": "{recording}-{index}"}
    # The recording's RecordedFiles go with it; Retain keeps their stored objects to measure.
    body["spec"]["files"] = {"deletionPolicy": "Retain"}
    pod, started = start(kube, body)
    time.sleep(RECORD_S)

    delete_requested = stop_and_kill(sandbox, kube, pod, lambda: delete(kube, name))
    wait_for(lambda: get(kube, name) is None, timeout=120, what="the recording gone")

    reasons = [e.get("reason") for e in events(kube, name)]
    assert "StoringWorkVolume" in reasons, reasons
    stored = sorted(objects(s3, name))
    source_s = delete_requested - started
    media_s = media_seconds(s3, stored, tmp_path)
    print(f"FIGURES delete+kill source_s={source_s:.1f} stored_media_s={media_s:.1f} files={len(stored)}")
    assert source_s - media_s <= LOST_PER_KILL_MAX_S, (source_s, media_s, stored)


def refused_status_writes(kube: httpx.Client) -> int:
    """How many more status writes of LocalRecordings the armed fault refuses."""
    armed = kube.get("/_emulator/faults").json()["faults"]
    return sum(f["count"] for f in armed if f["resource"] == "localrecordings/status")


def test_files_a_killed_recorder_left_are_stored_even_when_the_status_write_after_its_release_failed(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, tmp_path: Path
) -> None:
    """Files left on the work claim are known only from the killed Pod: that knowledge reaches the API
    before the Pod is released, or a status write refused after the release (API outage) would let the
    recording say Stopped with its last file never stored (fault campaign seed 1, local#159)."""
    name = "kill-refused"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["output"] = {"fileNameTemplate": "{recording}-{index}"}
    pod, started = start(kube, body)
    time.sleep(RECORD_S)

    armed = 1_000_000
    # Refused from the moment the stop was handled: status writes and Pod creations (the Pod
    # reads and writes that release a dead Pod are served).
    faults = [
        {"method": "PATCH", "resource": "localrecordings/status", "code": 503, "count": armed},
        {"method": "POST", "resource": "pods", "code": 503, "count": armed},
    ]

    def stop_then_refuse_status_writes() -> None:
        patch_spec(kube, name, {"active": False})
        for fault in faults:
            assert kube.post("/_emulator/faults", json=fault).status_code == 201

    try:
        # The stop's reconcile annotates the Pod (then the faults are armed) and the agent is killed:
        # the poll collects the dead Pod, cannot start a store-only Pod and its status write is refused.
        stop_requested = stop_and_kill(sandbox, kube, pod, stop_then_refuse_status_writes)
        wait_for(lambda: refused_status_writes(kube) <= armed - 8, timeout=60, what="refused status writes")
    finally:
        kube.delete("/_emulator/faults")
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=120, what="phase Stopped")

    assert_stored_with_files(kube, s3, name, stop_requested - started, tmp_path, "kill+refused")
