"""kopf handlers for CloudRecording: thin glue between the API server, the decisions in
`decide` and a provider's `SessionDriver` (`driver.py`).

Handlers:
- create / resume / spec update → `reconcile`: start, finish a pending start, update, or stop;
- a timer (`CLOUDRECORDING_TICK`) → `observe_session`: observe the session every
  `CLOUDRECORDING_QUERY_INTERVAL`, provider-ended sessions, `maxDuration`;
- delete → `finalize`: stop the session unless `deletionPolicy: Orphan`; then delete the
  recording's RecordedFiles and wait for their finalizers (Delete), or orphan them (Orphan).

The files the provider reports (query, stop, get) become RecordedFiles
(`recordedfile.publication.publish_files`).

Writes on a clean create: kopf's finalizer, the start-pending annotation (before `start`), then
status and kopf's diff-base annotation; nothing is written when nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION, parse_duration
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.controllers._kit.context import retry_delay
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.failures import HANDLED, fail, report
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.metrics import SESSIONS, instrumented
from recording_operator.controllers._kit.runtime import runtime_of
from recording_operator.controllers.cloudrecording.agora import AgoraSessions
from recording_operator.controllers.cloudrecording.decide import Observed, Plan, observe, plan
from recording_operator.controllers.cloudrecording.driver import RecordingContext, SessionDriver
from recording_operator.controllers.cloudrecording.notices import INDEX, query_interval
from recording_operator.controllers.cloudrecording.realtimekit import RealtimeKitSessions
from recording_operator.controllers.recordedfile.publication import (
    UNPUBLISHED_ANNOTATION,
    carried_records,
    carry_records,
    publish_files,
    release_files,
)
from recording_operator.settings import Settings

RESOURCE = (GROUP, VERSION, "cloudrecordings")
KIND = "CloudRecording"
#: Seconds between checks while a deleted recording waits for its RecordedFiles to go.
FILES_WAIT_S = 1.0

#: One driver per `spec.provider`.
DRIVERS: dict[str, SessionDriver] = {"agora": AgoraSessions(), "realtimekit": RealtimeKitSessions()}


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
        kopf.TemporaryError: retryable failure (provider 429/5xx, timeouts, missing Secret, Agora
            400/53 task conflict): retried with jittered backoff, `Synced=False`.
        kopf.PermanentError: terminal failure (invalid spec, auth, unknown start result):
            `Synced=False`, not retried until the spec changes.
    """
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    INDEX.observe("MODIFIED", body)  # notices of a session about to start find this recording
    try:
        spec = CloudRecordingSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        raise fail(ctx, exc, retry, lost=False) from exc
    driver = DRIVERS[spec.provider]
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    step = plan(spec, obs, ctx.generation)
    logger.debug(f"plan: {step.value}")
    try:
        if step in (Plan.START, Plan.RESUME_START):
            await driver.start(ctx, spec, obs)
        elif step is Plan.UPDATE:
            await driver.update(ctx, spec, obs)
        elif step is Plan.STOP:
            await driver.stop(ctx, spec, obs, reason="Requested", message="spec.state is Stopped")
        elif step is Plan.MARK_STOPPED:
            _mark_stopped_without_session(ctx, driver, obs)
        await _publish(ctx, spec)
        if step is not Plan.NOTHING:
            ctx.condition("Synced", "True", "ReconcileSuccess", "the spec is in effect at the provider")
            ctx.status.set(observedGeneration=ctx.generation)
    except HANDLED as exc:
        raise fail(ctx, exc, retry, lost=not obs.active) from exc
    ctx.flush()


async def _publish(ctx: RecordingContext, spec: CloudRecordingSpec) -> None:
    """Create RecordedFiles for the files reported during this invocation and those an earlier
    invocation could not create (`UNPUBLISHED_ANNOTATION`).

    Raises:
        KubeApiError: a create failed; the records are kept in the annotation (written with the
            same patch as the status) for the next invocation.
    """
    carried = carried_records(ctx.meta.get("annotations"))
    records = [*carried, *ctx.reported_files]
    if not records:
        return
    delete_after = spec.retention.deleteAfter if spec.retention else None
    try:
        await publish_files(ctx, KIND, spec.storage, records, delete_after)
    except KubeApiError:
        ctx.annotate(UNPUBLISHED_ANNOTATION, carry_records(records))
        raise
    if carried:
        ctx.remove_annotation(UNPUBLISHED_ANNOTATION)


def _mark_stopped_without_session(ctx: RecordingContext, driver: SessionDriver, obs: Observed) -> None:
    if obs.pending:
        driver.abandon_pending(ctx, obs)
    ctx.status.set(phase="Stopped")
    ctx.condition("Recording", "False", "Requested", "spec.state is Stopped")
    ctx.condition("Ready", "True", "Stopped", "no session is running, as requested")


# --- observation ---------------------------------------------------------------------------------


#: kopf needs the timer interval when the module is imported.
_TICK_S = Settings.from_env().tick_s


@kopf.timer(*RESOURCE, interval=_TICK_S, initial_delay=_TICK_S)
@instrumented(KIND, "observe_session")
async def observe_session(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Keep provider status, files and phase current; enforce `maxDuration`.

    Runs every `CLOUDRECORDING_TICK` seconds; observes each session at most every
    `CLOUDRECORDING_QUERY_INTERVAL` seconds. Failures set `Synced=False` and are tried again at
    the next interval.
    """
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    if not obs.session_id or ctx.meta.get("deletionTimestamp"):
        return
    try:
        spec = CloudRecordingSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        return
    driver = DRIVERS[spec.provider]
    if not driver.wants_observation(obs, ctx.status.current):
        return
    try:
        if obs.active and _max_duration_reached(spec, ctx.status.current):
            message = f"maxDuration {spec.maxDuration} reached"
            await driver.stop(ctx, spec, obs, reason="MaxDurationReached", message=message)
        elif time.monotonic() - memo.get("last_query", 0.0) >= query_interval(
            ctx.runtime.settings, ctx.namespace, ctx.name
        ):
            memo["last_query"] = time.monotonic()
            await driver.observe(ctx, spec, obs)
        await _publish(ctx, spec)
    except HANDLED as exc:
        failure = report(ctx, exc)
        logger.warning(f"observing the session failed: {failure.message}")
    ctx.flush()


def _max_duration_reached(spec: CloudRecordingSpec, status: Mapping[str, Any]) -> bool:
    if not spec.maxDuration or not status.get("startedAt"):
        return False
    started = datetime.strptime(status["startedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return datetime.now(UTC) - started >= parse_duration(spec.maxDuration)


@kopf.on.event(*RESOURCE)
async def track_session(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Feed `recording_operator_active_sessions` with every phase the watch shows, and the index
    that finds the recording a provider notice concerns (`notices.INDEX`)."""
    meta = body.get("metadata", {})
    INDEX.observe(type, body)
    phase = None if type == "DELETED" else (body.get("status") or {}).get("phase", "")
    SESSIONS.observe(KIND, meta.get("namespace", ""), meta.get("name", ""), phase)


# --- deletion ------------------------------------------------------------------------------------


@kopf.on.delete(*RESOURCE)
@instrumented(KIND, "finalize")
async def finalize(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Stop the session and delete the recorded files before the resource goes, unless
    `deletionPolicy: Orphan` (the session keeps running; RecordedFiles lose this owner and stay,
    with their stored data).

    With Delete: the session is stopped (its final file list becomes RecordedFiles), then every
    RecordedFile of this recording is deleted (their finalizers delete the stored objects) and this
    finalizer is released only once all of them are gone.

    Raises:
        kopf.TemporaryError: the stop could not be confirmed (provider unavailable, credentials
            missing), or RecordedFiles are still being deleted: the finalizer stays and this is
            retried. Setting `deletionPolicy: Orphan` releases it.
    """
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    spec_dict = dict(body.get("spec") or {})
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    if spec_dict.get("deletionPolicy") == "Orphan":
        if obs.active:
            ctx.event(
                "Normal", "Orphaned", f"deletionPolicy Orphan: session {obs.session_id} is left running"
            )
        try:
            await release_files(ctx, KIND, "Orphan")
        except KubeApiError as exc:
            raise kopf.TemporaryError(
                f"orphaning the RecordedFiles: {exc}", delay=retry_delay(ctx, retry)
            ) from exc
        return
    try:
        spec = CloudRecordingSpec.model_validate(spec_dict)
    except ValidationError:
        spec = None
    if obs.active and spec is not None:
        try:
            await DRIVERS[spec.provider].stop(
                ctx, spec, obs, reason="Deleted", message="the resource is being deleted"
            )
        except (SecretNotFound, KubeApiError, SpecError) as exc:
            ctx.event("Warning", "CredentialsNotFound", f"cannot stop session {obs.session_id}: {exc}")
            raise kopf.TemporaryError(
                f"cannot stop session {obs.session_id}: {exc}", delay=retry_delay(ctx, retry)
            ) from exc
        except ProviderFailure as exc:
            ctx.event("Warning", exc.reason, f"cannot stop session {obs.session_id}: {exc.message}")
            raise kopf.TemporaryError(exc.message, delay=retry_delay(ctx, retry)) from exc
    try:
        if spec is not None:
            await _publish(ctx, spec)
        remaining = await release_files(ctx, KIND, "Delete")
    except KubeApiError as exc:
        ctx.flush()
        raise kopf.TemporaryError(
            f"deleting the RecordedFiles: {exc}", delay=retry_delay(ctx, retry)
        ) from exc
    if remaining:
        # Written so a retry does not stop the session again; the object stays until the files are gone.
        ctx.flush()
        raise kopf.TemporaryError(f"waiting for {remaining} RecordedFiles to be deleted", delay=FILES_WAIT_S)
    # The object is going away: the drafted status is not written, only the Events are posted.
