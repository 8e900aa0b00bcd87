"""The controller's pure decisions: input checks, maxDuration, restart counting and backoff, Pod
classification, what a sync does next, and failure accounting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers.localrecording.decide import (
    ExitAccount,
    Intent,
    NextStep,
    Restarts,
    account_exit,
    after_failure,
    check_input,
    classify_pods,
    decide_intent,
    decide_next,
    gave_up_message,
    leaves_files,
    owned_pods,
    restart_delay_s,
    restarts_from_status,
    session_expired,
    stop_message,
    storage_cause,
    upload_failure,
)
from recording_operator.controllers.localrecording.observe import PodView
from tests.unit.controllers.localrecording.recordings import NOW, body


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:/a|/b",
        "subfile:,,start,0,end,0,:/etc/x",
        "data:,x",
        "pipe:0",
        "gopher://x",
    ],
)
def test_the_controller_rejects_unsafe_input_urls(url: str) -> None:
    spec = LocalRecordingSpec.model_construct(**LocalRecordingSpec.model_validate(body()["spec"]).__dict__)
    spec.input = spec.input.model_copy(update={"url": url})
    with pytest.raises(SpecError) as error:
        check_input(spec)
    assert error.value.reason == "InvalidSpec"


@pytest.mark.parametrize(
    "url", ["https://cdn.example/live/index.m3u8", "https://cdn.example/m.mpd", "rtsps://cam/s"]
)
def test_the_controller_rejects_tls_verification_ffmpeg_cannot_do(url: str) -> None:
    """Objects stored before the CRD rule: the controller refuses them instead of recording unverified."""
    spec = LocalRecordingSpec.model_validate(body(input={"url": url})["spec"])
    with pytest.raises(SpecError) as error:
        check_input(spec)
    assert error.value.reason == "InvalidSpec" and "insecureSkipVerify" in str(error.value)
    insecure = LocalRecordingSpec.model_validate(
        body(input={"url": url, "tls": {"insecureSkipVerify": True}})["spec"]
    )
    check_input(insecure)


def test_restart_counting_lives_in_the_status_and_a_spec_change_resets_it() -> None:
    status = {"observedGeneration": 3, "consecutiveFailures": 2, "nextRetryAt": "2026-11-21T12:00:05Z"}
    restarts = restarts_from_status(status, 3)
    assert restarts == Restarts(failures=2, retry_at=NOW + timedelta(seconds=5))
    assert restarts.wait_s(NOW) == 5.0 and restarts.wait_s(NOW + timedelta(seconds=9)) == 0.0
    assert restarts.status_fields() == {"consecutiveFailures": 2, "nextRetryAt": "2026-11-21T12:00:05Z"}
    assert restarts_from_status(status, 4) == Restarts()  # the spec changed: a fresh budget
    assert restarts_from_status({"observedGeneration": 3}, 3) == Restarts()
    assert (
        restarts_from_status({**status, "consecutiveFailures": "x", "nextRetryAt": "soon"}, 3) == Restarts()
    )
    assert Restarts().status_fields() == {"consecutiveFailures": None, "nextRetryAt": None}


def test_failures_back_off_then_give_up_after_max_restarts() -> None:
    first = after_failure(Restarts(), max_restarts=2, delay_s=1.2, now=NOW)
    assert first == Restarts(failures=1, retry_at=NOW + timedelta(seconds=2))  # rounded up to the second
    second = after_failure(first, max_restarts=2, delay_s=2.0, now=NOW)
    assert second.failures == 2 and second.retry_at == NOW + timedelta(seconds=2)
    assert not second.gave_up(2)
    third = after_failure(second, max_restarts=2, delay_s=4.0, now=NOW)
    assert third == Restarts(failures=3) and third.gave_up(2) and third.wait_s(NOW) == 0.0
    # What a restarted operator reads back is what it wrote.
    status = {"observedGeneration": 1, **second.status_fields()}
    assert restarts_from_status(status, 1) == second
    assert after_failure(Restarts(), max_restarts=0, delay_s=1.0, now=NOW).gave_up(0)


def test_max_duration_counts_the_running_session_only() -> None:
    spec = LocalRecordingSpec.model_validate(body(maxDuration="1h")["spec"])
    started = {"startedAt": "2026-11-21T10:00:00Z"}
    assert session_expired(spec, {**started, "phase": "Recording"}, NOW)
    assert session_expired(spec, {**started, "phase": "Reconnecting"}, NOW)
    assert not session_expired(spec, {**started, "phase": "Recording"}, NOW - timedelta(hours=1, seconds=1))
    # Stopped by maxDuration: stays stopped, whatever the spec says meanwhile.
    expired = {**started, "phase": "Stopped", "stopReason": "MaxDurationReached"}
    assert session_expired(spec, expired, NOW)
    no_limit = LocalRecordingSpec.model_validate(body()["spec"])
    assert session_expired(no_limit, expired, NOW)
    # Stopped on request (active: false) or Failed: an old startedAt must not keep a new session from starting.
    assert not session_expired(spec, {**started, "phase": "Stopped", "stopReason": "Requested"}, NOW)
    assert not session_expired(spec, {**started, "phase": "Failed", "stopReason": "RecorderFailed"}, NOW)
    assert not session_expired(spec, {"phase": None}, NOW)


def pod_view(
    name: str = "standup-rec-1",
    *,
    phase: str = "Running",
    spec_hash: str = "h1",
    deleting: bool = False,
    exit_code: int | None = None,
    stop_reason: str | None = None,
    has_finalizer: bool = True,
    store_only: bool = False,
) -> PodView:
    return PodView(
        name=name,
        phase=phase,
        deleting=deleting,
        spec_hash=spec_hash,
        first_index=0,
        exit_code=exit_code,
        ip="10.0.0.5",
        stop_reason=stop_reason,
        has_finalizer=has_finalizer,
        store_only=store_only,
    )


def spec_of(**fields: Any) -> LocalRecordingSpec:
    return LocalRecordingSpec.model_validate(body(**fields)["spec"])


def intent(status: dict[str, Any] | None = None, restarts: Restarts | None = None, **kw: Any) -> Intent:
    spec = kw.pop("spec", None) or spec_of()
    return decide_intent(
        spec,
        status or {},
        1,
        restarts or Restarts(),
        max_restarts=kw.pop("max_restarts", 3),
        finalizing=kw.pop("finalizing", False),
        now=NOW,
    )


def test_an_active_recording_wants_a_recorder() -> None:
    assert intent() == Intent(failed=False, wanted=True, pod_stop_reason="Requested", stop_reason="Requested")


def test_stop_reasons_deletion_first_then_max_duration_then_request() -> None:
    deleting = intent(finalizing=True)
    assert not deleting.wanted and (deleting.pod_stop_reason, deleting.stop_reason) == ("Deleted", "Deleted")
    running = {"phase": "Recording", "startedAt": "2026-11-21T10:00:00Z"}
    expired = intent(running, spec=spec_of(maxDuration="1h"))
    assert not expired.wanted and expired.stop_reason == "MaxDurationReached"
    # active: false says Requested in the status, even when maxDuration passed too; the Pod is told why.
    inactive = intent(running, spec=spec_of(maxDuration="1h", active=False))
    assert (inactive.wanted, inactive.pod_stop_reason, inactive.stop_reason) == (
        False,
        "MaxDurationReached",
        "Requested",
    )
    assert intent(finalizing=True, spec=spec_of(active=False)).stop_reason == "Deleted"


def test_failed_holds_for_the_generation_and_when_the_restart_budget_is_spent() -> None:
    failed = intent({"phase": "Failed", "observedGeneration": 1})
    assert failed.failed and not failed.wanted
    assert intent({"phase": "Failed", "observedGeneration": 0}).wanted  # the spec changed: try again
    spent = intent(restarts=Restarts(failures=4), max_restarts=3)
    assert spent.failed and not spent.wanted
    assert intent(restarts=Restarts(failures=3), max_restarts=3).wanted


def test_pods_are_classified_current_stale_terminated_released_and_deleting() -> None:
    views = [
        pod_view("done", phase="Succeeded", has_finalizer=False),
        pod_view("exited", phase="Failed", exit_code=1),
        pod_view("going", deleting=True),
        pod_view("old", spec_hash="h0"),
        pod_view("live"),
        pod_view("twin"),
    ]
    steps = classify_pods(views, wanted=True, spec_hash="h1", pod_stop_reason="Requested")
    assert [(s.view.name, s.kind, s.stop_reason) for s in steps] == [
        ("done", "released", None),
        ("exited", "terminated", None),
        ("going", "deleting", None),
        ("old", "stale", "SpecChanged"),
        ("live", "current", None),
        ("twin", "stale", "SpecChanged"),  # one recorder at a time
    ]


def test_no_pod_is_current_when_none_is_wanted() -> None:
    steps = classify_pods(
        [pod_view("live"), pod_view("going", deleting=True)],
        wanted=False,
        spec_hash="h1",
        pod_stop_reason="MaxDurationReached",
    )
    assert [(s.kind, s.stop_reason) for s in steps] == [("stale", "MaxDurationReached"), ("deleting", None)]


def test_only_pods_owned_by_this_recording_count() -> None:
    mine = {"metadata": {"name": "a", "ownerReferences": [{"uid": "uid-1"}]}}
    predecessor = {"metadata": {"name": "b", "ownerReferences": [{"uid": "uid-0"}]}}
    orphan = {"metadata": {"name": "c"}}
    assert owned_pods([mine, predecessor, orphan], "uid-1") == [mine]


def test_what_the_sync_does_once_the_pods_are_handled() -> None:
    wanted = intent()
    assert (
        decide_next(wanted, gave_up=False, phase="Recording", has_current=True, pods_left=1).action
        == "observe"
    )
    # The spec changed: the old Pod stores its last files before a new one starts.
    assert decide_next(wanted, gave_up=False, phase="Recording", has_current=False, pods_left=1).action == (
        "stopping"
    )
    assert decide_next(wanted, gave_up=False, phase=None, has_current=False, pods_left=0).action == "start"
    stopped = decide_next(
        intent(finalizing=True), gave_up=False, phase="Recording", has_current=False, pods_left=0
    )
    assert (stopped.action, stopped.stop_reason, stopped.failed) == ("stopped", "Deleted", False)


def test_a_recorder_killed_while_stopping_leaves_files_for_a_store_only_pod() -> None:
    killed = pod_view(phase="Failed", exit_code=137, stop_reason="Requested")
    assert leaves_files(killed, claim=True)
    assert leaves_files(pod_view(phase="Failed", exit_code=1, stop_reason="Requested"), claim=True)
    assert leaves_files(pod_view(phase="Failed"), claim=True)  # vanished: no exit code to trust
    # Stored everything; an emptyDir goes with its Pod; a store-only Pod leaves nothing of its own.
    assert not leaves_files(pod_view(phase="Succeeded", exit_code=0, stop_reason="Requested"), claim=True)
    assert not leaves_files(killed, claim=False)
    assert not leaves_files(pod_view(phase="Failed", exit_code=1, store_only=True), claim=True)


@pytest.mark.parametrize("finalizing", [False, True])
def test_a_stopping_recording_stores_the_work_claim_before_it_is_stopped(finalizing: bool) -> None:
    stopping = intent({"phase": "Stopping"}, spec=spec_of(active=False), finalizing=finalizing)

    def step(attempts: int | None, pods_left: int = 0) -> NextStep:
        return decide_next(
            stopping,
            gave_up=False,
            phase="Stopping",
            has_current=False,
            pods_left=pods_left,
            store_attempts=attempts,
        )

    assert step(None).action == "stopped"
    assert step(0).action == "store"
    assert step(0, pods_left=1).action == "stopping"  # the killed (or the store-only) Pod is collected first
    assert step(2).action == "store"
    gave_up = step(3)
    assert (gave_up.action, gave_up.store_gave_up) == ("stopped", True)
    # Storage known to fail: a store-only Pod would fail the same way; the files wait on the claim.
    waiting = decide_next(
        stopping,
        gave_up=False,
        phase="Stopping",
        has_current=False,
        pods_left=0,
        store_attempts=0,
        storage_unavailable=True,
    )
    assert (waiting.action, waiting.store_gave_up) == ("stopped", False)
    # A recording that runs again stores them in its new recorder Pod.
    assert (
        decide_next(
            intent(), gave_up=False, phase=None, has_current=False, pods_left=0, store_attempts=0
        ).action
        == "start"
    )


def test_a_running_store_only_pod_is_never_stopped() -> None:
    store = pod_view("standup-rec-s", spec_hash="other", store_only=True)
    for wanted in (False, True):
        steps = classify_pods([store], wanted=wanted, spec_hash="h1", pod_stop_reason="Requested")
        assert [s.kind for s in steps] == ["storing"]


def test_giving_up_marks_the_recording_failed_once() -> None:
    gave_up = decide_next(intent(), gave_up=True, phase="Reconnecting", has_current=False, pods_left=0)
    assert (gave_up.action, gave_up.failed, gave_up.mark_failed) == ("none", True, True)
    # Failed already (same generation): nothing more to mark, even while a Pod is still collected.
    again = intent({"phase": "Failed", "observedGeneration": 1}, Restarts(failures=4))
    assert decide_next(again, gave_up=True, phase="Failed", has_current=False, pods_left=1) == NextStep(
        "none", failed=True, mark_failed=False
    )
    assert decide_next(again, gave_up=False, phase="Failed", has_current=False, pods_left=0).action == "none"


def test_a_failed_recorder_counts_and_backs_off_until_the_budget_is_spent() -> None:
    crashed = pod_view("standup-rec-2", phase="Failed", exit_code=137)
    first = account_exit(crashed, Restarts(), max_restarts=2, delay_s=4.4, now=NOW)
    assert first.restarts == Restarts(failures=1, retry_at=NOW + timedelta(seconds=5))
    assert first.last_error == "recorder Pod standup-rec-2 exited with code 137"
    assert first.warning == "recorder Pod standup-rec-2 exited with code 137; restarting in 4s"
    assert first.restarts.status_fields() == {"consecutiveFailures": 1, "nextRetryAt": "2026-11-21T12:00:05Z"}
    last = account_exit(crashed, Restarts(failures=2), max_restarts=2, delay_s=8.0, now=NOW)
    # Given up: no restart to announce; the sync marks the recording Failed with its own Event.
    assert last.restarts == Restarts(failures=3) and last.restarts.gave_up(2) and last.warning is None
    assert gave_up_message(last.last_error, last.restarts.failures) == (
        "recorder Pod standup-rec-2 exited with code 137; gave up after 3 failures in a row"
    )


def test_a_stopped_or_clean_exit_is_not_a_failure() -> None:
    budget = Restarts(failures=1, retry_at=NOW)
    stopping = account_exit(
        pod_view(phase="Failed", exit_code=1, stop_reason="SpecChanged"),
        budget,
        max_restarts=2,
        delay_s=1,
        now=NOW,
    )
    assert stopping.restarts == budget and stopping.last_error is None
    assert (
        stopping.warning is not None
        and "while stopping: files it could not store stay on the work volume" in stopping.warning
    )
    for code in (0, None):
        clean = account_exit(
            pod_view(phase="Succeeded", exit_code=code), budget, max_restarts=2, delay_s=1, now=NOW
        )
        assert clean == ExitAccount(budget)


def test_stop_messages_say_why() -> None:
    assert stop_message("Requested", None) == "spec.active is false"
    assert stop_message("MaxDurationReached", "2h") == "maxDuration 2h reached"
    assert stop_message("Deleted", None) == "the resource is being deleted"
    assert gave_up_message(None, 4) == "the recorder Pod failed; gave up after 4 failures in a row"


def test_a_storage_failure_reads_the_same_on_every_try_and_every_operation() -> None:
    upload = (
        "upload of rec-00003.mp4 failed (attempt 4): upload sandbox/rec/rec-00003.mp4: ConfigInvalid: "
        'ConfigInvalid (permanent) at write => S3Error { code: "NoSuchBucket", message: "The specified '
        'bucket does not exist", resource: "", request_id: "ykkq1xlvRxbtohT5OBtEeM4jJRR3" }'
    )
    listing = (
        'list sandbox/rec/: ConfigInvalid: ConfigInvalid (permanent) at list => S3Error { code: "NoSuchBucket", '
        'message: "The specified bucket does not exist", resource: "", request_id: "5LkTnreLJMtI3Ftt" }'
    )
    assert (
        upload_failure(upload)
        == storage_cause(listing)
        == "NoSuchBucket: The specified bucket does not exist"
    )
    assert upload_failure("ffmpeg exited with 1: Connection refused") is None
    assert storage_cause('Unexpected at write, x-amz-request-id: "AB12CD", status 500') == (
        "Unexpected at write, status 500"
    )


def test_a_recorder_killed_while_recording_is_replaced_at_once_a_crash_loop_backs_off() -> None:
    assert restart_delay_s(Restarts(), was_recording=True, backoff_s=5.0) == 0.0
    assert restart_delay_s(Restarts(), was_recording=False, backoff_s=5.0) == 5.0
    assert restart_delay_s(Restarts(failures=1), was_recording=True, backoff_s=10.0) == 10.0
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    after = after_failure(Restarts(), max_restarts=5, delay_s=0.0, now=now)
    assert after.failures == 1 and after.wait_s(now) == 0.0 and after.status_fields()["nextRetryAt"] is None
