"""Entry point of `recording-operator record`: load config and secrets, run the agent."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from recording_operator.api.agent import ENV_SRT_PASSPHRASE
from recording_operator.recorder.agent import run_recorder
from recording_operator.recorder.env import (
    http_port_from_env,
    load_config,
    volume_dir_from_env,
    work_dir_from_env,
)
from recording_operator.storage import StorageCredentials, Store, UnsupportedStorage

log = logging.getLogger("recording_operator.recorder")


def main(config_path: Path, *, work_dir: Path | None, host: str, port: int | None, verbose: bool) -> int:
    """Run the agent; returns the process exit code (0 all files stored, 1 failure, 2 bad config)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(config_path)
        store = Store.from_spec(
            config.spec.storage, StorageCredentials.from_env(), volume_root=volume_dir_from_env()
        )
        http_port = port if port is not None else http_port_from_env()
    except (OSError, ValidationError, UnsupportedStorage, ValueError) as exc:
        log.error("invalid recorder configuration %s: %s", config_path, exc)
        return 2
    return asyncio.run(
        run_recorder(
            config,
            work_dir=work_dir or work_dir_from_env(),
            store=store,
            passphrase=os.environ.get(ENV_SRT_PASSPHRASE) or None,
            http_host=host,
            http_port=http_port,
        )
    )


def exit_now(code: int) -> None:
    """Flush logs and stdio, then `os._exit(code)`.

    Skips interpreter finalization: OpenDAL's native runtime threads crashed it (SIGABRT/SIGBUS,
    intermittently, after every file was stored), which would turn a clean stop into a failed Pod.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
