"""The provider interface of the CloudRecording controller.

The controller (`handlers.py`) decides *what* to do with a session (`decide.plan`)
and reports it in status; a `SessionDriver` per provider knows *how*: start (or resume a start
whose outcome was lost), update a running session, observe it, stop it. Drivers speak only in
the normalised terms below, so neither provider's details leak into the other's path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import kopf

from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.controllers._kit.context import Context
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers.cloudrecording.decide import (
    FILES_STORED,
    PENDING_ANNOTATION,
    Observed,
    closed_session,
    files_stored,
)
from recording_operator.controllers.recordedfile.publication import FileRecord


class RecordingContext(Context):
    """A handler invocation on a CloudRecording.

    `reported_files`: the files the provider reported during this invocation (query, stop, get);
    the controller turns them into RecordedFiles (`recordedfile.publication.publish_files`).
    """

    plural = "cloudrecordings"

    def __init__(self, body: kopf.Body, patch: kopf.Patch, runtime: Runtime, logger: Any) -> None:
        super().__init__(body, patch, runtime, logger)
        self.reported_files: list[FileRecord] = []

    def mark_failed(self, reason: str, message: str) -> None:
        """Phase Failed, Ready=False and Recording=False."""
        super().mark_failed(reason, message)
        self.condition("Recording", "False", reason, message)

    def flush(self) -> None:
        """Add the `FilesStored` condition the drafted status implies (`decide.files_stored`,
        `derive_condition`), then put the drafted changes into kopf's patch."""
        provider = str((self.body.get("spec") or {}).get("provider") or "agora")
        depends_on = ("phase", "uploadingStatus", "recordingStatus", "files")
        self.derive_condition(FILES_STORED, depends_on, lambda status: files_stored(status, provider))
        super().flush()


class SessionDriver(Protocol):
    """How one provider starts, updates, observes and stops recording sessions.

    Each method drafts status through `ctx` (`mark_started`, `mark_ended`, fields such as
    `providerStatus`) and raises `ProviderFailure` for provider failures; `SecretNotFound`,
    `KubeApiError` and `SpecError` pass through to the controller.
    """

    provider: str

    async def start(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Start a new session, or finish a start whose outcome was lost (`obs.pending`)."""

    async def update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Bring a running session to the spec (configuration edits, pause/resume)."""

    async def observe(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Refresh provider status and files; `mark_ended` when the provider ended the session."""

    async def stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        """Stop the session (already ended counts as stopped) and `mark_ended`."""

    async def adopt(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """A session id arrived in status for a pending start (`obs.adopted`): record what the
        session runs (e.g. `status.applied`) so it is followed like one this operator started."""

    async def settle_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """Deleting with a pending start and no session id: find the session the start created and
        persist its id in status. Returns True when an id is now in status."""

    def release_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """The finalizer stops waiting for a pending start's session: say what may still run."""

    async def abandon_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """A pending start will not be finished (state Stopped): clear it, or keep it for the
        session it may have started, and say what may be left. Returns whether it was kept (a
        session may run until a notice names it)."""

    def wants_observation(self, obs: Observed, status: Mapping[str, Any]) -> bool:
        """Whether the timer should still observe this session (running, or finishing an upload)."""

    async def stored_files(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> list[FileRecord]:
        """The files this recording's sessions put in `spec.storage`, found there (not reported):
        what a `Delete` finalizer deletes besides the reported files, for a file list that never
        arrived (a stop answer lost, notices missed).

        Raises:
            StorageError, UnsupportedStorage: the storage could not be listed.
            SecretNotFound, KubeApiError: its credentials could not be read.
        """


async def mark_start_pending(ctx: RecordingContext, pending: Mapping[str, Any], *identity: str) -> None:
    """Write the start-pending annotation (`pending`, as JSON) before a start is sent, after clearing
    the previous session's `identity` fields (`sid`, `resourceId` / `recordingId`) from status.

    Both writes are direct, in this order: a marker next to an ended session's id would read as
    that session adopted for the new start (`Observed.adopted`), so after a crash, or a lost status
    write, before the new id is recorded, the new session could never be adopted or stopped. The
    ended session is already in `status.sessions`.

    Raises:
        KubeApiError: a write failed; nothing has been sent to the provider yet.
    """
    if any(ctx.status.current.get(field) for field in identity):
        await ctx.persist(phase="Starting", **dict.fromkeys(identity))
    await ctx.runtime.kube.merge_patch(
        ctx.path, {"metadata": {"annotations": {PENDING_ANNOTATION: json.dumps(dict(pending))}}}
    )


def mark_started(
    ctx: RecordingContext, *, phase: str, session: dict[str, Any], applied: dict[str, Any] | None
) -> None:
    """Draft a fresh session: its identity fields (`sid`/`resourceId` or `recordingId`), phase, conditions."""
    session_id = session.get("sid") or session.get("recordingId")
    ctx.status.set(
        phase=phase,
        startedAt=rfc3339(),
        stoppedAt=None,
        stopReason=None,
        providerStatus=None,
        recordingStatus=None,
        uploadingStatus=None,
        rtmpPublishStatus=None,
        notFoundSince=None,
        files={"count": 0},
        applied=applied,
        **session,
    )
    ctx.condition("Ready", "True", phase, f"session {session_id} is {phase.lower()}")
    ctx.condition("Recording", "True", "Started", f"the provider accepted the start of session {session_id}")


def mark_adopted(ctx: RecordingContext, obs: Observed, applied: dict[str, Any] | None) -> None:
    """Draft the adoption of `obs.session_id` for a pending start; the marker is removed (the id is
    already in status) and `Synced` no longer says the start result is unknown."""
    session_id = obs.session_id
    phase = obs.phase if obs.phase in ("Recording", "Paused") else "Recording"
    fields: dict[str, Any] = {"phase": phase}
    if not ctx.status.get("startedAt"):
        fields["startedAt"] = rfc3339()
    if applied is not None and not ctx.status.get("applied"):
        fields["applied"] = applied
    ctx.status.set(**fields)
    ctx.remove_annotation(PENDING_ANNOTATION)
    ctx.condition("Ready", "True", phase, f"session {session_id} is {phase.lower()}")
    ctx.condition("Recording", "True", "Adopted", f"session {session_id} was adopted for the pending start")
    ctx.condition("Synced", "True", "Adopted", f"session {session_id} was adopted for the pending start")
    ctx.event("Normal", "Adopted", f"session {session_id} is followed for the pending start")


def mark_ended(ctx: RecordingContext, reason: str, message: str, *, uploading: str | None = None) -> None:
    """Draft the end of the current session: phase Stopped, `status.sessions` appended, an Event.

    `Ready` stays True when the end is what the spec asks for (state Stopped, `maxDuration`, deletion);
    a session the provider ended while `spec.state` still wants one is `Ready=False` with the reason.
    """
    status = ctx.status
    now = rfc3339()
    merged = {**status.current, **status.fields}
    session_id = merged.get("sid") or merged.get("recordingId")
    status.set(
        phase="Stopped",
        stoppedAt=now,
        stopReason=reason,
        uploadingStatus=uploading,
        notFoundSince=None,
        sessions=closed_session(merged, stopped_at=now, reason=reason),
    )
    ctx.condition("Recording", "False", reason, message)
    state = (ctx.body.get("spec") or {}).get("state", "Recording")
    if state != "Stopped" and reason not in ("Requested", "MaxDurationReached", "Deleted"):
        ctx.condition(
            "Ready", "False", reason, f"session {session_id} ended while spec.state is {state}: {message}"
        )
    else:
        ctx.condition("Ready", "True", "Stopped", f"session {session_id} stopped: {message}")
    ctx.event("Normal", "Stopped", f"session {session_id} stopped ({reason}): {message}")


def cdn_condition(rtmp_status: str | None, sid: str | None) -> tuple[str, str, str, str] | None:
    """Condition `CdnPublishing` as `status.rtmpPublishStatus` says (NCS rtmp_publish_status, event 100):
    True while `publishing`, False with the status as reason otherwise; None without a CDN status."""
    if not rtmp_status:
        return None
    return (
        "CdnPublishing",
        "True" if rtmp_status == "publishing" else "False",
        rtmp_status.capitalize(),
        f"Agora reports the CDN push of session {sid} as {rtmp_status} (rtmp_publish_status)",
    )


def sync_cdn_condition(ctx: RecordingContext) -> bool:
    """Bring `CdnPublishing` back to `status.rtmpPublishStatus` when a handler's status write (which
    carries the whole conditions list) overwrote the one a notice set; True when it changed."""
    wanted = cdn_condition(ctx.status.get("rtmpPublishStatus"), ctx.status.get("sid"))
    if wanted is None:
        return False
    conditions: list[dict[str, Any]] = ctx.status.get("conditions") or []
    current = next((c for c in conditions if c.get("type") == "CdnPublishing"), {})
    if (current.get("status"), current.get("reason")) == wanted[1:3]:
        return False
    ctx.condition(*wanted)
    return True
