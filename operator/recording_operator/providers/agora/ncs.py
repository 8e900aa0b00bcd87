"""Agora Message Notification Service (NCS) notices: the envelope and the fields the operator reads.

Envelope (https://docs.agora.io/en/cloud-recording/develop/receive-notifications, "Request body"):
`{noticeId: str, productId: int, eventType: int, notifyMs: int (Unix ms, new on every resend),
payload: {...}}`. Cloud Recording payloads carry `cname`, `uid`, `sid`, `sequence` (from 0 per
session), `sendts` (Unix ms of the event), `serviceType` and `details` (with `msgName`); Cloud
Transcoder payloads (https://docs.agora.io/en/cloud-transcoding/reference/webhooks/ncs-events)
carry `taskId`, `instanceId`, `sequence`, `sendts`, `serviceScene: "rtsc/cloud-transcoder"` and
`details` (with `event`).

Nothing here checks signatures (that is done on the raw body before parsing) or knows Kubernetes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Cloud Recording event types (https://docs.agora.io/en/cloud-recording/develop/receive-notifications, "Event types").
EVENT_SESSION_EXIT = 11
EVENT_SESSION_FAILOVER = 12
EVENT_UPLOADED = 31
EVENT_BACKUPED = 32
EVENT_UPLOADING_PROGRESS = 33
EVENT_RECORDER_STARTED = 40
EVENT_RECORDER_LEAVE = 41
EVENT_SNAPSHOT_FILE = 45
EVENT_WEB_RECORDER_STOPPED = 71
EVENT_RTMP_PUBLISH_STATUS = 100

#: Cloud Transcoder event types (https://docs.agora.io/en/cloud-transcoding/reference/webhooks/ncs-events).
EVENT_TRANSCODER_STARTED = 110
EVENT_TRANSCODER_STOPPED = 111
EVENT_TRANSCODER_STATUS = 112
EVENT_TRANSCODER_UPDATED = 113
TRANSCODER_EVENTS = frozenset(
    {EVENT_TRANSCODER_STARTED, EVENT_TRANSCODER_STOPPED, EVENT_TRANSCODER_STATUS, EVENT_TRANSCODER_UPDATED}
)


class MalformedNotice(ValueError):
    """The body is not an NCS envelope (not JSON, not an object, or a required field missing/mistyped)."""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


@dataclass(frozen=True)
class Notice:
    """One verified NCS notice.

    `app_id` names the NCS secret that verified it (the App ID it is configured for, or `default`).
    Times in Unix ms.
    """

    app_id: str
    notice_id: str
    notify_ms: int
    event_type: int
    product_id: int | None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def details(self) -> Mapping[str, Any]:
        """`payload.details` (`{}` when absent)."""
        value = self.payload.get("details")
        return value if isinstance(value, Mapping) else {}

    @property
    def sid(self) -> str | None:
        """Cloud Recording session ID (`payload.sid`)."""
        return _str(self.payload.get("sid"))

    @property
    def cname(self) -> str | None:
        """Channel name (`payload.cname`)."""
        return _str(self.payload.get("cname"))

    @property
    def uid(self) -> str | None:
        """The recorder's UID as a string (`payload.uid`)."""
        return _str(self.payload.get("uid"))

    @property
    def task_id(self) -> str | None:
        """Cloud Transcoder task ID (`payload.taskId`)."""
        return _str(self.payload.get("taskId"))

    @property
    def sequence(self) -> int | None:
        """`payload.sequence`: per session, from 0; spots lost, reordered and resent notices."""
        return _int(self.payload.get("sequence"))

    @property
    def sendts(self) -> int | None:
        """`payload.sendts`: Unix ms when the event happened."""
        return _int(self.payload.get("sendts"))

    @property
    def order(self) -> tuple[int, int]:
        """Sort key within a session: (sequence, sendts), missing values first."""
        return (self.sequence if self.sequence is not None else -1, self.sendts or 0)

    @property
    def session_key(self) -> str:
        """What groups notices of one session: the sid, the transcoder taskId, or the noticeId."""
        return self.sid or self.task_id or self.notice_id

    @property
    def is_transcoder(self) -> bool:
        """A Cloud Transcoder notice (events 110–113)."""
        return self.event_type in TRANSCODER_EVENTS


def parse_notice(body: bytes, app_id: str) -> Notice:
    """Parse a (verified) NCS body.

    Raises:
        MalformedNotice: not UTF-8 JSON, not an object, or `noticeId`/`notifyMs`/`eventType`/`payload`
            missing or of the wrong type. The message names the field, never the body.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedNotice("body is not UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise MalformedNotice("body is not a JSON object")
    notice_id = _str(data.get("noticeId"))
    if not notice_id:
        raise MalformedNotice("noticeId missing")
    notify_ms = _int(data.get("notifyMs"))
    if notify_ms is None:
        raise MalformedNotice("notifyMs missing or not a number")
    event_type = _int(data.get("eventType"))
    if event_type is None:
        raise MalformedNotice("eventType missing or not a number")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise MalformedNotice("payload missing or not an object")
    if "sid" not in payload and _str(data.get("sid")):
        # Real Cloud Recording notices also carry the sid at the top level.
        payload = {**payload, "sid": data["sid"]}
    return Notice(
        app_id=app_id,
        notice_id=notice_id,
        notify_ms=notify_ms,
        event_type=event_type,
        product_id=_int(data.get("productId")),
        payload=payload,
    )
