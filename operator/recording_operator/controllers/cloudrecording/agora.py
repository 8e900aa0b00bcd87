"""Agora Cloud Recording sessions for the CloudRecording controller (https://docs.agora.io/en/cloud-recording/rest-api/overview).

acquire → the resourceId is persisted in the start-pending annotation → start → the sid is written
to status directly → the annotation is removed. Agora lets one resourceId start one session only
(https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices).

A start is sent once. When its answer is lost (timeout, dropped connection) or a repeat answers
201/7 (already started, https://docs.agora.io/en/cloud-recording/rest-api/status-codes), the
session may be running and Agora has no call that lists sessions: its sid can only come from the
notification callbacks (https://docs.agora.io/en/cloud-recording/develop/receive-notifications).
The recording then stays in phase Starting with `Synced=False` `StartResultUnknown`, one Warning
Event names the channel and the uid, and the start-pending annotation is kept (it gains
`unknownSince`) until the sid is adopted (`decide.observe`). A pending start whose earlier
attempt provably never reached Agora (the operator stopped before its answer was recorded and the
annotation carries no `unknownSince`) is sent again with the same resourceId: it can never start a
second session, and a 201/7 answer turns it into the unknown case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from recording_operator.api.timestamps import parse_rfc3339, rfc3339
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.controllers._kit.conditions import get_condition
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.kube import KubeApiError
from recording_operator.controllers._kit.policy import check_provider_storage
from recording_operator.controllers._kit.status import digest, files_summary
from recording_operator.controllers.cloudrecording.answers import persist_started
from recording_operator.controllers.cloudrecording.decide import (
    PENDING_ANNOTATION,
    START_UNKNOWN,
    UNKNOWN_SINCE,
    Observed,
    Update,
    acquire_request,
    applied_config,
    channel_encryption,
    extra_keys,
    mark_unknown,
    not_found_delay,
    session_file_keys,
    session_file_stems,
    start_request,
    start_timed_out,
    storage_config,
    updates_needed,
)
from recording_operator.controllers.cloudrecording.driver import (
    RecordingContext,
    mark_adopted,
    mark_ended,
    mark_start_pending,
    mark_started,
)
from recording_operator.controllers.cloudrecording.notices import (
    ORPHANS,
    OWN_STOPS,
    Orphan,
    adopted_meanwhile,
)
from recording_operator.controllers.recordedfile.probe import storage_store
from recording_operator.controllers.recordedfile.publication import FileRecord, agora_files
from recording_operator.providers.agora import AgoraError, CloudRecordingClient, QueryResult
from recording_operator.providers.agora.errors import (
    CODE_ALREADY_EXITING,
    CODE_ALREADY_STARTED,
    CODE_NO_RECORDED_DATA,
    CODE_NOT_FOUND,
    CODE_RESOURCE_EXPIRED,
    CODE_TASK_CONFLICT,
)
from recording_operator.providers.agora.tokens import TokenError, mint_rtc_token, recording_token_lifetime_s

#: `Synced`/`Recording` reason while Agora refuses to start in a channel without users (206/435).
NO_USERS = "NoUsersInChannel"
#: `Synced` reason when Cloud Recording is not enabled for the App ID (403 / invalid_appid).
NOT_ENABLED = "RecordingNotEnabled"
#: `Synced` reason when start answered 432 even with a fresh resourceId.
RESOURCE_MISMATCH = "ResourceMismatch"


def _seconds_since(timestamp: str | None) -> float:
    """Seconds since an RFC 3339 time (0 when absent or unreadable)."""
    at = parse_rfc3339(timestamp or "")
    return 0.0 if at is None else max(0.0, (datetime.now(UTC) - at).total_seconds())


def session_error(exc: AgoraError, spec: CloudRecordingSpec | None = None) -> ProviderFailure:
    """An AgoraError in the controller's terms (https://docs.agora.io/en/cloud-recording/rest-api/status-codes).

    | Agora answer | reason | retried |
    |---|---|---|
    | 429, 5xx, 65, 62, transport | ProviderUnavailable | yes |
    | 400/53 (another task holds cname+uid, e.g. our own previous session still exiting, https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices) | TaskConflict | yes |
    | 206/435 on start (no users in the channel) | NoUsersInChannel | yes, until users join |
    | 403, gateway 400 "appid is invalid", acquire 400/400 `invalid_appid` | RecordingNotEnabled | no |
    | 432 (after one re-acquire, see `AgoraSessions.start`) | ResourceMismatch | no |
    | 401 | AuthFailed | no |
    | other 4xx | InvalidSpec | no |

    Each message says what the user can do about it, then Agora's own answer (`AgoraError.summary`).
    """
    agora = spec.agora if spec is not None else None
    where = f"channel {agora.channel} uid {agora.uid}" if agora is not None else "the channel"
    if exc.retryable:
        return ProviderFailure("ProviderUnavailable", exc.summary, retryable=True)
    if exc.code == CODE_TASK_CONFLICT:
        return ProviderFailure("TaskConflict", exc.summary, retryable=True)
    if exc.endpoint == "start" and exc.is_no_recorded_data:
        return ProviderFailure(
            NO_USERS,
            f"nobody is in {where}: Agora starts a recording only in a channel with active users "
            "(Agora's Cloud Recording quick reference: 435 no users in channel); the start is tried "
            f"again with backoff until users join. {exc.summary}",
            retryable=True,
        )
    if exc.is_not_enabled:
        app = f"App ID {agora.appId}" if agora is not None else "this App ID"
        return ProviderFailure(
            NOT_ENABLED,
            f"Cloud Recording is not enabled for {app}: enable it in Agora Console (your project, "
            f"All features, Cloud Recording), then change the spec (any edit) to try again. {exc.summary}",
            retryable=False,
            lost=True,
        )
    if exc.is_resource_mismatch:
        return ProviderFailure(
            RESOURCE_MISMATCH,
            f"Agora answered 432 for {where} with a freshly acquired resourceId too: a recording is already "
            "in progress for this channel and uid, or appid/cname/uid do not match the resourceId "
            "(https://docs.agora.io/en/cloud-recording/rest-api/status-codes). Stop the other recorder "
            f"using uid {agora.uid if agora is not None else ''} in this channel, or record with another "
            f"uid (a new CloudRecording: uid is immutable), then change the spec to try again. {exc.summary}",
            retryable=False,
            lost=True,
        )
    if exc.http_status == 401:
        return ProviderFailure("AuthFailed", exc.summary, retryable=False)
    return ProviderFailure("InvalidSpec", exc.summary, retryable=False)


class AgoraSessions:
    """The `SessionDriver` for `provider: agora`."""

    provider = "agora"

    async def start(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """acquire (unless a start is pending) → persist resourceId + start-pending → start → sid.

        Raises:
            ProviderFailure: `StartResultUnknown` (not retried, nothing marked Failed) when the start
                may have reached Agora without its answer; the provider failures of `session_error`.
        """
        if obs.start_unknown:
            raise await self._unknown(ctx, spec, obs.pending_resource_id, obs.pending or {})
        try:
            await self._start(ctx, spec, obs.pending_resource_id if not obs.session_id else None, obs)
        except AgoraError as exc:
            failure = session_error(exc, spec)
            if failure.reason == NO_USERS:
                ctx.status.set(phase="Starting")
                ctx.condition("Recording", "False", NO_USERS, failure.message)
            raise failure from exc

    async def update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Send the update/updateLayout calls the spec edits need, one at a time (https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices, https://docs.agora.io/en/cloud-recording/rest-api/update, https://docs.agora.io/en/cloud-recording/rest-api/update-layout)."""
        try:
            await self._update(ctx, spec, obs)
        except AgoraError as exc:
            raise session_error(exc, spec) from exc

    async def observe(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """query: providerStatus and files. A 404 is confirmed with backoff for up to
        `RECORDING_NOT_FOUND_WINDOW` seconds (an HA migration answers 404 for up to 90 s,
        https://docs.agora.io/en/cloud-recording/rest-api/status-codes) before the session counts
        as ended by the provider; one that answers again is followed again. Status 20 (exited
        abnormally, https://docs.agora.io/en/cloud-recording/rest-api/query) → Failed."""
        try:
            await self._query(ctx, spec, obs)
        except AgoraError as exc:
            raise session_error(exc, spec) from exc

    async def stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        """stop; 400/49 means the session is already exiting, 206/435 that it recorded nothing
        (https://docs.agora.io/en/cloud-recording/rest-api/stop). A 404 is confirmed like a query's
        (HA migration, up to `RECORDING_NOT_FOUND_WINDOW` s) before the session counts as ended;
        one that answers again is stopped again."""
        try:
            await self._stop(ctx, spec, obs, reason=reason, message=message)
        except AgoraError as exc:
            raise session_error(exc, spec) from exc

    async def adopt(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """An adopted sid runs the spec's start request: record it as applied (no update is sent)."""
        _, storage_digest = await self._storage(ctx, spec)
        mark_adopted(ctx, obs, applied_config(spec, storage_digest, onhold=spec.state == "Paused"))

    async def settle_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """Agora has no call that finds a session by channel: only an adoption (a callback writing
        the sid) settles a pending start, so nothing is asked here (always False)."""
        return False

    def release_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """The finalizer gives up waiting for the adoption: a Warning names what may still run."""
        agora = spec.agora
        assert agora is not None
        if obs.pending_resource_id:
            ORPHANS.remember(
                agora.channel,
                agora.uid,
                Orphan(
                    agora.appId,
                    obs.pending_resource_id,
                    agora.mode,
                    ctx.namespace,
                    spec.credentialsSecretRef.name,
                ),
            )
        ctx.event(
            "Warning",
            "SessionMayBeRunning",
            f"deleted while the start of channel {agora.channel} uid {agora.uid} (resource "
            f"{obs.pending_resource_id}) had no recorded sid, and none was adopted: the session may still "
            "be running; it will end after maxIdleTime "
            "(https://docs.agora.io/en/cloud-recording/rest-api/start, recordingConfig.maxIdleTime)",
        )

    async def abandon_pending(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> bool:
        """`state: Stopped` with a pending start and no sid: nothing can be stopped without a sid.

        The marker is kept, marked unknown: a start whose own definite answer said it started
        nothing has already cleared it (`_start_failed`), so a marker still here is a start whose
        answer was never recorded (the operator stopped while it was at Agora, or could not write
        the answer): its session, once a notice names it, is adopted and stopped
        (`decide.observe`). One Warning Event names the channel, the uid and the resourceId.

        Returns:
            True: the marker is kept.

        Raises:
            KubeApiError: `unknownSince` could not be written (tried again with the handler).
        """
        if obs.start_unknown:
            return True
        agora = spec.agora
        assert agora is not None
        await self._mark_unknown(ctx, obs.pending or {})
        ctx.event(
            "Warning",
            START_UNKNOWN,
            f"spec.state is Stopped while the start of channel {agora.channel} uid {agora.uid} (resource "
            f"{obs.pending_resource_id}) has no recorded answer: if it started a session, that session "
            "is stopped once Agora's notification callback names it",
        )
        return True

    def wants_observation(self, obs: Observed, status: Mapping[str, Any]) -> bool:
        """Agora sessions are observed while they run; stop answers with the final file list."""
        return obs.active

    async def stored_files(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> list[FileRecord]:
        """The objects named like a file of one of this recording's sessions
        (`decide.session_file_stems`, listed under the storage prefix; `decide.session_file_keys`),
        HLS slices left to their playlist. Agora reports a session's final file list only in the stop
        answer and the `uploaded` notice (https://docs.agora.io/en/cloud-recording/rest-api/stop):
        when both are lost, the stored objects are the only record of those files."""
        agora = spec.agora
        assert agora is not None
        stems = session_file_stems({**ctx.status.current, **ctx.status.fields}, agora.channel)
        if not stems:
            return []
        ref = spec.storage.credentialsSecretRef
        store = await storage_store(
            ctx.runtime, ctx.namespace, spec.storage, ref.name if ref is not None else None
        )
        records: list[FileRecord] = []
        for stem in stems:
            listed = {o.key: o for o in await store.list(store.key_for(stem))}
            for key in session_file_keys(store.key_for(stem), list(listed)):
                records.append(FileRecord(key=key, size_bytes=listed[key].size_bytes))
        return records

    # --- credentials -------------------------------------------------------------------------------

    async def _client(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> CloudRecordingClient:
        credentials = await ctx.runtime.agora_credentials(ctx.namespace, spec.credentialsSecretRef.name)
        return ctx.runtime.agora(credentials)

    async def _storage(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> tuple[dict[str, Any], str]:
        """Agora storageConfig and its digest (spec.storage + the Secret's resourceVersion, never values)."""
        ref = spec.storage.credentialsSecretRef
        assert ref is not None  # CRD rule: Agora storage needs credentialsSecretRef
        secret = await ctx.runtime.kube.read_secret(ctx.namespace, ref.name)
        config = storage_config(spec.storage, secret)
        return config, digest(
            [spec.storage.model_dump(), ctx.runtime.kube.secret_version(ctx.namespace, ref.name)]
        )

    async def _token(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> str | None:
        """The recorder's RTC token: read from `secretRef`, or minted from `appCertificateSecretRef`.

        A minted token is for `channel` + `uid`, join privilege only, valid `resourceExpiredHour` h
        + 10 min (providers/agora/tokens.py); it is only put in the start request, never stored or logged.

        Raises:
            SecretNotFound: the Secret or key is missing. SpecError: the token cannot be minted (InvalidSpec).
        """
        agora = spec.agora
        assert agora is not None
        if agora.token is None:
            return None
        if agora.token.secretRef is not None:
            ref = agora.token.secretRef
            return await ctx.runtime.kube.read_secret_key(ctx.namespace, ref.name, ref.key)
        cert_ref = agora.token.appCertificateSecretRef
        assert cert_ref is not None  # CRD rule: exactly one of secretRef and appCertificateSecretRef
        certificate = await ctx.runtime.kube.read_secret_key(ctx.namespace, cert_ref.name, cert_ref.key)
        try:
            return mint_rtc_token(
                agora.appId,
                certificate,
                agora.channel,
                int(agora.uid),
                lifetime_s=recording_token_lifetime_s(agora.resourceExpiredHour),
                publisher=False,
            )
        except TokenError as exc:
            raise SpecError("InvalidSpec", f"cannot mint the RTC token: {exc}") from None

    async def _encryption(self, ctx: RecordingContext, spec: CloudRecordingSpec) -> dict[str, str] | None:
        """The encrypted channel's `secret` (and `salt`) from `spec.agora.encryption`'s Secrets, or None.

        Raises:
            SecretNotFound: a Secret or key is missing. SpecError: InvalidSpec (empty secret, bad salt).
        """
        agora = spec.agora
        assert agora is not None
        if agora.encryption is None or agora.mode == "web":
            return None
        mode = agora.recordingConfig.decryptionMode if agora.recordingConfig else None
        ref = agora.encryption.secretRef
        secret = await ctx.runtime.kube.read_secret_key(ctx.namespace, ref.name, ref.key)
        salt = None
        if (salt_ref := agora.encryption.saltRef) is not None:
            salt = await ctx.runtime.kube.read_secret_key(ctx.namespace, salt_ref.name, salt_ref.key)
        return channel_encryption(mode, secret, salt)

    # --- steps -------------------------------------------------------------------------------------

    async def _start(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, resource_id: str | None, obs: Observed
    ) -> None:
        agora = spec.agora
        assert agora is not None
        client = await self._client(ctx, spec)
        check_provider_storage(spec.storage, ctx.runtime.settings)  # before the Secret is read and sent
        storage, storage_digest = await self._storage(ctx, spec)
        token = await self._token(ctx, spec)
        onhold = spec.state == "Paused"
        request = start_request(
            spec, storage, token, onhold=onhold, encryption=await self._encryption(ctx, spec)
        )
        pending: Mapping[str, Any] = obs.pending or {}
        if agora.extraClientRequest:
            ctx.event(
                "Warning",
                "ExtraClientRequest",
                "start sends fields the CRD does not check (spec.agora.extraClientRequest): "
                + ", ".join(extra_keys(agora.extraClientRequest)),
            )
        if resource_id is None:
            resource_id, pending = await self._acquire(ctx, spec, client)
        try:
            started = await client.start(
                agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request
            )
        except AgoraError as exc:
            if exc.is_resource_mismatch and await adopted_meanwhile(ctx):
                return  # 432 "already in progress": a notice named the session this resource started
            if exc.code == CODE_RESOURCE_EXPIRED or exc.is_resource_mismatch:
                # 433: the resource expired before start; 432: appid/cname/uid do not match it
                # (https://docs.agora.io/en/cloud-recording/rest-api/status-codes). Neither started a
                # session: re-acquire once for the spec's appid, channel and uid. A recording that is
                # really in progress for them then answers 400/53 (TaskConflict, retried).
                resumed = (resource_id, pending) if obs.pending_resource_id == resource_id else None
                resource_id, pending = await self._acquire(ctx, spec, client)
                try:
                    started = await client.start(
                        agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request
                    )
                except AgoraError as again:
                    if again.code == CODE_TASK_CONFLICT and resumed is not None:
                        # The start being resumed may have started the session now in progress (a
                        # 433 does not say it did not): wait for its sid with the resourceId it
                        # was started with, so the adopted session is queried and stopped with it.
                        await mark_start_pending(ctx, resumed[1], "sid", "resourceId")
                        raise await self._unknown(ctx, spec, *resumed) from again
                    raise await self._start_failed(
                        ctx, spec, resource_id, pending, again, resumed=False
                    ) from again
            else:
                if exc.code == CODE_ALREADY_STARTED and await adopted_meanwhile(ctx):
                    return  # a notice named this start's sid while its answer was lost (notices.py)
                resumed_start = obs.pending_resource_id == resource_id
                raise await self._start_failed(
                    ctx, spec, resource_id, pending, exc, resumed=resumed_start
                ) from exc
        # The sid reaches the API server before kopf's patch removes the marker (a fresh start
        # after a crash would clear it and meet 53 while the session runs).
        session = {"resourceId": started.resource_id, "sid": started.sid}
        applied = applied_config(spec, storage_digest, onhold=onhold)
        await persist_started(ctx, pending, session, applied)
        ctx.remove_annotation(PENDING_ANNOTATION)
        mark_started(ctx, phase="Paused" if onhold else "Recording", session=session, applied=applied)

    async def _start_failed(
        self,
        ctx: RecordingContext,
        spec: CloudRecordingSpec,
        resource_id: str,
        pending: Mapping[str, Any],
        exc: AgoraError,
        *,
        resumed: bool,
    ) -> Exception:
        """The error to raise for a failed start; the marker stays unless nothing can be running.

        A definite answer (429, 5xx, 435, 53, 4xx) to a start this invocation sent first with its
        resourceId started nothing: the marker is removed (the retry acquires afresh). A resumed
        marker (`resumed`: an earlier send's answer was never recorded) stays unless the answer is
        terminal: that earlier send may have started the session, and a repeat with the same
        resourceId answers 201/7 if it did.
        """
        if exc.code == CODE_ALREADY_STARTED or exc.outcome_unknown:
            return await self._unknown(ctx, spec, resource_id, pending)
        if not exc.retryable or not resumed:
            ctx.remove_annotation(PENDING_ANNOTATION)
        return exc

    async def _unknown(
        self,
        ctx: RecordingContext,
        spec: CloudRecordingSpec,
        resource_id: str | None,
        pending: Mapping[str, Any],
    ) -> ProviderFailure:
        """Keep the marker (with `unknownSince`), stay Starting, and say what may be running.

        `unknownSince` is written directly, not with kopf's patch (which kopf gives up on after
        its retries, e.g. across an API outage): a marker without it reads as a start that never
        left, which `state: Stopped` clears (`abandon_pending`), losing the session.
        Reported as `Synced=False` `StartResultUnknown` with one Warning Event (posted once per
        distinct message by the failure ladder) naming the channel, the uid and the resourceId.

        Raises:
            KubeApiError: the marker could not be written (the next attempt sends the start again
                with the same resourceId, which answers 201/7 and comes back here).
        """
        agora = spec.agora
        assert agora is not None
        await self._mark_unknown(ctx, pending)
        ctx.status.set(phase="Starting", resourceId=resource_id, sid=None)
        return ProviderFailure(
            START_UNKNOWN,
            f"the start of channel {agora.channel} uid {agora.uid} (resource {resource_id}) was sent but "
            "its answer was lost; the session may be running. It is not started again: it is followed "
            "once its sid is adopted from Agora's notification callback.",
            retryable=False,
            lost=False,
        )

    @staticmethod
    async def _mark_unknown(ctx: RecordingContext, pending: Mapping[str, Any]) -> None:
        """Write `unknownSince` into the start-pending marker, directly (see `_unknown`).

        Raises:
            KubeApiError: the write failed.
        """
        if not pending.get(UNKNOWN_SINCE):
            value = mark_unknown(pending, rfc3339())
            await ctx.runtime.kube.merge_patch(
                ctx.path, {"metadata": {"annotations": {PENDING_ANNOTATION: value}}}
            )

    async def _acquire(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, client: CloudRecordingClient
    ) -> tuple[str, dict[str, Any]]:
        """acquire, then the start-pending marker with the resourceId (written before start)."""
        agora = spec.agora
        assert agora is not None
        acquired = await client.acquire(agora.appId, agora.channel, agora.uid, acquire_request(agora))
        pending = {"resourceId": acquired.resource_id, "acquiredAt": rfc3339()}
        await mark_start_pending(ctx, pending, "sid", "resourceId")
        # The previous session (if any) is already in status.sessions; this one has no sid yet.
        ctx.status.set(phase="Starting", resourceId=acquired.resource_id, sid=None)
        return acquired.resource_id, pending

    async def _update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        check_provider_storage(spec.storage, ctx.runtime.settings)  # before the Secret is read and sent
        storage, storage_digest = await self._storage(ctx, spec)
        updates = updates_needed(spec, obs.applied, storage, storage_digest)
        if not updates:
            return
        client = await self._client(ctx, spec)
        applied = dict(obs.applied)
        for update in updates:
            try:
                await self._send_update(client, spec, obs, update)
            except AgoraError as exc:
                if exc.http_status != 404 or exc.gateway:
                    raise
                # 404: the session ended (or is migrating, https://docs.agora.io/en/cloud-recording/rest-api/status-codes):
                # confirmed like a query's; a session that answers again gets the update at the retry.
                if await self._confirm_not_found(ctx, client, spec, obs) is None:
                    mark_ended(ctx, "ProviderEnded", f"Agora no longer knows the session ({exc.summary})")
                    return
                raise ProviderFailure(
                    "SessionMigrating",
                    f"{update.endpoint} answered 404 while session {obs.sid} answers query (Agora moves "
                    "sessions between servers for up to 90 s); the update is sent again. " + exc.summary,
                    retryable=True,
                ) from exc
            # Recorded per call, so a failure half-way does not resend what Agora already accepted.
            applied[update.applied_key] = update.applied_value
            ctx.status.set(applied=dict(applied))
        if "onhold" in applied:
            phase = "Paused" if applied["onhold"] else "Recording"
            ctx.status.set(phase=phase)
            ctx.condition("Ready", "True", phase, f"session {obs.sid} is {phase.lower()}")
        changed = ", ".join(dict.fromkeys(u.applied_key for u in updates))
        ctx.event("Normal", "Updated", f"session {obs.sid}: updated {changed}")

    @staticmethod
    async def _send_update(
        client: CloudRecordingClient, spec: CloudRecordingSpec, obs: Observed, update: Update
    ) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        if update.endpoint == "updateLayout":
            await client.update_layout(
                agora.appId, obs.resource_id, obs.sid, agora.channel, agora.uid, update.body
            )
        else:
            await client.update(
                agora.appId, obs.resource_id, obs.sid, agora.mode, agora.channel, agora.uid, update.body
            )

    async def _stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        client = await self._client(ctx, spec)
        uploading = None
        OWN_STOPS.add(obs.sid)  # the notices this stop causes are not the provider ending it
        while True:
            try:
                result = await client.stop(
                    agora.appId, obs.resource_id, obs.sid, agora.mode, agora.channel, agora.uid
                )
            except AgoraError as exc:
                if exc.code in (CODE_NO_RECORDED_DATA, CODE_ALREADY_EXITING):
                    OWN_STOPS.answered(obs.sid)
                if exc.code == CODE_NO_RECORDED_DATA:
                    ctx.status.set(files={"count": 0, "totalBytes": 0})  # known: nothing to store
                    message += "; Agora recorded no data (nobody published)"
                elif exc.code == CODE_ALREADY_EXITING:
                    message += "; the session was already exiting at Agora"
                elif exc.code == CODE_NOT_FOUND or exc.http_status == 404:
                    if await self._confirm_not_found(ctx, client, spec, obs) is not None:
                        continue  # back after a migration: stop it now
                    message += "; the session had already ended at Agora"
                else:
                    raise
                break
            OWN_STOPS.answered(obs.sid)
            uploading = result.uploading_status
            if result.files:
                ctx.status.set(files=files_summary([f.file_name for f in result.files]))
                ctx.reported_files.extend(agora_files(spec.storage, result.files))
            break
        mark_ended(ctx, reason, message, uploading=uploading)

    async def _confirm_not_found(
        self, ctx: RecordingContext, client: CloudRecordingClient, spec: CloudRecordingSpec, obs: Observed
    ) -> QueryResult | None:
        """After a 404, query again with backoff (`RECORDING_NOT_FOUND_CONFIRM` × 1, 2, 3 … seconds)
        until `RECORDING_NOT_FOUND_WINDOW` seconds passed: Agora answers 404 for up to 90 s while it
        migrates a live session (https://docs.agora.io/en/cloud-recording/rest-api/status-codes).

        A session whose stop this process saw answered (`OWN_STOPS.ended_here`) is not confirmed:
        the 404 is the end that stop asked for.

        Returns:
            The first answer once the session answers again (it is followed again), or None when
            it kept answering 404 for the whole window (it ended).

        Raises:
            AgoraError: a query failed otherwise.
        """
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        if OWN_STOPS.ended_here(obs.sid):
            return None  # Agora answered this process's stop of it: the 404 is that end
        settings = ctx.runtime.settings
        base_s = max(settings.not_found_confirm_s, 0.1)
        first = time.monotonic() - await self._not_found_for(ctx)
        checks = 0
        while (
            delay := not_found_delay(
                time.monotonic() - first, checks, base_s=base_s, window_s=settings.not_found_window_s
            )
        ) is not None:
            await asyncio.sleep(delay)
            checks += 1
            try:
                result = await client.query(agora.appId, obs.resource_id, obs.sid, agora.mode)
            except AgoraError as exc:
                if exc.http_status != 404:
                    raise
                continue
            try:
                await ctx.persist(notFoundSince=None)  # a later 404 is a new window
            except KubeApiError:
                ctx.status.set(notFoundSince=None)
            ctx.event(
                "Normal",
                "SessionBack",
                f"session {obs.sid} answers again after {time.monotonic() - first:.0f}s of 404 "
                "(Agora moved it to another server); it is followed again",
            )
            return result
        return None

    @staticmethod
    async def _not_found_for(ctx: RecordingContext) -> float:
        """Seconds the current session has answered 404 so far: since `status.notFoundSince`, which
        the first 404 writes directly so that the confirmation window goes on across operator
        restarts and handler retries instead of starting over (0 when it is the first; a failed
        write is logged and the window starts now)."""
        since = parse_rfc3339(ctx.status.get("notFoundSince") or "")
        if since is not None:
            return max(0.0, (datetime.now(UTC) - since).total_seconds())
        try:
            await ctx.persist(notFoundSince=rfc3339())
        except KubeApiError as exc:
            ctx.logger.warning(f"recording the first 404 failed (the window starts again if retried): {exc}")
        return 0.0

    async def _rotate_storage(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, client: CloudRecordingClient
    ) -> None:
        """Send the storage Secret's new credentials (e.g. rotated STS `stsToken`/`stsExpiration`) with
        `update` `storageConfig` while the session runs, without a spec change: Agora asks to
        re-apply STS credentials every 60 minutes and `update` the storageConfig
        (https://docs.agora.io/en/cloud-recording/rest-api/start, storageConfig.stsToken;
        https://docs.agora.io/en/cloud-recording/rest-api/update). The Secret's resourceVersion is
        part of the applied storage digest, so any edit of the Secret is sent once.
        """
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        storage, storage_digest = await self._storage(ctx, spec)
        if not obs.applied or obs.applied.get("storage") == storage_digest:
            return
        await client.update(
            agora.appId,
            obs.resource_id,
            obs.sid,
            agora.mode,
            agora.channel,
            agora.uid,
            {"storageConfig": storage},
        )
        ctx.status.set(applied={**obs.applied, "storage": storage_digest})
        ctx.event(
            "Normal",
            "StorageCredentialsUpdated",
            f"session {obs.sid}: the storage Secret changed; its credentials were sent with update",
        )

    async def _query(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        client = await self._client(ctx, spec)
        try:
            result = await client.query(agora.appId, obs.resource_id, obs.sid, agora.mode)
        except AgoraError as exc:
            if exc.http_status != 404:
                raise
            back = await self._confirm_not_found(ctx, client, spec, obs)
            if back is None:
                mark_ended(
                    ctx,
                    "ProviderEnded",
                    "Agora no longer knows the session (idle channel past maxIdleTime, maxRecordingHour, "
                    "or resourceExpiredHour)",
                )
                return
            result = back
        ctx.status.set(providerStatus=result.status)
        limit_s = ctx.runtime.settings.start_check_s
        if start_timed_out(result.status, _seconds_since(ctx.status.get("startedAt")), limit_s=limit_s):
            ctx.event(
                "Warning",
                "StartTimedOut",
                f"session {obs.sid} is still at status {result.status} {limit_s:.0f}s after its start (Agora: "
                "4 or 5 means running, https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices); "
                "it is stopped",
            )
            await self._stop(
                ctx,
                spec,
                obs,
                reason="StartTimedOut",
                message=f"the session did not reach status 4/5 within {limit_s:.0f}s of its start",
            )
            return
        if result.files:
            ctx.status.set(files=files_summary([f.file_name for f in result.files]))
            ctx.reported_files.extend(agora_files(spec.storage, result.files))
        if result.status == 20:
            ctx.status.set(phase="Failed")
            ctx.condition(
                "Ready", "False", "ProviderFailed", "Agora reports the session exited abnormally (status 20)"
            )
            ctx.condition("Recording", "False", "ProviderFailed", "status 20: exited abnormally")
        elif obs.phase == "Starting":
            ctx.status.set(phase="Recording")
        if result.status is not None and result.status < 6:
            await self._rotate_storage(ctx, spec, obs, client)
        synced = get_condition(ctx.status.get("conditions"), "Synced")
        if synced and synced.get("status") == "False" and synced.get("reason") == "ProviderUnavailable":
            ctx.condition("Synced", "True", "ReconcileSuccess", "the provider answers again")
