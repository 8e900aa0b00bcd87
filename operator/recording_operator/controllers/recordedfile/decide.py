"""Pure decisions for RecordedFile: which `deletionPolicy` keeps the stored file, what deleting a file
takes (nothing, an object-storage delete, a volume deletion Job, or it cannot be deleted), the phase
and conditions from a probe of the stored file, expiry times, and how a volume deletion Job ended.

Nothing here performs I/O, imports kopf or awaits: `probe` and the handlers do the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.api.timestamps import epoch_of
from recording_operator.api.v1alpha1.common import MAX_DELETED_FILES
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.storage.volume import UnsafePath, path_parts

KIND = "RecordedFile"
PLURAL = "recordedfiles"


def collection_path(namespace: str) -> str:
    """API path of the RecordedFiles of a namespace."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def retains(policy: str | None) -> bool:
    """Whether a `deletionPolicy` keeps the stored file (`Retain`, or its synonym `Orphan`)."""
    return policy in ("Retain", "Orphan")


# --- deletions the recording remembers ------------------------------------------------------------

#: API plural of each kind a RecordedFile's `recordingRef.kind` names (its status keeps `deletedFiles`).
RECORDING_PLURALS = {"LocalRecording": "localrecordings", "CloudRecording": "cloudrecordings"}


def recording_path(namespace: str, raw_spec: Mapping[str, Any]) -> str | None:
    """API path of the recording a RecordedFile spec names (`recordingRef`), None for an unknown kind
    or a missing name."""
    ref = raw_spec.get("recordingRef") or {}
    plural = RECORDING_PLURALS.get(str(ref.get("kind")))
    name = ref.get("name")
    if plural is None or not name:
        return None
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"


def owned_by(file_meta: Mapping[str, Any], recording: Mapping[str, Any]) -> bool:
    """Whether the recording (a full object) owns the file (`ownerReferences` with its uid) and is not
    itself being deleted: only then does its `status.deletedFiles` remember the file's deletion (an
    orphaned file, or a recording of the same name created later, is none of its business)."""
    meta = recording.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    uid = meta.get("uid")
    return any(o.get("uid") == uid for o in file_meta.get("ownerReferences") or ())


def with_deleted(current: Sequence[str] | None, name: str) -> list[str] | None:
    """`status.deletedFiles` once RecordedFile `name` is deleted (oldest first, at most
    MAX_DELETED_FILES: the oldest names are dropped beyond), None when `name` is already there.

    >>> with_deleted(["a"], "b"), with_deleted(["a"], "a")
    (['a', 'b'], None)
    """
    names = list(current or ())
    if name in names:
        return None
    return [*names, name][-MAX_DELETED_FILES:]


def file_deletion_policy(recording_spec: Mapping[str, Any] | None) -> str:
    """The `deletionPolicy` a recording gives its new RecordedFiles: its `spec.files.deletionPolicy`,
    else Delete (the recording's own `deletionPolicy` is about deleting the recording, not its files)."""
    files = (recording_spec or {}).get("files") or {}
    policy = files.get("deletionPolicy")
    return policy if policy in ("Delete", "Retain") else "Delete"


def deleted_names(status: Mapping[str, Any] | None) -> frozenset[str]:
    """The RecordedFile names a recording's status says were deleted (never to be created again)."""
    return frozenset(str(n) for n in (status or {}).get("deletedFiles") or ())


# --- expiry --------------------------------------------------------------------------------------


# --- the stored file's phase ---------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """The outcome of checking a stored file: `phase` (Available | Missing) and why."""

    phase: str
    reason: str
    message: str
    size_bytes: int | None = None


def location_probe(spec: RecordedFileSpec, *, now: float) -> Probe | None:
    """The phase of a file whose existence needs no storage request, None for an object-storage key.

    - `url`: Available until `location.expiresAt` (Unix seconds `now` on the operator's clock),
      Missing after it (a RealtimeKit download URL expires by itself, `download_url_expiry`, 7 days
      after the upload: https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/);
    - `volume`: Available (the operator does not mount claims; the deletion Job does).

    Raises:
        ValueError: `location.expiresAt` is not an RFC 3339 time.
    """
    loc = spec.location
    if loc.url is not None:
        expires = epoch_of(loc.expiresAt)
        if loc.expiresAt and expires is None:
            raise ValueError(f"location.expiresAt {loc.expiresAt!r} is not an RFC 3339 time")
        if expires is not None and expires <= now:
            return Probe("Missing", "UrlExpired", f"the provider's download URL expired at {loc.expiresAt}")
        return Probe("Available", "ProviderUrl", "downloadable from the provider's URL")
    if loc.volume is not None:
        return Probe(
            "Available", "OnVolume", f"{loc.volume.path} on PersistentVolumeClaim {loc.volume.claimName}"
        )
    return None


def stored_probe(uri: str, size_bytes: int | None, *, exists: bool) -> Probe:
    """The phase of an object-storage file from a `stat` of `uri` (`size_bytes` when it exists)."""
    if not exists:
        return Probe("Missing", "NotFound", f"{uri} does not exist")
    return Probe("Available", "Stored", f"{uri} exists", size_bytes)


def human_size(size_bytes: int | None) -> str | None:
    """`status.size` for `kubectl get` (which cannot format numbers): binary units, one decimal.

    >>> human_size(1536), human_size(512), human_size(3 * 1024**3)
    ('1.5 KiB', '512 B', '3.0 GiB')
    """
    if size_bytes is None:
        return None
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def presentation(spec: RecordedFileSpec, result: Probe) -> dict[str, object]:
    """`status.size` (human-readable; the probe's size, else `spec.sizeBytes`) and
    `status.durationSeconds` (`spec.durationMs` rounded down to s) for the printer columns."""
    size = result.size_bytes if result.size_bytes is not None else spec.sizeBytes
    duration = spec.durationMs // 1000 if spec.durationMs is not None else None
    return {"size": human_size(size), "durationSeconds": duration}


def ready_condition(result: Probe) -> tuple[str, str, str]:
    """`Ready` (status, reason, message) from a probe: True only while the file is Available."""
    return ("True" if result.phase == "Available" else "False", result.reason, result.message)


# --- deletion ------------------------------------------------------------------------------------

#: What the finalizer does: `keep` the data (Retain/Orphan) and release; `refuse`: the spec is
#: invalid or the volume path escapes its claim, leave the data in place with a Warning `InvalidSpec`
#: Event; `expire`: a provider URL cannot be deleted through any API, release with a Normal
#: `NotDeletable` Event; `volume`: run the deletion Job; `object`: delete the object-storage key.
DeletionAction = Literal["keep", "refuse", "expire", "volume", "object"]
#: The Event (type, reason) of the actions that release the finalizer and leave the data in place.
DELETION_EVENTS: dict[str, tuple[str, str]] = {
    "refuse": ("Warning", "InvalidSpec"),
    "expire": ("Normal", "NotDeletable"),
}


@dataclass(frozen=True)
class Deletion:
    """What deleting a RecordedFile takes: `action`, the validated `spec` (for `volume`/`object`) and
    the Event message (for `refuse`/`expire`)."""

    action: DeletionAction
    spec: RecordedFileSpec | None = None
    message: str | None = None


def decide_deletion(raw_spec: Mapping[str, Any]) -> Deletion:
    """What the finalizer does with the stored file of a RecordedFile whose spec is `raw_spec`."""
    if retains(raw_spec.get("deletionPolicy")):
        return Deletion("keep")
    try:
        spec = RecordedFileSpec.model_validate(dict(raw_spec))
    except ValidationError:
        return Deletion("refuse", message="the spec is invalid: the stored file, if any, is left in place")
    loc = spec.location
    if loc.url is not None:
        return Deletion(
            "expire",
            spec,
            "a provider download URL cannot be deleted through an API; it expires by itself"
            + (f" at {loc.expiresAt}" if loc.expiresAt else ""),
        )
    if loc.volume is not None:
        try:
            path_parts(loc.volume.path)
        except UnsafePath as exc:
            return Deletion("refuse", spec, f"cannot delete the stored file: {exc}; it is left in place")
        return Deletion("volume", spec)
    return Deletion("object", spec)


JobOutcome = Literal["Complete", "Failed", "Running"]


def job_outcome(job: Mapping[str, Any]) -> JobOutcome:
    """`Complete`, `Failed` or `Running` from a Job's status conditions, as Kubernetes reports it.

    A Job is finished only when its `Complete` or `Failed` condition is `True` (since Kubernetes
    1.31 `status.succeeded` can count a Pod before the Job is `Complete`, while the interim
    `SuccessCriteriaMet`/`FailureTarget` conditions are set and Pods still terminate; see
    https://kubernetes.io/docs/concepts/workloads/controllers/job/, section "Termination of Job pods").
    """
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status") == "True" and condition.get("type") == "Complete":
            return "Complete"
        if condition.get("status") == "True" and condition.get("type") == "Failed":
            return "Failed"
    return "Running"


def job_failure_reason(job: Mapping[str, Any]) -> str | None:
    """The `reason` of a Job's `Failed` condition (`BackoffLimitExceeded`, `DeadlineExceeded`, ...)."""
    return next(
        (
            c.get("reason")
            for c in (job.get("status") or {}).get("conditions") or ()
            if c.get("type") == "Failed"
        ),
        None,
    )
