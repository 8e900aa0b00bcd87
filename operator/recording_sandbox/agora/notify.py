"""The Agora emulators' Message Notification Service: signed callbacks like Agora's NCS
(https://docs.agora.io/en/cloud-recording/develop/receive-notifications).

Each notice is an HTTPS/HTTP POST of `{noticeId, productId, eventType, notifyMs, payload}` with
`Content-Type: application/json`, `Agora-Signature` (hex HMAC-SHA1 of the raw body with the NCS
secret) and `Agora-Signature-V2` (hex HMAC-SHA256). `notifyMs` is the send time of each attempt.
Cloud Recording payloads: `{cname, uid, sid, sequence (per sid, from 0), sendts (ms of the event),
serviceType, details: {msgName, ...}}`; Cloud Transcoder payloads
(https://docs.agora.io/en/cloud-transcoding/reference/webhooks/ncs-events): `{taskId, instanceId,
sequence, sendts, serviceScene: "rtsc/cloud-transcoder", details: {event, ...}}`.

Delivery: an answer other than 200 (or none within `timeout_s`) is resent at once, then at growing
intervals, 3 retries at most (Agora: "resends ... stops after 3 retries").

Switches (`configure`, or `POST /_emulator/callbacks`):
- `duplicate`: every notice is delivered twice (Agora's "redundant notification" mode);
- `reorder`: notices are delivered pairwise swapped (the second of two before the first);
- `delayMs`: each delivery waits this long first;
- `drop`: the next N notices are never sent;
- `retries` / `retryIntervalMs`: the resend schedule after no 200 (default 3 and 100 ms, doubling);
- `progressIntervalMs`: how often a running recording sends 33 `uploading_progress` (default 60000:
  Agora sends it "every minute" once the recording starts; 0 sends none).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter, deque
from typing import Any

import httpx

#: productId of Cloud Recording notices (https://docs.agora.io/en/cloud-recording/develop/receive-notifications).
PRODUCT_CLOUD_RECORDING = 3


#: Notices being POSTed at once, per sender.
MAX_IN_FLIGHT = 64


class NcsSender:
    """Queues notices and POSTs them, signed, to `url` (nothing is sent while `url` is empty).

    Attributes:
        url: the receiver's URL for this product (e.g. `http://host:port/callbacks/agora/recording`).
        secret: the NCS secret (bytes).
        log: the last deliveries `{noticeId, eventType, sid|taskId, attempts, httpStatus}` (newest last).
    """

    def __init__(self, *, product_id: int | None = PRODUCT_CLOUD_RECORDING, timeout_s: float = 10.0) -> None:
        self.url = ""
        self.secret = b""
        self.product_id = product_id
        self.timeout_s = timeout_s
        self.duplicate = False
        self.reorder = False
        self.delay_ms = 0
        self.drop = 0
        self.retries = 3
        self.retry_interval_ms = 100
        #: Milliseconds between two 33 `uploading_progress` notices of a running recording (Agora: every
        #: minute, https://docs.agora.io/en/cloud-recording/develop/receive-notifications, event 33).
        self.progress_interval_ms = 60_000
        #: POSTs in flight at once: below the client's pool (100), whose queue costs quadratic CPU
        #: once thousands of notices wait in it (1,000 sessions ending together).
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.stats: Counter[str] = Counter()
        self._sequences: dict[str, int] = {}
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._held: dict[str, Any] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    # --- configuration ---------------------------------------------------------------------------

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply control-API settings (`url`, `secret`, `duplicate`, `reorder`, `delayMs`, `drop`,
        `retries`, `retryIntervalMs`, `progressIntervalMs`); unknown keys raise.

        Raises:
            ValueError: an unknown key or a value of the wrong type.
        """
        for key, value in settings.items():
            if key == "url":
                self.url = str(value or "")
            elif key == "secret":
                self.secret = str(value).encode()
            elif key in ("duplicate", "reorder"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                setattr(self, key, value)
            elif key in ("delayMs", "drop", "retries", "retryIntervalMs", "progressIntervalMs"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
                attr = {
                    "delayMs": "delay_ms",
                    "retryIntervalMs": "retry_interval_ms",
                    "progressIntervalMs": "progress_interval_ms",
                }.get(key, key)
                setattr(self, attr, value)
            else:
                raise ValueError(f"unknown callbacks setting {key!r}")

    def view(self) -> dict[str, Any]:
        """The settings (never the secret) and delivery counts."""
        return {
            "url": self.url,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
            "delayMs": self.delay_ms,
            "drop": self.drop,
            "retries": self.retries,
            "retryIntervalMs": self.retry_interval_ms,
            "progressIntervalMs": self.progress_interval_ms,
            "stats": dict(self.stats),
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery worker (on the running loop)."""
        self._http = httpx.AsyncClient(timeout=self.timeout_s)
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="ncs-sender")

    async def stop(self) -> None:
        """Stop delivering (queued notices are discarded)."""
        for task in [self._worker, *self._sending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- notices ---------------------------------------------------------------------------------

    def emit(self, event_type: int, payload: dict[str, Any], *, session: str) -> None:
        """Queue one notice; `payload` gets `sequence` (per `session`) and `sendts` (now, ms)."""
        if not self.url:
            return
        sequence = self._sequences.get(session, -1) + 1
        self._sequences[session] = sequence
        notice: dict[str, Any] = {
            "noticeId": str(uuid.uuid4()),
            "eventType": event_type,
            "payload": {**payload, "sequence": sequence, "sendts": int(time.time() * 1000)},
        }
        if self.product_id is not None:
            notice["productId"] = self.product_id
        self._queue.put_nowait(notice)

    async def _work(self) -> None:
        while True:
            notice = await self._queue.get()
            if self.drop > 0:
                self.drop -= 1
                self.stats["dropped"] += 1
                continue
            if self.reorder:
                if self._held is None:
                    self._held = notice
                    # Hold it until the next notice, or release it alone after a short while.
                    try:
                        following = await asyncio.wait_for(self._queue.get(), 0.5)
                    except TimeoutError:
                        self._held = None
                        self._send(notice)
                        continue
                    self._held = None
                    self._send(following)
                    self._send(notice, lag_s=0.02)
                    continue
            self._send(notice)

    def _send(self, notice: dict[str, Any], *, lag_s: float = 0.0) -> None:
        for copy in range(2 if self.duplicate else 1):
            task = asyncio.get_running_loop().create_task(
                self._deliver(dict(notice), lag_s=lag_s + 0.01 * copy)
            )
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, notice: dict[str, Any], *, lag_s: float = 0.0) -> None:
        if self.delay_ms or lag_s:
            await asyncio.sleep(self.delay_ms / 1000 + lag_s)
        status: int | str = "unsent"
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts += 1
            body = json.dumps({**notice, "notifyMs": int(time.time() * 1000)}).encode()
            headers = {
                "Content-Type": "application/json",
                "Agora-Signature": hmac.new(self.secret, body, hashlib.sha1).hexdigest(),
                "Agora-Signature-V2": hmac.new(self.secret, body, hashlib.sha256).hexdigest(),
            }
            try:
                assert self._http is not None
                async with self._slots:
                    response = await self._http.post(self.url, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            if status == 200:
                break
            if attempt < self.retries:
                # Resent at once, then at growing intervals.
                await asyncio.sleep(0 if attempt == 0 else self.retry_interval_ms * 2 ** (attempt - 1) / 1000)
            # Each resend makes sure notifyMs moves (a receiver dedupes noticeId + notifyMs).
            await asyncio.sleep(0.002)
        payload = notice["payload"]
        self.stats["delivered" if status == 200 else "failed"] += 1
        self.log.append(
            {
                "noticeId": notice["noticeId"],
                "eventType": notice["eventType"],
                "sid": payload.get("sid"),
                "taskId": payload.get("taskId"),
                "attempts": attempts,
                "httpStatus": status,
                # When the notice was queued (its `sendts`) and when its last attempt was answered
                # (ms since the epoch): the delivery's share of a status change's delay.
                "sendts": payload.get("sendts"),
                "answeredMs": int(time.time() * 1000),
            }
        )
