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

from recording_operator.providers.realtimekit import RecordingState, parse_recording

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


#: The webhook's camelCase `recording` fields → the REST API's snake_case Recording fields [recordings].
_REST_NAMES = {
    "id": "id",
    "status": "status",
    "invokedTime": "invoked_time",
    "startedTime": "started_time",
    "stoppedTime": "stopped_time",
    "outputFileName": "output_file_name",
    "downloadUrl": "download_url",
    "audioDownloadUrl": "audio_download_url",
    "downloadUrlExpiry": "download_url_expiry",
    "fileSize": "file_size",
    "recordingDuration": "recording_duration",
}


def recording_state(hook: Webhook) -> RecordingState:
    """The webhook's `recording` as the REST API's Recording (`parse_recording`): the same state a
    GET would give (`fileSize` arrives as a string and is read as bytes).

    Raises:
        MalformedWebhook: no recording id or status.
    """
    rec = hook.recording
    if not hook.recording_id or not hook.status:
        raise MalformedWebhook("recording.statusUpdate without a recording id or status")
    data = {rest: rec.get(camel) for camel, rest in _REST_NAMES.items() if rec.get(camel) is not None}
    data["id"] = hook.recording_id
    size = data.get("file_size")
    if isinstance(size, str):
        data["file_size"] = int(size) if size.isdigit() else None
    return parse_recording(data)
