"""Cloudflare RealtimeKit recordings for the CloudRecording controller (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/).

Start: the start-pending annotation (`{"meetingId", "at"}`) is written before the start call. A
RealtimeKit start has no idempotency key, so finishing a pending start first asks for the
meeting's active recording (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/get_active_recordings/): one invoked after the pending mark is ours and is adopted;
otherwise the start is sent again. A start is sent once (`AGORA_START_TIMEOUT`); when its answer is
lost, or it answers 409 (the meeting already records), the active recording is adopted the same
way. The recordingId is written to status directly before the annotation is removed. `state: Paused` ⇄ PUT pause/resume. A session RealtimeKit
ends itself (empty meeting for 60 s, `max_seconds`) is reported as Stopped/ProviderEnded; an
ended session is observed until its upload finishes (UPLOADED: files with download URLs, or
objects in external storage). Its RecordedFiles are created before `recordingStatus: UPLOADED`
is recorded, because that ends the observation: a failed create is retried by the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from recording_operator.api.timestamps import parse_rfc3339, rfc3339
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.kube import SecretNotFound
from recording_operator.controllers._kit.policy import check_provider_storage
from recording_operator.controllers._kit.status import files_summary
from recording_operator.controllers.cloudrecording.answers import persist_started
from recording_operator.controllers.cloudrecording.archive import archive_files
from recording_operator.controllers.cloudrecording.decide import PENDING_ANNOTATION, Observed
from recording_operator.controllers.cloudrecording.driver import (
    RecordingContext,
    mark_adopted,
    mark_ended,
    mark_start_pending,
    mark_started,
)
from recording_operator.controllers.recordedfile.publication import (
    FileRecord,
    publish_files,
    realtimekit_files,
)
from recording_operator.providers.realtimekit import RealtimeKitClient, RealtimeKitError, RecordingState

#: The kind whose RecordedFiles this driver publishes.
RECORDING_KIND = "CloudRecording"
#: RealtimeKit status → our phase while the recording runs (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/).
RUNNING_PHASES = {"INVOKED": "Starting", "RECORDING": "Recording", "PAUSED": "Paused"}
#: A recording invoked this long before our pending mark is not ours (clock skew allowance).
ADOPTION_SKEW = timedelta(seconds=5)


# --- pure mapping --------------------------------------------------------------------------------


def storage_params(storage: StorageSpec, credentials: Mapping[str, str] | None) -> dict[str, Any]:
    """RealtimeKit `storage_config` / `realtimekit_bucket_config` from `spec.storage` (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/).

    Secret keys: s3/digitalocean `accessKey`, `secretKey`; azure `connectionString`; gcs
    `serviceAccountJson`; sftp `username` and `password` or `privateKey` (+ optional `password`
    as its passphrase). The bucket path is `prefix` joined by `/`. External storage turns the
    RealtimeKit bucket copy off, so files land only where asked.

    Raises:
        SpecError: a Secret key is missing (CredentialsNotFound; names keys, never values).
    """
    if storage.vendor == "realtimekit-bucket":
        return {"realtimekit_bucket_config": {"enabled": True}}
    creds = credentials or {}

    def need(*keys: str) -> list[str]:
        missing = [k for k in keys if not creds.get(k)]
        if missing:
            raise SpecError("CredentialsNotFound", f"storage Secret has no {' or '.join(missing)}")
        return [creds[k] for k in keys]

    config: dict[str, Any] = {"bucket": storage.bucket}
    if storage.prefix:
        config["path"] = "/".join(storage.prefix)
    if storage.vendor in ("s3", "digitalocean"):
        access, secret = need("accessKey", "secretKey")
        config |= {
            "type": "aws" if storage.vendor == "s3" else "digitalocean",
            "access_key": access,
            "secret": secret,
            "region": storage.region or "",
        }
    elif storage.vendor == "azure":
        (connection,) = need("connectionString")
        config |= {"type": "azure", "access_key": connection, "secret": "", "region": ""}
    elif storage.vendor == "gcs":
        (service_account,) = need("serviceAccountJson")
        config |= {"type": "gcs", "secret": service_account, "region": storage.region or ""}
    elif storage.vendor == "sftp":
        (username,) = need("username")
        host, _, port = (storage.endpoint or "").removeprefix("sftp://").partition(":")
        config = {
            "type": "sftp",
            "host": host,
            "port": int(port or 22),
            "username": username,
            **({"path": config["path"]} if "path" in config else {}),
        }
        if creds.get("privateKey"):
            config |= {"auth_method": "KEY", "private_key": creds["privateKey"]}
            if creds.get("password"):
                config["password"] = creds["password"]
        else:
            (password,) = need("password")
            config |= {"auth_method": "PASSWORD", "password": password}
    else:
        raise SpecError("InvalidSpec", f"RealtimeKit cannot store to vendor {storage.vendor!r}")
    return {"storage_config": config, "realtimekit_bucket_config": {"enabled": False}}


def composite_params(spec: CloudRecordingSpec, storage: Mapping[str, Any]) -> dict[str, Any]:
    """The composite start body (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/) besides `meeting_id`: the spec's settings plus storage."""
    assert spec.realtimeKit is not None
    composite = spec.realtimeKit.composite
    params = composite.model_dump(exclude_none=True) if composite else {}
    return {**params, **storage}


def session_error(exc: RealtimeKitError) -> ProviderFailure:
    """A RealtimeKitError in the controller's terms (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/, https://github.com/cloudflare/cloudflare-python).

    Retryable → ProviderUnavailable; 401/403 → AuthFailed; 409 (the meeting already has an active
    recording) → TaskConflict, retried; 422 (a track recording needs a live session) →
    MeetingNotActive, retried until the meeting starts; other 4xx → InvalidSpec.
    """
    if exc.retryable:
        return ProviderFailure("ProviderUnavailable", str(exc), retryable=True)
    if exc.http_status in (401, 403):
        return ProviderFailure("AuthFailed", str(exc), retryable=False)
    if exc.http_status == 409:
        return ProviderFailure("TaskConflict", str(exc), retryable=True)
    if exc.http_status == 422:
        return ProviderFailure("MeetingNotActive", str(exc), retryable=True)
    return ProviderFailure("InvalidSpec", str(exc), retryable=False)


# --- driver --------------------------------------------------------------------------------------


class RealtimeKitSessions:
    """The `SessionDriver` for `provider: realtimekit`."""

    provider = "realtimekit"

    async def start(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Adopt the recording a lost start created, or start one (composite or track)."""
        rtk = spec.realtimeKit
        assert rtk is not None
        client = await self._client(ctx, spec)
        try:
            if obs.pending and not obs.session_id and await self._adopt(ctx, client, spec, obs.pending):
                return
            storage = await self._storage(ctx, spec) if rtk.type == "composite" else {}
            # A start already pending keeps its mark time: a recording it began counts as ours.
            since = str((obs.pending or {}).get("at") or "") if not obs.session_id else ""
            marked_at = since or rfc3339()
            pending = {"meetingId": rtk.meetingId, "at": marked_at}
            await mark_start_pending(ctx, pending, "recordingId")
            ctx.status.set(phase="Starting", recordingId=None)
            try:
                if rtk.type == "track":
                    track = rtk.track
                    layers = (
                        {k: v.model_dump(exclude_none=True) for k, v in (track.layers or {}).items()}
                        if track and track.layers
                        else None
                    )
                    state = await client.start_track(
                        rtk.accountId,
                        rtk.appId,
                        rtk.meetingId,
                        layers=layers,
                        user_ids=track.user_ids if track else None,
                        max_seconds=track.max_seconds if track else None,
                    )
                else:
                    state = await client.start_composite(
                        rtk.accountId, rtk.appId, rtk.meetingId, composite_params(spec, storage)
                    )
            except RealtimeKitError as exc:
                # A lost answer (timeout, dropped connection) or 409 (the meeting already records):
                # the recording may be ours; adopt the meeting's active one rather than start again.
                if exc.http_status in (None, 409) and await self._adopt(ctx, client, spec, pending):
                    return
                if not exc.retryable and exc.http_status != 409:
                    ctx.remove_annotation(PENDING_ANNOTATION)
                raise
        except RealtimeKitError as exc:
            raise session_error(exc) from exc
        # The recordingId reaches the API server before kopf's patch removes the marker.
        await persist_started(ctx, pending, {"recordingId": state.id})
        ctx.remove_annotation(PENDING_ANNOTATION)
        self.started(ctx, state)

    async def update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Pause or resume to match `spec.state` (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/pause_resume_stop_recording/). Other edits apply to the next session:
        RealtimeKit cannot change a running recording."""
        try:
            await self._follow_state(ctx, spec, obs, ctx.status.get("recordingStatus"))
        except RealtimeKitError as exc:
            raise session_error(exc) from exc

    async def observe(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """GET the recording: phase, files; provider-ended sessions; pause/resume still due.

        Raises:
            ProviderFailure: the RealtimeKit call failed.
            KubeApiError: creating the uploaded files' RecordedFiles failed (status not advanced).
        """
        rtk = spec.realtimeKit
        assert rtk is not None and obs.recording_id
        client = await self._client(ctx, spec)
        try:
            state = await client.get(rtk.accountId, rtk.appId, obs.recording_id)
            await self.apply_state(ctx, spec, obs, state, follow=True)
        except RealtimeKitError as exc:
            raise session_error(exc) from exc

    async def apply_state(
        self,
        ctx: RecordingContext,
        spec: CloudRecordingSpec,
        obs: Observed,
        state: RecordingState,
        *,
        follow: bool,
    ) -> None:
        """Status from the recording's state, as a GET or a `recording.statusUpdate` webhook
        reports it: phase, files (RecordedFiles before UPLOADED is written), provider-ended
        sessions; with `follow`, a pause/resume the spec still asks for is sent.

        Raises:
            RealtimeKitError: the pause/resume call failed.
            KubeApiError: creating the uploaded files' RecordedFiles failed (status not advanced).
        """
        records = realtimekit_files(spec.storage, state)
        archived = await self._archive(ctx, spec, state) if records else None
        if records:
            # Before UPLOADED is written: it ends the observation, so a failed create or copy
            # (raised here) leaves the status UPLOADING and the next observation publishes again.
            delete_after = spec.retention.deleteAfter if spec.retention else None
            storage, published = archived if archived is not None else (spec.storage, records)
            await publish_files(ctx, RECORDING_KIND, storage, published, delete_after)
        ctx.status.set(recordingStatus=state.status)
        if archived is None:
            ctx.reported_files.extend(records)
        if state.files:
            ctx.status.set(files=_files(state))
        if state.status in RUNNING_PHASES:
            phase = RUNNING_PHASES[state.status]
            if obs.phase != phase:
                ctx.status.set(phase=phase)
                ctx.condition("Ready", "True", phase, f"session {state.id} is {phase.lower()}")
            if follow:
                await self._follow_state(ctx, spec, obs, state.status)
        elif obs.active:
            why = f" ({state.stop_reason})" if state.stop_reason else ""
            self._ended(ctx, state, "ProviderEnded", f"RealtimeKit ended the recording{why}")

    async def stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        """PUT stop; a recording that is no longer active (400) or gone (404) counts as stopped."""
        rtk = spec.realtimeKit
        assert rtk is not None and obs.recording_id
        client = await self._client(ctx, spec)
        try:
            state = await client.action(rtk.accountId, rtk.appId, obs.recording_id, "stop")
        except RealtimeKitError as exc:
            if exc.http_status not in (400, 404):
                raise session_error(exc) from exc
            mark_ended(ctx, reason, message + "; the recording had already ended at RealtimeKit")
            return
        archived = await self._archive(ctx, spec, state)
        if archived is not None:
            delete_after = spec.retention.deleteAfter if spec.retention else None
            await publish_files(ctx, RECORDING_KIND, archived[0], archived[1], delete_after)
        else:
            ctx.reported_files.extend(realtimekit_files(spec.storage, state))
        self._ended(ctx, state, reason, message)

    @staticmethod
    async def _archive(
        ctx: RecordingContext, spec: CloudRecordingSpec, state: RecordingState
    ) -> tuple[StorageSpec, list[FileRecord]] | None:
        """With `spec.realtimeKit.archive`: the UPLOADED files copied there (`archive.archive_files`)
        and the storage their RecordedFiles point at; None without an archive.

        Raises:
            ProviderFailure: ArchiveFailed (retryable). SecretNotFound, KubeApiError: the archive's Secret.
        """
        rtk = spec.realtimeKit
        if rtk is None or rtk.archive is None:
            return None
        records = await archive_files(ctx, rtk.archive.storage, state)
        if records:
            ctx.event(
                "Normal",
                "Archived",
                f"recording {state.id}: {len(records)} files copied out of the RealtimeKit bucket "
                f"(links expire 7 days after upload) to {rtk.archive.storage.bucket}",
            )
        return rtk.archive.storage, records

    async def adopt(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """A recordingId in status for a pending start: follow it (RealtimeKit has nothing applied)."""
        mark_adopted(ctx, obs, None)

    async def settle_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """Adopt the meeting's active recording if it was invoked after the pending mark (GET
        active-recording, https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/get_active_recordings/).

        Returns:
            True when a recordingId is now in status (persisted), False when none is ours.

        Raises:
            ProviderFailure: the RealtimeKit call failed.
        """
        client = await self._client(ctx, spec)
        try:
            return await self._adopt(ctx, client, spec, obs.pending or {})
        except RealtimeKitError as exc:
            raise session_error(exc) from exc

    def release_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """No active recording of the meeting is ours: nothing runs for this pending start."""
        ctx.remove_annotation(PENDING_ANNOTATION)

    async def abandon_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """A pending start will not be finished: clear it and say what may be left (False: not kept)."""
        ctx.remove_annotation(PENDING_ANNOTATION)
        ctx.event(
            "Warning",
            "CreationResultUnknown",
            f"a start for meeting {(obs.pending or {}).get('meetingId')} may have reached RealtimeKit without "
            "its recording ID being recorded; it stops when the meeting is empty or max_seconds passes",
        )
        return False

    def wants_observation(self, obs: Observed, status: Mapping[str, Any]) -> bool:
        """Running sessions, and ended ones still uploading (their files come with UPLOADED)."""
        return obs.active or (bool(obs.recording_id) and status.get("recordingStatus") == "UPLOADING")

    async def stored_files(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> list[FileRecord]:
        """None: RealtimeKit's files come with the recording's GET, which answers after it ended
        (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/),
        so they are reported, not searched for."""
        return []

    # --- helpers -----------------------------------------------------------------------------------

    async def _client(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> RealtimeKitClient:
        token = await ctx.runtime.kube.read_secret_key(
            ctx.namespace, spec.credentialsSecretRef.name, "apiToken"
        )
        return ctx.runtime.realtimekit(token)

    async def _storage(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> dict[str, Any]:
        check_provider_storage(spec.storage, ctx.runtime.settings)
        ref = spec.storage.credentialsSecretRef
        secret = await ctx.runtime.kube.read_secret(ctx.namespace, ref.name) if ref else None
        if ref is None and spec.storage.vendor != "realtimekit-bucket":
            raise SecretNotFound("storage.credentialsSecretRef is required for external storage")
        return storage_params(spec.storage, secret)

    async def _adopt(
        self,
        ctx: RecordingContext,
        client: RealtimeKitClient,
        spec: CloudRecordingSpec,
        pending: Mapping[str, Any],
    ) -> bool:
        rtk = spec.realtimeKit
        assert rtk is not None
        active = await client.active(rtk.accountId, rtk.appId, rtk.meetingId)
        marked = parse_rfc3339(str(pending.get("at") or ""))
        invoked = parse_rfc3339(active.invoked_time) if active else None
        if active is None or marked is None or invoked is None or invoked < marked - ADOPTION_SKEW:
            return False
        await ctx.persist(recordingId=active.id, phase="Starting")
        ctx.remove_annotation(PENDING_ANNOTATION)
        self.started(ctx, active)
        ctx.event(
            "Normal",
            "Adopted",
            f"recording {active.id}, started before the operator was interrupted, is tracked",
        )
        return True

    def started(self, ctx: RecordingContext, state: RecordingState) -> None:
        """Draft a session RealtimeKit reports as started (`recordingId`, phase from its status)."""
        mark_started(
            ctx,
            phase=RUNNING_PHASES.get(state.status, "Starting"),
            session={"recordingId": state.id},
            applied=None,
        )
        ctx.status.set(recordingStatus=state.status, resourceId=None, sid=None)

    async def _follow_state(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, status: str | None
    ) -> None:
        rtk = spec.realtimeKit
        assert rtk is not None and obs.recording_id
        action: Literal["pause", "resume"] | None = None
        if spec.state == "Paused" and status == "RECORDING":
            action = "pause"
        elif spec.state == "Recording" and status == "PAUSED":
            action = "resume"
        if action is None:
            return
        client = await self._client(ctx, spec)
        state = await client.action(rtk.accountId, rtk.appId, obs.recording_id, action)
        phase = RUNNING_PHASES.get(state.status, "Recording")
        ctx.status.set(recordingStatus=state.status, phase=phase)
        ctx.condition("Ready", "True", phase, f"session {state.id} is {phase.lower()}")
        ctx.event("Normal", "Paused" if action == "pause" else "Resumed", f"session {state.id} {action}d")

    def _ended(self, ctx: RecordingContext, state: RecordingState, reason: str, message: str) -> None:
        ctx.status.set(recordingStatus=state.status)
        if state.files:
            ctx.status.set(files=_files(state))
        if state.status == "ERRORED":
            ctx.status.set(phase="Failed")
            ctx.condition(
                "Ready", "False", "ProviderFailed", "RealtimeKit reports the recording ERRORED (no file)"
            )
            ctx.condition("Recording", "False", "ProviderFailed", "the recording ERRORED")
            return
        mark_ended(ctx, reason, message)


def _files(state: RecordingState) -> dict[str, Any]:
    summary = files_summary([f.file_name for f in state.files])
    total = sum(f.size_bytes or 0 for f in state.files) or state.file_size_bytes
    if total:
        summary["totalBytes"] = total
    return summary
