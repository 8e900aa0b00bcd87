"""LocalRecording policies end to end, as a user sees them: `maxDuration`, giving up on a recorder
that keeps failing (also across operator restarts), `input.listen` with its Service,
`deletionPolicy: Orphan`, and an operator restart in the middle of a recording.

The real operator runs against the sandbox (Pod runner running the real recorder agent, moto's S3);
helpers come from `test_localrecording_lifecycle`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox
from tests.support.argocd_health import health
from tests.support.localrecordings import (
    LRECS,
    NS,
    OPERATOR_ENV,
    RFILES,
    LoopingPublisher,
    SrtSource,
    events,
    files_of,
    get,
    index_of,
    objects,
    patch_spec,
    recorder_pods,
    recording,
    status,
)
from tests.support.waiting import wait_for

#: Give up after 3 failures in a row; backoff 2-3 s, long enough to restart the operator in between.
MAX_RESTARTS = 2
POLICY_ENV = {
    **OPERATOR_ENV,
    "LOCALRECORDING_MAX_RESTARTS": str(MAX_RESTARTS),
    "RECORDING_BACKOFF_BASE": "2",
    "RECORDING_BACKOFF_MAX": "3",
}


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return POLICY_ENV


def count_events(kube: httpx.Client, name: str, reason: str, *, type_: str = "Normal", text: str = "") -> int:
    """How many times an Event with this reason (and `text` in its message) was posted."""
    return sum(
        int(e.get("count") or 1)
        for e in events(kube, name)
        if e["reason"] == reason and e["type"] == type_ and text in e.get("message", "")
    )


def restart_operator(sandbox: Sandbox, log_name: str, *, kill: bool) -> Path:
    """Stop the operator (SIGKILL or SIGTERM) and start a new one logging to `log_name`."""
    sandbox.stop_operator(kill=kill)
    sandbox.start_operator(log_name=log_name)
    return sandbox.state_dir / log_name


def resumed_all(kube: httpx.Client, log: Path) -> bool:
    """The restarted operator has run its resume handler on every LocalRecording (its log names no
    objects; LocalRecordings are the only resources with a resume handler in this module's sandbox)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    response = kube.get(LRECS)
    response.raise_for_status()
    return text.count("Resuming is processed") >= len(response.json()["items"])


def assert_files_match_the_bucket(kube: httpx.Client, s3: Any, name: str) -> list[dict[str, Any]]:
    """RecordedFiles are exactly the stored objects, numbered 0..n-1 without gaps, each with its
    duration: from the agent's `/status`, or, for the file a stopping agent closes, stores and exits
    with within milliseconds, from the Pod's termination message."""
    files = files_of(kube, name)
    stored = objects(s3, name)
    assert files, "no RecordedFiles"
    assert sorted(f["spec"]["location"]["key"] for f in files) == sorted(stored)
    assert [index_of(f) for f in files] == list(range(len(files)))
    for f in files:
        assert f["spec"]["sizeBytes"] == stored[f["spec"]["location"]["key"]]
        assert f["spec"].get("durationMs", 0) > 0, f["spec"]
    return files


def test_max_duration_stops_the_recording_by_itself(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    name = "max-duration"
    body = recording(name, sandbox.endpoints["s3"], source.port, maxDuration="10s")
    assert kube.post(LRECS, json=body).status_code == 201

    # (On a loaded machine the Pod may spend several of the 10 s starting: Recording may never be seen.)
    stopped = wait_for(lambda: (s := status(kube, name)).get("phase") == "Stopped" and s, timeout=90,
                       what="phase Stopped")  # fmt: skip
    assert stopped["stopReason"] == "MaxDurationReached"
    recording_condition = next(c for c in stopped["conditions"] if c["type"] == "Recording")
    assert (recording_condition["status"], recording_condition["reason"]) == ("False", "MaxDurationReached")
    assert recorder_pods(kube, name) == []
    files = assert_files_match_the_bucket(kube, s3, name)
    assert stopped["files"]["count"] == len(files)

    # Not restarted: a few polls later nothing has moved.
    time.sleep(2)
    assert status(kube, name)["phase"] == "Stopped" and recorder_pods(kube, name) == []
    assert count_events(kube, name, "RecorderStarted") == 1

    # active: false, then true, starts a new session, capped by maxDuration again; numbering continues.
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("stopReason") == "Requested", what="stopReason Requested")
    patch_spec(kube, name, {"active": True})
    again = wait_for(
        lambda: (
            (s := status(kube, name)).get("phase") == "Stopped"
            and s.get("startedAt") != stopped["startedAt"]
            and s
        ),
        timeout=60,
        what="a second session to stop by itself",
    )
    assert again["stopReason"] == "MaxDurationReached"
    assert count_events(kube, name, "RecorderStarted") == 2
    assert len(assert_files_match_the_bucket(kube, s3, name)) > len(files)


def test_a_recorder_that_keeps_failing_ends_failed_even_across_operator_restarts(
    sandbox: Sandbox, kube: httpx.Client
) -> None:
    name = "always-fails"
    body = recording(name, sandbox.endpoints["s3"], free_port())
    # The agent cannot fetch its overlay image (closed port): it exits 1 before FFmpeg runs.
    body["spec"]["overlay"] = {"imageUrl": f"http://127.0.0.1:{free_port()}/logo.png"}
    assert kube.post(LRECS, json=body).status_code == 201

    first = wait_for(
        lambda: (
            (s := status(kube, name)).get("phase") == "Reconnecting"
            and s.get("consecutiveFailures") == 1
            and s
        ),
        timeout=40,
        what="the first failure",
    )
    assert first["nextRetryAt"] and "exited with code 1" in first["lastError"]
    # Argo CD shows the recording as still converging while it backs off, not Healthy.
    assert health("LocalRecording", get(kube, name) or {})["status"] != "Healthy"
    wait_for(lambda: count_events(kube, name, "RecorderStarted") == 1, what="the first RecorderStarted Event")

    # An operator crash during the backoff must not grant a fresh restart budget.
    restart_operator(sandbox, "operator-after-failure.log", kill=True)
    failed = wait_for(lambda: (s := status(kube, name)).get("phase") == "Failed" and s, timeout=60,
                      what="phase Failed")  # fmt: skip
    assert failed["stopReason"] == "RecorderFailed"
    assert failed["consecutiveFailures"] == MAX_RESTARTS + 1 and "nextRetryAt" not in failed
    conditions = {c["type"]: c for c in failed["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "RecorderFailed")
    assert (
        conditions["Synced"]["status"] == "False"
        and "gave up after 3 failures" in conditions["Synced"]["message"]
    )
    wait_for(lambda: not recorder_pods(kube, name), what="the last failed Pod to go")
    assert count_events(kube, name, "RecorderStarted") == MAX_RESTARTS + 1
    degraded = health("LocalRecording", get(kube, name) or {})
    assert degraded["status"] == "Degraded" and "gave up after 3 failures" in degraded["message"]
    gave_up = wait_for(lambda: count_events(kube, name, "RecorderFailed", type_="Warning", text="gave up"),
                       what="the Warning Event")  # fmt: skip
    assert gave_up == 1

    # Another operator restart does not revive it: no new Pod, no new Event.
    log = restart_operator(sandbox, "operator-after-failed.log", kill=False)
    wait_for(
        lambda: resumed_all(kube, log), timeout=30, what="the restarted operator to resume the recordings"
    )
    time.sleep(2)  # a few polls
    assert status(kube, name)["phase"] == "Failed" and recorder_pods(kube, name) == []
    assert count_events(kube, name, "RecorderStarted") == MAX_RESTARTS + 1
    assert count_events(kube, name, "RecorderFailed", type_="Warning", text="gave up") == 1

    # A spec change is a new attempt with a fresh budget (here it fails again: Reconnecting).
    patch_spec(kube, name, {"overlay": {"imageUrl": f"http://127.0.0.1:{free_port()}/other.png"}})
    wait_for(lambda: count_events(kube, name, "RecorderStarted") > MAX_RESTARTS + 1, timeout=30,
             what="a new recorder Pod after the spec change")  # fmt: skip
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the LocalRecording to go")


def test_listen_input_gets_a_service_and_records_what_is_pushed(
    sandbox: Sandbox, kube: httpx.Client, s3: Any
) -> None:
    name = "rtmp-listen"
    port = free_port()
    body = recording(name, sandbox.endpoints["s3"], 1, pod={"serviceType": "NodePort"})
    # FFmpeg's RTMP listener checks no stream key: a NodePort listener says it accepts anyone.
    body["spec"]["input"] = {"listen": {"protocol": "rtmp", "port": port, "allowAnonymous": True}}
    assert kube.post(LRECS, json=body).status_code == 201

    started = wait_for(lambda: (s := status(kube, name)).get("serviceName") and s, timeout=30,
                       what="status.serviceName")  # fmt: skip
    service = kube.get(f"/api/v1/namespaces/{NS}/services/{started['serviceName']}")
    assert service.status_code == 200, service.text
    spec = service.json()["spec"]
    assert spec["type"] == "NodePort"
    assert [(p["port"], p["protocol"], p["targetPort"]) for p in spec["ports"]] == [(port, "TCP", "input")]
    assert spec["selector"] == {
        "recording.mediaops.io/recording": name,
        "app.kubernetes.io/component": "recorder",
    }

    pusher = LoopingPublisher(f"rtmp://127.0.0.1:{port}/live/stream", fmt="flv")
    try:
        wait_for(lambda: status(kube, name).get("phase") == "Recording", timeout=40, what="phase Recording")
        wait_for(lambda: len(files_of(kube, name)) >= 2, timeout=40, what="two RecordedFiles")
        patch_spec(kube, name, {"active": False})
        stopped = wait_for(lambda: (s := status(kube, name)).get("phase") == "Stopped" and s, timeout=60,
                           what="phase Stopped")  # fmt: skip
    finally:
        pusher.close()
    assert stopped["stopReason"] == "Requested" and recorder_pods(kube, name) == []
    files = assert_files_match_the_bucket(kube, s3, name)
    assert stopped["files"]["count"] == len(files)


def test_orphan_deletion_leaves_the_files_and_their_data(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    name = "orphaned"
    body = recording(name, sandbox.endpoints["s3"], source.port, deletionPolicy="Orphan")
    assert kube.post(LRECS, json=body).status_code == 201
    wait_for(lambda: len(files_of(kube, name)) >= 1, timeout=40, what="a RecordedFile")
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=60, what="phase Stopped")
    keys = sorted(f["spec"]["location"]["key"] for f in files_of(kube, name))

    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=30, what="the LocalRecording to go")
    time.sleep(1)  # the owner cascade would have deleted owned RecordedFiles by now
    left = files_of(kube, name)
    assert sorted(f["spec"]["location"]["key"] for f in left) == keys
    assert all(not f["metadata"].get("ownerReferences") for f in left)
    # The recording's Orphan said what deleting the recording does; each file's own policy (Delete by
    # default) says what deleting the file does.
    assert all(f["spec"]["deletionPolicy"] == "Delete" for f in left)
    assert set(keys) <= set(objects(s3, name))
    first = left[0]
    assert kube.delete(f"{RFILES}/{first['metadata']['name']}").status_code == 200
    wait_for(lambda: first["spec"]["location"]["key"] not in objects(s3, name), what="its data deleted")
    assert set(keys) - {first["spec"]["location"]["key"]} <= set(objects(s3, name))


def test_a_deleted_file_stays_deleted_across_an_operator_restart(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    """With `files.deletionPolicy: Retain` the data of a RecordedFile deleted by hand stays in the
    bucket, where the controller finds the recorder's files when its Pod ends: after an operator
    restart (its memory rebuilt from the cluster) it must not create that RecordedFile again."""
    name = "own-fate"
    body = recording(name, sandbox.endpoints["s3"], source.port, files={"deletionPolicy": "Retain"})
    assert kube.post(LRECS, json=body).status_code == 201
    wait_for(lambda: len(files_of(kube, name)) >= 2, timeout=40, what="two RecordedFiles")
    victim = min(files_of(kube, name), key=index_of)
    victim_name, victim_key = victim["metadata"]["name"], victim["spec"]["location"]["key"]
    assert victim["spec"]["deletionPolicy"] == "Retain"
    assert kube.delete(f"{RFILES}/{victim_name}").status_code == 200
    wait_for(lambda: kube.get(f"{RFILES}/{victim_name}").status_code == 404, what="the RecordedFile to go")
    assert victim_key in objects(s3, name)  # Retain: only the object went
    assert victim_name in status(kube, name)["deletedFiles"]

    log = restart_operator(sandbox, "operator-own-fate.log", kill=True)
    wait_for(lambda: resumed_all(kube, log), timeout=30, what="the restarted operator resumed")
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=60, what="phase Stopped")
    left = files_of(kube, name)
    assert victim_name not in {f["metadata"]["name"] for f in left}
    # Every other stored file has its RecordedFile: the Pod's files were collected after the restart.
    assert {f["spec"]["location"]["key"] for f in left} == set(objects(s3, name)) - {victim_key}
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the LocalRecording to go")


def test_an_operator_restart_mid_recording_neither_duplicates_nor_loses_files(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    name = "restart-mid"
    assert kube.post(LRECS, json=recording(name, sandbox.endpoints["s3"], source.port)).status_code == 201
    before = wait_for(lambda: (s := status(kube, name)).get("phase") == "Recording" and s, timeout=40,
                      what="phase Recording")  # fmt: skip
    wait_for(lambda: len(files_of(kube, name)) >= 1, timeout=30, what="a first RecordedFile")

    # While the operator is down, the recorder keeps storing files nobody records yet.
    sandbox.stop_operator(kill=True)
    recorded = len(files_of(kube, name))
    wait_for(lambda: len(objects(s3, name)) >= recorded + 2, timeout=30, what="two files stored meanwhile")
    creates = sandbox.kube.stats.count(verb="create", plural="recordedfiles")
    sandbox.start_operator(log_name="operator-mid-recording.log")
    stored = len(objects(s3, name))
    wait_for(lambda: len(files_of(kube, name)) >= stored, timeout=30, what="the missed files recorded")
    assert status(kube, name)["podName"] == before["podName"]  # the recorder was not disturbed

    patch_spec(kube, name, {"active": False})
    stopped = wait_for(lambda: (s := status(kube, name)).get("phase") == "Stopped" and s, timeout=60,
                       what="phase Stopped")  # fmt: skip
    files = assert_files_match_the_bucket(kube, s3, name)
    assert stopped["files"]["count"] == len(files)
    # The restarted operator rebuilt what it had recorded from the cluster: no create was repeated.
    assert sandbox.kube.stats.count(verb="create", plural="recordedfiles") - creates == len(files) - recorded


def test_a_file_stored_after_its_pod_was_collected_is_deleted_with_the_recording(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource
) -> None:
    """The fault campaign's local#32: the recorder Pod was deleted without grace while its agent's last
    PUT was in flight; the request had been sent whole, so the object landed at the storage just after
    the operator listed the bucket for the Pod's files. No RecordedFile named it, and deleting the
    recording left it in the bucket. Played here by storing such an object after the stop: the
    finalizer now searches the storage for the recording's files once its RecordedFiles are gone."""
    name = "late-upload"
    assert kube.post(LRECS, json=recording(name, sandbox.endpoints["s3"], source.port)).status_code == 201
    wait_for(lambda: len(files_of(kube, name)) >= 1, timeout=60, what="a RecordedFile")
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=90, what="phase Stopped")
    late = f"sandbox/{name.replace('-', '')}/{name}-00042.mp4"
    s3.put_object(Bucket="recordings", Key=late, Body=b"the bytes of a segment the agent had sent whole")
    assert late in objects(s3, name)

    assert kube.delete(f"{LRECS}/{name}").status_code in (200, 202)
    wait_for(lambda: get(kube, name) is None, timeout=90, what="the LocalRecording to go")
    assert objects(s3, name) == {}, "objects left in the bucket after Delete"
    assert count_events(kube, name, "UnreportedFilesFound") == 1
