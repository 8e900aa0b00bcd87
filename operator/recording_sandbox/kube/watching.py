"""Watch streams: change events, per-watcher bounded queues, and selector-aware delivery.

Every committed change becomes one :class:`WatchEvent`; its JSON line is encoded once per
``(type, apiVersion)`` and shared by all watchers. A watcher whose queue overflows is dropped
with an ``ERROR`` event carrying a 410 ``Expired`` status, as the real API server does with
slow consumers; its client is expected to re-list and watch again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from recording_sandbox.kube.errors import gone
from recording_sandbox.kube.resources import ResKey
from recording_sandbox.kube.selectors import FieldSelector, LabelSelector

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


def encode_line(event_type: str, obj: dict[str, Any]) -> bytes:
    """Encode one watch event as a newline-terminated JSON line."""
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


@dataclass(slots=True, eq=False)
class WatchEvent:
    """One committed change of one object (``obj`` is the new state, ``old`` the previous one)."""

    rv: int
    key: ResKey
    namespace: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    _lines: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def line(self, event_type: str, api_version: str) -> bytes:
        """The encoded JSON line of this event, presented at ``api_version``."""
        cache_key = (event_type, api_version)
        encoded = self._lines.get(cache_key)
        if encoded is None:
            obj = self.obj
            if obj.get("apiVersion") != api_version:
                obj = {**obj, "apiVersion": api_version}
            encoded = encode_line(event_type, obj)
            self._lines[cache_key] = encoded
        return encoded


class Watcher:
    """One watch request: its filters and its bounded queue of encoded lines (``None`` = end)."""

    def __init__(
        self,
        *,
        key: ResKey,
        namespace: str | None,
        api_version: str,
        kind: str,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        bookmarks: bool = False,
        queue_limit: int = 10_000,
    ) -> None:
        self.key = key
        self.namespace = namespace
        self.api_version = api_version
        self.kind = kind
        self.labels = labels
        self.fields = fields
        self.bookmarks = bookmarks
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_limit + 2)
        self.queue_limit = queue_limit
        self.closed = False

    def matches(self, obj: dict[str, Any]) -> bool:
        """Tell whether an object passes this watcher's label and field selectors."""
        if self.labels is not None and not self.labels.matches(obj):
            return False
        return self.fields is None or self.fields.matches(obj)

    def offer(self, event: WatchEvent) -> None:
        """Queue an event if it concerns this watcher (translating selector transitions)."""
        if self.closed or (self.namespace is not None and event.namespace != self.namespace):
            return
        event_type = event.type
        if self.labels is None and self.fields is None:
            self.put(event.line(event_type, self.api_version))
            return
        now_matches = self.matches(event.obj)
        if event_type == MODIFIED and event.old is not None:
            was_matching = self.matches(event.old)
            if was_matching and not now_matches:
                event_type = DELETED
            elif now_matches and not was_matching:
                event_type = ADDED
            elif not now_matches:
                return
        elif not now_matches:
            return
        self.put(event.line(event_type, self.api_version))

    def bookmark(self, resource_version: int, *, initial_events_end: bool = False) -> None:
        """Queue a ``BOOKMARK`` event at a resourceVersion."""
        metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        self.put(
            encode_line(BOOKMARK, {"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata})
        )

    def put(self, line: bytes) -> None:
        """Queue an encoded line; on overflow, drop the queue and end the stream with a 410."""
        if self.closed:
            return
        if self.queue.qsize() >= self.queue_limit:
            while not self.queue.empty():
                self.queue.get_nowait()
            status = gone("too old resource version: the watcher could not keep up").to_status()
            self.queue.put_nowait(encode_line(ERROR, status))
            self.close()
            return
        self.queue.put_nowait(line)

    def close(self) -> None:
        """End the stream after the already queued lines."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
