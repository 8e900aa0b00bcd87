"""Entry point of `recording-operator record`: load config and secrets, run the agent with its HTTP
server and signal handlers, and leave the termination message when it ends."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from recording_operator.api.agent import (
    ENV_AGENT_TOKEN,
    ENV_INPUT_PASSWORD,
    ENV_INPUT_STREAM_KEY,
    ENV_INPUT_USERNAME,
    ENV_SRT_PASSPHRASE,
    ENV_TERMINATION_LOG,
    RecorderConfig,
    RecorderStatus,
    TerminationMessage,
)
from recording_operator.recorder.agent import Recorder
from recording_operator.recorder.env import (
    http_port_from_env,
    load_config,
    volume_dir_from_env,
    work_dir_from_env,
)
from recording_operator.recorder.http import start_http
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
            credentials={
                key: value
                for key, env in (
                    ("username", ENV_INPUT_USERNAME),
                    ("password", ENV_INPUT_PASSWORD),
                    ("streamKey", ENV_INPUT_STREAM_KEY),
                )
                if (value := os.environ.get(env))
            },
            http_host=host,
            http_port=http_port,
            token=os.environ.get(ENV_AGENT_TOKEN) or None,
        )
    )


async def run_recorder(
    config: RecorderConfig,
    *,
    work_dir: Path,
    store: Store,
    passphrase: str | None,
    http_host: str,
    credentials: dict[str, str] | None = None,
    http_port: int,
    token: str | None = None,
) -> int:
    """Run a Recorder with its HTTP server until SIGTERM/SIGINT (or maxDuration); returns the exit code.
    `token`: the bearer token `/status` requires (`ENV_AGENT_TOKEN`; None serves it openly);
    `credentials`: the input's `username` / `password` / `streamKey` (`ENV_INPUT_*`).

    Raises:
        OSError: the HTTP port cannot be bound.
    """
    recorder = Recorder(
        config, work_dir=work_dir, store=store, passphrase=passphrase, credentials=credentials
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, recorder.request_stop, signal.Signals(sig).name)
    runner = await start_http(recorder, http_host, http_port, token=token)
    log.info("recorder for %s/%s serving on %s:%d (pid %d)", config.recording.namespace,
             config.recording.name, http_host, http_port, os.getpid())  # fmt: skip
    try:
        return await recorder.run()
    finally:
        write_termination_message(recorder.status, os.environ.get(ENV_TERMINATION_LOG))
        await runner.cleanup()


def write_termination_message(status: RecorderStatus, path: str | None) -> None:
    """Write `TerminationMessage.of(status)` to `path` (the container's `terminationMessagePath`,
    from RECORDER_TERMINATION_LOG; nothing when unset). A failure is logged, never raised: the
    message only saves the controller a bucket listing."""
    if not path:
        return
    try:
        Path(path).write_text(TerminationMessage.of(status))
    except OSError as exc:
        log.warning("cannot write the termination message to %s: %s", path, exc)


def exit_now(code: int) -> None:
    """Flush logs and stdio, then `os._exit(code)`.

    Skips interpreter finalization: OpenDAL's native runtime threads crashed it (SIGABRT/SIGBUS,
    intermittently, after every file was stored), which would turn a clean stop into a failed Pod.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
