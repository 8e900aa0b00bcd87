"""Kubernetes Events from `recording-operator`, one per distinct cause, repeats counted.

kube-apiserver's own clients (client-go's `EventCorrelator`,
https://github.com/kubernetes/client-go/blob/master/tools/record/events_cache.go) send a repeat of an
Event (same object, type, reason and message) as a PATCH of the existing Event's `count` and
`lastTimestamp` instead of a new object; `kubectl describe` then shows `(x5 over 3m)` and
`kubectl get events` one row. This module does the same for core/v1 Events:

- the Event's name is `<object name>.<16 hex digits>` derived from the object's uid, type, reason
  and message, so a repeat finds it — also after an operator restart (a 409 on create reads it);
- `source.component` and `reportingComponent` are `recording-operator`, `reportingInstance` the
  Pod's host name (`HOSTNAME`);
- messages are stable: request ids a provider puts into an error text (`request id: …`,
  `requestId=…`) are cut from the message and kept in the Event's annotation
  `recording.mediaops.io/request-id`, so a retried failure is one Event with a growing count.

Posting happens in the background (one task per operator, in order), so a handler never waits for
it and an unreachable API server never fails a handler: a failed post is logged and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recording_operator.api import GROUP
from recording_operator.api.timestamps import rfc3339
from recording_operator.controllers._kit.kube import KubeApiError, KubeClient

log = logging.getLogger(__name__)

#: `source.component` / `reportingComponent` of every Event the operator posts.
COMPONENT = "recording-operator"
#: Annotation of an Event holding the provider request ids cut from its message.
REQUEST_ID_ANNOTATION = f"{GROUP}/request-id"
#: Event names remembered with their last count (beyond that, a repeat costs one extra GET).
CACHE_SIZE = 4096
#: The longest message the API server accepts on an Event (bytes; longer ones are cut).
MAX_MESSAGE = 1024

_REQUEST_ID = re.compile(r"\s*[(\[,;]?\s*\b(?:x-)?request[-_ ]?id\s*[=:]\s*([A-Za-z0-9._:-]+)[)\]]?", re.I)


def stable_message(message: str) -> tuple[str, list[str]]:
    """`message` without request ids, and the ids that were cut (in order).

    >>> stable_message("Agora start: HTTP 503: busy (request id: 7f3a)")
    ('Agora start: HTTP 503: busy', ['7f3a'])
    """
    ids = _REQUEST_ID.findall(message)
    text = _REQUEST_ID.sub("", message).strip() if ids else message
    if len(text.encode()) > MAX_MESSAGE:
        text = text.encode()[: MAX_MESSAGE - 3].decode(errors="ignore") + "..."
    return text, ids


def event_name(obj_name: str, uid: str, type_: str, reason: str, message: str) -> str:
    """The Event's name for one cause on one object: `<obj_name>.<16 hex>` (≤ 253 characters)."""
    digest = hashlib.sha256("\0".join((uid, type_, reason, message)).encode()).hexdigest()[:16]
    return f"{obj_name[:236]}.{digest}"


@dataclass
class _Pending:
    namespace: str
    name: str
    ref: dict[str, Any]
    type: str
    reason: str
    message: str
    request_ids: list[str] = field(default_factory=list)


class EventRecorder:
    """Posts Events in the background with series counting (see the module docstring).

    `record` is synchronous and never raises; the posting task starts with the first Event.
    """

    def __init__(self, kube: KubeClient, *, instance: str | None = None) -> None:
        self._kube = kube
        self.instance = instance or os.environ.get("HOSTNAME") or "recording-operator"
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def record(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue an Event about the object `body` (a kopf Body or a dict with apiVersion/kind/metadata).

        Args:
            type_: `Normal` or `Warning`. reason: CamelCase cause. message: for people, no secrets.
        """
        meta = body.get("metadata") or {}
        text, ids = stable_message(message)
        uid = str(meta.get("uid", ""))
        ref = {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": uid,
            "resourceVersion": meta.get("resourceVersion"),
        }
        ref = {k: v for k, v in ref.items() if v}
        namespace = str(meta.get("namespace") or "default")
        name = event_name(str(meta.get("name", "")), uid, type_, reason, text)
        self._queue.put_nowait(_Pending(namespace, name, ref, type_, reason, text, ids))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="event recorder")

    async def flush(self) -> None:
        """Wait until every queued Event is posted (or dropped)."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Post what is queued (bounded by 5 s), then stop."""
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(self._queue.join(), 5)
            except TimeoutError:
                pass
            self._task.cancel()

    async def _drain(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._post(pending)
            except KubeApiError as exc:
                log.warning("Event %s/%s not posted: %s", pending.namespace, pending.name, exc)
            finally:
                self._queue.task_done()

    async def _post(self, event: _Pending) -> None:
        path = f"/api/v1/namespaces/{event.namespace}/events"
        now = rfc3339()
        known = self._counts.get(event.name)
        if known is not None:
            if await self._bump(path, event, known, now):
                return
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event.name, "namespace": event.namespace},
            "involvedObject": event.ref,
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if event.request_ids:
            body["metadata"]["annotations"] = {REQUEST_ID_ANNOTATION: ",".join(event.request_ids)}
        created = await self._kube.create_object(path, body)
        if created is not None:
            self._remember(event.name, 1)
            return
        existing = await self._kube.get_object(f"{path}/{event.name}")
        if existing is None:  # deleted between the two calls: create it again
            if await self._kube.create_object(path, body) is not None:
                self._remember(event.name, 1)
            return
        await self._bump(path, event, int(existing.get("count") or 1), now)

    async def _bump(self, path: str, event: _Pending, count: int, now: str) -> bool:
        """PATCH count+1 and lastTimestamp; False when the Event is gone (expired: created anew)."""
        patch: dict[str, Any] = {"count": count + 1, "lastTimestamp": now}
        if event.request_ids:
            patch["metadata"] = {"annotations": {REQUEST_ID_ANNOTATION: ",".join(event.request_ids)}}
        try:
            await self._kube.merge_patch(f"{path}/{event.name}", patch)
        except KubeApiError as exc:
            if exc.status == 404:
                self._counts.pop(event.name, None)
                return False
            raise
        self._remember(event.name, count + 1)
        return True

    def _remember(self, name: str, count: int) -> None:
        self._counts[name] = count
        self._counts.move_to_end(name)
        while len(self._counts) > CACHE_SIZE:
            self._counts.popitem(last=False)
