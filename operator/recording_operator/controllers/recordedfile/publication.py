"""RecordedFiles of a recording: created from the files a provider reports, deleted (or orphaned)
with the recording.

- `agora_files` / `realtimekit_files` turn a provider's file list into `FileRecord`s: Agora's
  query/stop `fileList` (https://docs.agora.io/en/cloud-recording/rest-api/query and
  https://docs.agora.io/en/cloud-recording/rest-api/stop, "Response"; `fileName` carries the
  `fileNamePrefix` path: https://docs.agora.io/en/cloud-recording/develop/manage-files) →
  bucket + prefix + fileName; RealtimeKit's UPLOADED recording → its presigned `download_url` +
  `download_url_expiry` (RealtimeKit bucket), or `storage_config.path` + `output_file_name` in
  external storage (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/custom-cloud-storage/);
- `publish_files` creates one RecordedFile per record, idempotently: the name is
  `<recording>-<sha256(location)[:10]>`, a 409 AlreadyExists counts as done (adoption), and the
  names already published are remembered per recording so a repeated query costs no API call.
  That memory is rebuilt from the cluster (one LIST by the recording label) the first time a
  process publishes for a recording, so after an operator restart neither duplicates nor a burst
  of 409s happen, and a file reported before the restart but not created yet is created. Each object is
  labelled `recording.mediaops.io/recording=<name>`, owned by the recording, created with the
  finalizer already set (saving kopf one PATCH), and gets `expiresAt` = first seen +
  `spec.retention.deleteAfter`;
- `carry_records` / `carried_records`: files a provider reported whose RecordedFiles could not be
  created are kept in the recording's `recording.mediaops.io/unpublished-files` annotation until a
  later invocation creates them: Agora reports a session's final file list only once, in the stop
  response (https://docs.agora.io/en/cloud-recording/rest-api/stop; after `stop` the session no
  longer answers `query`), so a failed create must not lose it;
- `release_files` runs in the recording's finalizer: `Delete` deletes its RecordedFiles (each one's
  finalizer deletes the stored object) and reports how many are still there, so the caller waits
  before releasing its own finalizer; `Orphan` removes the recording's ownerReference from them, so
  the owner cascade does not delete them: objects and stored data stay, and each RecordedFile keeps
  its own `deletionPolicy` and `expiresAt`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from recording_operator.api import GROUP, VERSION, parse_duration
from recording_operator.api.timestamps import parse_rfc3339, rfc3339
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL
from recording_operator.controllers._kit.context import Context
from recording_operator.controllers._kit.shard import SHARD_FINALIZER, shard_labels_of
from recording_operator.controllers.recordedfile.decide import (
    KIND,
    collection_path,
    deleted_names,
    file_deletion_policy,
)
from recording_operator.controllers.recordedfile.probe import clock_now
from recording_operator.providers.agora import RecordingFile as AgoraFile
from recording_operator.providers.realtimekit import RecordingState
from recording_operator.storage import StorageError

#: Recordings whose published file names are remembered (least recently used beyond this).
MAX_TRACKED_RECORDINGS = 4096
#: RecordedFile creates in flight at once for one publication.
MAX_CONCURRENT_CREATES = 8
#: Annotation on a recording with the reported files still without a RecordedFile (JSON list).
UNPUBLISHED_ANNOTATION = f"{GROUP}/unpublished-files"
#: Bound of that annotation's value in bytes (Kubernetes allows 256 KiB for all annotations together).
MAX_UNPUBLISHED_BYTES = 128 * 1024


@dataclass(frozen=True)
class FileRecord:
    """One file a provider reported: an object `key` in the recording's storage, or a provider `url`.

    Sizes in bytes, durations in ms, times RFC 3339.
    """

    key: str | None = None
    url: str | None = None
    url_expires_at: str | None = None
    size_bytes: int | None = None
    duration_ms: int | None = None
    started_at: str | None = None

    @property
    def identity(self) -> str:
        """What names the file: the key, or the URL without its query (presigned signatures change)."""
        return self.key if self.key is not None else (self.url or "").split("?", 1)[0]

    @property
    def format(self) -> str | None:
        """The file name's extension (`mp4`, `m3u8`, `webm`, …), if any."""
        name = self.identity.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1].lower() if "." in name else None


def storage_prefix(storage: StorageSpec) -> str:
    """`storage.prefix` as a key prefix (`a/b/`), or `""`."""
    return "".join(f"{p}/" for p in storage.prefix or [])


def agora_files(storage: StorageSpec, files: Iterable[AgoraFile]) -> list[FileRecord]:
    """Records of an Agora `fileList`: key = prefix + fileName (fileName normally carries the
    `fileNamePrefix` path already, https://docs.agora.io/en/cloud-recording/develop/manage-files;
    it is added only when missing)."""
    prefix = storage_prefix(storage)
    records = []
    for f in files:
        if not f.file_name:
            continue
        key = f.file_name if f.file_name.startswith(prefix) else prefix + f.file_name
        started = rfc3339(f.slice_start_time_ms / 1000) if f.slice_start_time_ms else None
        records.append(FileRecord(key=key, started_at=started))
    return records


def realtimekit_files(storage: StorageSpec, state: RecordingState) -> list[FileRecord]:
    """Records of an UPLOADED RealtimeKit recording: nothing before `UPLOADED`, when the upload is
    complete and `download_url` is set
    (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/).

    RealtimeKit bucket: one record per download URL (with its expiry). External storage: the
    output file under `storage_config.path`, relative to the bucket root (the prefix joined by `/`,
    https://developers.cloudflare.com/realtime/realtimekit/recording-guide/custom-cloud-storage/).
    """
    if state.status != "UPLOADED":
        return []
    duration = state.duration_s * 1000 if state.duration_s is not None else None
    if storage.vendor == "realtimekit-bucket":
        return [
            FileRecord(
                url=f.download_url,
                url_expires_at=f.expires_at,
                size_bytes=f.size_bytes,
                duration_ms=duration,
                started_at=state.started_time,
            )
            for f in state.files
            if f.download_url
        ]
    if not state.output_file_name:
        return []
    return [
        FileRecord(
            key=storage_prefix(storage) + state.output_file_name,
            size_bytes=state.file_size_bytes,
            duration_ms=duration,
            started_at=state.started_time,
        )
    ]


def file_object_name(recording: str, record: FileRecord) -> str:
    """`<recording>-<first 10 hex of sha256(identity)>`: deterministic, a valid object name."""
    digest = hashlib.sha256(record.identity.encode()).hexdigest()[:10]
    return f"{recording[: 253 - 11]}-{digest}"


def recorded_file_body(
    *,
    kind: str,
    recording: Mapping[str, Any],
    storage: StorageSpec,
    record: FileRecord,
    expires_at: str | None,
    deletion_policy: str = "Delete",
) -> dict[str, Any]:
    """The RecordedFile manifest of `record` for the recording `recording` (its metadata), with the
    file's own `deletion_policy` (the recording's `spec.files.deletionPolicy`).

    Raises:
        ValueError: the record has neither key nor url.
    """
    name = str(recording["name"])
    location: dict[str, Any]
    if record.key is not None:
        location = {"vendor": storage.vendor, "bucket": storage.bucket, "key": record.key}
        if storage.region:
            location["region"] = storage.region
        if storage.endpoint:
            location["endpoint"] = storage.endpoint
    elif record.url is not None:
        location = {"url": record.url}
        if record.url_expires_at:
            location["expiresAt"] = record.url_expires_at
    else:
        raise ValueError("a file record needs a key or a url")
    spec: dict[str, Any] = {
        "recordingRef": {"kind": kind, "name": name},
        "location": location,
        "deletionPolicy": deletion_policy,
    }
    if record.key is not None and storage.credentialsSecretRef is not None:
        spec["credentialsSecretRef"] = {"name": storage.credentialsSecretRef.name}
    optional = {
        "format": record.format,
        "sizeBytes": record.size_bytes,
        "durationMs": record.duration_ms,
        "startedAt": record.started_at,
        "expiresAt": expires_at,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": file_object_name(name, record),
            # The recording's shard labels keep its files in the same operator shard (`_kit/shard.py`).
            "labels": {**shard_labels_of(recording.get("labels")), RECORDING_LABEL: name},
            "finalizers": [SHARD_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": kind,
                    "name": name,
                    "uid": recording["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


#: recording uid → names of the RecordedFiles already created (or found existing) for it.
_PUBLISHED: OrderedDict[str, set[str]] = OrderedDict()


def _never_published(status: Mapping[str, Any]) -> bool:
    """Whether the API server's status of a recording shows that none of its RecordedFiles can exist:
    no file reported (`files.count` 0), none deleted, none awaiting creation. (A past session's
    files, once `files` was reset for a new one, carry that session's id in their names: no file of
    the new session can collide with them.)"""
    files = status.get("files") or {}
    return not (files.get("count") or status.get("deletedFiles") or status.get("unpublishedFiles"))


async def _published(ctx: Context) -> set[str]:
    """The names of the recording's RecordedFiles known to exist: remembered, or listed once — not
    even once for a recording whose status shows it never had a file (`_never_published`): a LIST
    per new recording is what a thousand sessions ending together would cost the API server. A
    RecordedFile created anyway (its creator died before writing the status) answers the create
    with 409, which counts as published.

    Raises:
        KubeApiError: the listing failed (nothing is remembered; the next report lists again).
    """
    uid = str(ctx.meta.get("uid", ""))
    names = _PUBLISHED.get(uid)
    if names is None:
        if _never_published(ctx.status.current):
            names = set()
        else:
            items = await ctx.runtime.kube.list_objects(
                collection_path(ctx.namespace), label_selector=f"{RECORDING_LABEL}={ctx.name}"
            )
            names = {str(item["metadata"]["name"]) for item in items}
        _PUBLISHED[uid] = names
        while len(_PUBLISHED) > MAX_TRACKED_RECORDINGS:
            _PUBLISHED.popitem(last=False)
    _PUBLISHED.move_to_end(uid)
    return names


def remembered(ctx: Context) -> set[str] | None:
    """The names of the recording's RecordedFiles this process knows exist, or None when it has not
    listed them yet (no API call)."""
    return _PUBLISHED.get(str(ctx.meta.get("uid", "")))


async def publish_files(
    ctx: Context, kind: str, storage: StorageSpec, records: Iterable[FileRecord], delete_after: str | None
) -> int:
    """Create the RecordedFiles of `records` that do not exist yet; returns how many were new.
    `delete_after` is the recording's `retention.deleteAfter` (a duration), if any.

    Existence comes from this process's memory, rebuilt from the cluster when the recording is new
    to it (`_published`); an object that exists anyway (409) counts as published. A name in the
    recording's `status.deletedFiles` (its RecordedFile was deleted) is never created again. Each new
    RecordedFile gets the recording's `spec.files.deletionPolicy` (default Delete).

    Raises:
        KubeApiError: the listing or a create failed (the creates run concurrently, at most
            MAX_CONCURRENT_CREATES at once, and all are tried; the failed ones on the next report).
    """
    records = list(records)
    if not records:
        return 0
    done = await _published(ctx)
    deleted = deleted_names(ctx.status.current)
    policy = file_deletion_policy(ctx.body.get("spec"))
    retention = parse_duration(delete_after) if delete_after else None
    bodies: dict[str, dict[str, Any]] = {}
    for record in records:
        name = file_object_name(ctx.name, record)
        if name in done or name in deleted or name in bodies:
            continue
        expires = (
            rfc3339(clock_now(ctx.runtime.settings) + retention / timedelta(seconds=1)) if retention else None
        )
        bodies[name] = recorded_file_body(
            kind=kind,
            recording=ctx.meta,
            storage=storage,
            record=record,
            expires_at=expires,
            deletion_policy=policy,
        )
    limit = asyncio.Semaphore(MAX_CONCURRENT_CREATES)

    async def create(name: str, body: dict[str, Any]) -> bool:
        async with limit:
            new = await ctx.runtime.kube.create_object(collection_path(ctx.namespace), body) is not None
        done.add(name)
        return new

    # Pipelined: a notice or a stop answer listing many files costs one round trip, not one each.
    outcomes = await asyncio.gather(*(create(n, b) for n, b in bodies.items()), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return sum(1 for outcome in outcomes if outcome is True)


def carry_records(records: Iterable[FileRecord]) -> str:
    """The `UNPUBLISHED_ANNOTATION` value for `records`: a compact JSON list of their non-empty
    fields, duplicates (same identity) dropped, at most MAX_UNPUBLISHED_BYTES long (the newest
    records are dropped first beyond it; a provider that reports that many files in one answer also
    lists them again on its next query)."""
    unique = list({r.identity: r for r in records}.values())
    rows = [{k: v for k, v in asdict(r).items() if v is not None} for r in unique]
    text = json.dumps(rows, separators=(",", ":"))
    while len(text.encode()) > MAX_UNPUBLISHED_BYTES and rows:
        rows.pop()
        text = json.dumps(rows, separators=(",", ":"))
    return text


def carried_records(annotations: Mapping[str, str] | None) -> list[FileRecord]:
    """The records kept in `UNPUBLISHED_ANNOTATION` (none when absent or malformed; unknown fields
    and entries without a key or URL are skipped)."""
    raw = (annotations or {}).get(UNPUBLISHED_ANNOTATION)
    if not raw:
        return []
    try:
        rows = json.loads(raw)
    except ValueError:
        return []
    names = {f.name for f in fields(FileRecord)}
    records = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, dict) and (row.get("key") or row.get("url")):
            records.append(FileRecord(**{k: v for k, v in row.items() if k in names}))
    return records


async def release_files(ctx: Context, kind: str, policy: str) -> int:
    """The recording is being deleted: act on its RecordedFiles per `policy`; returns how many of
    them still exist (with `Delete`, the caller waits until 0 before releasing its finalizer).

    Only RecordedFiles labelled with the recording's name, of this kind, and owned by this very
    recording (uid) are touched.

    Raises:
        KubeApiError: listing, deleting or patching failed (the caller retries).
    """
    uid = str(ctx.meta.get("uid", ""))
    items = await ctx.runtime.kube.list_objects(
        collection_path(ctx.namespace), label_selector=f"{RECORDING_LABEL}={ctx.name}"
    )
    ours = [
        item
        for item in items
        if (item.get("spec") or {}).get("recordingRef", {}).get("kind") == kind
        and any(o.get("uid") == uid for o in item["metadata"].get("ownerReferences") or ())
    ]
    path = collection_path(ctx.namespace)
    if policy == "Orphan":
        for item in ours:
            others = [o for o in item["metadata"].get("ownerReferences") or () if o.get("uid") != uid]
            await ctx.runtime.kube.merge_patch(
                f"{path}/{item['metadata']['name']}", {"metadata": {"ownerReferences": others or None}}
            )
        _PUBLISHED.pop(uid, None)
        return 0
    for item in ours:
        if not item["metadata"].get("deletionTimestamp"):
            await ctx.runtime.kube.delete_object(f"{path}/{item['metadata']['name']}")
    if not ours:
        _PUBLISHED.pop(uid, None)
    return len(ours)


#: Seconds after a recording's deletion during which a storage that cannot be listed for files no
#: RecordedFile names (`unreported_listing_wait`) is tried again before its finalizer goes on.
STORED_LIST_WAIT_S = 30.0


def unreported_listing_wait(ctx: Context, exc: Exception) -> float:
    """A finalizer could not list the storage for files no RecordedFile names: seconds to wait
    before listing again (> 0), while `exc` is a retryable `StorageError` and within
    STORED_LIST_WAIT_S seconds of the deletion; else 0, with a Warning Event `StoredFilesUnchecked`
    (any such file stays in the bucket).
    """
    retryable = isinstance(exc, StorageError) and exc.retryable
    deleted = parse_rfc3339(str(ctx.meta.get("deletionTimestamp") or ""))
    since = 0.0 if deleted is None else max(0.0, (datetime.now(UTC) - deleted).total_seconds())
    left = STORED_LIST_WAIT_S - since
    if retryable and left > 0:
        return left
    ctx.event(
        "Warning",
        "StoredFilesUnchecked",
        f"the storage could not be listed for files stored but never reported ({exc}); any such file stays "
        "in the bucket",
    )
    return 0.0


def unreported_files_found(ctx: Context, count: int, why: str) -> None:
    """Event `UnreportedFilesFound`: `count` stored files had no RecordedFile (`why`); they go with the
    recording."""
    ctx.event(
        "Normal",
        "UnreportedFilesFound",
        f"{count} stored files of this recording had no RecordedFile ({why}); they are deleted with the recording",
    )
