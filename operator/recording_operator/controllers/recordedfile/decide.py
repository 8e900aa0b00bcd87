"""Pure decisions for RecordedFile: which `deletionPolicy` keeps the stored file, what deleting a file
takes (nothing, an object-storage delete, a volume deletion Job, or it cannot be deleted), the phase
and conditions from a probe of the stored file, expiry times, and how a volume deletion Job ended.

Nothing here performs I/O, imports kopf or awaits: `probe` and the handlers do the I/O.
"""

from __future__ import annotations

import re
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


# --- HLS sessions of a provider --------------------------------------------------------------------

#: Largest provider playlist read before deleting it (bytes; ~100,000 slices of Agora's names). A
#: larger one is not parsed: its slices are found by listing (`slice_listing_prefix`).
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
#: Slice containers of an Agora HLS session: "Agora Cloud Recording generates M3U8, TS/WebM, and MP4
#: files" (https://docs.agora.io/en/cloud-recording/develop/manage-files, introduction).
SLICE_SUFFIXES = (".ts", ".webm")
#: `<utc>` of a slice name: `YYYYMMDDhhmmssSSS` in UTC+0 (same page, "Naming conventions").
_UTC_STAMP = r"\d{17}"


def cascades_slices(spec: RecordedFileSpec) -> bool:
    """Whether deleting this RecordedFile's stored object also deletes the HLS slices it lists.

    Only a provider's playlist: a CloudRecording's `.m3u8` object. The provider uploads the `.ts`
    slices beside it without reporting them (Agora reports the M3U8 file name only,
    https://docs.agora.io/en/cloud-recording/rest-api/query, `fileList`), so no RecordedFile owns
    them. A LocalRecording's playlist and segments are RecordedFiles each and are deleted one by one.
    """
    key = spec.location.key
    return spec.recordingRef.kind == "CloudRecording" and key is not None and key.endswith(".m3u8")


def playlist_stem(playlist_key: str) -> tuple[str, str]:
    """(directory with its trailing `/` or `""`, file name without `.m3u8`) of a playlist key.

    For Agora's composite and web page recording the stem is `<sid>_<cname>`, for individual
    recording `<sid>_<cname>__uid_s_<uid>__uid_e_<type>`; the session's slices are named
    `<stem>_<utc>.ts` (or `.webm`) in the same directory
    (https://docs.agora.io/en/cloud-recording/develop/manage-files, "Naming conventions").

    >>> playlist_stem("a/b/sid1_room.m3u8")
    ('a/b/', 'sid1_room')
    """
    directory, _, name = playlist_key.rpartition("/")
    return (f"{directory}/" if directory else ""), name.removesuffix(".m3u8")


def is_session_slice(key: str, playlist_key: str, *, named: bool) -> bool:
    """Whether `key` may be deleted as a slice of the playlist at `playlist_key`: in the same
    directory, named `<stem>_…` and ending in `.ts` or `.webm` (never the playlist, an `.mp4`, or an
    object of another directory). A key the playlist itself names (`named`) needs only that; a key
    found by listing also needs the documented `<stem>_<utc>` name (17 digits), so the stem of one
    session never matches another object that merely starts with it.

    >>> is_session_slice("p/s_c_20250101000000000.ts", "p/s_c.m3u8", named=False)
    True
    >>> is_session_slice("p/s_c_0.mp4", "p/s_c.m3u8", named=True), is_session_slice("q/s_c_1.ts", "p/s_c.m3u8", named=True)
    (False, False)
    """
    directory, stem = playlist_stem(playlist_key)
    if not key.startswith(directory):
        return False
    name = key[len(directory) :]
    if "/" in name or not name.startswith(f"{stem}_") or not name.endswith(SLICE_SUFFIXES):
        return False
    if named:
        return True
    suffixes = "|".join(re.escape(s) for s in SLICE_SUFFIXES)
    return re.fullmatch(rf"{re.escape(stem)}_{_UTC_STAMP}(?:{suffixes})", name) is not None


def playlist_slice_keys(playlist_key: str, text: str) -> list[str]:
    """The object keys of the slices a media playlist names that `is_session_slice` allows, in
    playlist order, each once.

    A playlist line is a URI, blank, or starts with `#` (RFC 8216, section 4.1, "Definition of a
    Playlist"); a URI is resolved against the playlist's directory. Only plain file names qualify:
    absolute URLs, paths (`/`, `..`), queries and fragments are skipped, never deleted.
    """
    directory, _ = playlist_stem(playlist_key)
    keys: dict[str, None] = {}
    for raw in text.splitlines():
        uri = raw.strip()
        if not uri or uri.startswith("#") or any(c in uri for c in "/\\?#:"):
            continue
        key = directory + uri
        if is_session_slice(key, playlist_key, named=True):
            keys[key] = None
    return list(keys)


def slice_listing_prefix(playlist_key: str) -> str:
    """The key prefix to list the session's slices by when the playlist is gone: `<dir>/<stem>_`."""
    directory, stem = playlist_stem(playlist_key)
    return f"{directory}{stem}_"


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
