"""RecordedFile: one stored artifact of a recording. Written once by the operator, like a
PersistentVolume describes a disk; deleting it deletes the stored file (`deletionPolicy: Delete`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recording_operator.api.v1alpha1.common import Condition, LocalObjectReference, Model, StorageVendor

#: Label on every RecordedFile naming its recording (`recording.mediaops.io/recording=<name>`).
RECORDING_LABEL = "recording.mediaops.io/recording"
#: The LocalRecording output that wrote the file (`main` for `spec.output`, else an additionalOutputs name).
OUTPUT_LABEL = "recording.mediaops.io/output"

#: What deleting a RecordedFile does to the stored file: `Delete` deletes it; `Retain` keeps it
#: (only the object goes, like a PersistentVolume's reclaim policy); `Orphan` is a synonym of Retain,
#: the term the recordings use.
FileDeletionPolicy = Literal["Delete", "Retain", "Orphan"]


class RecordingReference(Model):
    """The recording that produced the file (same namespace)."""

    kind: Literal["CloudRecording", "LocalRecording"]
    name: str = Field(min_length=1, max_length=253)


class VolumeFile(Model):
    """A file on a PersistentVolumeClaim in the file's namespace."""

    claimName: str = Field(min_length=1, max_length=253)
    path: str = Field(
        min_length=1, max_length=4096, pattern=r"^[^/].*$", description="Relative to the claim root."
    )


class FileLocation(Model):
    """Where the bytes are: an object (`vendor`, `bucket`, `key`), a `volume` file, or a provider `url`."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.key) ? 1 : 0) + (has(self.volume) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",
                    "message": "exactly one of key (object storage), volume or url",
                },
                {
                    "rule": "!has(self.key) || (has(self.vendor) && has(self.bucket))",
                    "message": "key needs vendor and bucket",
                },
            ]
        }
    }

    vendor: StorageVendor | None = None
    bucket: str | None = Field(default=None, max_length=255)
    key: str | None = Field(default=None, max_length=4096, description="Object key (prefix + file name).")
    region: str | None = Field(default=None, max_length=64)
    endpoint: str | None = Field(default=None, max_length=2048, description="s3-compatible endpoint.")
    volume: VolumeFile | None = None
    url: str | None = Field(
        default=None, max_length=8192, description="Provider download URL (e.g. RealtimeKit bucket)."
    )
    expiresAt: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}, description="When `url` stops working."
    )


class RecordedFileSpec(Model):
    """One stored artifact; immutable once written by the operator."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.location == oldSelf.location", "message": "location is immutable"},
                {"rule": "self.recordingRef == oldSelf.recordingRef", "message": "recordingRef is immutable"},
            ]
        }
    }

    recordingRef: RecordingReference
    location: FileLocation
    credentialsSecretRef: LocalObjectReference | None = Field(
        default=None, description="Storage credentials (the recording's `storage.credentialsSecretRef`)."
    )
    format: str | None = Field(
        default=None, max_length=32, description="Container: mp4, mkv, ts, m3u8, webm, ..."
    )
    sizeBytes: int | None = Field(default=None, ge=0, description="Size in bytes.")
    durationMs: int | None = Field(default=None, ge=0, description="Duration in ms.")
    startedAt: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    deletionPolicy: FileDeletionPolicy = Field(
        default="Delete",
        description="Delete: deleting this object deletes the stored file (already gone counts as done). "
        "Retain (or its synonym Orphan): deleting this object keeps the stored file.",
    )
    expiresAt: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="From the recording's retention.deleteAfter: the operator deletes the file then.",
    )


class RecordedFileStatus(Model):
    """Observed state of a RecordedFile."""

    observedGeneration: int | None = None
    phase: Literal["Available", "Deleting", "Missing", "Failed"] | None = Field(
        default=None,
        description="Available: stored (or a provider URL); Missing: the stored object disappeared; "
        "Deleting: the finalizer is deleting it; Failed: the storage refused (see the Synced condition).",
    )
    size: str | None = Field(
        default=None, description="The size for people, e.g. `1.5 GiB` (printer column)."
    )
    durationSeconds: int | None = Field(default=None, ge=0, description="The duration in whole seconds.")
    conditions: list[Condition] | None = None
