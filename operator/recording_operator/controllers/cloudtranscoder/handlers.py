"""kopf handlers for CloudTranscoder: thin glue between the API server, `decide` and
the Agora Cloud Transcoder client (https://docs.agora.io/en/cloud-transcoding/get-started/rest-quickstart).

Handlers:
- create / resume / spec update → `reconcile`: acquire a builderToken + create the task, resume a
  create whose answer was lost, or send one update with the next `sequenceId`;
- a timer (`CLOUDTRANSCODER_TICK`) → `observe_task`: `query` every `CLOUDTRANSCODER_QUERY_INTERVAL`
  (phase, serviceStatus, Ready), provider-side destruction → phase `Exited`, `maxDuration`, and
  `restartPolicy: OnExit`;
- delete → `finalize`: delete the task (404 counts as done) unless `deletionPolicy: Orphan`.

Written before each provider call that could leave something behind: the builderToken before
`create` (a lost create is repeated with it and Agora answers 201 with the task) and the next
`sequenceId` with the config digest before `update` (a restart re-sends the same sequenceId).
Status is written only when it changed. Tokens are resolved per call and never stored or logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION, parse_duration
from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.cloudtranscoder import CloudTranscoderSpec
from recording_operator.controllers._kit.backoff import backoff_delay
from recording_operator.controllers._kit.conditions import get_condition
from recording_operator.controllers._kit.context import Context as _BaseContext
from recording_operator.controllers._kit.context import validation_message
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.failures import HANDLED, fail, report
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.metrics import STATUS_AGES, instrumented
from recording_operator.controllers._kit.recovery import RESTART_HANDLED_AT, pending_restart
from recording_operator.controllers._kit.runtime import runtime_of
from recording_operator.controllers._kit.shard import SHARD_LABELS
from recording_operator.controllers._kit.timers import writes_own_patch
from recording_operator.controllers.cloudtranscoder.decide import (
    Observed,
    Plan,
    budget_route,
    config_digest,
    first_create_route,
    instance_id_of,
    max_lifetime_s,
    next_sequence_id,
    observe,
    phase_of,
    plan,
    ready_condition,
    token_needs,
    transcoder_config,
)
from recording_operator.controllers.cloudtranscoder.notices import mark_exited
from recording_operator.providers.agora import AgoraError
from recording_operator.providers.agora.tokens import TOKEN_MAX_LIFETIME_S, TokenError, mint_rtc_token
from recording_operator.providers.agora.transcoder import START_DEADLINE_S, CloudTranscoderClient, TaskInfo
from recording_operator.settings import Settings

RESOURCE = (GROUP, VERSION, "cloudtranscoders")
KIND = "CloudTranscoder"


class Context(_BaseContext):
    """One handler invocation on a CloudTranscoder (see `context.Context`)."""

    plural = "cloudtranscoders"


# --- inputs --------------------------------------------------------------------------------------


async def _client(ctx: Context, spec: CloudTranscoderSpec) -> CloudTranscoderClient:
    credentials = await ctx.runtime.agora_credentials(ctx.namespace, spec.credentialsSecretRef.name)
    return ctx.runtime.transcoder(credentials)


@dataclass(frozen=True)
class Desired:
    """The config the spec asks for: the Agora body (with tokens, never logged) and its digest (without)."""

    spec: CloudTranscoderSpec
    config: dict[str, Any] = field(repr=False)
    digest: str


async def _desired(ctx: Context, spec: CloudTranscoderSpec) -> Desired:
    """Resolve every RTC token (Secret or minted) and build the config (https://docs.agora.io/en/cloud-transcoding/rest-api/create).

    Minted tokens: AccessToken2 for 24 h (the maximum), uid 0 and join only for inputs, the output
    `rtcUid` with publish privileges (https://docs.agora.io/en/cloud-transcoding/rest-api/create); the task is ended before they expire (`max_lifetime_s`).

    Raises:
        SecretNotFound: a Secret or key is missing. SpecError: a token cannot be minted (InvalidSpec).
    """
    kube = ctx.runtime.kube
    tokens: dict[tuple[str, int], str] = {}
    versions: dict[str, str | None] = {}
    for need in token_needs(spec):
        ref = need.source.secretRef or need.source.appCertificateSecretRef
        assert ref is not None  # CRD rule: exactly one of them
        value = await kube.read_secret_key(ctx.namespace, ref.name, ref.key)
        versions[ref.name] = kube.secret_version(ctx.namespace, ref.name)
        if need.source.secretRef is not None:
            tokens[need.location] = value
            continue
        try:
            tokens[need.location] = mint_rtc_token(
                spec.appId,
                value,
                need.channel,
                need.uid,
                lifetime_s=TOKEN_MAX_LIFETIME_S,
                publisher=need.publisher,
            )
        except TokenError as exc:
            raise SpecError(
                "InvalidSpec", f"cannot mint the RTC token for {need.location[0]}: {exc}"
            ) from None
    return Desired(spec, transcoder_config(spec, tokens), config_digest(spec, versions))


def _parse_spec(ctx: Context, body: kopf.Body, retry: int) -> CloudTranscoderSpec:
    try:
        return CloudTranscoderSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        raise fail(ctx, exc, retry, lost=False) from exc


def _provider_failure(exc: AgoraError, spec: CloudTranscoderSpec, ctx: Context) -> ProviderFailure:
    """An Agora Cloud Transcoder error in the controller's terms.

    202 without a taskId (accepted, not executed) → CreateAccepted, retried with the same
    builderToken; retryable errors (206, 429, 5xx, timeouts) → ProviderUnavailable; 409 (the instanceId is held by
    another task) → TaskConflict, retried; 401/403 → AuthFailed; any other 4xx → InvalidSpec.
    Source: https://docs.agora.io/en/cloud-transcoding/reference/status-codes
    """
    if exc.http_status == 202:
        return ProviderFailure(
            "CreateAccepted",
            f"{exc.summary}; the create is sent again with the same builderToken until Agora answers with the task",
            retryable=True,
        )
    if exc.retryable:
        return ProviderFailure("ProviderUnavailable", exc.summary, retryable=True)
    if exc.http_status == 409:
        message = (
            f"{exc.summary}: another task holds instanceId {instance_id_of(spec, ctx.namespace, ctx.name)}"
            " (delete it, or set spec.instanceId)"
        )
        return ProviderFailure("TaskConflict", message, retryable=True)
    reason = "AuthFailed" if exc.http_status in (401, 403) else "InvalidSpec"
    return ProviderFailure(reason, exc.summary, retryable=False)


# --- reconcile -----------------------------------------------------------------------------------


@kopf.on.resume(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.create(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.update(*RESOURCE, field="spec", labels=SHARD_LABELS)
@instrumented(KIND, "reconcile")
async def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Create the task, or bring a running one to the spec with one update; a new transcoder's
    first create waits its turn at its account's budget first (`first_create_route`).

    Raises:
        kopf.TemporaryError: retryable failure (https://docs.agora.io/en/cloud-transcoding/reference/status-codes: 206, 429, 5xx, timeouts; a missing Secret;
            409 instanceId in use): retried with jittered backoff, `Synced=False`.
        kopf.PermanentError: terminal failure (400 invalid config, 401/403): `Synced=False`, not
            retried until the spec changes.
    """
    async with runtime_of(memo).budget.admission(first_create_route(body)):
        await _reconcile(body, patch, memo, retry, logger)


async def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any) -> None:
    ctx = Context(body, patch, runtime_of(memo), logger)
    spec = _parse_spec(ctx, body, retry)
    obs = observe(ctx.status.current)
    try:
        desired = await _desired(ctx, spec)
        step = plan(obs, ctx.generation, desired.digest)
        if step is Plan.CREATE:
            # A new task is planned on what the API server holds when kopf's body is older (a
            # persisted builderToken or taskId it has not seen): see `Context.server_body`.
            fresh = await ctx.on_server_state()
            if fresh is None:
                return
            if fresh is not ctx:
                ctx = fresh
                spec = _parse_spec(ctx, ctx.body, retry)
                obs = observe(ctx.status.current)
                desired = await _desired(ctx, spec)
                step = plan(obs, ctx.generation, desired.digest)
        logger.debug(f"plan: {step.value}")
        if step is Plan.CREATE:
            await _create(ctx, desired, obs, resume=False)
        elif step is Plan.RESUME_CREATE:
            await _create(ctx, desired, obs, resume=True)
        elif step is Plan.UPDATE:
            await _update(ctx, desired, obs)
        if step is not Plan.NOTHING:
            ctx.condition("Synced", "True", "ReconcileSuccess", "the spec is in effect at Agora")
            ctx.status.set(observedGeneration=ctx.generation)
    except AgoraError as exc:
        raise fail(ctx, _provider_failure(exc, spec, ctx), retry, lost=not obs.live) from exc
    except HANDLED as exc:
        raise fail(ctx, exc, retry, lost=not obs.live) from exc
    ctx.flush()


async def _create(ctx: Context, desired: Desired, obs: Observed, *, resume: bool) -> None:
    """builderTokens → persist the token → create → persist taskId (https://docs.agora.io/en/cloud-transcoding/rest-api/acquire, https://docs.agora.io/en/cloud-transcoding/rest-api/create).

    With `resume`, the persisted token is used again: if the lost create did reach Agora, it
    answers 201 with that task (adopted, then updated to the current spec, since the lost create
    may have carried an older one); an expired token that never created anything answers 400 and
    a fresh one is acquired. A create is sent once per call (a timeout is not repeated in-call):
    the next reconcile resumes it with the persisted token.
    """
    spec = desired.spec
    client = await _client(ctx, spec)
    instance_id = instance_id_of(spec, ctx.namespace, ctx.name)
    token = obs.builder_token if resume else None
    info: TaskInfo | None = None
    if token is not None:
        try:
            info = await client.create(spec.appId, token, desired.config)
        except AgoraError as exc:
            if exc.http_status != 400:
                raise
            ctx.logger.info("the persisted builderToken no longer creates a task; acquiring a new one")
    if info is None:
        acquired = await client.acquire(spec.appId, instance_id, desired.config)
        await ctx.persist(
            phase="Creating",
            instanceId=instance_id,
            builderToken=acquired.token_name,
            builderTokenCreateTs=acquired.create_ts or int(time.time()),
            taskId=None,
            sequenceId=None,
            configDigest=None,
            pendingDigest=None,
        )
        info = await client.create(spec.appId, acquired.token_name, desired.config)
    # The taskId reaches the API server at once: a crash before kopf's status patch loses nothing.
    await ctx.persist(taskId=info.task_id)
    # A task counts once: a resumed create answering with the task of a create whose answer was lost
    # (or was a 202 without it) counts it now, since nothing counted it before.
    tasks = int(ctx.status.get("tasks") or 0) + (0 if info.task_id == obs.task_id else 1)
    ctx.status.set(
        phase=phase_of(info.status),
        serviceStatus=info.service_status,
        message=info.message,
        instanceId=instance_id,
        taskId=info.task_id,
        createTs=info.create_ts,
        createdAt=rfc3339(),
        sequenceId=info.sequence_id or 0,
        configDigest=None if info.already_running else desired.digest,
        pendingDigest=None,
        exitedAt=None,
        exitReason=None,
        tasks=tasks,
    )
    ctx.condition("Ready", *ready_condition(info.status, info.task_id))
    verb = "adopted (its create answer had been lost)" if info.already_running else "created"
    ctx.event("Normal", "Created", f"task {info.task_id} {verb} for instanceId {instance_id}")
    if info.already_running:
        await _update(ctx, desired, observe({**ctx.status.current, **ctx.status.fields}))


async def _update(ctx: Context, desired: Desired, obs: Observed) -> None:
    """One PATCH with the whole config and the next sequenceId, persisted before the call (https://docs.agora.io/en/cloud-transcoding/rest-api/update).

    A task Agora no longer knows (404) is reported Exited and, the spec having changed, created anew.
    """
    if obs.pending_digest is None and obs.config_digest == desired.digest:
        return
    assert obs.task_id and obs.builder_token
    spec = desired.spec
    client = await _client(ctx, spec)
    sequence_id = next_sequence_id(obs, desired.digest)
    await ctx.persist(sequenceId=sequence_id, pendingDigest=desired.digest)
    try:
        await client.update(spec.appId, obs.task_id, obs.builder_token, sequence_id, desired.config)
    except AgoraError as exc:
        if exc.http_status != 404:
            raise
        mark_exited(ctx, "ProviderEnded", f"Agora no longer knows task {obs.task_id} (update answered 404)")
        await _create(ctx, desired, observe({**ctx.status.current, **ctx.status.fields}), resume=False)
        return
    ctx.status.set(configDigest=desired.digest, pendingDigest=None)
    ctx.event("Normal", "Updated", f"task {obs.task_id}: config updated with sequenceId {sequence_id}")


# --- observation ---------------------------------------------------------------------------------

#: kopf needs the timer interval when the module is imported.
_TICK_S = Settings.from_env().transcoder_tick_s


@kopf.timer(*RESOURCE, interval=_TICK_S, initial_delay=_TICK_S, labels=SHARD_LABELS)
@instrumented(KIND, "observe_task")
@writes_own_patch
async def observe_task(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Keep `phase`, `serviceStatus` and Ready current; end tasks past their lifetime; restart on exit.

    Every `CLOUDTRANSCODER_TICK` s; `query` at most every `CLOUDTRANSCODER_QUERY_INTERVAL` s per task
    (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits: about every 2 min, below idleTimeout). A 404 is re-queried after
    `RECORDING_NOT_FOUND_CONFIRM` s (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits: confirm 404s) before the task is reported Exited with
    reason ProviderEnded (Agora destroys a task idle past idleTimeout, https://docs.agora.io/en/cloud-transcoding/rest-api/create). With `restartPolicy:
    OnExit` an exited task is followed by a new one at the next tick.
    """
    ctx = Context(body, patch, runtime_of(memo), logger)
    if ctx.meta.get("deletionTimestamp"):
        ctx.runtime.query_forget((KIND, ctx.namespace, ctx.name))
        STATUS_AGES.forget(KIND, ctx.namespace, ctx.name)
        return
    obs = observe(ctx.status.current)
    try:
        spec = CloudTranscoderSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        return
    session = (KIND, ctx.namespace, ctx.name)
    scope, key = budget_route(body)
    if obs.live:
        STATUS_AGES.tracking(*session)
    else:
        ctx.runtime.query_forget(session)
        STATUS_AGES.forget(*session)
    try:
        if await _restart_if_requested(ctx, spec, obs):
            ctx.flush()
            return
        if obs.live:
            limit = max_lifetime_s(
                spec, parse_duration(spec.maxDuration).total_seconds() if spec.maxDuration else None
            )
            if limit is not None and _age_s(ctx.status.get("createdAt")) >= limit:
                await _delete(ctx, spec, obs)
                mark_exited(ctx, "MaxDurationReached", f"task {obs.task_id} ended after {limit:.0f} s")
            elif ctx.runtime.query_due(session, scope, key, ctx.runtime.settings.transcoder_query_interval_s):
                try:
                    await _query(ctx, spec, obs)
                finally:
                    ctx.runtime.query_made(session, scope, key, per_key=False)
                STATUS_AGES.observed(*session)
        elif (
            obs.phase == "Exited"
            and spec.restartPolicy == "OnExit"
            and obs.exit_reason in ("ProviderEnded", "MaxDurationReached")
        ):
            desired = await _desired(ctx, spec)
            await _create(ctx, desired, obs, resume=False)
            ctx.condition("Synced", "True", "ReconcileSuccess", "restarted after exit (restartPolicy OnExit)")
    except (AgoraError, *HANDLED) as exc:
        failure = report(ctx, _provider_failure(exc, spec, ctx) if isinstance(exc, AgoraError) else exc)
        logger.warning(f"observing the task failed: {failure.message}")
    ctx.flush()


#: Reason of a task replaced at the user's request (`recording.mediaops.io/restart-requested-at`).
RESTART_REQUESTED = "RestartRequested"


async def _restart_if_requested(ctx: Context, spec: CloudTranscoderSpec, obs: Observed) -> bool:
    """Handle a new `recording.mediaops.io/restart-requested-at` value: delete the task (when one
    runs) and create a new one for the current spec, then mark the value handled
    (`restart-handled-at`). Nothing is done while a create is pending (its builderToken is resumed
    first) or before the first task. Delete comes before create, so a crash in between leads to one
    more restart at the next tick, never to two tasks.

    Returns:
        True when a restart was carried out in this tick.

    Raises:
        AgoraError: delete or create failed (the request stays pending and is retried next tick).
    """
    requested = pending_restart(ctx.meta.get("annotations"))
    if requested is None or obs.creation_pending or not obs.task_id:
        return False
    if obs.live:
        await _delete(ctx, spec, obs)
        await ctx.persist(
            phase="Exited", exitedAt=rfc3339(), exitReason=RESTART_REQUESTED, serviceStatus=None
        )
    desired = await _desired(ctx, spec)
    await _create(ctx, desired, obs, resume=False)
    ctx.annotate(RESTART_HANDLED_AT, requested)
    message = f"task {obs.task_id} replaced by a new task as requested (restart-requested-at {requested})"
    ctx.event("Normal", RESTART_REQUESTED, message)
    ctx.condition("Synced", "True", "ReconcileSuccess", message)
    return True


async def _confirm_not_found(
    ctx: Context, client: CloudTranscoderClient, spec: CloudTranscoderSpec, obs: Observed
) -> TaskInfo | None:
    """After a 404 for a task whose create succeeded, query again after `RECORDING_NOT_FOUND_CONFIRM`
    × 1, 2, 3 s (5, 10, 15 s by default): Agora asks to confirm a 404 with backoff before concluding
    the transcoder is gone (https://docs.agora.io/en/cloud-transcoding/reference/status-codes).

    Returns:
        The task's answer when it answers again, or None after three more 404s.

    Raises:
        AgoraError: a confirmation query failed otherwise.
    """
    assert obs.task_id and obs.builder_token
    base_s = ctx.runtime.settings.not_found_confirm_s
    for step in (1, 2, 3):
        await asyncio.sleep(base_s * step)
        try:
            return await client.query(spec.appId, obs.task_id, obs.builder_token)
        except AgoraError as exc:
            if exc.http_status != 404:
                raise
    return None


def _age_s(created_at: str | None) -> float:
    if not created_at:
        return 0.0
    started = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds()


async def _query(ctx: Context, spec: CloudTranscoderSpec, obs: Observed) -> None:
    assert obs.task_id and obs.builder_token
    client = await _client(ctx, spec)
    try:
        info = await client.query(spec.appId, obs.task_id, obs.builder_token)
    except AgoraError as exc:
        if exc.http_status != 404:
            raise
        found = await _confirm_not_found(ctx, client, spec, obs)
        if found is None:
            mark_exited(
                ctx,
                "ProviderEnded",
                f"Agora no longer knows task {obs.task_id} (destroyed after idleTimeout {spec.idleTimeout} s "
                "without input users, or deleted outside the operator)",
            )
            return
        info = found
    ctx.status.set(phase=phase_of(info.status), serviceStatus=info.service_status, message=info.message)
    status, reason, message = ready_condition(info.status, obs.task_id)
    if not info.started and status == "False" and _age_s(ctx.status.get("createdAt")) > START_DEADLINE_S:
        reason, message = (
            "StartTimedOut",
            f"task {obs.task_id} not running {START_DEADLINE_S:.0f} s after create (https://docs.agora.io/en/cloud-transcoding/rest-api/query)",
        )
    ctx.condition("Ready", status, reason, message)
    synced = get_condition(ctx.status.get("conditions"), "Synced")
    if synced and synced.get("status") == "False" and synced.get("reason") == "ProviderUnavailable":
        ctx.condition("Synced", "True", "ReconcileSuccess", "Agora answers again")


async def _delete(ctx: Context, spec: CloudTranscoderSpec, obs: Observed) -> None:
    """Delete the task (https://docs.agora.io/en/cloud-transcoding/rest-api/destroy); 404 means it is already gone, which is what was asked."""
    assert obs.task_id and obs.builder_token
    client = await _client(ctx, spec)
    try:
        await client.delete(spec.appId, obs.task_id, obs.builder_token)
    except AgoraError as exc:
        if exc.http_status != 404:
            raise


# --- deletion ------------------------------------------------------------------------------------


async def _adopt_for_delete(ctx: Context, spec_dict: dict[str, Any], obs: Observed, delay: float) -> Observed:
    """Deleted while Creating: create again with the persisted builderToken, which answers with the
    task a lost create started (201) or starts it now, so that it can be deleted; a token that
    creates nothing (400: expired, unknown) means nothing runs
    (https://docs.agora.io/en/cloud-transcoding/rest-api/create,
    https://docs.agora.io/en/cloud-transcoding/reference/status-codes).

    Returns:
        The observation to finish with: with the task (persisted to status), or unchanged.

    Raises:
        kopf.TemporaryError: Agora or the credentials are unavailable (retried with backoff).
    """
    try:
        spec = CloudTranscoderSpec.model_validate(spec_dict)
        desired = await _desired(ctx, spec)
        client = await _client(ctx, spec)
        assert obs.builder_token
        info = await client.create(spec.appId, obs.builder_token, desired.config)
        await ctx.persist(taskId=info.task_id, phase=phase_of(info.status))
    except ValidationError as exc:
        ctx.event(
            "Warning",
            "CreationResultUnknown",
            f"deleted while creating with an invalid spec ({validation_message(exc)}): a task for "
            f"instanceId {ctx.status.get('instanceId')} may still run until its idleTimeout",
        )
        return obs
    except (SecretNotFound, KubeApiError, SpecError) as exc:
        ctx.event("Warning", "CredentialsNotFound", f"cannot settle the pending create: {exc}")
        raise kopf.TemporaryError(f"cannot settle the pending create: {exc}", delay=delay) from exc
    except AgoraError as exc:
        if exc.http_status == 400:
            ctx.logger.info("the persisted builderToken creates no task: nothing runs at Agora")
            return obs
        if exc.retryable:
            raise kopf.TemporaryError(exc.summary, delay=delay) from exc
        ctx.event(
            "Warning",
            "CreationResultUnknown",
            f"deleted while creating: the create with the persisted builderToken answered {exc.summary}; "
            f"a task for instanceId {ctx.status.get('instanceId')} may still run until its idleTimeout",
        )
        return obs
    return observe({**ctx.status.current, **ctx.status.fields})


@kopf.on.delete(*RESOURCE, labels=SHARD_LABELS)
@instrumented(KIND, "finalize")
async def finalize(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Delete the task before the resource goes, unless `deletionPolicy: Orphan`.

    Raises:
        kopf.TemporaryError: the delete could not be confirmed (Agora unavailable, credentials
            missing): the finalizer stays and the delete is retried with backoff. Setting
            `deletionPolicy: Orphan` releases it.
    """
    ctx = Context(body, patch, runtime_of(memo), logger)
    obs = observe(ctx.status.current)
    settings = ctx.runtime.settings
    delay = backoff_delay(retry, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s)
    if not obs.live and not obs.creation_pending:
        # Nothing to delete in kopf's body: the finalizer lets go only if the API server agrees.
        try:
            fresh = await ctx.on_server_state()
        except KubeApiError as exc:
            raise kopf.TemporaryError(f"reading the transcoder: {exc}", delay=delay) from exc
        if fresh is None:
            return
        if fresh is not ctx:
            ctx = fresh
            obs = observe(ctx.status.current)
    spec_dict = dict(ctx.body.get("spec") or {})
    if spec_dict.get("deletionPolicy") == "Orphan":
        if obs.live:
            ctx.event(
                "Normal", "Orphaned", f"deletionPolicy Orphan: task {obs.task_id} is left running at Agora"
            )
        return
    if obs.creation_pending:
        obs = await _adopt_for_delete(ctx, spec_dict, obs, delay)
    if not obs.live:
        return
    try:
        spec = CloudTranscoderSpec.model_validate(spec_dict)
        await _delete(ctx, spec, obs)
    except (SecretNotFound, KubeApiError) as exc:
        ctx.event("Warning", "CredentialsNotFound", f"cannot delete task {obs.task_id}: {exc}")
        raise kopf.TemporaryError(f"cannot delete task {obs.task_id}: {exc}", delay=delay) from exc
    except AgoraError as exc:
        reason = _provider_failure(exc, spec, ctx).reason
        ctx.event("Warning", reason, f"cannot delete task {obs.task_id}: {exc.summary}")
        raise kopf.TemporaryError(exc.summary, delay=delay) from exc
    ctx.event("Normal", "Deleted", f"task {obs.task_id} deleted at Agora")
