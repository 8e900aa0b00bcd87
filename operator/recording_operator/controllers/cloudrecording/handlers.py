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

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION, parse_duration
from recording_operator.api.timestamps import parse_rfc3339
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL, RecordedFileSpec
from recording_operator.controllers._kit.context import retry_delay
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.failures import HANDLED, fail, report
from recording_operator.controllers._kit.kube import (
    KubeApiError,
    SecretNotFound,
    shed_managed_fields,
)
from recording_operator.controllers._kit.metrics import SESSIONS, STATUS_AGES, instrumented
from recording_operator.controllers._kit.runtime import runtime_of
from recording_operator.controllers._kit.shard import SHARD_LABELS
from recording_operator.controllers._kit.timers import write_drafted_status, writes_own_patch
from recording_operator.controllers.cloudrecording.agora import AgoraSessions
from recording_operator.controllers.cloudrecording.answers import ANSWERS, forget_answer, recover_answer
from recording_operator.controllers.cloudrecording.decide import (
    Observed,
    Plan,
    budget_key,
    consecutive_restarts,
    first_start_route,
    observe,
    plan,
    restart_due,
    restart_resumable,
)
from recording_operator.controllers.cloudrecording.driver import (
    RecordingContext,
    SessionDriver,
    sync_cdn_condition,
)
from recording_operator.controllers.cloudrecording.notices import (
    INDEX,
    ORPHANS,
    query_interval,
    unpublished_records,
)
from recording_operator.controllers.cloudrecording.realtimekit import RealtimeKitSessions
from recording_operator.controllers.recordedfile.decide import collection_path, file_deletion_policy
from recording_operator.controllers.recordedfile.probe import clock_now, probe
from recording_operator.controllers.recordedfile.publication import (
    UNPUBLISHED_ANNOTATION,
    carried_records,
    carry_records,
    publish_files,
    release_files,
    unreported_files_found,
    unreported_listing_wait,
)
from recording_operator.settings import Settings
from recording_operator.storage import StorageError, UnsupportedStorage

RESOURCE = (GROUP, VERSION, "cloudrecordings")
KIND = "CloudRecording"
#: Seconds between checks while a deleted recording waits for its RecordedFiles to go.
FILES_WAIT_S = 1.0
#: Seconds between checks while a deleted recording waits for a pending start's adoption.
ADOPT_POLL_S = 2.0
#: Seconds between checks while a deleted recording waits for backed-up files to land.
BACKUP_POLL_S = 2.0

#: One driver per `spec.provider`.
DRIVERS: dict[str, SessionDriver] = {"agora": AgoraSessions(), "realtimekit": RealtimeKitSessions()}


# --- start answers --------------------------------------------------------------------------------


@kopf.on.startup()
async def load_journals(logger: Any, **_: Any) -> None:
    """Journal under `OPERATOR_STATE_DIR` what only this process knows, loading what a previous
    process left: start answers not yet in status (`answers.StartAnswers`, `start-answers.jsonl`)
    and starts given up on whose sessions may still run (`notices.Orphans`, `orphaned-starts.jsonl`).
    Without the setting, or when a file cannot be used (logged), they are kept in memory only."""
    state_dir = Settings.from_env().state_dir
    if not state_dir:
        return
    for journal, what, store in (
        (Path(state_dir) / "start-answers.jsonl", "start answers not yet in status", ANSWERS),
        (Path(state_dir) / "orphaned-starts.jsonl", "orphaned starts", ORPHANS),
    ):
        try:
            journal.parent.mkdir(parents=True, exist_ok=True)
            loaded = store.open(journal)
        except OSError as exc:
            logger.warning(f"{what} are kept in memory only: {journal} cannot be used: {exc}")
            continue
        if loaded:
            logger.info(f"{loaded} {what} were loaded from {journal}")


# --- reconcile -----------------------------------------------------------------------------------


@kopf.on.resume(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.create(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.update(*RESOURCE, field="spec", labels=SHARD_LABELS)
@instrumented(KIND, "reconcile")
async def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Bring the provider session to `spec.state` and the spec's configuration; a new recording's
    first start waits its turn at its credential's budget first (`first_start_route`).

    Raises:
        kopf.TemporaryError: retryable failure (provider 429/5xx, timeouts, missing Secret, Agora
            400/53 task conflict): retried with jittered backoff, `Synced=False`.
        kopf.PermanentError: terminal failure (invalid spec, auth, unknown start result):
            `Synced=False`, not retried until the spec changes.
    """
    async with runtime_of(memo).budget.admission(first_start_route(body)):
        await _reconcile(body, patch, memo, retry, logger)


async def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any) -> None:
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    INDEX.observe("MODIFIED", body)  # notices of a session about to start find this recording
    spec, obs, step = _planned(ctx, retry)
    try:
        if step is Plan.START:
            # The one step that can open a second paid session: planned again on what the API
            # server holds when kopf's body is older (a marker or session id it has not seen).
            fresh = await ctx.on_server_state()
            if fresh is None:
                return
            if fresh is not ctx:
                ctx = fresh
                spec, obs, step = _planned(ctx, retry)
        if await recover_answer(ctx, obs) is not obs:
            spec, obs, step = _planned(ctx, retry)  # the answered start's session is now in status
        logger.debug(f"plan: {step.value}")
        driver = DRIVERS[spec.provider]
        if obs.adopted:
            await driver.adopt(ctx, spec, obs)
        if step in (Plan.START, Plan.RESUME_START):
            if step is Plan.START and ctx.status.get("restartCount"):
                ctx.status.set(
                    restartCount=None
                )  # a start the spec asked for: the restart backoff starts over
            await driver.start(ctx, spec, obs)
        elif step is Plan.UPDATE:
            await driver.update(ctx, spec, obs)
        elif step is Plan.STOP:
            await driver.stop(ctx, spec, obs, reason="Requested", message="spec.state is Stopped")
        elif step is Plan.MARK_STOPPED:
            await _mark_stopped_without_session(ctx, driver, spec, obs)
        await _publish(ctx, spec)
        if step is not Plan.NOTHING:
            ctx.condition("Synced", "True", "ReconcileSuccess", "the spec is in effect at the provider")
            ctx.status.set(observedGeneration=ctx.generation)
    except HANDLED as exc:
        raise fail(ctx, exc, retry, lost=not obs.active) from exc
    ctx.flush()


def _planned(ctx: RecordingContext, retry: int) -> tuple[CloudRecordingSpec, Observed, Plan]:
    """The spec, what is observed and the next step, from the handler's body.

    Raises:
        kopf.PermanentError: the spec does not validate (`Synced=False`, an Event).
    """
    try:
        spec = CloudRecordingSpec.model_validate(dict(ctx.body.get("spec") or {}))
    except ValidationError as exc:
        raise fail(ctx, exc, retry, lost=False) from exc
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    return spec, obs, plan(spec, obs, ctx.generation)


async def _publish(ctx: RecordingContext, spec: CloudRecordingSpec) -> None:
    """Create RecordedFiles for the files reported during this invocation and those an earlier
    invocation could not create (`UNPUBLISHED_ANNOTATION`, and `status.unpublishedFiles`: files a
    notice reported, named by its status write before their creates).

    Raises:
        KubeApiError: a create failed; the records are kept in the annotation (written with the
            same patch as the status) for the next invocation.
    """
    carried = carried_records(ctx.meta.get("annotations"))
    noticed = ctx.status.get("unpublishedFiles") or []
    records = [*carried, *unpublished_records(spec, noticed), *ctx.reported_files]
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
    if noticed:
        ctx.status.set(unpublishedFiles=None)


async def _publish_noticed(ctx: RecordingContext) -> None:
    """The timer's pass over `status.unpublishedFiles` (files a notice reported whose creates failed
    or were cut short), whatever the phase: a stopped recording is not observed any more.
    A failure is logged (the recording itself is fine: no condition changes); the names stay for
    the next tick."""
    if not ctx.status.get("unpublishedFiles") or ctx.meta.get("deletionTimestamp"):
        return
    try:
        spec = CloudRecordingSpec.model_validate(dict(ctx.body.get("spec") or {}))
    except ValidationError:
        return
    try:
        await _publish(ctx, spec)
    except KubeApiError as exc:
        ctx.logger.warning(f"creating the RecordedFiles of files a notice reported failed: {exc}")
    ctx.flush()  # the tick may return early (a stopped recording is not observed)


async def _mark_stopped_without_session(
    ctx: RecordingContext, driver: SessionDriver, spec: CloudRecordingSpec, obs: Observed
) -> None:
    kept = await driver.abandon_pending(ctx, spec, obs) if obs.pending else False
    ctx.status.set(phase="Stopped")
    ctx.condition("Recording", "False", "Requested", "spec.state is Stopped")
    if kept:
        ctx.condition(
            "Ready",
            "True",
            "Stopped",
            "stopped as requested; a start with no recorded answer may have started a session, which is "
            "stopped once the provider's notification names it",
        )
    else:
        ctx.condition("Ready", "True", "Stopped", "no session is running, as requested")


# --- observation ---------------------------------------------------------------------------------


#: kopf needs the timer interval when the module is imported.
_TICK_S = Settings.from_env().tick_s


@kopf.timer(*RESOURCE, interval=_TICK_S, initial_delay=_TICK_S, labels=SHARD_LABELS)
@instrumented(KIND, "observe_session")
@writes_own_patch
async def observe_session(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """Keep provider status, files and phase current; enforce `maxDuration`.

    Runs every `CLOUDRECORDING_TICK` seconds; observes each session at most every
    `CLOUDRECORDING_QUERY_INTERVAL` seconds. Failures set `Synced=False` and are tried again at
    the next interval.
    """
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    if sync_cdn_condition(ctx):
        ctx.flush()  # a handler's write had replaced the condition a notice set; the tick does no more
        return
    await _publish_noticed(ctx)
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    restarting = bool(ctx.status.get("restartCount"))
    if (not obs.session_id and not restarting) or ctx.meta.get("deletionTimestamp"):
        ctx.runtime.query_forget((KIND, ctx.namespace, ctx.name))
        STATUS_AGES.forget(KIND, ctx.namespace, ctx.name)
        return
    try:
        spec = CloudRecordingSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        return
    driver = DRIVERS[spec.provider]
    if await _restart(ctx, driver, spec, obs):
        return
    session = (KIND, ctx.namespace, ctx.name)
    if not driver.wants_observation(obs, ctx.status.current):
        ctx.runtime.query_forget(session)
        STATUS_AGES.forget(*session)
        return
    settings = ctx.runtime.settings
    scope, key = budget_key(body.get("spec") or {})
    STATUS_AGES.tracking(*session)
    try:
        if obs.adopted:
            await driver.adopt(ctx, spec, obs)
        if _stop_left_to_timer(spec, obs, ctx.generation):
            await driver.stop(ctx, spec, obs, reason="Requested", message="spec.state is Stopped")
            await _publish(ctx, spec)
            await _write_observed(ctx)
            return
        if obs.active and _max_duration_reached(spec, ctx.status.current):
            message = f"maxDuration {spec.maxDuration} reached"
            await driver.stop(ctx, spec, obs, reason="MaxDurationReached", message=message)
        elif ctx.runtime.query_due(session, scope, key, query_interval(settings, ctx.namespace, ctx.name)):
            try:
                await driver.observe(ctx, spec, obs)
            finally:
                ctx.runtime.query_made(session, scope, key)
            STATUS_AGES.observed(*session)
        await _publish(ctx, spec)
    except HANDLED as exc:
        failure = report(ctx, exc)
        logger.warning(f"observing the session failed: {failure.message}")
    await _write_observed(ctx)


def _session_identity(status: Mapping[str, Any]) -> tuple[Any, Any]:
    return status.get("sid"), status.get("recordingId")


async def _write_observed(ctx: RecordingContext) -> None:
    """Write what a tick drafted about its session, only while that session is still the
    recording's: a query can take seconds (timeouts, retries), and meanwhile a reconcile may have
    stopped that session and started the next, writing the new `sid` (found by the fault campaign:
    seed 1, agora#82, whose tick's 404 for the stopped session was written as the end of the new
    one, so the finalizer found nothing to stop and the new session ran on). The status write
    carries the tick's `resourceVersion`; on 409 the object is read again and the write is made on
    the new copy if it still names the session (`sid` / `recordingId`) the tick ended with, else
    dropped (the next tick decides from the new copy). kopf's `body` of a timer is a live view (the
    newest copy its watch delivered), so the first check and `resourceVersion` are those of that
    copy; the drafted conditions are rebased on it (`timers.write_drafted_status`). Nothing is written
    once the recording is being deleted (the finalizer's status is newer). A failed write is logged and dropped like any timer write (`timers.apply_patch`); the
    annotations go with the timer's own patch."""
    ctx.flush()
    drafted = ctx.patch.pop("status", None)
    if not drafted or (ctx.body.get("metadata") or {}).get("deletionTimestamp"):
        # Deleted during the tick: the finalizer's status (a session it stopped) is the newer one.
        return
    identity = _session_identity({**ctx.status.current, **ctx.status.fields})

    def still_applies(obj: Mapping[str, Any]) -> bool:
        return _session_identity(obj.get("status") or {}) == identity

    newest = {"metadata": dict(ctx.body.get("metadata") or {}), "status": dict(ctx.body.get("status") or {})}
    try:
        written = still_applies(newest) and await write_drafted_status(
            ctx.runtime.kube,
            ctx.path,
            drafted,
            base=ctx.status.current,
            newest=newest,
            still_applies=still_applies,
        )
    except KubeApiError as exc:
        if exc.status != 404:
            ctx.logger.warning(f"the timer's status write failed ({exc}); the next tick writes it again")
        return
    if not written:
        ctx.logger.info(
            f"the tick's status about session {identity[0] or identity[1]} is dropped: the recording "
            "names another session now"
        )


def _stop_left_to_timer(spec: CloudRecordingSpec, obs: Observed, generation: int | None) -> bool:
    """A session runs while `spec.state` is Stopped and no reconcile will stop it: one adopted after
    the reconcile of this generation was done (a notice naming the session of a start whose answer
    was lost, `observedGeneration` already at `generation`), or adopted and still marked."""
    if not obs.active or spec.state != "Stopped":
        return False
    return obs.adopted or obs.observed_generation == generation


async def _restart(
    ctx: RecordingContext, driver: SessionDriver, spec: CloudRecordingSpec, obs: Observed
) -> bool:
    """`restartPolicy: OnExit`: start a new session once the backoff after a provider-ended one is over
    (`decide.restart_due`). The ended session is already in `status.sessions`; `status.restartCount`
    counts consecutive restarts. Failures are reported like the timer's others and tried again at
    the next tick (the backoff still applies).

    Returns:
        True when a restart was due (started, failed, or put off because kopf's body is older than
        the API server's): the tick does nothing else.
    """
    status = ctx.status.current
    wait = restart_due(
        spec,
        status,
        obs.pending is not None,
        since_stop_s=_seconds_since(status.get("stoppedAt")),
        base_s=ctx.runtime.settings.backoff_base_s,
        max_s=ctx.runtime.settings.backoff_max_s,
    )
    resuming = restart_resumable(spec, obs, status)
    if not resuming and (wait is None or wait > 0):
        return False
    if not resuming:
        # A new session is planned on what the API server holds, not on kopf's older body (see
        # `Context.server_body`); the next tick decides on the newer one.
        try:
            if await ctx.server_body() is not ctx.body:
                return True
        except KubeApiError as exc:
            ctx.logger.warning(f"reading the recording before a restart failed: {exc}")
            return True
    count = consecutive_restarts(status) + (0 if resuming else 1)
    previous = (status.get("sessions") or [{}])[-1].get("sid") if resuming else obs.session_id
    try:
        ctx.status.set(restartCount=count)
        await driver.start(ctx, spec, obs)
        await _publish(ctx, spec)
        ctx.condition(
            "Synced",
            "True",
            "Restarted",
            f"restarted after {status.get('stopReason')} (restartPolicy OnExit)",
        )
        ctx.event(
            "Normal",
            "Restarted",
            f"session {previous} ended ({status.get('stopReason')}); started session "
            f"{ctx.status.get('sid') or ctx.status.get('recordingId')} (restart {count}, restartPolicy OnExit)",
        )
    except HANDLED as exc:
        failure = report(ctx, exc)
        ctx.logger.warning(f"restarting the session failed: {failure.message}")
    ctx.flush()
    return True


def _max_duration_reached(spec: CloudRecordingSpec, status: Mapping[str, Any]) -> bool:
    if not spec.maxDuration or not status.get("startedAt"):
        return False
    started = datetime.strptime(status["startedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return datetime.now(UTC) - started >= parse_duration(spec.maxDuration)


@kopf.on.event(*RESOURCE, labels=SHARD_LABELS)
async def track_session(
    type: str | None, event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Feed `recording_operator_active_sessions` with every phase the watch shows, and the index
    that finds the recording a provider notice concerns (`notices.INDEX`); drop the object's
    `managedFields` from the copy kopf keeps in memory (`shed_managed_fields`)."""
    shed_managed_fields(event)
    meta = body.get("metadata", {})
    INDEX.observe(type, body)
    phase = None if type == "DELETED" else (body.get("status") or {}).get("phase", "")
    SESSIONS.observe(KIND, meta.get("namespace", ""), meta.get("name", ""), phase)
    if type == "DELETED":
        STATUS_AGES.forget(KIND, meta.get("namespace", ""), meta.get("name", ""))
        if hasattr(memo, "runtime"):
            runtime_of(memo).query_forget((KIND, meta.get("namespace", ""), meta.get("name", "")))


# --- deletion ------------------------------------------------------------------------------------


def _seconds_since(timestamp: str | None) -> float:
    """Seconds since an RFC 3339 time (0 when absent or unreadable)."""
    at = parse_rfc3339(timestamp or "")
    return 0.0 if at is None else max(0.0, (datetime.now(UTC) - at).total_seconds())


async def _missing_objects(ctx: RecordingContext) -> list[str]:
    """`bucket/key` of each of this recording's RecordedFiles whose object is not (yet) stored; a file
    whose storage cannot be asked counts as stored (the wait is for late uploads, not outages).

    Raises:
        KubeApiError: the RecordedFiles could not be listed.
    """
    items = await ctx.runtime.kube.list_objects(
        collection_path(ctx.namespace), label_selector=f"{RECORDING_LABEL}={ctx.name}"
    )
    missing: list[str] = []
    now = clock_now(ctx.runtime.settings)
    for item in items:
        try:
            spec = RecordedFileSpec.model_validate(item.get("spec") or {})
            result = await probe(ctx.runtime, ctx.namespace, spec, now=now)
        except (ValidationError, StorageError, UnsupportedStorage, SecretNotFound, KubeApiError, ValueError):
            continue
        if result.phase == "Missing":
            missing.append(f"{spec.location.bucket}/{spec.location.key}")
    return missing


async def _wait_for_backup(ctx: RecordingContext) -> None:
    """Agora answered `uploadingStatus: backuped`: some files went to its backup storage and reach
    the bucket later (https://docs.agora.io/en/cloud-recording/rest-api/stop). Deleting the
    RecordedFiles before they land would leave those objects behind, so the finalizer waits until
    every RecordedFile of this recording is in storage, at most `RECORDING_BACKUP_WAIT` seconds
    after the stop; past that it goes on with a Warning naming how many had not landed.

    Raises:
        kopf.TemporaryError: still waiting (the stopped status is written first, so the retry does
            not stop the session again).
        KubeApiError: the RecordedFiles could not be listed.
    """
    if "uploadingStatus" in ctx.status.fields:
        ctx.event(
            "Normal",
            "AwaitingBackupUpload",
            "Agora backed up some files (uploadingStatus backuped); their RecordedFiles are deleted once "
            f"they reach the bucket (at most {ctx.runtime.settings.backup_wait_s:.0f}s)",
        )
    missing = await _missing_objects(ctx)
    if not missing:
        return
    left = ctx.runtime.settings.backup_wait_s - _seconds_since(ctx.status.get("stoppedAt"))
    if left > 0:
        ctx.flush()
        raise kopf.TemporaryError(
            f"waiting up to {left:.0f}s for {len(missing)} backed-up files to land",
            delay=min(left, BACKUP_POLL_S),
        )
    ctx.event(
        "Warning",
        "BackupUploadMissing",
        f"{len(missing)} backed-up files had not reached the bucket {ctx.runtime.settings.backup_wait_s:.0f}s "
        f"after the stop (e.g. {missing[0]}); deleting the RecordedFiles now leaves them there if they land later",
    )


async def _publish_stored(ctx: RecordingContext, spec: CloudRecordingSpec, retry: int) -> int:
    """Create RecordedFiles for the objects the sessions stored that no RecordedFile names yet
    (`SessionDriver.stored_files`: a final file list lost with a stop answer or its notices), so
    deleting the recording's RecordedFiles deletes them too; an Event names how many were found.

    A storage that does not answer (a retryable `StorageError`) is tried again for up to
    `publication.STORED_LIST_WAIT_S` seconds after the deletion; past that, or when its Secret is missing or it
    cannot be used at all, the finalizer goes on with a Warning (what it could not list may stay).

    Returns:
        How many RecordedFiles were created.

    Raises:
        kopf.TemporaryError: the storage could not be listed yet (the drafted status, e.g. the
            stop, is written first, so the retry does not stop the session again).
        KubeApiError: a listing or create of RecordedFiles failed (the next attempt lists again).
    """
    try:
        records = await DRIVERS[spec.provider].stored_files(ctx, spec)
    except (StorageError, UnsupportedStorage, SecretNotFound) as exc:
        left = unreported_listing_wait(ctx, exc)
        if left > 0:
            ctx.flush()
            raise kopf.TemporaryError(
                f"listing the sessions' stored files: {exc}", delay=min(left, retry_delay(ctx, retry))
            ) from exc
        return 0
    delete_after = spec.retention.deleteAfter if spec.retention else None
    new = await publish_files(ctx, KIND, spec.storage, records, delete_after)
    if new:
        unreported_files_found(ctx, new, "the sessions' file lists never arrived")
    return new


async def _settle_pending(
    ctx: RecordingContext, driver: SessionDriver, spec: CloudRecordingSpec, obs: Observed, retry: int
) -> Observed:
    """Deleting while a start is pending (no session id): find or wait for its session.

    The driver may find it (RealtimeKit: the meeting's active recording); otherwise the finalizer
    waits, from the deletion on, up to `RECORDING_ADOPT_WAIT` seconds for an adoption (a callback
    writing the sid), then lets go with the driver's Warning naming what may still run.

    Returns:
        What is observed now: with a session id (then stopped by the caller), or the same `obs`
        once the wait is over and the marker released.

    Raises:
        kopf.TemporaryError: still waiting (retried every few seconds with a fresh body), or the
            provider could not be asked.
    """
    try:
        found = await driver.settle_pending(ctx, spec, obs)
    except ProviderFailure as exc:
        ctx.event("Warning", exc.reason, f"cannot look for the pending start's session: {exc.message}")
        raise kopf.TemporaryError(exc.message, delay=retry_delay(ctx, retry)) from exc
    except (SecretNotFound, KubeApiError, SpecError) as exc:
        raise kopf.TemporaryError(
            f"cannot look for the pending start's session: {exc}", delay=retry_delay(ctx, retry)
        ) from exc
    if found:
        return observe({**ctx.status.current, **ctx.status.fields}, ctx.meta.get("annotations"))
    left = ctx.runtime.settings.adopt_wait_s - _seconds_since(ctx.meta.get("deletionTimestamp"))
    if left > 0:
        raise kopf.TemporaryError(
            f"waiting up to {left:.0f}s for the pending start's session to be adopted",
            delay=min(left, ADOPT_POLL_S),
        )
    driver.release_pending(ctx, spec, obs)
    return obs


@kopf.on.delete(*RESOURCE, labels=SHARD_LABELS)
@instrumented(KIND, "finalize")
async def finalize(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Stop the session and delete the recorded files before the resource goes, unless
    `deletionPolicy: Orphan` (the session keeps running; RecordedFiles lose this owner and stay,
    with their stored data).

    When kopf's body records no running session and no pending start, the decision is made on the
    API server's copy instead (`Context.server_body`). With Delete: a pending start with no session
    id is settled first (`_settle_pending`: adopted, or waited for up to `RECORDING_ADOPT_WAIT` s,
    then released with a Warning); the session is
    stopped (its final file list becomes RecordedFiles; a 404 is confirmed through Agora's HA
    migration window first); files Agora backed up are waited for (`_wait_for_backup`); then every
    RecordedFile of this recording is deleted (their finalizers delete the stored objects); once
    none is left, with `files.deletionPolicy: Delete`, stored files of its sessions that were never
    reported get RecordedFiles
    (`_publish_stored`) and are deleted the same way; this finalizer is released only once all of
    them are gone.

    Raises:
        kopf.TemporaryError: the stop could not be confirmed (provider unavailable, credentials
            missing), a pending start or backed-up files are still awaited, the storage could not be
            listed yet, or RecordedFiles are still being deleted, or the recording could not be read:
            the finalizer stays and this is retried. Setting `deletionPolicy: Orphan` releases it.
    """
    ctx = RecordingContext(body, patch, runtime_of(memo), logger)
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    if not obs.active and not obs.pending:
        # Nothing to stop in kopf's body: the finalizer lets go only if the API server agrees
        # (a session id or start marker kopf has not seen yet would otherwise keep running).
        try:
            fresh = await ctx.on_server_state()
        except KubeApiError as exc:
            raise kopf.TemporaryError(f"reading the recording: {exc}", delay=retry_delay(ctx, retry)) from exc
        if fresh is None:
            return
        if fresh is not ctx:
            ctx = fresh
            obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    spec_dict = dict(ctx.body.get("spec") or {})
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
    try:
        obs = await recover_answer(ctx, obs)
    except KubeApiError as exc:
        raise kopf.TemporaryError(
            f"recording the pending start's session: {exc}", delay=retry_delay(ctx, retry)
        ) from exc
    if obs.pending and not obs.session_id and spec is not None:
        obs = await _settle_pending(ctx, DRIVERS[spec.provider], spec, obs, retry)
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
        # Written now: kopf keeps its finalizer while a timer tick of this recording still runs, and
        # runs this handler again when it looks next; a status still naming the session as running
        # would have it stop the session a second time. A failed write only costs that second stop.
        # The draft stays as it is (what this run learned, e.g. a backed-up upload, is still news).
        with contextlib.suppress(KubeApiError):
            await ctx.runtime.kube.merge_patch(ctx.path + "/status", {"status": ctx.status.delta()})
    try:
        if spec is not None:
            await _publish(ctx, spec)
            if ctx.status.get("uploadingStatus") == "backuped":
                await _wait_for_backup(ctx)
        remaining = await release_files(ctx, KIND, "Delete")
        # Once the known files are gone (so one listing, not one per wait), the storage is searched
        # for files never reported; those found are deleted like the others. Not when the files are
        # Retain: their objects stay by design, and each would be found (and published) again.
        if (
            not remaining
            and spec is not None
            and file_deletion_policy(ctx.body.get("spec")) == "Delete"
            and await _publish_stored(ctx, spec, retry)
        ):
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
    # The object is going away: the drafted status is not written, only the Events are posted; an
    # answer still journalled for it (its status write never succeeded) answers for nothing now.
    forget_answer(ctx)
