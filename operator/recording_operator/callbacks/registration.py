"""RealtimeKit webhook registration (https://developers.cloudflare.com/realtime/realtimekit/webhooks/):
the operator creates, and keeps, the app's webhook named `recording-operator` pointing at its
receiver with the events it needs (`recording.statusUpdate`).

Every `interval_s` the app's webhooks are listed: none of ours → `POST …/webhooks`; ours with
another URL, other events or disabled → `PATCH …/webhooks/{id}`. A failed round is logged and
tried again after `retry_s`. The API token is read from a file (a mounted Secret) each round, so
a rotated token is picked up; it is never logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.providers.realtimekit import RealtimeKitError

log = logging.getLogger(__name__)

WEBHOOK_NAME = "recording-operator"
EVENTS = ["recording.statusUpdate"]


@dataclass(frozen=True)
class WebhookTarget:
    """Where the webhook lives and where it points.

    Attributes:
        account_id, app_id: the RealtimeKit app. token_file: file with the Cloudflare API token.
        url: the receiver's public URL for RealtimeKit (`<public base>/callbacks/realtimekit`).
    """

    account_id: str
    app_id: str
    token_file: str
    url: str


async def ensure_webhook(runtime: Runtime, target: WebhookTarget) -> str:
    """One round: make the app's `recording-operator` webhook exist and match `target`.

    Returns:
        `created`, `updated` or `unchanged`.

    Raises:
        RealtimeKitError: a RealtimeKit call failed. OSError: the token file cannot be read.
    """
    token = (await asyncio.to_thread(Path(target.token_file).read_text)).strip()
    client = runtime.realtimekit(token)
    hooks = await client.webhooks(target.account_id, target.app_id)
    ours = next((h for h in hooks if h.get("name") == WEBHOOK_NAME), None)
    if ours is None:
        await client.create_webhook(
            target.account_id, target.app_id, name=WEBHOOK_NAME, url=target.url, events=EVENTS
        )
        return "created"
    if (
        ours.get("url") == target.url
        and set(ours.get("events") or []) >= set(EVENTS)
        and ours.get("enabled", True)
    ):
        return "unchanged"
    await client.edit_webhook(
        target.account_id, target.app_id, str(ours["id"]), url=target.url, events=EVENTS
    )
    return "updated"


async def keep_webhook(
    runtime: Runtime, target: WebhookTarget, *, interval_s: float = 600.0, retry_s: float = 30.0
) -> None:
    """Run `ensure_webhook` forever: every `interval_s` s, or `retry_s` s after a failure (until cancelled)."""
    while True:
        try:
            outcome = await ensure_webhook(runtime, target)
        except (RealtimeKitError, OSError) as exc:
            log.warning(f"RealtimeKit webhook registration failed: {exc}")
            await asyncio.sleep(retry_s)
            continue
        if outcome != "unchanged":
            log.info(f"RealtimeKit webhook {WEBHOOK_NAME} {outcome}: {target.url}")
        await asyncio.sleep(interval_s)
