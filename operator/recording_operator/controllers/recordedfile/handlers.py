"""kopf handlers for RecordedFile: one stored artifact; deleting the object deletes the stored file.

- create → `register`: check that the stored object exists (phase `Available`, or `Missing`), with
  `Ready` and `Synced` conditions;
- delete → `finalize` (finalizer `recording.mediaops.io/cleanup`): first the file's name goes into
  its recording's `status.deletedFiles` (`tombstones`: never created again); then `deletionPolicy: Delete` deletes
  the stored object (an object already gone counts as done), and a CloudRecording's HLS playlist
  the session's slices with it (`slices`); `Retain` (or `Orphan`) only releases
  the finalizer; a `volume` file is deleted by a short-lived Job (`jobs`) that mounts the claim and
  runs `recording-operator delete-volume-file` from the recorder image (`RECORDER_IMAGE`); a
  provider `url` (RealtimeKit bucket, presigned, expires by itself after 7 days) cannot be deleted
  through any API and is released with a Normal Event.

The decisions are in `decide` (pure); reaching the store is `probe`. Storage credentials come only
from the Secret in `spec.credentialsSecretRef` (same namespace); a refused key is reported as
`Synced=False reason=StorageAuthFailed` with one Warning Event and retried with jittered backoff
(Secrets may be fixed or rotated), never logged. Retention (`spec.expiresAt`) and the periodic
existence audit run in one operator-wide schedule: `retention`.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import FINALIZER, GROUP, VERSION
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers._kit.context import (
    Context,
    fail_retryable,
    report_failure,
    retry_delay,
    validation_message,
)
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.metrics import instrumented
from recording_operator.controllers._kit.runtime import runtime_of
from recording_operator.controllers._kit.shard import SHARD_LABELS
from recording_operator.controllers.recordedfile.decide import (
    DELETION_EVENTS,
    KIND,
    PLURAL,
    Probe,
    cascades_slices,
    decide_deletion,
    job_failure_reason,
    job_outcome,
    presentation,
    ready_condition,
)
from recording_operator.controllers.recordedfile.jobs import deletion_job, deletion_job_name
from recording_operator.controllers.recordedfile.probe import clock_now, file_store, probe
from recording_operator.controllers.recordedfile.slices import delete_session_slices
from recording_operator.controllers.recordedfile.tombstones import remember_deletion
from recording_operator.storage import StorageError, UnsupportedStorage

RESOURCE = (GROUP, VERSION, PLURAL)
#: Seconds between checks of a running volume deletion Job.
JOB_POLL_S = 2.0


class FileContext(Context):
    """A handler invocation on a RecordedFile."""

    plural = PLURAL


def apply_probe(ctx: FileContext, result: Probe) -> None:
    """Draft phase and conditions from a probe (written only when they changed)."""
    ctx.status.set(phase=result.phase)
    ctx.condition("Ready", *ready_condition(result))
    ctx.condition("Synced", "True", "ReconcileSuccess", "the storage answered")


def storage_failure(ctx: FileContext, exc: Exception, retry: int) -> kopf.TemporaryError:
    """Report a storage, Secret or API failure (Synced=False + one Event) and return the backoff error.

    Reasons: `StorageAuthFailed` (the store refused the credentials), `StorageUnavailable` (other
    storage failures), `CredentialsNotFound`, `KubernetesUnavailable`. Messages never hold secrets.
    """
    if isinstance(exc, StorageError):
        reason = "StorageAuthFailed" if exc.auth else "StorageUnavailable"
    elif isinstance(exc, SecretNotFound):
        reason = "CredentialsNotFound"
    else:
        reason = "KubernetesUnavailable"
    return fail_retryable(ctx, reason, str(exc), retry)


# --- create --------------------------------------------------------------------------------------


@kopf.on.create(*RESOURCE, labels=SHARD_LABELS)
@instrumented(KIND, "register")
async def register(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Check the stored file and report `phase` (Available | Missing) with `Ready`/`Synced`.

    Raises:
        kopf.TemporaryError: storage, Secret or API failure: retried with jittered backoff.
        kopf.PermanentError: the spec or the storage configuration is invalid (`InvalidSpec`).
    """
    runtime = runtime_of(memo)
    ctx = FileContext(body, patch, runtime, logger)
    try:
        spec = RecordedFileSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        raise _terminal(ctx, "InvalidSpec", validation_message(exc)) from exc
    try:
        result = await probe(runtime, ctx.namespace, spec, now=clock_now(runtime.settings))
    except UnsupportedStorage as exc:
        raise _terminal(ctx, "InvalidSpec", str(exc)) from exc
    except (StorageError, SecretNotFound, KubeApiError) as exc:
        raise storage_failure(ctx, exc, retry) from exc
    apply_probe(ctx, result)
    ctx.status.set(observedGeneration=ctx.generation, **presentation(spec, result))
    ctx.flush()


def _terminal(ctx: FileContext, reason: str, message: str) -> kopf.PermanentError:
    report_failure(ctx, reason, message)
    ctx.status.set(phase="Failed")
    ctx.flush()
    return kopf.PermanentError(f"{reason}: {message}")


# --- delete --------------------------------------------------------------------------------------


@kopf.on.delete(*RESOURCE, labels=SHARD_LABELS)
@instrumented(KIND, "finalize")
async def finalize(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: Any, **_: Any
) -> None:
    """Delete the stored file unless `deletionPolicy` is Retain/Orphan, then release the finalizer.

    An invalid spec, an unsupported location or a volume path escaping its claim (`..`, absolute)
    leaves the data in place with a Warning `InvalidSpec` Event (no Job is created for such a path).

    Raises:
        kopf.TemporaryError: the delete failed (storage refused or unreachable, Secret missing) or a
            volume deletion Job is still running: the finalizer stays, retried with backoff.
            Setting `deletionPolicy: Retain` releases it without touching the data.
    """
    runtime = runtime_of(memo)
    ctx = FileContext(body, patch, runtime, logger)
    raw_spec = dict(body.get("spec") or {})
    try:
        # First, whatever the policy: the recording's controller must never create this file again.
        await remember_deletion(ctx, raw_spec)
    except KubeApiError as exc:
        raise storage_failure(ctx, exc, retry) from exc
    deletion = decide_deletion(raw_spec)
    if deletion.action == "keep":
        return
    if deletion.action in DELETION_EVENTS:
        assert deletion.message is not None
        ctx.event(*DELETION_EVENTS[deletion.action], deletion.message)
        return
    spec = deletion.spec
    assert spec is not None
    try:
        if deletion.action == "volume":
            await _delete_volume_file(ctx, spec, retry)
            return
        store = await file_store(runtime, ctx.namespace, spec)
        key = spec.location.key
        assert key is not None
        if ctx.status.get("phase") != "Deleting":
            ctx.status.set(phase="Deleting")
        if cascades_slices(spec):
            # The slices first: a retry after a crash still finds them through the playlist.
            count = await delete_session_slices(store, key)
            ctx.event("Normal", "SlicesDeleted", f"deleted {count} HLS slices of {store.uri(key)}")
        await store.delete(key)
    except UnsupportedStorage as exc:
        ctx.event("Warning", "InvalidSpec", f"cannot delete the stored file: {exc}; it is left in place")
        return
    except (StorageError, SecretNotFound, KubeApiError) as exc:
        if isinstance(exc, StorageError) and exc.auth:
            ctx.status.set(phase="Failed")
        raise storage_failure(ctx, exc, retry) from exc


# --- volume files --------------------------------------------------------------------------------


async def _delete_volume_file(ctx: FileContext, spec: RecordedFileSpec, retry: int) -> None:
    """Run (or follow) the deletion Job; return once it is `Complete`.

    Raises:
        kopf.TemporaryError: the Job is running (checked again in JOB_POLL_S) or failed
            (`Synced=False reason=VolumeDeleteFailed`, checked again with backoff; the failed Job
            is kept for inspection until its TTL removes it or someone deletes it, and the next
            attempt then creates a new one).
        KubeApiError: the Job could not be created or read.
    """
    volume = spec.location.volume
    assert volume is not None
    uid = str(ctx.meta.get("uid", ""))
    path = f"/apis/batch/v1/namespaces/{ctx.namespace}/jobs/{deletion_job_name(uid)}"
    job = await ctx.runtime.kube.get_object(path)
    if job is None:
        manifest = deletion_job(
            namespace=ctx.namespace,
            file_name=ctx.name,
            uid=uid,
            claim=volume.claimName,
            path=volume.path,
            image=ctx.runtime.settings.recorder_image,
        )
        await ctx.runtime.kube.create_object(f"/apis/batch/v1/namespaces/{ctx.namespace}/jobs", manifest)
        ctx.status.set(phase="Deleting")
        ctx.flush()
        raise kopf.TemporaryError("waiting for the volume deletion Job", delay=JOB_POLL_S)
    outcome = job_outcome(job)
    if outcome == "Complete":
        return
    if outcome == "Failed":
        delay = retry_delay(ctx, retry)
        reason = job_failure_reason(job)
        report_failure(
            ctx,
            "VolumeDeleteFailed",
            f"Job {deletion_job_name(uid)} could not delete {volume.path} ({reason or 'Failed'}): see its "
            "Pods' logs; delete the Job to try again, or set deletionPolicy: Retain to keep the file",
        )
        ctx.status.set(phase="Failed")
        ctx.flush()
        raise kopf.TemporaryError("the volume deletion Job failed", delay=delay)
    raise kopf.TemporaryError("waiting for the volume deletion Job", delay=JOB_POLL_S)


__all__ = ["FINALIZER", "KIND", "PLURAL", "FileContext", "apply_probe", "finalize", "register"]
