"""The JSON served at `GET /status` by the recorder agent; the controller parses it with `RecorderStatus`.

`GET /status?sinceIndex=N` returns only files with `index >= N` (the controller passes one past the
last file it has turned into a RecordedFile); `filesClosed`/`totalBytes` always count every file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError

from ..api.common import Model
from ..api.localrecording import RecordingStats

RecorderPhase = Literal["Starting", "Recording", "Reconnecting", "Stopping", "Stopped", "Failed"]


class ClosedFile(Model):
    """One finished file: closed by FFmpeg and (unless `uploaded` is false) in storage."""

    index: int = Field(ge=0, description="`{index}` of the file; unique within the recording.")
    name: str = Field(description="File name with extension (no directories).")
    key: str = Field(description="Object key in the bucket, or path relative to the volume root.")
    location: str = Field(
        description="`s3://bucket/key`, `gs://…`, `azblob://account/container/…` or `volume://claim/…`."
    )
    format: str = Field(description="Output format (spec.output.format).")
    sizeBytes: int = Field(ge=0, description="File size in bytes (filesystem).")
    durationMs: int | None = Field(default=None, ge=0, description="Media duration, ms.")
    startedAt: str = Field(description="Wall-clock start of the file's media (RFC 3339, UTC).")
    uploaded: bool = Field(default=False, description="True once stored (and deleted locally).")
    uploadedAt: str | None = None
    partial: bool = Field(
        default=False, description="Closed by a crash of FFmpeg, not by the muxer (still playable)."
    )


class RecordingRef(Model):
    """The recording this agent serves (from the config file)."""

    namespace: str
    name: str
    uid: str = ""


class RecorderStatus(Model):
    """The whole `/status` document."""

    recording: RecordingRef
    phase: RecorderPhase = "Starting"
    startedAt: str = Field(description="When the agent started (RFC 3339).")
    stoppedAt: str | None = None
    stats: RecordingStats = Field(default_factory=RecordingStats)
    files: list[ClosedFile] = Field(default_factory=list, description="Closed files, by index.")
    filesClosed: int = Field(default=0, ge=0, description="Count of all closed files.")
    totalBytes: int = Field(default=0, ge=0, description="Sum of closed file sizes (bytes).")
    uploadPending: int = Field(default=0, ge=0, description="Closed files not yet stored.")
    nextIndex: int = Field(default=0, ge=0, description="`{index}` of the next file.")
    reconnects: int = Field(default=0, ge=0, description="FFmpeg restarts.")
    sessions: int = Field(default=0, ge=0, description="FFmpeg runs started.")
    playlist: str | None = Field(default=None, description="hls: location of the uploaded playlist.")
    lastError: str | None = Field(default=None, description="Last FFmpeg/upload error (secrets redacted).")
    lastErrorAt: str | None = None


#: Kubernetes keeps at most this many bytes of a container's termination message (kubelet truncates).
TERMINATION_MESSAGE_MAX_BYTES = 4096


class TerminationMessage(Model):
    """What the agent writes to its termination message file when it exits: the newest stored
    files, so the controller learns about files the agent stored in the moments before it exited
    (after the controller's last `/status` poll) from the Pod object itself, even after an operator
    restart. Read from `status.containerStatuses[].state.terminated.message`.
    """

    files: list[ClosedFile] = Field(default_factory=list, description="Newest stored files, by index.")

    @classmethod
    def of(cls, status: RecorderStatus) -> str:
        """The message for `status`: its stored files, newest first dropped last, so that the JSON
        fits TERMINATION_MESSAGE_MAX_BYTES (bytes)."""
        stored = [f for f in status.files if f.uploaded]
        for start in range(len(stored) + 1):
            text = cls(files=stored[start:]).model_dump_json(exclude_none=True)
            if len(text.encode()) <= TERMINATION_MESSAGE_MAX_BYTES:
                return text
        return cls().model_dump_json()

    @classmethod
    def parse(cls, text: str | None) -> list[ClosedFile]:
        """The stored files of a termination message; [] when absent, truncated or not ours."""
        if not text:
            return []
        try:
            return cls.model_validate_json(text).files
        except ValidationError:
            return []
