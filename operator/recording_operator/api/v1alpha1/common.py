"""Pieces shared by every kind: references, storage, conditions, durations.

Field names follow the Kubernetes API conventions (camelCase on the wire) and, inside provider
blocks, the provider's own names, so the Python attribute is the wire name.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GROUP = "recording.mediaops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/cleanup"

#: Go-style duration accepted by every ``*Duration`` field: ``90s``, ``10m``, ``2h``, ``1h30m``, ``500ms``.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: Longest text of a duration: enough for `8760h` or `1h30m15s500ms`, too short for a number
#: that overflows a handler's date arithmetic.
DURATION_MAX_LENGTH = 32

#: Longest duration a handler computes with (100 years, in seconds). The CRDs bound every duration
#: far below it; an object stored before those bounds may hold more, and `parse_duration` clamps it
#: here so `now + duration` can never overflow (Python dates end at year 9999).
MAX_DURATION_S = 100 * 365 * 86400.0

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=DURATION_MAX_LENGTH,
        description="A duration such as `90s`, `10m`, `2h` or `1h30m` (units ms, s, m, h).",
    ),
]


def duration_bounds(maximum: str, minimum: str | None = None) -> Any:
    """The pydantic `Field` of a duration the API server bounds with CEL:
    `minimum ≤ duration(self) ≤ maximum`, for `Annotated[str, duration_bounds(...)]`.

    Kubernetes CEL's `duration()` reads the same Go-style text (units h, m, s, ms;
    https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-cel-libraries). A value beyond
    the bound, or too large for CEL's 64-bit durations, is rejected when the object is written.
    """
    rules: list[Any] = [
        {"rule": f"duration(self) <= duration('{maximum}')", "message": f"must be ≤ {maximum}"}
    ]
    if minimum is not None:
        rules.insert(
            0, {"rule": f"duration(self) >= duration('{minimum}')", "message": f"must be ≥ {minimum}"}
        )
    bounds = f"at most {maximum}" if minimum is None else f"{minimum} to {maximum}"
    return Field(
        pattern=DURATION_PATTERN,
        max_length=DURATION_MAX_LENGTH,
        description=f"A duration such as `90s`, `10m`, `2h` or `1h30m` (units ms, s, m, h), {bounds}.",
        json_schema_extra={"x-kubernetes-validations": rules},
    )


#: How long recorded files are kept: at most ten years.
RetentionDuration = Annotated[str, duration_bounds("87600h")]
#: How long one cloud session or task may run: at most 720 h, the longest `maxRecordingHour`
#: Agora accepts (https://docs.agora.io/en/cloud-recording/rest-api/start).
SessionDuration = Annotated[str, duration_bounds("720h")]


def parse_duration(value: str) -> timedelta:
    """Parse a Go-style duration (``2h``, ``1h30m``, ``45s``, ``250ms``) into a timedelta.

    Values beyond ``MAX_DURATION_S`` (100 years) are clamped to it, so any text that matches the
    pattern gives a timedelta that can be added to the current time.

    Raises:
        ValueError: the text is not a sequence of ``<number><unit>`` parts with unit ms, s, m or h.
    """
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"invalid duration {value!r}: use e.g. 90s, 10m, 2h, 1h30m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    return timedelta(seconds=min(seconds, MAX_DURATION_S))


class Model(BaseModel):
    """Base of all API models: wire names are attribute names, unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class LocalObjectReference(Model):
    """A reference to an object (here: a Secret) in the same namespace as the referrer."""

    name: str = Field(min_length=1, max_length=253, description="Name of the object in the same namespace.")


class SecretKeySelector(Model):
    """One key of a Secret in the same namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    key: str = Field(min_length=1, max_length=253, description="Key inside the Secret's data.")


StorageVendor = Literal[
    "s3",
    "s3-compatible",
    "aliyun",
    "tencent",
    "azure",
    "gcs",
    "huawei",
    "baidu",
    "digitalocean",
    "sftp",
    "realtimekit-bucket",
    "volume",
]


class VolumeLocation(Model):
    """A PersistentVolumeClaim in the recording's namespace (LocalRecording only)."""

    claimName: str = Field(min_length=1, max_length=253, description="Name of the PersistentVolumeClaim.")
    subPath: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^/].*$",
        description="Relative directory inside the claim; no leading slash, no `..` element.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.matches('(^|/)[.][.](/|$)')",
                    "message": "subPath must stay inside the claim: no '..' element",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _inside_the_claim(self) -> VolumeLocation:
        if self.subPath is not None and ".." in self.subPath.split("/"):
            raise ValueError("subPath must stay inside the claim: no '..' element")
        return self


#: Label that opts a Secret in to being used by recordings of its namespace (value "true"): the
#: operator reads, or maps into a recorder Pod, only Secrets carrying it (or every Secret of a
#: namespace listed in the operator's RECORDING_SECRET_NAMESPACES setting). Creating a recording is
#: using the Secrets it names: the label is how a Secret's owner allows that.
SECRET_USE_LABEL = f"{GROUP}/use"


class StorageSpec(Model):
    """Where recorded files land.

    For Agora Cloud Recording the operator maps `vendor` and `region` to Agora's numeric
    `storageConfig.vendor` / `storageConfig.region` codes (`storageConfig` of https://docs.agora.io/en/cloud-recording/rest-api/start, region
    tables of https://docs.agora.io/en/cloud-recording/reference/region-vendor); credentials come from `credentialsSecretRef`
    (keys `accessKey` and `secretKey`, optionally `stsToken` and `stsExpiration`).
    """

    vendor: StorageVendor = Field(description="Storage service.")
    region: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "Region name as the vendor spells it (`us-east-1`, `cn-hangzhou`, `ap-singapore`, `cn-north-4`, "
            "`baoding`); matched case-insensitively, `-` and `_` alike. azure, gcs and s3-compatible have none."
        ),
    )
    bucket: str | None = Field(default=None, min_length=1, max_length=255, description="Bucket name.")
    endpoint: str | None = Field(
        default=None,
        max_length=2048,
        description="Bucket endpoint for s3-compatible storage (Agora `extensionParams.endpoint`).",
    )
    prefix: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]+$", max_length=128)]] | None = Field(
        default=None,
        max_length=16,
        description=(
            "Directory path of the files, one element per directory (Agora `fileNamePrefix`): letters and "
            "digits only, at most 128 characters in all including the `/` between elements."
        ),
    )
    credentialsSecretRef: LocalObjectReference | None = Field(
        default=None, description="Secret with the storage credentials (`accessKey`, `secretKey`)."
    )
    volume: VolumeLocation | None = Field(default=None, description="For `vendor: volume`.")


DeletionPolicy = Literal["Delete", "Orphan"]

#: metav1.Condition, verbatim (KEP-1623), so generic tooling (kstatus, Argo CD, kubectl wait) works.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(Model):
    """A metav1.Condition: one aspect of the resource's observed state."""

    type: str = Field(
        max_length=316, pattern=CONDITION_TYPE_PATTERN, description="Condition type, e.g. Ready."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    observedGeneration: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was set for."
    )
    lastTransitionTime: str = Field(
        json_schema_extra={"format": "date-time"}, description="When the status last changed (RFC 3339)."
    )
    reason: str = Field(
        min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN, description="CamelCase reason."
    )
    message: str = Field(max_length=32768, description="Human-readable detail.")


class FileDefaults(Model):
    """What each file this recording stores gets, copied into its RecordedFile when it is created."""

    deletionPolicy: Literal["Delete", "Retain"] = Field(
        default="Delete",
        description=(
            "The new RecordedFiles' own `deletionPolicy`: Delete: deleting a RecordedFile (by hand or by "
            "retention) deletes the stored file; Retain: only the object goes. Independent of the "
            "recording's `deletionPolicy`, which says only what deleting the recording does."
        ),
    )


#: How many deleted RecordedFile names a recording's `status.deletedFiles` keeps (oldest dropped beyond).
MAX_DELETED_FILES = 2048
#: The description of `status.deletedFiles` (every recording kind).
DELETED_FILES_DESCRIPTION = (
    "Names of this recording's RecordedFiles deleted while it exists (by hand or by retention), oldest "
    "first, at most 2048: the operator never creates them again, even when the provider or the recorder "
    "still reports the file after an operator restart. Written by the RecordedFile's finalizer before "
    "it deletes the stored file."
)


class FilesSummary(Model):
    """What the recording has produced so far."""

    count: int = Field(default=0, ge=0, description="Number of files reported by the provider.")
    totalBytes: int | None = Field(default=None, ge=0, description="Sum of file sizes in bytes, when known.")
    latest: str | None = Field(default=None, description="Most recent file name (with its prefix path).")
    names: list[str] | None = Field(
        default=None, max_length=32, description="Up to the 32 most recent file names, oldest first."
    )
