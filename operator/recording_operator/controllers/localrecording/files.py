"""The recording's stored files and their RecordedFiles: `StoredFile` (from the agent's `/status`, its
termination message or a bucket listing), the RecordedFile body of a closed file, `status.files`,
and finding the recording's files in a bucket listing by its `output.fileNameTemplate`.

Pure functions (no I/O). RecordedFile names are deterministic (`<recording>-<index, 5 digits>`) and
carry the index as a label, so a repeated create is a harmless 409 and numbering survives operator
restarts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recording_operator.api.agent import ClosedFile
from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.common import API_VERSION, GROUP, parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    EXTENSIONS,
    PRIMARY_OUTPUT_NAME,
    LocalRecordingSpec,
    NamedOutput,
    named_outputs,
)
from recording_operator.api.v1alpha1.recordedfile import OUTPUT_LABEL, RECORDING_LABEL
from recording_operator.controllers._kit.shard import SHARD_FINALIZER, shard_labels_of
from recording_operator.controllers._kit.status import files_summary as status_files_summary
from recording_operator.controllers.localrecording.manifests import KIND, dns_name, owner_reference

#: RecordedFile label with the file's `{index}` (5 digits), so numbering survives operator restarts.
FILE_INDEX_LABEL = f"{GROUP}/file-index"


def recorded_file_name(name: str, index: int) -> str:
    """RecordedFile of the file with `{index}` `index`: `<recording>-<index, 5 digits>`."""
    return dns_name(name, f"{index:05d}", 253)


def file_index(obj: Mapping[str, Any]) -> int | None:
    """A RecordedFile object's `{index}` (its FILE_INDEX_LABEL), None when it has none."""
    text = str((obj.get("metadata", {}).get("labels") or {}).get(FILE_INDEX_LABEL, ""))
    return int(text) if text.isdigit() else None


def files_summary(files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`status.files` from the recording's RecordedFile objects (ordered by their index label), with
    `totalBytes`."""
    ordered = sorted(files, key=lambda f: file_index(f) or 0)
    keys = [(f.get("spec", {}).get("location") or {}).get("key") or "" for f in ordered]
    total = sum(int(f.get("spec", {}).get("sizeBytes") or 0) for f in ordered)
    return status_files_summary(keys, totalBytes=total)


def outputs_summary(files: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`status.outputs` from the recording's RecordedFile objects: per output (their OUTPUT_LABEL,
    `main` when absent; `main` first, then by name) the `count`, `totalBytes` and `latest` of
    `files_summary`."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for f in files:
        name = str((f.get("metadata", {}).get("labels") or {}).get(OUTPUT_LABEL) or PRIMARY_OUTPUT_NAME)
        groups.setdefault(name, []).append(f)
    found = []
    for name in sorted(groups, key=lambda n: (n != PRIMARY_OUTPUT_NAME, n)):
        summary = files_summary(groups[name])
        found.append({"name": name, **{k: summary[k] for k in ("count", "totalBytes", "latest")}})
    return found


@dataclass(frozen=True)
class StoredFile:
    """One stored file of the recording: from the agent's `/status`, or found in the bucket."""

    index: int
    key: str
    size_bytes: int
    format: str
    duration_ms: int | None = None
    started_at: str | None = None
    closed_at: datetime | None = None
    #: The output that wrote it (PRIMARY_OUTPUT_NAME: `spec.output`).
    output: str = PRIMARY_OUTPUT_NAME

    @classmethod
    def from_agent(cls, file: ClosedFile) -> StoredFile:
        """From one `/status` file entry."""
        closed = None
        if file.uploadedAt:
            closed = datetime.fromisoformat(file.uploadedAt.replace("Z", "+00:00"))
        return cls(
            index=file.index,
            key=file.key,
            size_bytes=file.sizeBytes,
            format=EXTENSIONS.get(file.format, file.format),
            duration_ms=file.durationMs,
            started_at=file.startedAt,
            closed_at=closed,
            output=file.output,
        )


def recorded_file_manifest(
    body: Mapping[str, Any], spec: LocalRecordingSpec, file: StoredFile, *, now: datetime
) -> dict[str, Any]:
    """The RecordedFile of one stored file: name `<recording>-<index>`, labelled with the recording,
    the index and the output that wrote it (OUTPUT_LABEL), owned by the LocalRecording, `deletionPolicy` from the recording's
    `files.deletionPolicy` (default Delete; the recording's own `deletionPolicy` is not the file's) and
    `expiresAt` from the recording (`retention.deleteAfter` after the file was closed); created with the
    shard's finalizer and the recording's shard labels, like a CloudRecording's files.
    """
    meta = body["metadata"]
    storage = spec.storage
    location: dict[str, Any]
    if storage.vendor == "volume" and storage.volume is not None:
        path = f"{storage.volume.subPath.rstrip('/')}/{file.key}" if storage.volume.subPath else file.key
        location = {"volume": {"claimName": storage.volume.claimName, "path": path}}
    else:
        location = {"vendor": storage.vendor, "bucket": storage.bucket, "key": file.key}
        if storage.region:
            location["region"] = storage.region
        if storage.endpoint:
            location["endpoint"] = storage.endpoint
    file_spec: dict[str, Any] = {
        "recordingRef": {"kind": KIND, "name": meta["name"]},
        "location": location,
        "format": file.format,
        "sizeBytes": file.size_bytes,
        "deletionPolicy": spec.files.deletionPolicy if spec.files is not None else "Delete",
    }
    if storage.credentialsSecretRef is not None:
        file_spec["credentialsSecretRef"] = {"name": storage.credentialsSecretRef.name}
    if file.duration_ms is not None:
        file_spec["durationMs"] = file.duration_ms
    if file.started_at:
        file_spec["startedAt"] = file.started_at
    if spec.retention is not None:
        file_spec["expiresAt"] = rfc3339((file.closed_at or now) + parse_duration(spec.retention.deleteAfter))
    return {
        "apiVersion": API_VERSION,
        "kind": "RecordedFile",
        "metadata": {
            "name": recorded_file_name(meta["name"], file.index),
            "namespace": meta["namespace"],
            # The recording's shard labels keep its files in the same operator shard (`_kit/shard.py`).
            "labels": {
                **shard_labels_of(meta.get("labels")),
                RECORDING_LABEL: meta["name"],
                FILE_INDEX_LABEL: f"{file.index:05d}",
                OUTPUT_LABEL: file.output,
            },
            # Set at creation, not by kopf's first pass: a RecordedFile deleted before that pass (its
            # recording deleted at once) would otherwise go without its finalizer deleting the object.
            "finalizers": [SHARD_FINALIZER],
            "ownerReferences": [owner_reference(body)],
        },
        "spec": file_spec,
    }


# --- files found in the bucket -------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(recording|namespace|output|index|start)(?::([^}]*))?\}")
_STRFTIME_DIGITS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "j": 3}


def _strftime_pattern(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in _STRFTIME_DIGITS:
            out.append(rf"\d{{{_STRFTIME_DIGITS[fmt[i + 1]]}}}")
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def file_name_pattern(
    template: str, *, recording: str, namespace: str, extension: str, output: str = PRIMARY_OUTPUT_NAME
) -> re.Pattern[str]:
    """A regex matching the names `render_file_name` gives this recording's files of `output`; group
    `index`."""
    parts, pos, seen_index = [], 0, False
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : match.start()]))
        key, fmt = match.group(1), match.group(2)
        if key == "recording":
            parts.append(re.escape(recording))
        elif key == "namespace":
            parts.append(re.escape(namespace))
        elif key == "output":
            parts.append(re.escape(output))
        elif key == "index":
            parts.append(r"(?P<index>\d{5,})" if not seen_index else r"\d{5,}")
            seen_index = True
        else:
            parts.append(_strftime_pattern(fmt or "%Y%m%dT%H%M%SZ"))
        pos = match.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts) + re.escape(f".{extension}"))


def output_pattern(spec_output: NamedOutput, *, recording: str, namespace: str) -> re.Pattern[str]:
    """`file_name_pattern` of one of the recording's outputs (`named_outputs`)."""
    return file_name_pattern(
        spec_output.fileNameTemplate,
        recording=recording,
        namespace=namespace,
        extension=EXTENSIONS[spec_output.format],
        output=spec_output.name,
    )


def storage_key_prefix(spec: LocalRecordingSpec) -> str:
    """The key prefix of the recording's files: `storage.prefix` joined by `/`, with a trailing `/`
    (`""` without a prefix), as the recorder's store builds it."""
    joined = "/".join(spec.storage.prefix or [])
    return f"{joined}/" if joined else ""


def reported_key_problem(
    spec: LocalRecordingSpec, *, recording: str, namespace: str, file: StoredFile, first_index: int
) -> str | None:
    """Why a file the agent reported (its `/status` or its termination message) is not one of this
    recording's files, or None when it is.

    The agent runs in the recording's Pod and is not trusted: a RecordedFile gets the recording's
    `deletionPolicy` and `expiresAt`, so a forged key would let the operator delete any object the
    storage credentials reach. A key is accepted only when it is `storage_key_prefix(spec)` + a name
    of the reported output's `fileNameTemplate` (this recording, namespace and output, the output's
    extension) whose `{index}` is the reported index, and that index is at least `first_index` (the
    Pod's first file). The message names the key (it is the agent's own report, not a secret).
    """
    prefix = storage_key_prefix(spec)
    if not file.key.startswith(prefix):
        return f"key {file.key!r} is outside the recording's prefix {prefix!r}"
    output = next((o for o in named_outputs(spec) if o.name == file.output), None)
    if output is None:
        return f"output {file.output!r} of key {file.key!r} is not one of the recording's outputs"
    match = output_pattern(output, recording=recording, namespace=namespace).fullmatch(
        file.key[len(prefix) :]
    )
    if match is None:
        return f"key {file.key!r} does not match the fileNameTemplate of output {file.output}"
    if int(match.group("index")) != file.index:
        return f"key {file.key!r} does not carry the reported index {file.index}"
    if file.index < first_index:
        return f"index {file.index} is below the recorder Pod's first index {first_index}"
    return None


def stored_files_from_listing(
    spec: LocalRecordingSpec,
    *,
    recording: str,
    namespace: str,
    prefix: str,
    objects: Sequence[tuple[str, int, datetime | None]],
    min_index: int,
) -> list[StoredFile]:
    """The recording's files among bucket objects `(key, size, last modified)` under `prefix`, with
    `{index}` ≥ `min_index` (files of the Pod being collected), by index, each with the first of
    `named_outputs` whose names match it. Durations are unknown.
    """
    patterns = [
        (out, output_pattern(out, recording=recording, namespace=namespace)) for out in named_outputs(spec)
    ]
    found: dict[int, StoredFile] = {}
    for key, size, modified in objects:
        if not key.startswith(prefix):
            continue
        for out, pattern in patterns:
            match = pattern.fullmatch(key[len(prefix) :])
            if match is None:
                continue
            index = int(match.group("index"))
            if index >= min_index and index not in found:
                found[index] = StoredFile(
                    index=index,
                    key=key,
                    size_bytes=size,
                    format=EXTENSIONS[out.format],
                    closed_at=modified,
                    output=out.name,
                )
            break
    return [found[i] for i in sorted(found)]


def with_reported(listed: Sequence[StoredFile], reported: Mapping[int, StoredFile]) -> list[StoredFile]:
    """Files found in the bucket, completed with what the agent reported about the same file (same
    index and key) before it exited: duration, media start and upload time. A file the agent never
    reported keeps `duration_ms` None (the listing cannot tell it; the RecordedFile omits `durationMs`).
    """
    out = []
    for file in listed:
        known = reported.get(file.index)
        if known is not None and known.key == file.key:
            file = replace(
                file,
                duration_ms=known.duration_ms if known.duration_ms is not None else file.duration_ms,
                started_at=known.started_at or file.started_at,
                closed_at=known.closed_at or file.closed_at,
            )
        out.append(file)
    return out
