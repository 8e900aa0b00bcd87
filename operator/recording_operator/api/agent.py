"""The recorder ↔ controller wire contract: config file, environment variables, port, paths, `/status`
JSON and the termination message. Both sides import it; neither imports the other.

The controller writes one JSON file (a ConfigMap key mounted at `DEFAULT_CONFIG_PATH`) and starts the
container with `recording-operator record --config DEFAULT_CONFIG_PATH`:

```json
{
  "apiVersion": "recorder.recording.mediaops.io/v1",
  "recording": {"namespace": "team-a", "name": "standup", "uid": "6f1c..."},
  "spec": { ... LocalRecordingSpec as JSON (camelCase, as in the CR) ... },
  "numbering": {"nextIndex": 0},
  "agent": {"statsPeriodS": 1.0, "backoffInitialMs": 1000, "backoffMaxMs": 30000, "stopGraceS": 20.0},
  "policy": {"allowPrivate": false, "storageEndpoints": ["minio.storage.example:9000"]}
}
```

`numbering.nextIndex` is the `{index}` of the first file this Pod writes (the controller passes one
past the highest index it has seen, so a replacement Pod never reuses a name); `agent` is optional;
`policy` is the operator's destination policy (`api.destinations`), which the agent applies again
after resolving the input, overlay and storage hosts.

Secrets come from environment variables (the controller maps Secret keys to them with
`valueFrom.secretKeyRef`), never from the file: `ENV_*` below. Nothing secret is logged or served.

`spec.input.tls.caConfigMapRef` (PEM CA certificates, not secret): the controller mounts that
ConfigMap key read-only as the file DEFAULT_TLS_CA_PATH and names it in `$RECORDER_TLS_CA_FILE`
(an environment value, like `$RECORDER_WORK_DIR`, so the sandbox's Pod runner rewrites it to its
local copy); FFmpeg gets it as `-ca_file`.
"""

from __future__ import annotations

import json
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, ValidationError

from recording_operator.api.destinations import DestinationPolicy
from recording_operator.api.v1alpha1.common import Model
from recording_operator.api.v1alpha1.localrecording import (
    PRIMARY_OUTPUT_NAME,
    LocalRecordingSpec,
    RecordingStats,
)

CONFIG_API_VERSION = "recorder.recording.mediaops.io/v1"
#: Where the controller mounts the config file (ConfigMap key `config.json`).
DEFAULT_CONFIG_PATH = "/etc/recorder/config.json"
CONFIG_FILE_KEY = "config.json"
#: Writable scratch directory for FFmpeg output (an emptyDir); override with ENV_WORK_DIR.
DEFAULT_WORK_DIR = "/var/lib/recorder"
#: Where a `vendor: volume` claim is mounted (its `subPath` applied by the mount); override with ENV_VOLUME_DIR.
DEFAULT_VOLUME_DIR = "/recordings"
#: HTTP port of `GET /status`, `/metrics`, `/healthz` (container port name `http`).
HTTP_PORT = 8090
HTTP_PORT_NAME = "http"
STATUS_PATH = "/status"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"

#: Storage credentials (see storage/vendors.py for what each means per vendor).
#: Storage credentials the controller maps from the storage Secret (`storage.StorageCredentials.from_env`).
ENV_STORAGE_ACCESS_KEY = "STORAGE_ACCESS_KEY"
ENV_STORAGE_SECRET_KEY = "STORAGE_SECRET_KEY"
ENV_STORAGE_SESSION_TOKEN = "STORAGE_SESSION_TOKEN"
ENV_STORAGE_CREDENTIAL = "STORAGE_CREDENTIAL"
#: SRT `passphrase` from `spec.input.passphraseSecretRef`. It reaches FFmpeg as `-passphrase` on its
#: command line: FFmpeg 5.1's srt protocol takes the passphrase only as an AVOption (`-passphrase` or
#: the URL query), from no file or environment variable, so it is readable in /proc/<pid>/cmdline by
#: the processes of the recorder container (the Pod shares no process namespace), never logged. When
#: srt-live-transmit receives the input (`status.stats.srt`), it gets it as `passphrase=` in its SRT URI
#: instead (it reads it from no file or environment variable either): the same exposure.
ENV_SRT_PASSPHRASE = "SRT_PASSPHRASE"
#: `spec.input.credentialsSecretRef` keys `username`, `password`, `streamKey` (each optional).
ENV_INPUT_USERNAME = "RECORDER_INPUT_USERNAME"
ENV_INPUT_PASSWORD = "RECORDER_INPUT_PASSWORD"
ENV_INPUT_STREAM_KEY = "RECORDER_INPUT_STREAM_KEY"
ENV_WORK_DIR = "RECORDER_WORK_DIR"
ENV_VOLUME_DIR = "RECORDER_VOLUME_DIR"
ENV_HTTP_PORT = "RECORDER_HTTP_PORT"
#: The CA bundle of `spec.input.tls.caConfigMapRef` inside the Pod: a configMap volume with one item,
#: beside (not under) the config mount, whose ConfigMap volume is read-only.
DEFAULT_TLS_CA_DIR = "/etc/recorder-tls"
TLS_CA_FILE_NAME = "ca.crt"
DEFAULT_TLS_CA_PATH = f"{DEFAULT_TLS_CA_DIR}/{TLS_CA_FILE_NAME}"
ENV_TLS_CA_FILE = "RECORDER_TLS_CA_FILE"
#: Where the agent writes its termination message on exit (the container's `terminationMessagePath`).
ENV_TERMINATION_LOG = "RECORDER_TERMINATION_LOG"
#: The agent's token: `GET /status` answers only `Authorization: Bearer <token>` (401 otherwise). The
#: controller creates one random token per recording in a Secret it owns (key AGENT_TOKEN_KEY) and
#: maps it here with `secretKeyRef`; an agent started without it (by hand) serves `/status` openly.
#: `/healthz` (the readiness probe) and `/metrics` (counters, no keys or URLs) stay open.
ENV_AGENT_TOKEN = "RECORDER_AGENT_TOKEN"
AGENT_TOKEN_KEY = "token"
AUTHORIZATION_SCHEME = "Bearer"


def authorization_header(token: str) -> dict[str, str]:
    """The header the controller sends with every `/status` request."""
    return {"Authorization": f"{AUTHORIZATION_SCHEME} {token}"}


class RecordingIdentity(Model):
    """Which LocalRecording this Pod records for."""

    namespace: str = Field(min_length=1, max_length=253)
    name: str = Field(min_length=1, max_length=253)
    uid: str = Field(default="", max_length=64)


class Numbering(Model):
    """Where file numbering starts (`{index}` of the first file)."""

    nextIndex: int = Field(default=0, ge=0, le=99_999_999)


class AgentTuning(Model):
    """Agent timings; defaults suit production, tests shorten them."""

    statsPeriodS: float = Field(default=1.0, gt=0, le=60, description="`-stats_period` (s).")
    backoffInitialMs: int = Field(
        default=1000, ge=0, description="First restart delay (ms), doubled per failure."
    )
    backoffMaxMs: int = Field(default=30000, ge=0, description="Restart delay cap (ms).")
    stopGraceS: float = Field(default=20.0, gt=0, description="SIGTERM → SIGKILL wait for FFmpeg (s).")
    uploadAttempts: int = Field(default=5, ge=1, description="Tries per file at shutdown before giving up.")


class RecorderConfig(Model):
    """The mounted config file (module docstring)."""

    apiVersion: Literal["recorder.recording.mediaops.io/v1"] = "recorder.recording.mediaops.io/v1"
    recording: RecordingIdentity
    spec: LocalRecordingSpec
    numbering: Numbering = Field(default_factory=Numbering)
    agent: AgentTuning = Field(default_factory=AgentTuning)
    policy: DestinationPolicy = Field(
        default_factory=DestinationPolicy,
        description="Destinations the agent may connect to (checked again after DNS resolution).",
    )
    storeOnly: bool = Field(
        default=False,
        description=(
            "Store what the work dir holds (files a killed recorder left) and exit (0: all stored, 1: "
            "not): no input is read and FFmpeg does not run. The files number from numbering.nextIndex."
        ),
    )

    def to_json(self) -> str:
        """Serialize as the controller writes it (unset optional fields omitted)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2, sort_keys=True)


# --- GET /status and the termination message ---
# The JSON served at `GET /status` by the recorder agent; the controller parses it with `RecorderStatus`.
#
# `GET /status?sinceIndex=N` returns only files with `index >= N` (the controller passes one past the
# last file it has turned into a RecordedFile); `filesClosed`/`totalBytes` always count every file.


RecorderPhase = Literal["Starting", "Recording", "Reconnecting", "Stopping", "Stopped", "Failed"]


class ClosedFile(Model):
    """One finished file: closed by FFmpeg and (unless `uploaded` is false) in storage."""

    index: int = Field(ge=0, description="`{index}` of the file; unique within the recording.")
    name: str = Field(description="File name with extension (no directories).")
    key: str = Field(description="Object key in the bucket, or path relative to the volume root.")
    location: str = Field(
        description="`s3://bucket/key`, `gs://…`, `azblob://account/container/…` or `volume://claim/…`."
    )
    format: str = Field(description="Output format (spec.output.format, or the additional output's).")
    output: str = Field(
        default=PRIMARY_OUTPUT_NAME,
        description=f"The output that wrote it: `{PRIMARY_OUTPUT_NAME}` (spec.output) or an additionalOutputs name.",
    )
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
    files: list[ClosedFile] = Field(
        default_factory=list,
        max_length=10_000,
        description="Closed files, by index (the agent keeps the newest 1000; a longer list is refused).",
    )
    filesClosed: int = Field(default=0, ge=0, description="Count of all closed files.")
    totalBytes: int = Field(default=0, ge=0, description="Sum of closed file sizes (bytes).")
    uploadPending: int = Field(default=0, ge=0, description="Closed files not yet stored.")
    uploadPendingBytes: int = Field(
        default=0,
        ge=0,
        description=(
            "Bytes a stop still has to store (bytes): the closed files not yet stored plus what FFmpeg "
            "still writes (as of the agent's last poll, every 0.5 s)."
        ),
    )
    nextIndex: int = Field(default=0, ge=0, description="`{index}` of the next file.")
    reconnects: int = Field(default=0, ge=0, description="FFmpeg restarts.")
    sessions: int = Field(default=0, ge=0, description="FFmpeg runs started.")
    playlist: str | None = Field(default=None, description="hls: location of the uploaded playlist.")
    playlists: dict[str, str] | None = Field(
        default=None,
        description="Location of each additional hls output's uploaded playlist, by output name.",
    )
    lastError: str | None = Field(default=None, description="Last FFmpeg/upload error (secrets redacted).")
    lastErrorAt: str | None = None


#: Kubernetes keeps at most this many bytes of a container's termination message (kubelet truncates).
TERMINATION_MESSAGE_MAX_BYTES = 4096


#: How much of the agent's last error its termination message carries (characters, the end kept).
TERMINATION_ERROR_MAX_CHARS = 1024


class TerminationMessage(Model):
    """What the agent writes to its termination message file when it exits: the newest stored
    files, so the controller learns about files the agent stored in the moments before it exited
    (after the controller's last `/status` poll) from the Pod object itself, even after an operator
    restart. Read from `status.containerStatuses[].state.terminated.message`.
    """

    files: list[ClosedFile] = Field(default_factory=list, description="Newest stored files, by index.")
    lastError: str | None = Field(
        default=None,
        description="The agent's last error (its end, at most TERMINATION_ERROR_MAX_CHARS), e.g. why it "
        "could not start: a Pod that fails at once is never polled, so this is how the controller learns it.",
    )

    @classmethod
    def of(cls, status: RecorderStatus) -> str:
        """The message for `status`: its last error and its stored files, oldest dropped first, so
        that the JSON fits TERMINATION_MESSAGE_MAX_BYTES (bytes)."""
        stored = [f for f in status.files if f.uploaded]
        error = status.lastError[-TERMINATION_ERROR_MAX_CHARS:] if status.lastError else None
        for start in range(len(stored) + 1):
            text = cls(files=stored[start:], lastError=error).model_dump_json(exclude_none=True)
            if len(text.encode()) <= TERMINATION_MESSAGE_MAX_BYTES:
                return text
        return cls().model_dump_json()

    @classmethod
    def parse_error(cls, text: str | None) -> str | None:
        """The last error of a termination message; None when absent, truncated or not ours."""
        if not text:
            return None
        try:
            return cls.model_validate_json(text).lastError
        except ValidationError:
            return None

    @classmethod
    def parse(cls, text: str | None) -> list[ClosedFile]:
        """The stored files of a termination message; [] when absent, truncated or not ours."""
        if not text:
            return []
        try:
            return cls.model_validate_json(text).files
        except ValidationError:
            return []


def url_with_credentials(
    url: str, *, username: str | None = None, password: str | None = None, stream_key: str | None = None
) -> str:
    """`url` with the credentials of `input.credentialsSecretRef`: `username[:password]@` as its
    userinfo (percent-encoded), `stream_key` appended to its path as the last segment (an RTMP stream
    name, e.g. `rtmp://host/live` + `abc` → `rtmp://host/live/abc`). Unchanged without credentials.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if username is not None or password is not None:
        userinfo = quote(username or "", safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        netloc = f"{userinfo}@{netloc.rsplit('@', 1)[-1]}"
    path = parts.path
    if stream_key:
        path = f"{path.rstrip('/')}/{quote(stream_key, safe='')}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))
