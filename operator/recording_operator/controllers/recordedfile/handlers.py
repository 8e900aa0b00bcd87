"""kopf handlers for RecordedFile: one stored artifact; deleting the object deletes the stored file.

- create → `register`: check that the stored object exists (phase `Available`, or `Missing`), with
  `Ready` and `Synced` conditions;
- delete → `finalize` (finalizer `recording.mediaops.io/cleanup`): `deletionPolicy: Delete` deletes
  the stored object (an object already gone counts as done); `Retain` (or `Orphan`) only releases
  the finalizer; a `volume` file is deleted by a short-lived Job that mounts the claim and runs
  `recording-operator delete-volume-file` from the recorder image (`RECORDER_IMAGE`); a provider
  `url` (RealtimeKit bucket, presigned, expires by itself after 7 days, provider-contracts.md §3.5)
  cannot be deleted through any API and is released with a Normal Event.

Storage credentials come only from the Secret in `spec.credentialsSecretRef` (same namespace);
a refused key is reported as `Synced=False reason=StorageAuthFailed` with one Warning Event and
retried with jittered backoff (Secrets may be fixed or rotated), never logged.
Retention (`spec.expiresAt`) and the periodic existence audit run in one operator-wide schedule:
`retention.py`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import FINALIZER, GROUP, VERSION
from recording_operator.api.agent import DEFAULT_VOLUME_DIR
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers._kit.context import (
    Context,
    fail_retryable,
    report_failure,
    retry_delay,
    validation_message,
)
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.pods import (
    container_security_context,
    pod_security_context,
)
from recording_operator.controllers._kit.runtime import Runtime, runtime_of
from recording_operator.settings import Settings
from recording_operator.storage import StorageCredentials, StorageError, Store, UnsupportedStorage
from recording_operator.storage.volume import UnsafePath, path_parts

RESOURCE = (GROUP, VERSION, "recordedfiles")
KIND = "RecordedFile"
PLURAL = "recordedfiles"
#: Mount point of the claim inside a volume deletion Job (where recorders mount it too).
JOB_MOUNT = DEFAULT_VOLUME_DIR
#: Seconds a finished volume deletion Job is kept (`ttlSecondsAfterFinished`).
JOB_TTL_S = 600
#: Seconds between checks of a running volume deletion Job.
JOB_POLL_S = 2.0


class FileContext(Context):
    """A handler invocation on a RecordedFile."""

    plural = PLURAL


def collection_path(namespace: str) -> str:
    """API path of the RecordedFiles of a namespace."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def retains(policy: str | None) -> bool:
    """Whether a `deletionPolicy` keeps the stored file (`Retain`, or its synonym `Orphan`)."""
    return policy in ("Retain", "Orphan")


@dataclass(frozen=True)
class Probe:
    """The outcome of checking a stored file: `phase` (Available | Missing) and why."""

    phase: str
    reason: str
    message: str
    size_bytes: int | None = None


async def file_store(runtime: Runtime, namespace: str, spec: RecordedFileSpec) -> Store:
    """The Store of an object-storage location (`location.key`), with credentials from its Secret.

    Raises:
        SecretNotFound: the credentials Secret is missing.
        KubeApiError: the Secret could not be read.
        UnsupportedStorage: the vendor or location cannot be served (terminal).
    """
    loc = spec.location
    if loc.vendor is None or loc.bucket is None or loc.key is None:
        raise UnsupportedStorage("the location is not an object-storage key")
    data: Mapping[str, str] | None = None
    if spec.credentialsSecretRef is not None:
        data = await runtime.kube.read_secret(namespace, spec.credentialsSecretRef.name)
    storage = StorageSpec(vendor=loc.vendor, bucket=loc.bucket, region=loc.region, endpoint=loc.endpoint)
    return Store.from_spec(
        storage,
        StorageCredentials.from_secret(loc.vendor, data),
        s3_endpoint=runtime.settings.storage_s3_endpoint,
    )


async def probe(runtime: Runtime, namespace: str, spec: RecordedFileSpec, *, now: float) -> Probe:
    """Whether the stored file exists, as a phase.

    - object storage: `stat` the key;
    - `url`: Available until `location.expiresAt` (Unix seconds `now` on the operator's clock),
      Missing after it;
    - `volume`: Available (the operator does not mount claims; the deletion Job does).

    Raises:
        StorageError, UnsupportedStorage, SecretNotFound, KubeApiError: see `file_store`.
    """
    loc = spec.location
    if loc.url is not None:
        expires = _epoch(loc.expiresAt)
        if expires is not None and expires <= now:
            return Probe("Missing", "UrlExpired", f"the provider's download URL expired at {loc.expiresAt}")
        return Probe("Available", "ProviderUrl", "downloadable from the provider's URL")
    if loc.volume is not None:
        return Probe(
            "Available", "OnVolume", f"{loc.volume.path} on PersistentVolumeClaim {loc.volume.claimName}"
        )
    store = await file_store(runtime, namespace, spec)
    assert loc.key is not None
    info = await store.stat(loc.key)
    if info is None:
        return Probe("Missing", "NotFound", f"{store.uri(loc.key)} does not exist")
    return Probe("Available", "Stored", f"{store.uri(loc.key)} exists", info.size_bytes)


def _epoch(value: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time, or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def epoch_of(value: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time (`expiresAt`), or None when absent or unparsable."""
    try:
        return _epoch(value)
    except ValueError:
        return None


def clock_now(settings: Settings) -> float:
    """The operator's "now" for expiry decisions: Unix seconds + `RECORDING_CLOCK_OFFSET_S`."""
    return time.time() + settings.clock_offset_s


def apply_probe(ctx: FileContext, result: Probe) -> None:
    """Draft phase and conditions from a probe (written only when they changed)."""
    ctx.status.set(phase=result.phase)
    ready = "True" if result.phase == "Available" else "False"
    ctx.condition("Ready", ready, result.reason, result.message)
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


@kopf.on.create(*RESOURCE)
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
    ctx.status.set(observedGeneration=ctx.generation)
    ctx.flush()


def _terminal(ctx: FileContext, reason: str, message: str) -> kopf.PermanentError:
    report_failure(ctx, reason, message)
    ctx.status.set(phase="Failed")
    ctx.flush()
    return kopf.PermanentError(f"{reason}: {message}")


# --- delete --------------------------------------------------------------------------------------


@kopf.on.delete(*RESOURCE)
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
    raw = dict(body.get("spec") or {})
    if retains(raw.get("deletionPolicy")):
        return
    try:
        spec = RecordedFileSpec.model_validate(raw)
    except ValidationError:
        ctx.event("Warning", "InvalidSpec", "the spec is invalid: the stored file, if any, is left in place")
        return
    loc = spec.location
    if loc.url is not None:
        ctx.event(
            "Normal",
            "NotDeletable",
            "a provider download URL cannot be deleted through an API; it expires by itself"
            + (f" at {loc.expiresAt}" if loc.expiresAt else ""),
        )
        return
    if loc.volume is not None:
        try:
            path_parts(loc.volume.path)
        except UnsafePath as exc:
            ctx.event("Warning", "InvalidSpec", f"cannot delete the stored file: {exc}; it is left in place")
            return
    try:
        if loc.volume is not None:
            await _delete_volume_file(ctx, spec, retry)
            return
        store = await file_store(runtime, ctx.namespace, spec)
        assert loc.key is not None
        if ctx.status.get("phase") != "Deleting":
            ctx.status.set(phase="Deleting")
        await store.delete(loc.key)
    except UnsupportedStorage as exc:
        ctx.event("Warning", "InvalidSpec", f"cannot delete the stored file: {exc}; it is left in place")
        return
    except (StorageError, SecretNotFound, KubeApiError) as exc:
        if isinstance(exc, StorageError) and exc.auth:
            ctx.status.set(phase="Failed")
        raise storage_failure(ctx, exc, retry) from exc


# --- volume files --------------------------------------------------------------------------------


def deletion_job_name(uid: str) -> str:
    """The deletion Job's name for a RecordedFile uid (deterministic, so a retry finds it)."""
    return f"rfile-delete-{hashlib.sha256(uid.encode()).hexdigest()[:16]}"


def deletion_job(
    *, namespace: str, file_name: str, uid: str, claim: str, path: str, image: str
) -> dict[str, Any]:
    """A batch/v1 Job that mounts `claim` at JOB_MOUNT and deletes `path` (relative to the claim root).

    The container runs `recording-operator delete-volume-file` from `image` (the recorder image,
    which has the package installed): the path is resolved under the mount and refused when it
    escapes it (`..`, absolute, symbolic links leading out; `storage/volume.py`); an already
    deleted file counts as done. The path is an argument, never through a shell.

    Owned by the RecordedFile (collected with it); no Kubernetes token; the recorder's non-root
    user (so it may delete what recorders wrote), read-only root filesystem, no capabilities,
    seccomp RuntimeDefault. `backoffLimit` 3, `activeDeadlineSeconds` 300, kept JOB_TTL_S after it
    finished (a failed Job stays that long for inspection).
    """
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": deletion_job_name(uid),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "recording-operator",
                "app.kubernetes.io/component": "recordedfile-delete",
                f"{GROUP}/recordedfile": file_name,
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": file_name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": JOB_TTL_S,
            "activeDeadlineSeconds": 300,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "recordedfile-delete"}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "delete",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": [
                                "recording-operator",
                                "delete-volume-file",
                                "--root",
                                JOB_MOUNT,
                                "--path",
                                path,
                            ],
                            "securityContext": container_security_context(),
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "64Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "volumeMounts": [{"name": "recordings", "mountPath": JOB_MOUNT}],
                        }
                    ],
                    "volumes": [{"name": "recordings", "persistentVolumeClaim": {"claimName": claim}}],
                },
            },
        },
    }


def job_outcome(job: Mapping[str, Any]) -> str:
    """`Complete`, `Failed` or `Running` from a Job's status conditions, as Kubernetes reports it.

    A Job is finished only when its `Complete` or `Failed` condition is `True` (since Kubernetes
    1.31 `status.succeeded` can count a Pod before the Job is `Complete`, while the interim
    `SuccessCriteriaMet`/`FailureTarget` conditions are set and Pods still terminate).
    """
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


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
        reason = next(
            (
                c.get("reason")
                for c in (job.get("status") or {}).get("conditions") or ()
                if c.get("type") == "Failed"
            ),
            None,
        )
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


__all__ = [
    "FINALIZER",
    "KIND",
    "PLURAL",
    "FileContext",
    "Probe",
    "apply_probe",
    "clock_now",
    "collection_path",
    "deletion_job",
    "deletion_job_name",
    "epoch_of",
    "file_store",
    "finalize",
    "job_outcome",
    "probe",
    "register",
    "retains",
]
