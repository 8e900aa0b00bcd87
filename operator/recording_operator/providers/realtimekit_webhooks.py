"""RealtimeKit webhook deliveries (https://developers.cloudflare.com/realtime/realtimekit/webhooks/).

Headers: `rtk-signature` (checked by the receiver on the raw body), `rtk-uuid` (unique per
delivery: the deduplication key), `rtk-webhook-id` (the webhook configuration). The
`recording.statusUpdate` body is camelCase: `{event, recording: {id, recordingId, status,
downloadUrl, audioDownloadUrl, downloadUrlExpiry, startedTime, stoppedTime, fileSize (a string),
outputFileName, meetingId, recordingDuration (s), ...}, meeting: {...}}`; statuses sent:
RECORDING, UPLOADING, UPLOADED, ERRORED.

No Kubernetes, no signature checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RECORDING_STATUS_UPDATE = "recording.statusUpdate"


class MalformedWebhook(ValueError):
    """The body is not a RealtimeKit webhook (not JSON, not an object, or no `event`)."""


@dataclass(frozen=True)
class Webhook:
    """One verified webhook delivery; `delivery_id` is `rtk-uuid`."""

    delivery_id: str
    webhook_id: str | None
    event: str
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def recording(self) -> Mapping[str, Any]:
        """The `recording` object (`{}` when absent)."""
        value = self.body.get("recording")
        return value if isinstance(value, Mapping) else {}

    @property
    def recording_id(self) -> str | None:
        """`recording.id` (or `recording.recordingId`)."""
        value = self.recording.get("id") or self.recording.get("recordingId")
        return str(value) if value else None

    @property
    def meeting_id(self) -> str | None:
        """`recording.meetingId` (or `meeting.id`)."""
        meeting = self.body.get("meeting")
        value = self.recording.get("meetingId") or (
            meeting.get("id") if isinstance(meeting, Mapping) else None
        )
        return str(value) if value else None

    @property
    def status(self) -> str | None:
        """`recording.status`: RECORDING, UPLOADING, UPLOADED or ERRORED."""
        value = self.recording.get("status")
        return str(value) if value else None


def parse_webhook(body: bytes, delivery_id: str | None, webhook_id: str | None) -> Webhook:
    """Parse a (verified) webhook body.

    Raises:
        MalformedWebhook: no `rtk-uuid`, not UTF-8 JSON, not an object, or no `event` string.
    """
    if not delivery_id:
        raise MalformedWebhook("no rtk-uuid header")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook("body is not UTF-8 JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise MalformedWebhook("body is not an object with an event")
    return Webhook(delivery_id=delivery_id, webhook_id=webhook_id, event=data["event"], body=data)
