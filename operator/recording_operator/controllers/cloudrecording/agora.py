"""Agora Cloud Recording sessions for the CloudRecording controller (https://docs.agora.io/en/cloud-recording/rest-api/overview).

acquire → the resourceId is persisted in the start-pending annotation → start → sid. Agora lets
one resourceId start one session only (https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices), so finishing a pending start means retrying
`start` with that resourceId: it can never create a second paid session (a duplicate answers
201/7, reported as CreationResultUnknown).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.controllers._kit.conditions import get_condition
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.status import digest, files_summary
from recording_operator.controllers.cloudrecording.decide import (
    PENDING_ANNOTATION,
    Observed,
    acquire_request,
    applied_config,
    start_request,
    storage_config,
    updates_needed,
)
from recording_operator.controllers.cloudrecording.driver import (
    RecordingContext,
    mark_ended,
    mark_started,
)
from recording_operator.controllers.cloudrecording.notices import adopted_meanwhile
from recording_operator.controllers.recordedfile.publication import agora_files
from recording_operator.providers.agora import AgoraError, CloudRecordingClient
from recording_operator.providers.agora.errors import (
    CODE_ALREADY_EXITING,
    CODE_ALREADY_STARTED,
    CODE_NO_RECORDED_DATA,
    CODE_NOT_FOUND,
    CODE_RESOURCE_EXPIRED,
    CODE_TASK_CONFLICT,
)
from recording_operator.providers.agora.tokens import TokenError, mint_rtc_token, recording_token_lifetime_s


def session_error(exc: AgoraError) -> ProviderFailure:
    """An AgoraError in the controller's terms (https://docs.agora.io/en/cloud-recording/rest-api/status-codes).

    Retryable (429, 5xx, 65, 62, transport) → ProviderUnavailable; 400/53 (another task holds
    cname+uid, e.g. our own previous session still exiting, https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices) → TaskConflict, retried;
    401 → AuthFailed; other 4xx → InvalidSpec.
    """
    if exc.retryable:
        return ProviderFailure("ProviderUnavailable", exc.summary, retryable=True)
    if exc.code == CODE_TASK_CONFLICT:
        return ProviderFailure("TaskConflict", exc.summary, retryable=True)
    if exc.http_status == 401:
        return ProviderFailure("AuthFailed", exc.summary, retryable=False)
    return ProviderFailure("InvalidSpec", exc.summary, retryable=False)


class AgoraSessions:
    """The `SessionDriver` for `provider: agora`."""

    provider = "agora"

    async def start(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """acquire (unless a start is pending) → persist resourceId + start-pending → start → sid."""
        try:
            await self._start(ctx, spec, obs.pending_resource_id if not obs.session_id else None)
        except AgoraError as exc:
            raise session_error(exc) from exc

    async def update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """Send the update/updateLayout calls the spec edits need, one at a time (https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices, https://docs.agora.io/en/cloud-recording/rest-api/update, https://docs.agora.io/en/cloud-recording/rest-api/update-layout)."""
        try:
            await self._update(ctx, spec, obs)
        except AgoraError as exc:
            raise session_error(exc) from exc

    async def observe(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        """query: providerStatus and files. A 404 is re-queried after `RECORDING_NOT_FOUND_CONFIRM`
        seconds (an HA migration answers 404 for up to 90 s, https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices) before the session counts as
        ended by the provider; status 20 (exited abnormally, https://docs.agora.io/en/cloud-recording/rest-api/query) → Failed."""
        try:
            await self._query(ctx, spec, obs)
        except AgoraError as exc:
            raise session_error(exc) from exc

    async def stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        """stop; 404 and 400/49 mean the session is already ending, 206/435 that it recorded nothing (https://docs.agora.io/en/cloud-recording/rest-api/stop)."""
        try:
            await self._stop(ctx, spec, obs, reason=reason, message=message)
        except AgoraError as exc:
            raise session_error(exc) from exc

    def abandon_pending(self, ctx: RecordingContext, obs: Observed) -> None:
        """A pending start (resourceId, no sid) cannot be stopped: say so and clear it."""
        ctx.remove_annotation(PENDING_ANNOTATION)
        ctx.event(
            "Warning",
            "CreationResultUnknown",
            f"a start with resource {obs.pending_resource_id} may have reached Agora without its sid being "
            "recorded; it cannot be stopped without one and ends when the channel is idle",
        )

    def wants_observation(self, obs: Observed, status: Mapping[str, Any]) -> bool:
        """Agora sessions are observed while they run; stop answers with the final file list."""
        return obs.active

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

    # --- steps -------------------------------------------------------------------------------------

    async def _start(self, ctx: RecordingContext, spec: CloudRecordingSpec, resource_id: str | None) -> None:
        agora = spec.agora
        assert agora is not None
        client = await self._client(ctx, spec)
        storage, storage_digest = await self._storage(ctx, spec)
        token = await self._token(ctx, spec)
        onhold = spec.state == "Paused"
        request = start_request(spec, storage, token, onhold=onhold)
        if resource_id is None:
            resource_id = await self._acquire(ctx, spec, client)
        try:
            started = await client.start(
                agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request
            )
        except AgoraError as exc:
            if exc.code == CODE_RESOURCE_EXPIRED:
                # 433: the resource expired before start (https://docs.agora.io/en/cloud-recording/rest-api/status-codes): it never started a session; re-acquire once.
                resource_id = await self._acquire(ctx, spec, client)
                started = await client.start(
                    agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request
                )
            elif exc.code == CODE_ALREADY_STARTED:
                if await adopted_meanwhile(ctx):
                    return  # a notice named this start's sid while its answer was lost (notices.py)
                ctx.remove_annotation(PENDING_ANNOTATION)
                raise ProviderFailure(
                    "CreationResultUnknown",
                    f"a start with resource {resource_id} reached Agora but its sid was never recorded "
                    "(operator interrupted); it is not started again. The session ends when the channel "
                    "is idle; change the spec to start a new one.",
                    retryable=False,
                    lost=True,
                ) from exc
            else:
                if not exc.retryable:
                    ctx.remove_annotation(PENDING_ANNOTATION)
                raise
        ctx.remove_annotation(PENDING_ANNOTATION)
        mark_started(
            ctx,
            phase="Paused" if onhold else "Recording",
            session={"resourceId": started.resource_id, "sid": started.sid},
            applied=applied_config(spec, storage_digest, onhold=onhold),
        )

    async def _acquire(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, client: CloudRecordingClient
    ) -> str:
        agora = spec.agora
        assert agora is not None
        acquired = await client.acquire(agora.appId, agora.channel, agora.uid, acquire_request(agora))
        pending = json.dumps({"resourceId": acquired.resource_id, "acquiredAt": rfc3339()})
        await ctx.runtime.kube.merge_patch(
            ctx.path, {"metadata": {"annotations": {PENDING_ANNOTATION: pending}}}
        )
        # The previous session (if any) is already in status.sessions; this one has no sid yet.
        ctx.status.set(phase="Starting", resourceId=acquired.resource_id, sid=None)
        return acquired.resource_id

    async def _update(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        storage, storage_digest = await self._storage(ctx, spec)
        updates = updates_needed(spec, obs.applied, storage, storage_digest)
        if not updates:
            return
        client = await self._client(ctx, spec)
        applied = dict(obs.applied)
        for update in updates:
            if update.endpoint == "updateLayout":
                await client.update_layout(
                    agora.appId, obs.resource_id, obs.sid, agora.channel, agora.uid, update.body
                )
            else:
                await client.update(
                    agora.appId, obs.resource_id, obs.sid, agora.mode, agora.channel, agora.uid, update.body
                )
            # Recorded per call, so a failure half-way does not resend what Agora already accepted.
            applied[update.applied_key] = update.applied_value
            ctx.status.set(applied=dict(applied))
        if "onhold" in applied:
            phase = "Paused" if applied["onhold"] else "Recording"
            ctx.status.set(phase=phase)
            ctx.condition("Ready", "True", phase, f"session {obs.sid} is {phase.lower()}")
        changed = ", ".join(dict.fromkeys(u.applied_key for u in updates))
        ctx.event("Normal", "Updated", f"session {obs.sid}: updated {changed}")

    async def _stop(
        self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed, *, reason: str, message: str
    ) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        client = await self._client(ctx, spec)
        uploading = None
        try:
            result = await client.stop(
                agora.appId, obs.resource_id, obs.sid, agora.mode, agora.channel, agora.uid
            )
            uploading = result.uploading_status
            if result.files:
                ctx.status.set(files=files_summary([f.file_name for f in result.files]))
                ctx.reported_files.extend(agora_files(spec.storage, result.files))
        except AgoraError as exc:
            if exc.code == CODE_NO_RECORDED_DATA:
                ctx.status.set(files={"count": 0})
                message += "; Agora recorded no data (nobody published)"
            elif exc.code in (CODE_ALREADY_EXITING, CODE_NOT_FOUND) or exc.http_status == 404:
                message += "; the session had already ended at Agora"
            else:
                raise
        mark_ended(ctx, reason, message, uploading=uploading)

    async def _query(self, ctx: RecordingContext, spec: CloudRecordingSpec, obs: Observed) -> None:
        agora = spec.agora
        assert agora is not None and obs.resource_id and obs.sid
        client = await self._client(ctx, spec)
        try:
            result = await client.query(agora.appId, obs.resource_id, obs.sid, agora.mode)
        except AgoraError as exc:
            if exc.http_status != 404:
                raise
            await asyncio.sleep(ctx.runtime.settings.not_found_confirm_s)
            try:
                result = await client.query(agora.appId, obs.resource_id, obs.sid, agora.mode)
            except AgoraError as again:
                if again.http_status != 404:
                    raise
                mark_ended(
                    ctx,
                    "ProviderEnded",
                    "Agora no longer knows the session (idle channel past maxIdleTime, maxRecordingHour, "
                    "or resourceExpiredHour)",
                )
                return
        ctx.status.set(providerStatus=result.status)
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
        synced = get_condition(ctx.status.get("conditions"), "Synced")
        if synced and synced.get("status") == "False" and synced.get("reason") == "ProviderUnavailable":
            ctx.condition("Synced", "True", "ReconcileSuccess", "the provider answers again")
