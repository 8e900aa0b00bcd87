"""The receiver as the operator runs it: configuration from `Settings`, the controllers' sinks."""

from __future__ import annotations

from pathlib import Path

from recording_operator.callbacks.receiver import Receiver, ReceiverConfig
from recording_operator.callbacks.registration import WebhookTarget
from recording_operator.callbacks.verify import load_public_key
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers.cloudrecording.notices import (
    apply_agora_notice,
    apply_realtimekit_webhook,
)
from recording_operator.controllers.cloudtranscoder.notices import apply_transcoder_notice
from recording_operator.providers.agora.ncs import Notice
from recording_operator.providers.realtimekit_webhooks import Webhook
from recording_operator.settings import Settings


def load_agora_secrets(directory: str | None) -> dict[str, bytes]:
    """NCS secrets from a directory (a mounted Secret): file name = App ID (or `default`), content = secret.

    Hidden entries (a mounted Secret's `..data` links) are skipped; surrounding whitespace is removed.

    Raises:
        OSError: the directory cannot be read.
    """
    if not directory:
        return {}
    secrets: dict[str, bytes] = {}
    for path in sorted(Path(directory).iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        value = path.read_bytes().strip()
        if value:
            secrets[path.name] = value
    return secrets


def receiver_config(settings: Settings) -> ReceiverConfig:
    """The receiver's configuration from the settings (reads the secrets directory and key file).

    Raises:
        OSError: a configured file or directory cannot be read. ValueError: the key is not an RSA PEM key.
    """
    key = None
    if settings.callbacks_realtimekit_public_key_file:
        key = load_public_key(Path(settings.callbacks_realtimekit_public_key_file).read_bytes())
    return ReceiverConfig(
        host="0.0.0.0",
        port=settings.callbacks_port,
        agora_secrets=load_agora_secrets(settings.callbacks_agora_secrets_dir),
        realtimekit_key=key,
        max_body_bytes=settings.callbacks_max_body_bytes,
        replay_window_s=settings.callbacks_replay_window_s,
        rate=settings.callbacks_rate,
        burst=settings.callbacks_burst,
        tls_cert_file=settings.callbacks_tls_cert_file,
        tls_key_file=settings.callbacks_tls_key_file,
    )


def build_receiver(runtime: Runtime) -> Receiver:
    """A receiver whose sinks apply notices with `runtime`'s clients; ready once logged in to Kubernetes.

    Raises:
        OSError, ValueError: see `receiver_config`.
    """

    async def agora_recording(notice: Notice) -> str:
        return await apply_agora_notice(runtime, notice)

    async def agora_transcoder(notice: Notice) -> str:
        return await apply_transcoder_notice(runtime, notice)

    async def realtimekit(hook: Webhook) -> str:
        return await apply_realtimekit_webhook(runtime, hook)

    def ready() -> bool:
        try:
            runtime.kube  # noqa: B018  (raises until kopf has logged in)
        except RuntimeError:
            return False
        return True

    return Receiver(
        receiver_config(runtime.settings),
        agora_recording=agora_recording,
        agora_transcoder=agora_transcoder,
        realtimekit=realtimekit,
        ready=ready,
    )


def webhook_target(settings: Settings) -> WebhookTarget | None:
    """The RealtimeKit webhook to keep, when the public URL, account, app and token file are all set."""
    if not (
        settings.callbacks_public_url
        and settings.realtimekit_webhook_account_id
        and settings.realtimekit_webhook_app_id
        and settings.realtimekit_webhook_token_file
    ):
        return None
    return WebhookTarget(
        account_id=settings.realtimekit_webhook_account_id,
        app_id=settings.realtimekit_webhook_app_id,
        token_file=settings.realtimekit_webhook_token_file,
        url=f"{settings.callbacks_public_url}/callbacks/realtimekit",
    )
