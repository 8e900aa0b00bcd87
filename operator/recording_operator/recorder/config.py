"""The recorder Pod's contract with the controller: config file, environment variables, port, paths.

The controller writes one JSON file (a ConfigMap key mounted at `DEFAULT_CONFIG_PATH`) and starts the
container with `recording-operator record --config DEFAULT_CONFIG_PATH`:

```json
{
  "apiVersion": "recorder.recording.mediaops.io/v1",
  "recording": {"namespace": "team-a", "name": "standup", "uid": "6f1c..."},
  "spec": { ... LocalRecordingSpec as JSON (camelCase, as in the CR) ... },
  "numbering": {"nextIndex": 0},
  "agent": {"statsPeriodS": 1.0, "backoffInitialMs": 1000, "backoffMaxMs": 30000, "stopGraceS": 20.0}
}
```

`numbering.nextIndex` is the `{index}` of the first file this Pod writes (the controller passes one
past the highest index it has seen, so a replacement Pod never reuses a name); `agent` is optional.

Secrets come from environment variables (the controller maps Secret keys to them with
`valueFrom.secretKeyRef`), never from the file: `ENV_*` below. Nothing secret is logged or served.

`spec.input.tls.caConfigMapRef` (PEM CA certificates, not secret): the controller mounts that
ConfigMap key read-only as the file DEFAULT_TLS_CA_PATH and names it in `$RECORDER_TLS_CA_FILE`
(an environment value, like `$RECORDER_WORK_DIR`, so the sandbox's Pod runner rewrites it to its
local copy); FFmpeg gets it as `-ca_file`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from ..api.common import Model
from ..api.localrecording import LocalRecordingSpec
from ..storage import ENV_ACCESS_KEY, ENV_CREDENTIAL, ENV_SECRET_KEY, ENV_SESSION_TOKEN

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

#: Storage credentials (see storage/__init__.py for what each means per vendor).
ENV_STORAGE_ACCESS_KEY = ENV_ACCESS_KEY
ENV_STORAGE_SECRET_KEY = ENV_SECRET_KEY
ENV_STORAGE_SESSION_TOKEN = ENV_SESSION_TOKEN
ENV_STORAGE_CREDENTIAL = ENV_CREDENTIAL
#: SRT `passphrase` from `spec.input.passphraseSecretRef`.
ENV_SRT_PASSPHRASE = "SRT_PASSPHRASE"
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

    def to_json(self) -> str:
        """Serialize as the controller writes it (unset optional fields omitted)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2, sort_keys=True)


def load_config(path: Path) -> RecorderConfig:
    """Read and validate the config file.

    Raises:
        OSError: the file cannot be read.
        pydantic.ValidationError: the JSON does not match RecorderConfig.
    """
    return RecorderConfig.model_validate_json(path.read_text(encoding="utf-8"))


def work_dir_from_env() -> Path:
    """The work directory: `$RECORDER_WORK_DIR` or DEFAULT_WORK_DIR."""
    return Path(os.environ.get(ENV_WORK_DIR) or DEFAULT_WORK_DIR)


def volume_dir_from_env() -> Path:
    """The volume mount: `$RECORDER_VOLUME_DIR` or DEFAULT_VOLUME_DIR."""
    return Path(os.environ.get(ENV_VOLUME_DIR) or DEFAULT_VOLUME_DIR)


def tls_ca_file_from_env(spec: LocalRecordingSpec) -> Path | None:
    """The CA bundle FFmpeg trusts for the input: `$RECORDER_TLS_CA_FILE` or DEFAULT_TLS_CA_PATH when
    `spec.input.tls.caConfigMapRef` is set, else None (the system trust store)."""
    tls = spec.input.tls
    if tls is None or tls.caConfigMapRef is None:
        return None
    return Path(os.environ.get(ENV_TLS_CA_FILE) or DEFAULT_TLS_CA_PATH)


def http_port_from_env() -> int:
    """The HTTP port: `$RECORDER_HTTP_PORT` or HTTP_PORT.

    Raises:
        ValueError: the variable is not an integer.
    """
    raw = os.environ.get(ENV_HTTP_PORT)
    return int(raw) if raw else HTTP_PORT
