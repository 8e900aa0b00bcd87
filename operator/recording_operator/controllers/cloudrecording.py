"""kopf handlers for CloudRecording: thin glue between the API server, the decisions in
`cloudrecording_logic` and the Agora client.

Handlers:
- create / resume / spec update → `reconcile`: start, resume a pending start, update, or stop;
- a timer (`CLOUDRECORDING_TICK`) → `observe_session`: `query` every `CLOUDRECORDING_QUERY_INTERVAL`,
  provider-ended sessions, `maxDuration`;
- delete → `finalize`: stop the session unless `deletionPolicy: Orphan`.

Writes on a clean create: kopf's finalizer, the start-pending annotation (before `start`), then
status and kopf's diff-base annotation; nothing is written when nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from ..api import GROUP, VERSION, parse_duration
from ..api.cloudrecording import CloudRecordingSpec
from ..kube import KubeApiError, SecretNotFound
from ..metrics import SESSIONS, instrumented
from ..providers.agora import AgoraCredentials, AgoraError, CloudRecordingClient
from ..providers.agora.errors import (
    CODE_ALREADY_EXITING,
    CODE_ALREADY_STARTED,
    CODE_NO_RECORDED_DATA,
    CODE_NOT_FOUND,
    CODE_RESOURCE_EXPIRED,
    CODE_TASK_CONFLICT,
)
from ..providers.agora.tokens import TokenError, mint_rtc_token, recording_token_lifetime_s
from ..settings import Settings
from .backoff import backoff_delay
from .cloudrecording_logic import (
    PENDING_ANNOTATION,
    Observed,
    Plan,
    SpecError,
    StatusDraft,
    acquire_request,
    applied_config,
    closed_session,
    digest,
    files_summary,
    observe,
    plan,
    start_request,
    storage_config,
    updates_needed,
)
from .conditions import get_condition, now_rfc3339, set_condition
from .runtime import Runtime, runtime_of

RESOURCE = (GROUP, VERSION, "cloudrecordings")
KIND = "CloudRecording"


class Context:
    """One handler invocation: the resource, its draft status, and helpers to report outcomes."""

    def __init__(self, body: kopf.Body, patch: kopf.Patch, runtime: Runtime, logger: Any) -> None:
        self.body = body
        self.patch = patch
        self.runtime = runtime
        self.logger = logger
        self.meta = body.get("metadata", {})
        self.namespace: str = self.meta.get("namespace", "")
        self.name: str = self.meta.get("name", "")
        self.generation: int | None = self.meta.get("generation")
        self.status = StatusDraft(dict(body.get("status") or {}))

    @property
    def path(self) -> str:
        """API path of the resource, for our own metadata patches."""
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/cloudrecordings/{self.name}"

    def condition(self, type_: str, status: str, reason: str, message: str) -> None:
        """Draft a condition; written only if type/status/reason/message changed."""
        conditions = self.status.get("conditions")
        current = get_condition(conditions, type_)
        if (
            current
            and (current.get("status"), current.get("reason"), current.get("message"))
            == (
                status,
                reason,
                message,
            )
            and current.get("observedGeneration") == self.generation
        ):
            return
        self.status.set(conditions=set_condition(conditions, type_, status, reason, message, self.generation))

    def flush(self) -> None:
        """Put the drafted status changes into kopf's patch (applied when the handler returns)."""
        delta = self.status.delta()
        if delta:
            self.patch.setdefault("status", {}).update(delta)

    def event(self, type_: str, reason: str, message: str) -> None:
        """Post a Kubernetes Event on the resource (never with secret values)."""
        kopf.event(self.body, type=type_, reason=reason, message=message)


# --- credentials ---------------------------------------------------------------------------------


async def _agora_client(ctx: Context, spec: CloudRecordingSpec) -> CloudRecordingClient:
    secret = await ctx.runtime.kube.read_secret(ctx.namespace, spec.credentialsSecretRef.name)
    missing = [k for k in ("customerId", "customerSecret") if not secret.get(k)]
    if missing:
        raise SecretNotFound(
            f"Secret {ctx.namespace}/{spec.credentialsSecretRef.name} has no {' or '.join(missing)}"
        )
    return ctx.runtime.agora(AgoraCredentials(secret["customerId"], secret["customerSecret"]))


async def _storage(ctx: Context, spec: CloudRecordingSpec) -> tuple[dict[str, Any], str]:
    """Agora storageConfig and its digest (spec.storage + the Secret's resourceVersion, never values)."""
    ref = spec.storage.credentialsSecretRef
    assert ref is not None  # CRD rule: Agora storage needs credentialsSecretRef
    secret = await ctx.runtime.kube.read_secret(ctx.namespace, ref.name)
    config = storage_config(spec.storage, secret)
    return config, digest(
        [spec.storage.model_dump(), ctx.runtime.kube.secret_version(ctx.namespace, ref.name)]
    )


async def _token(ctx: Context, spec: CloudRecordingSpec) -> str | None:
    """The recorder's RTC token: read from `secretRef`, or minted from `appCertificateSecretRef`.

    A minted token is for `channel` + `uid`, join privilege only, valid `resourceExpiredHour` h + 10 min
    (providers/agora/tokens.py); it is only put in the start request, never stored or logged.

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


# --- failures ------------------------------------------------------------------------------------


def _report_failure(ctx: Context, reason: str, message: str) -> None:
    """Synced=False with the reason, and a Warning Event the first time this failure is seen.

    Retries of the same failure post no further Events (the API server would only aggregate them).
    """
    synced = get_condition(ctx.status.get("conditions"), "Synced")
    if not synced or (synced.get("status"), synced.get("reason"), synced.get("message")) != (
        "False",
        reason,
        message,
    ):
        ctx.event("Warning", reason, message)
    ctx.condition("Synced", "False", reason, message)


def _fail_retryable(ctx: Context, reason: str, message: str, retry: int) -> kopf.TemporaryError:
    settings = ctx.runtime.settings
    delay = backoff_delay(retry, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s)
    _report_failure(ctx, reason, message)
    ctx.flush()
    return kopf.TemporaryError(f"{reason}: {message} (retrying in {delay:.0f}s)", delay=delay)


def _fail_terminal(ctx: Context, reason: str, message: str, *, session_lost: bool) -> kopf.PermanentError:
    _report_failure(ctx, reason, message)
    if session_lost:
        ctx.status.set(phase="Failed")
        ctx.condition("Ready", "False", reason, message)
        ctx.condition("Recording", "False", reason, message)
    ctx.status.set(observedGeneration=ctx.generation)
    ctx.flush()
    return kopf.PermanentError(f"{reason}: {message}")


def _agora_reason(exc: AgoraError) -> str:
    if exc.retryable:
        return "ProviderUnavailable"
    if exc.http_status == 401:
        return "AuthFailed"
    if exc.code == CODE_TASK_CONFLICT:
        return "TaskConflict"
    return "InvalidSpec"


def _describe(exc: AgoraError) -> str:
    code = f" code {exc.code}" if exc.code is not None else ""
    return f"Agora {exc.endpoint}: HTTP {exc.http_status}{code}: {exc.reason}"


# --- reconcile -----------------------------------------------------------------------------------


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@instrumented(KIND, "reconcile")
async def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Bring the provider session to `spec.state` and the spec's configuration.

    Raises:
        kopf.TemporaryError: retryable failure (provider 429/5xx/65, timeouts, missing Secret,
            Agora 400/53 task conflict): retried with jittered backoff, `Synced=False`.
        kopf.PermanentError: terminal failure (invalid spec, auth, unknown start result):
            `Synced=False`, not retried until the spec changes.
    """
    ctx = Context(body, patch, runtime_of(memo), logger)
    try:
        spec = CloudRecordingSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        raise _fail_terminal(ctx, "InvalidSpec", _validation_message(exc), session_lost=False) from exc
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    step = plan(spec, obs, ctx.generation)
    logger.debug(f"plan: {step.value}")
    try:
        if step is Plan.START:
            await _start(ctx, spec, resource_id=None)
        elif step is Plan.RESUME_START:
            await _start(ctx, spec, resource_id=obs.pending_resource_id)
        elif step is Plan.UPDATE:
            await _update(ctx, spec, obs)
        elif step is Plan.STOP:
            await _stop(ctx, spec, reason="Requested", message="spec.state is Stopped")
        elif step is Plan.MARK_STOPPED:
            _mark_stopped_without_session(ctx, obs)
        if step is not Plan.NOTHING:
            ctx.condition("Synced", "True", "ReconcileSuccess", "the spec is in effect at the provider")
            ctx.status.set(observedGeneration=ctx.generation)
    except SpecError as exc:
        if exc.reason == "CredentialsNotFound":
            raise _fail_retryable(ctx, exc.reason, str(exc), retry) from exc
        raise _fail_terminal(ctx, exc.reason, str(exc), session_lost=not obs.active) from exc
    except SecretNotFound as exc:
        raise _fail_retryable(ctx, "CredentialsNotFound", str(exc), retry) from exc
    except KubeApiError as exc:
        raise _fail_retryable(ctx, "KubernetesUnavailable", str(exc), retry) from exc
    except AgoraError as exc:
        if exc.retryable:
            raise _fail_retryable(ctx, "ProviderUnavailable", _describe(exc), retry) from exc
        if exc.code == CODE_TASK_CONFLICT:
            # 400/53: another task holds cname+uid (§1.2): our own previous session still exiting,
            # or another recorder using this uid. Retried with backoff; Synced says which uid.
            raise _fail_retryable(
                ctx, "TaskConflict", f"{_describe(exc)} (uid {spec.agora and spec.agora.uid})", retry
            ) from exc
        raise _fail_terminal(ctx, _agora_reason(exc), _describe(exc), session_lost=not obs.active) from exc
    ctx.flush()


def _validation_message(exc: ValidationError) -> str:
    errors = exc.errors()[:5]
    return "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)


async def _start(ctx: Context, spec: CloudRecordingSpec, *, resource_id: str | None) -> None:
    """acquire (unless resuming a pending start) → persist resourceId + start-pending → start → sid.

    Agora lets one resourceId start one session only (§1.2), so retrying `start` with the pending
    resourceId can never create a second paid session: a duplicate answers 201/7.
    """
    agora = spec.agora
    assert agora is not None
    client = await _agora_client(ctx, spec)
    storage, storage_digest = await _storage(ctx, spec)
    token = await _token(ctx, spec)
    onhold = spec.state == "Paused"
    request = start_request(spec, storage, token, onhold=onhold)
    if resource_id is None:
        resource_id = await _acquire(ctx, spec, client)
    try:
        started = await client.start(agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request)
    except AgoraError as exc:
        if exc.code == CODE_RESOURCE_EXPIRED:
            # 433: the resource expired before start (§1.9): it never started a session; re-acquire once.
            resource_id = await _acquire(ctx, spec, client)
            started = await client.start(
                agora.appId, resource_id, agora.mode, agora.channel, agora.uid, request
            )
        elif exc.code == CODE_ALREADY_STARTED:
            _clear_pending(ctx)
            message = (
                f"a start with resource {resource_id} reached Agora but its sid was never recorded "
                "(operator interrupted); it is not started again. The session ends when the channel "
                "is idle; change the spec to start a new one."
            )
            raise _fail_terminal(ctx, "CreationResultUnknown", message, session_lost=True) from exc
        else:
            if not exc.retryable:
                _clear_pending(ctx)
            raise
    now = now_rfc3339()
    _clear_pending(ctx)
    phase = "Paused" if onhold else "Recording"
    ctx.status.set(
        phase=phase,
        resourceId=started.resource_id,
        sid=started.sid,
        startedAt=now,
        stoppedAt=None,
        stopReason=None,
        providerStatus=None,
        uploadingStatus=None,
        files={"count": 0},
        applied=applied_config(spec, storage_digest, onhold=onhold),
    )
    ctx.condition("Ready", "True", phase, f"session {started.sid} is {phase.lower()}")
    ctx.condition("Recording", "True", "Started", f"Agora accepted start of session {started.sid}")


def _clear_pending(ctx: Context) -> None:
    """Remove the start-pending annotation with kopf's patch (the start's outcome is known)."""
    ctx.patch.setdefault("metadata", {}).setdefault("annotations", {})[PENDING_ANNOTATION] = None


async def _acquire(ctx: Context, spec: CloudRecordingSpec, client: CloudRecordingClient) -> str:
    agora = spec.agora
    assert agora is not None
    acquired = await client.acquire(agora.appId, agora.channel, agora.uid, acquire_request(agora))
    pending = json.dumps({"resourceId": acquired.resource_id, "acquiredAt": now_rfc3339()})
    await ctx.runtime.kube.merge_patch(ctx.path, {"metadata": {"annotations": {PENDING_ANNOTATION: pending}}})
    # The previous session (if any) is already in status.sessions; this one has no sid yet.
    ctx.status.set(phase="Starting", resourceId=acquired.resource_id, sid=None)
    return acquired.resource_id


async def _update(ctx: Context, spec: CloudRecordingSpec, obs: Observed) -> None:
    """Send the update/updateLayout calls the spec edits need, one at a time (§1.2, §1.6, §1.7)."""
    agora = spec.agora
    assert agora is not None and obs.resource_id and obs.sid
    storage, storage_digest = await _storage(ctx, spec)
    updates = updates_needed(spec, obs.applied, storage, storage_digest)
    if not updates:
        return
    client = await _agora_client(ctx, spec)
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


async def _stop(ctx: Context, spec: CloudRecordingSpec, *, reason: str, message: str) -> None:
    """stop the session; 404 and 400/49 mean it is already ending, 206/435 that it recorded nothing (§1.8)."""
    agora = spec.agora
    status = ctx.status
    resource_id, sid = status.get("resourceId"), status.get("sid")
    assert agora is not None and resource_id and sid
    client = await _agora_client(ctx, spec)
    uploading = None
    try:
        result = await client.stop(agora.appId, resource_id, sid, agora.mode, agora.channel, agora.uid)
        uploading = result.uploading_status
        if result.files:
            status.set(files=files_summary([f.file_name for f in result.files]))
    except AgoraError as exc:
        if exc.code == CODE_NO_RECORDED_DATA:
            status.set(files={"count": 0})
            message += "; Agora recorded no data (nobody published)"
        elif exc.code in (CODE_ALREADY_EXITING, CODE_NOT_FOUND) or exc.http_status == 404:
            message += "; the session had already ended at Agora"
        else:
            raise
    _mark_session_ended(ctx, reason, message, uploading=uploading)


def _mark_session_ended(ctx: Context, reason: str, message: str, *, uploading: str | None = None) -> None:
    status = ctx.status
    now = now_rfc3339()
    merged = {**status.current, **status.fields}
    status.set(
        phase="Stopped",
        stoppedAt=now,
        stopReason=reason,
        uploadingStatus=uploading,
        sessions=closed_session(merged, stopped_at=now, reason=reason),
    )
    ctx.condition("Recording", "False", reason, message)
    ctx.condition("Ready", "True", "Stopped", f"session {status.get('sid')} stopped: {message}")
    ctx.event("Normal", "Stopped", f"session {status.get('sid')} stopped ({reason}): {message}")


def _mark_stopped_without_session(ctx: Context, obs: Observed) -> None:
    if obs.pending_resource_id:
        _clear_pending(ctx)
        ctx.event(
            "Warning",
            "CreationResultUnknown",
            f"a start with resource {obs.pending_resource_id} may have reached Agora without its sid being "
            "recorded; it cannot be stopped without one and ends when the channel is idle",
        )
    ctx.status.set(phase="Stopped")
    ctx.condition("Recording", "False", "Requested", "spec.state is Stopped")
    ctx.condition("Ready", "True", "Stopped", "no session is running, as requested")


# --- observation ---------------------------------------------------------------------------------


#: kopf needs the timer interval when the module is imported.
_TICK_S = Settings.from_env().tick_s


@kopf.timer(*RESOURCE, interval=_TICK_S, initial_delay=_TICK_S)
@instrumented(KIND, "observe_session")
async def observe_session(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Keep `providerStatus`, files and phase current; enforce `maxDuration`.

    Runs every `CLOUDRECORDING_TICK` seconds; calls `query` at most every
    `CLOUDRECORDING_QUERY_INTERVAL` seconds per session. A 404 is re-queried after
    `RECORDING_NOT_FOUND_CONFIRM` seconds (Agora HA migration answers 404 for up to 90 s, §1.2)
    before the session is reported as ended by the provider.
    """
    ctx = Context(body, patch, runtime_of(memo), logger)
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    if not obs.active or ctx.meta.get("deletionTimestamp"):
        return
    try:
        spec = CloudRecordingSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        return
    try:
        if _max_duration_reached(spec, ctx.status.current):
            await _stop(
                ctx, spec, reason="MaxDurationReached", message=f"maxDuration {spec.maxDuration} reached"
            )
        elif time.monotonic() - memo.get("last_query", 0.0) >= ctx.runtime.settings.query_interval_s:
            memo["last_query"] = time.monotonic()
            await _query(ctx, spec, obs)
    except (AgoraError, SecretNotFound, KubeApiError, SpecError) as exc:
        text = _describe(exc) if isinstance(exc, AgoraError) else str(exc)
        reason = "ProviderUnavailable" if isinstance(exc, AgoraError) else "CredentialsNotFound"
        _report_failure(ctx, reason, text)
        logger.warning(f"observing the session failed: {text}")
    ctx.flush()


def _max_duration_reached(spec: CloudRecordingSpec, status: Mapping[str, Any]) -> bool:
    if not spec.maxDuration or not status.get("startedAt"):
        return False
    started = datetime.strptime(status["startedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return datetime.now(UTC) - started >= parse_duration(spec.maxDuration)


async def _query(ctx: Context, spec: CloudRecordingSpec, obs: Observed) -> None:
    agora = spec.agora
    assert agora is not None and obs.resource_id and obs.sid
    client = await _agora_client(ctx, spec)
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
            _mark_session_ended(
                ctx,
                "ProviderEnded",
                "Agora no longer knows the session (idle channel past maxIdleTime, maxRecordingHour, "
                "or resourceExpiredHour)",
            )
            return
    ctx.status.set(providerStatus=result.status)
    if result.files:
        ctx.status.set(files=files_summary([f.file_name for f in result.files]))
    if result.status == 20:
        ctx.status.set(phase="Failed")
        ctx.condition(
            "Ready", "False", "ProviderFailed", "Agora reports the session exited abnormally (status 20)"
        )
        ctx.condition("Recording", "False", "ProviderFailed", "status 20: exited abnormally")
    elif obs.phase == "Starting":
        ctx.status.set(phase="Recording")
    synced = get_condition(ctx.status.get("conditions"), "Synced")
    if synced and synced.get("status") == "False" and synced.get("reason") in ("ProviderUnavailable",):
        ctx.condition("Synced", "True", "ReconcileSuccess", "the provider answers again")


@kopf.on.event(*RESOURCE)
async def track_session(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Feed `recording_operator_active_sessions` with every phase the watch shows (metrics only)."""
    meta = body.get("metadata", {})
    phase = None if type == "DELETED" else (body.get("status") or {}).get("phase", "")
    SESSIONS.observe(KIND, meta.get("namespace", ""), meta.get("name", ""), phase)


# --- deletion ------------------------------------------------------------------------------------


@kopf.on.delete(*RESOURCE)
@instrumented(KIND, "finalize")
async def finalize(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Stop the session before the resource goes, unless `deletionPolicy: Orphan`.

    Raises:
        kopf.TemporaryError: the stop could not be confirmed (provider unavailable, credentials
            missing): the finalizer stays and the stop is retried with backoff. Setting
            `deletionPolicy: Orphan` releases it.
    """
    ctx = Context(body, patch, runtime_of(memo), logger)
    spec_dict = dict(body.get("spec") or {})
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    if spec_dict.get("deletionPolicy") == "Orphan":
        if obs.active:
            ctx.event(
                "Normal", "Orphaned", f"deletionPolicy Orphan: session {obs.sid} is left running at Agora"
            )
        return
    if not obs.active:
        return
    try:
        spec = CloudRecordingSpec.model_validate(spec_dict)
        await _stop(ctx, spec, reason="Deleted", message="the resource is being deleted")
    except (SecretNotFound, KubeApiError, SpecError) as exc:
        ctx.event("Warning", "CredentialsNotFound", f"cannot stop session {obs.sid}: {exc}")
        raise kopf.TemporaryError(
            f"cannot stop session {obs.sid}: {exc}", delay=_delete_delay(ctx, retry)
        ) from exc
    except AgoraError as exc:
        ctx.event("Warning", _agora_reason(exc), f"cannot stop session {obs.sid}: {_describe(exc)}")
        raise kopf.TemporaryError(_describe(exc), delay=_delete_delay(ctx, retry)) from exc
    # The object is going away: the drafted status is not written, only the Event is posted.


def _delete_delay(ctx: Context, retry: int) -> float:
    s = ctx.runtime.settings
    return backoff_delay(retry, base_s=s.backoff_base_s, max_s=s.backoff_max_s)
