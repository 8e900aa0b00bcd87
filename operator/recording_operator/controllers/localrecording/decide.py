"""Pure decisions of the LocalRecording controller: whether the spec's input is allowed, whether a
recorder should run (`decide_intent`), what becomes of each recorder Pod (`classify_pods`), what the
sync does once the Pods are handled (`decide_next`), how a failed recorder is counted and backed off
(`Restarts`, `account_exit`) and when `maxDuration` ends a session.

Nothing here performs I/O, imports kopf or awaits: the driver (`driver.RecorderPods`) reads the
cluster and the agent, calls these functions and carries out the small dataclasses they return.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from recording_operator.api.timestamps import parse_rfc3339, rfc3339
from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import PULL_SCHEMES, LocalRecordingSpec, unverifiable_tls
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers.localrecording.observe import PodView

#: Input URL schemes FFmpeg must never get from a user: `file:`, `concat:` and `subfile:` read local
#: files, `pipe:` a file descriptor, `data:` inlines content (https://ffmpeg.org/ffmpeg-protocols.html;
#: measured with Debian's FFmpeg 5.1: an input `concat:/etc/hostname|...` reads the file).
FORBIDDEN_SCHEMES = ("file", "concat", "subfile", "data", "pipe")

#: `status.stopReason` values, also written as a stopped Pod's stop-reason annotation.
DELETED = "Deleted"
MAX_DURATION_REACHED = "MaxDurationReached"
REQUESTED = "Requested"
#: Stop-reason annotation of a Pod replaced because the spec changed (never a `status.stopReason`).
SPEC_CHANGED = "SpecChanged"
#: Stop reason of a recorder Pod replaced because the user asked for a restart (an annotation).
RESTART_REQUESTED = "RestartRequested"
#: `status.stopReason` (and the condition reason) once the recorder failed too often in a row.
RECORDER_FAILED = "RecorderFailed"


def check_input(spec: LocalRecordingSpec) -> None:
    """The controller's own check of the input URL (the CRD schema already rejects these).

    Raises:
        SpecError: `InvalidSpec` for `file:`, `concat:`, `subfile:`, `data:`, `pipe:` or any scheme
            outside PULL_SCHEMES, for URLs with whitespace, `|` or `\\`, and for TLS verification
            of an input FFmpeg 5.1 cannot verify (HLS/DASH over https, rtsps: `unverifiable_tls`).
    """
    url = spec.input.url
    if url is None:
        return
    scheme = urlsplit(url).scheme.lower() if "://" in url else url.split(":", 1)[0].lower()
    if scheme in FORBIDDEN_SCHEMES or scheme not in PULL_SCHEMES:
        raise SpecError(
            "InvalidSpec", f"input.url scheme {scheme!r} is not allowed (use one of {PULL_SCHEMES})"
        )
    if re.search(r"[\s|\\]", url):
        raise SpecError("InvalidSpec", "input.url must not contain whitespace, '|' or '\\'")
    problem = unverifiable_tls(spec.input)
    if problem:
        raise SpecError("InvalidSpec", problem)


# --- maxDuration ---------------------------------------------------------------------------------


def max_duration_reached(spec: LocalRecordingSpec, started_at: str | None, now: datetime) -> bool:
    """True when `spec.maxDuration` has passed since `started_at` (RFC 3339)."""
    started = parse_rfc3339(started_at)
    if not spec.maxDuration or started is None:
        return False
    return now - started >= parse_duration(spec.maxDuration)


#: Phases in which a recording session is under way (`status.startedAt` belongs to it).
SESSION_PHASES = ("Starting", "Recording", "Reconnecting", "Stopping")


def session_expired(spec: LocalRecordingSpec, status: Mapping[str, Any], now: datetime) -> bool:
    """Whether `maxDuration` keeps the recorder from running.

    A session under way (SESSION_PHASES) expires once `maxDuration` passed since `status.startedAt`
    (raising `maxDuration` meanwhile extends it). A recording already `Stopped` with
    `stopReason: MaxDurationReached` stays stopped whatever the spec says, until `active: false`
    turns it into `Stopped`/`Requested`. Any other stopped, failed or pending recording starts a new
    session (with a new `startedAt`) when it runs again, so an old `startedAt` never counts.
    """
    phase = status.get("phase")
    if phase == "Stopped":
        return status.get("stopReason") == "MaxDurationReached"
    if phase not in SESSION_PHASES:
        return False
    return max_duration_reached(spec, status.get("startedAt"), now)


# --- restarts after recorder failures ------------------------------------------------------------


@dataclass(frozen=True)
class Restarts:
    """Consecutive recorder Pod failures and the earliest start of the next Pod.

    Kept in `status.consecutiveFailures` and `status.nextRetryAt` (not in the operator's memory),
    so an operator restart neither grants a crash-looping recorder a fresh budget nor skips its backoff.
    """

    failures: int = 0
    retry_at: datetime | None = None

    def gave_up(self, max_restarts: int) -> bool:
        """More failures in a row than `max_restarts` (`LOCALRECORDING_MAX_RESTARTS`) allows."""
        return self.failures > max_restarts

    def wait_s(self, now: datetime) -> float:
        """Seconds until the next Pod may start (0 when it may start now)."""
        if self.retry_at is None:
            return 0.0
        return max(0.0, (self.retry_at - now).total_seconds())

    def status_fields(self) -> dict[str, Any]:
        """`consecutiveFailures` and `nextRetryAt` for the status (None removes a field)."""
        return {
            "consecutiveFailures": self.failures or None,
            "nextRetryAt": rfc3339(self.retry_at) if self.retry_at is not None else None,
        }


def restarts_from_status(status: Mapping[str, Any], generation: int | None) -> Restarts:
    """The persisted `Restarts`, or none when the spec changed since the status was written
    (`observedGeneration` ≠ `generation`: a new spec gets a fresh budget). Malformed values count as absent."""
    if status.get("observedGeneration") != generation:
        return Restarts()
    failures = status.get("consecutiveFailures")
    count = failures if isinstance(failures, int) and not isinstance(failures, bool) and failures > 0 else 0
    return Restarts(failures=count, retry_at=parse_rfc3339(status.get("nextRetryAt")) if count else None)


def after_failure(restarts: Restarts, *, max_restarts: int, delay_s: float, now: datetime) -> Restarts:
    """One more recorder Pod failed: the count grows; the next Pod may start `delay_s` seconds from
    `now` (rounded up to the second the status can hold; at once when `delay_s` ≤ 0), or never once
    the count exceeds `max_restarts`."""
    failures = restarts.failures + 1
    if failures > max_restarts or delay_s <= 0:
        return Restarts(failures=failures)
    retry_at = now + timedelta(seconds=delay_s)
    if retry_at.microsecond:
        retry_at = retry_at.replace(microsecond=0) + timedelta(seconds=1)
    return Restarts(failures=failures, retry_at=retry_at)


def restart_delay_s(restarts: Restarts, *, was_recording: bool, backoff_s: float) -> float:
    """Seconds before the Pod replacing a failed one starts: none for a Pod that was recording when
    it died (a killed or evicted recorder: every second without one is media lost, and the next Pod
    stores what it left), else `backoff_s` (failures in a row back off)."""
    return 0.0 if was_recording and restarts.failures == 0 else backoff_s


# --- what the recording asks for -----------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """What the recording asks for before its Pods are looked at.

    `failed`: already `Failed` for this generation, or more failures in a row than allowed.
    `wanted`: a recorder Pod should run (active, not being deleted, not failed, `maxDuration` not reached).
    `pod_stop_reason`: the stop-reason annotation of a running Pod stopped because none is wanted
    (`Deleted`, `MaxDurationReached` or `Requested`).
    `stop_reason`: `status.stopReason` once no recorder runs (`Requested` whenever `active` is false
    and the resource is not being deleted).
    """

    failed: bool
    wanted: bool
    pod_stop_reason: str
    stop_reason: str


def decide_intent(
    spec: LocalRecordingSpec,
    status: Mapping[str, Any],
    generation: int | None,
    restarts: Restarts,
    *,
    max_restarts: int,
    finalizing: bool,
    now: datetime,
) -> Intent:
    """What the recording asks for, from its spec, its status as read (`status`, before this sync
    changed anything), the persisted `restarts`, `max_restarts` (`LOCALRECORDING_MAX_RESTARTS`) and
    whether the resource is being deleted (`finalizing`)."""
    failed = (
        status.get("phase") == "Failed" and status.get("observedGeneration") == generation
    ) or restarts.gave_up(max_restarts)
    max_reached = session_expired(spec, status, now)
    wanted = spec.active and not finalizing and not failed and not max_reached
    pod_stop_reason = DELETED if finalizing else (MAX_DURATION_REACHED if max_reached else REQUESTED)
    return Intent(
        failed=failed,
        wanted=wanted,
        pod_stop_reason=pod_stop_reason,
        stop_reason=pod_stop_reason if spec.active or finalizing else REQUESTED,
    )


def stop_message(reason: str, max_duration: str | None) -> str:
    """The condition message of a recording stopped for `reason` (a `status.stopReason`)."""
    messages = {
        REQUESTED: "spec.active is false",
        MAX_DURATION_REACHED: f"maxDuration {max_duration} reached",
        DELETED: "the resource is being deleted",
    }
    return messages.get(reason, reason)


def gave_up_message(last_error: str | None, failures: int) -> str:
    """The message of a recording given up after `failures` recorder failures in a row."""
    return f"{last_error or 'the recorder Pod failed'}; gave up after {failures} failures in a row"


# --- the recorder Pods ---------------------------------------------------------------------------

#: What becomes of one recorder Pod in a sync:
#: `released`: terminated and collected (finalizer gone), not gone yet: wait for it (delete it if no
#: delete was asked yet), never count it twice; `terminated`: exited, still holding the finalizer:
#: collect its files and count a failure; `deleting`: being deleted and still running: poll its agent
#: closely while it stores its last files; `storing`: a running store-only Pod
#: (`RecorderConfig.storeOnly`): poll it while it stores what a killed recorder left, never stop it;
#: `current`: the one Pod that matches the spec and is wanted: observe it; `stale`: any other running Pod: stop it gracefully with `PodStep.stop_reason`.
PodKind = Literal["released", "terminated", "deleting", "storing", "current", "stale"]


@dataclass(frozen=True)
class PodStep:
    """One recorder Pod and what the sync does with it (`stop_reason` only for `stale`)."""

    view: PodView
    kind: PodKind
    stop_reason: str | None = None


def owned_pods(pods: Sequence[Mapping[str, Any]], uid: str) -> list[Mapping[str, Any]]:
    """The Pods among `pods` that have an ownerReference to the resource with `uid` (a recreated
    recording of the same name does not adopt the Pods of its predecessor)."""
    return [p for p in pods if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or ())]


def classify_pods(
    views: Sequence[PodView],
    *,
    wanted: bool,
    spec_hash: str,
    pod_stop_reason: str,
    restart_requested_at: str | None = None,
) -> list[PodStep]:
    """One `PodStep` per Pod, in order (a running store-only Pod is `storing`). At most one Pod is `current`: the first running one, not
    being deleted, whose spec hash is `spec_hash`, and only while a recorder is `wanted`. Another
    running Pod is `stale`, stopped while a recorder is wanted with `RestartRequested` when it was
    created before the recording's current `restart_requested_at` value, else with `SpecChanged`;
    stopped with `pod_stop_reason` when no recorder is wanted."""
    steps: list[PodStep] = []
    have_current = False
    for view in views:
        if view.terminated and not view.has_finalizer:
            steps.append(PodStep(view, "released"))
        elif view.terminated:
            steps.append(PodStep(view, "terminated"))
        elif view.deleting:
            steps.append(PodStep(view, "deleting"))
        elif view.store_only:
            steps.append(PodStep(view, "storing"))
        elif wanted and view.spec_hash == spec_hash and not have_current:
            have_current = True
            steps.append(PodStep(view, "current"))
        else:
            if not wanted:
                reason = pod_stop_reason
            elif view.restart_requested_at != restart_requested_at:
                reason = RESTART_REQUESTED
            else:
                reason = SPEC_CHANGED
            steps.append(PodStep(view, "stale", reason))
    return steps


#: What the sync does once every Pod is handled: `observe` the current Pod's agent; report
#: `stopping` while Pods are still storing their last files; `start` a new recorder (when the backoff
#: allows); `store`: start a store-only recorder Pod for what a killed recorder left on the work
#: claim; mark the recording `stopped`; or nothing more (`none`: it is Failed).
NextAction = Literal["observe", "stopping", "start", "store", "stopped", "none"]

#: Store-only recorder Pods run at most this many times for what a killed recorder left on the work claim.
MAX_STORE_ATTEMPTS = 3
#: `Synced` reason (and Warning Event) once the store-only Pods gave up: files stay on the work claim.
WORK_VOLUME_NOT_STORED = "WorkVolumeNotStored"


def leaves_files(view: PodView, *, claim: bool) -> bool:
    """Whether the terminated recorder Pod `view` may have left files nobody stores on the work
    volume: it is a recording Pod (not store-only) that did not exit 0 (killed: 137 or unknown;
    1: a file could not be stored), and the work volume is a claim (`claim`; an emptyDir goes with
    the Pod, there is nothing to store later). A recorder Pod started after it stores them at its
    start; when none starts, a store-only Pod does (`decide_next`)."""
    return claim and not view.store_only and view.exit_code != 0


@dataclass(frozen=True)
class NextStep:
    """The rest of a sync: `action`, whether the recording is (now) failed, whether it must be marked
    `Failed` in this sync (`mark_failed`), the `status.stopReason` for `stopped`, and for `stopped`
    whether files stay on the work claim after MAX_STORE_ATTEMPTS store-only Pods (`store_gave_up`)."""

    action: NextAction
    failed: bool
    mark_failed: bool = False
    stop_reason: str | None = None
    store_gave_up: bool = False


def decide_next(
    intent: Intent,
    *,
    gave_up: bool,
    phase: str | None,
    has_current: bool,
    pods_left: int,
    store_attempts: int | None = None,
    max_store_attempts: int = MAX_STORE_ATTEMPTS,
    storage_unavailable: bool = False,
) -> NextStep:
    """The rest of the sync after the Pods were handled.

    `gave_up`: the restarts, counted after the Pods were collected, exceed the budget: no recorder is
    wanted any more, and the recording is marked `Failed` unless it already is. `phase` is the status
    phase as drafted so far; `pods_left` counts the recorder Pods not yet gone. `store_attempts`
    (`status.storeOnlyAttempts`): files a killed recorder left wait on the work claim (None: none),
    with the store-only Pods run for them so far; a recording that runs no recorder any more (stopped,
    or being deleted) runs one more (`store`) before it is `stopped`, at most `max_store_attempts`;
    none while the storage is known to fail (`storage_unavailable`: the last Pod could not store, a
    store-only Pod would fail the same way; the files wait on the claim, as `StorageUnavailable` says).
    """
    wanted, failed, mark_failed = intent.wanted, intent.failed, False
    if gave_up:
        wanted = False
        mark_failed = not failed or phase != "Failed"
        failed = True
    if has_current:
        return NextStep("observe", failed, mark_failed)
    if pods_left and not failed:
        return NextStep("stopping", failed, mark_failed)
    if wanted:
        return NextStep("start", failed, mark_failed)
    if not failed:
        if storage_unavailable:
            return NextStep("stopped", failed, mark_failed, intent.stop_reason)
        if store_attempts is not None and store_attempts < max_store_attempts:
            return NextStep("store", failed, mark_failed)
        return NextStep(
            "stopped", failed, mark_failed, intent.stop_reason, store_gave_up=store_attempts is not None
        )
    return NextStep("none", failed, mark_failed)


# --- failure accounting --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitAccount:
    """How a terminated recorder Pod counts: the `restarts` after it; `last_error` for
    `status.lastError` when it counted as a failure; `warning` for a Warning `RecorderFailed` Event."""

    restarts: Restarts
    last_error: str | None = None
    warning: str | None = None


def account_exit(
    view: PodView, restarts: Restarts, *, max_restarts: int, delay_s: float, now: datetime
) -> ExitAccount:
    """Count the exit of the recorder Pod `view`.

    A non-zero exit of a Pod the controller did not stop (no stop-reason annotation) is a failure:
    counted (`after_failure`, the next Pod `delay_s` seconds from `now`) with a Warning Event saying
    when it restarts, or none once the count exceeds `max_restarts` (the sync then marks the
    recording Failed with its own Event). The message ends with the agent's own last error when its
    termination message carries one (e.g. a video encoder missing from the image). A non-zero exit of a Pod being stopped is not counted; its
    Warning says that files it could not store wait on the work volume. Exit code 0 (or unknown) counts nothing.
    """
    if view.exit_code in (0, None):
        return ExitAccount(restarts)
    if view.stop_reason is not None:
        return ExitAccount(
            restarts,
            warning=f"recorder Pod {view.name} exited with code {view.exit_code} while stopping: "
            "files it could not store stay on the work volume for the next recorder Pod",
        )
    after = after_failure(restarts, max_restarts=max_restarts, delay_s=delay_s, now=now)
    message = f"recorder Pod {view.name} exited with code {view.exit_code}"
    if view.exit_error:
        message += f": {view.exit_error}"
    restarting = "restarting now" if delay_s <= 0 else f"restarting in {delay_s:.0f}s"
    warning = None if after.gave_up(max_restarts) else f"{message}; {restarting}"
    return ExitAccount(after, last_error=message, warning=warning)


# --- scheduling ----------------------------------------------------------------------------------

#: `Synced` reason (and Warning Event) while the recorder Pod cannot be scheduled.
POD_UNSCHEDULABLE = "PodUnschedulable"
#: `Synced` reason (and Warning Event) while a claim the recorder Pod mounts is not bound.
WORK_VOLUME_PENDING = "WorkVolumePending"


@dataclass(frozen=True)
class ClaimState:
    """A PersistentVolumeClaim as the scheduling report needs it."""

    name: str
    storage_class: str | None
    phase: str


def unschedulable_report(pod: str, scheduler_message: str, claims: Sequence[ClaimState]) -> tuple[str, str]:
    """`(reason, message)` of a recorder Pod that cannot be scheduled: WORK_VOLUME_PENDING naming the
    first claim that is not Bound and its storage class (a class no provisioner serves leaves the
    claim Pending for ever, https://kubernetes.io/docs/concepts/storage/persistent-volumes/), else
    POD_UNSCHEDULABLE with the scheduler's message (any cause: resources, node selector, taints)."""
    for claim in claims:
        if claim.phase != "Bound":
            storage_class = (
                f"storageClassName {claim.storage_class}"
                if claim.storage_class
                else "the default StorageClass"
            )
            return WORK_VOLUME_PENDING, (
                f"PersistentVolumeClaim {claim.name} ({storage_class}) is {claim.phase or 'Pending'}: the "
                f"recorder Pod {pod} cannot be scheduled ({scheduler_message}); check "
                "spec.pod.workVolume.storageClassName"
            )
    return POD_UNSCHEDULABLE, f"the recorder Pod {pod} cannot be scheduled: {scheduler_message}"


def claim_to_replace(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the work claim `existing` must be deleted and created again as `wanted`: its storage
    class differs from the spec's (a claim's spec is immutable) and it is not Bound, so it holds no media."""
    have = (existing.get("spec") or {}).get("storageClassName")
    want = (wanted.get("spec") or {}).get("storageClassName")
    return have != want and (existing.get("status") or {}).get("phase") != "Bound"


# --- storage failures ----------------------------------------------------------------------------

#: `Synced` reason (and Warning Event) while files cannot be stored.
STORAGE_UNAVAILABLE = "StorageUnavailable"
#: An agent's upload failure: `upload of <name> failed (attempt <n>): <cause>`.
_UPLOAD_FAILED = re.compile(
    r"^upload of \S+ failed \(attempt \d+\): (?:upload \S+: )?(?P<cause>.*)$", re.DOTALL
)
#: An S3 error document as OpenDAL renders it: `S3Error { code: "NoSuchBucket", message: "..." ...}`.
_S3_ERROR = re.compile(r'code: "(?P<code>[^"]*)", message: "(?P<message>[^"]*)"')
_REQUEST_ID = re.compile(
    r',?\s*"?(request_id|requestid|x-amz-request-id|x-amz-id-2|x-ms-request-id)"?\s*[:=]\s*"?[^",}\s]*"?',
    re.IGNORECASE,
)


def upload_failure(last_error: str | None) -> str | None:
    """The cause in an agent's `lastError` when it is an upload failure, else None (`storage_cause`)."""
    match = _UPLOAD_FAILED.match(last_error or "")
    return storage_cause(match.group("cause")) if match else None


def storage_cause(text: str) -> str:
    """A storage failure's cause as it reads the same every time: the store's error code and
    message when it sent one (the same for an upload and a listing), else `text` without request
    ids, file names or attempt counts."""
    match = _S3_ERROR.search(text)
    if match:
        return f"{match.group('code')}: {match.group('message')}"
    return _REQUEST_ID.sub("", text).strip()[:500]


def storage_message(vendor: str, where: str | None, cause: str) -> str:
    """The `StorageUnavailable` condition and Event message."""
    target = f"{vendor} bucket {where}" if where else vendor
    return (
        f"cannot store files in {target}: {cause}; what is recorded waits on the work volume "
        "and is stored once spec.storage works"
    )


#: Condition type: every file recorded so far is in the storage the spec names.
FILES_STORED = "FilesStored"


def files_stored(status: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The `FilesStored` condition `(status, reason, message)` for a LocalRecording's `status`, or
    None before the first recorder started (and for `Failed`, which keeps what it had).

    While a recorder runs: `False/Recording`; while the last Pods store their files: `False/Storing`;
    `Stopped` (reached only once every recorder Pod has stored its last file and exited):
    `True/Stored` with the count and bytes of the recording's files.
    """
    phase = status.get("phase")
    if phase in ("Starting", "Recording", "Reconnecting"):
        return "False", "Recording", "the recorder is recording; its current file is not stored yet"
    if phase == "Stopping":
        return "False", "Storing", "the recorder stores its last files"
    if phase != "Stopped":
        return None
    files = status.get("files") or {}
    count, total = files.get("count", 0), files.get("totalBytes")
    size = f", {total} bytes" if total is not None else ""
    return "True", "Stored", f"every file is stored ({count} files{size})"
