"""Where the agent finds its configuration inside the Pod: the mounted config file and the
environment variables the controller sets (names in `recording_operator.api.agent`)."""

from __future__ import annotations

import os
from pathlib import Path

from recording_operator.api.agent import (
    DEFAULT_TLS_CA_PATH,
    DEFAULT_VOLUME_DIR,
    DEFAULT_WORK_DIR,
    ENV_HTTP_PORT,
    ENV_TLS_CA_FILE,
    ENV_VOLUME_DIR,
    ENV_WORK_DIR,
    HTTP_PORT,
    RecorderConfig,
)
from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec


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
