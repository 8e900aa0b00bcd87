"""The callback receiver: an aiohttp server on its own port in the operator process.

Paths:

| path | provider | sink |
|---|---|---|
| `POST /callbacks/agora/recording` | Agora Cloud Recording NCS | CloudRecording notices |
| `POST /callbacks/agora/transcoder` | Agora Cloud Transcoder NCS (events 110–113) | CloudTranscoder notices |
| `POST /callbacks/realtimekit` | RealtimeKit webhooks | CloudRecording (RealtimeKit) notices |
| `GET /healthz` | readiness: 200 once listening and the sinks are ready, else 503 | |

Each delivery, in this order: per-source rate limit (429) → body size limit (413) → signature on
the raw bytes (401 `unsigned`/`forged`) → parse (400 `malformed`) → replay checks (Agora: 401
`replayed` when `notifyMs` is outside the window or `noticeId`+`notifyMs` was already seen) →
duplicate (`noticeId` / `rtk-uuid` already applied: 200, nothing changes) → the sink, serialised
per session, within `answer_timeout_s` (Agora wants a 200 within 10 s,
https://docs.agora.io/en/cloud-recording/develop/receive-notifications). A sink failure answers
503 so the provider resends (Agora: resends when no 200 arrives, at growing intervals, and stops
after three retries; RealtimeKit: retries 5xx,
https://developers.cloudflare.com/realtime/realtimekit/webhooks/). The provider's few resends can
all fall inside one Kubernetes API outage, so the receiver also applies a failed notice again
itself (`redeliver_window_s`, backoff 2 s doubling to 30 s), until it is applied once, by a resend
or by itself: the one notice naming a lost start's session must not be lost with the outage.

Every outcome is counted in `recording_operator_callbacks_total{provider, result}`; log lines name
the provider, the result and the source address, never the body, a signature or a secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import Counter, Histogram

from recording_operator.callbacks.guard import RateLimiter, SeenSet
from recording_operator.callbacks.verify import SignatureError, verify_agora, verify_realtimekit
from recording_operator.controllers._kit.metrics import PREFIX, REGISTRY
from recording_operator.providers.agora.ncs import MalformedNotice, Notice, parse_notice
from recording_operator.providers.realtimekit_webhooks import MalformedWebhook, Webhook, parse_webhook

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger(__name__)

CALLBACKS = Counter(
    f"{PREFIX}_callbacks",
    "Provider callbacks by provider (agora-recording, agora-transcoder, realtimekit) and result "
    "(applied, unchanged, duplicate, unmatched, unsigned, forged, malformed, oversized, replayed, "
    "rate_limited, error; a notice applied later by the receiver itself: redelivered_applied, "
    "redelivered_unchanged, redelivered_unmatched, or redelivery_expired).",
    ["provider", "result"],
    registry=REGISTRY,
)
CALLBACK_DURATION = Histogram(
    f"{PREFIX}_callback_duration_seconds",
    "Time from receiving a callback to answering it, in seconds.",
    ["provider"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

#: A sink applies one verified notice and says what happened (a `result` label:
#: `applied`, `unchanged` or `unmatched`). It raises to have the provider resend.
AgoraSink = Callable[[Notice], Awaitable[str]]
WebhookSink = Callable[[Webhook], Awaitable[str]]


@dataclass
class ReceiverConfig:
    """What the receiver listens on and trusts.

    Attributes:
        host, port: where to listen (port 0: any free port).
        agora_secrets: NCS secret per App ID (or `default`); empty = Agora paths answer 401.
        realtimekit_key: the webhook public key; None = the RealtimeKit path answers 401.
        max_body_bytes: larger bodies answer 413 (bytes).
        replay_window_s: an Agora `notifyMs` further than this from now is a replay (s).
        rate, burst: callbacks per second per source address, and the burst allowed (0 = unlimited).
        answer_timeout_s: a sink slower than this answers 503 (s; below Agora's 10 s).
        redeliver_window_s: how long a notice whose sink failed is applied again in the background (s).
        redeliver_max: notices held for that at once (beyond it, only the provider's resends are left).
        tls_cert_file, tls_key_file: serve HTTPS with this certificate (PEM files), else HTTP.
    """

    host: str = "0.0.0.0"
    port: int = 8443
    agora_secrets: Mapping[str, bytes] = field(default_factory=dict)
    realtimekit_key: rsa.RSAPublicKey | None = None
    max_body_bytes: int = 64 * 1024
    replay_window_s: float = 300.0
    rate: float = 100.0
    burst: float = 200.0
    answer_timeout_s: float = 8.0
    redeliver_window_s: float = 600.0
    redeliver_max: int = 1000
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


class _Rejected(Exception):
    def __init__(self, status: int, result: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.result = result


def _answer(status: int, body: Mapping[str, object]) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class Receiver:
    """The callback HTTP server (see the module docstring).

    Args:
        config: listening address, secrets, limits.
        agora_recording, agora_transcoder, realtimekit: the sinks; a path without one answers 404.
        ready: extra readiness check for `/healthz` (e.g. "logged in to Kubernetes").
        clock_ms: Unix ms now (tests inject one).
    """

    def __init__(
        self,
        config: ReceiverConfig,
        *,
        agora_recording: AgoraSink | None = None,
        agora_transcoder: AgoraSink | None = None,
        realtimekit: WebhookSink | None = None,
        ready: Callable[[], bool] = lambda: True,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.config = config
        self._sinks: dict[str, AgoraSink] = {}
        if agora_recording is not None:
            self._sinks["agora-recording"] = agora_recording
        if agora_transcoder is not None:
            self._sinks["agora-transcoder"] = agora_transcoder
        self._webhook_sink = realtimekit
        self._ready = ready
        self._clock_ms = clock_ms
        window = max(config.replay_window_s, 1.0)
        #: (noticeId, notifyMs) of every verified Agora delivery in the window: an exact copy is a replay.
        self._deliveries = SeenSet(ttl_s=2 * window)
        #: noticeIds / rtk-uuids applied: a resend changes nothing twice.
        self._applied = SeenSet(ttl_s=max(3600.0, 2 * window))
        self._limiter = RateLimiter(config.rate, config.burst)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        #: Background applications of notices whose sink failed, by delivery ID.
        self._redeliveries: dict[str, asyncio.Task[None]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (bodies above `max_body_bytes` are refused with 413)."""
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_post("/callbacks/agora/recording", self._agora_recording)
        app.router.add_post("/callbacks/agora/transcoder", self._agora_transcoder)
        app.router.add_post("/callbacks/realtimekit", self._realtimekit)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self) -> str:
        """Listen; returns the base URL (`http(s)://host:port`).

        Raises:
            OSError: the port cannot be bound. ssl.SSLError: the certificate files are unusable.
        """
        context = None
        if self.config.tls_cert_file and self.config.tls_key_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.tls_cert_file, self.config.tls_key_file)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if context else 'http'}://{self.config.host}:{port}"
        log.info(f"callback receiver listening on {self.url}")
        return self.url

    @property
    def listening(self) -> bool:
        """The receiver's port is bound (between `start` and `stop`)."""
        return self._runner is not None

    async def stop(self) -> None:
        """Stop listening, and stop applying failed notices again."""
        for task in list(self._redeliveries.values()):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers --------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        ok = self._runner is not None and self._ready()
        return _answer(200 if ok else 503, {"ready": ok})

    async def _agora_recording(self, request: web.Request) -> web.Response:
        return await self._agora(request, "agora-recording")

    async def _agora_transcoder(self, request: web.Request) -> web.Response:
        return await self._agora(request, "agora-transcoder")

    async def _agora(self, request: web.Request, provider: str) -> web.Response:
        started = time.perf_counter()
        try:
            sink = self._sinks.get(provider)
            if sink is None:
                raise _Rejected(404, "unrouted", "no receiver for this provider")
            body = await self._body(request)
            try:
                app_id = verify_agora(body, request.headers, self.config.agora_secrets)
            except SignatureError as exc:
                raise _Rejected(401, exc.reason, str(exc)) from None
            try:
                notice = parse_notice(body, app_id)
            except MalformedNotice as exc:
                raise _Rejected(400, "malformed", str(exc)) from None
            window_ms = self.config.replay_window_s * 1000
            if abs(self._clock_ms() - notice.notify_ms) > window_ms:
                raise _Rejected(401, "replayed", "notifyMs is outside the accepted window")
            if not self._deliveries.add((notice.notice_id, notice.notify_ms)):
                raise _Rejected(401, "replayed", "this noticeId and notifyMs were already received")
            result = await self._apply(provider, notice.session_key, notice.notice_id, lambda: sink(notice))
            log.debug(f"{provider} notice {notice.notice_id} event {notice.event_type}: {result}")
            return self._done(provider, 200, result, started, {"ok": True, "result": result})
        except _Rejected as exc:
            return self._refuse(request, provider, exc, started)

    async def _realtimekit(self, request: web.Request) -> web.Response:
        provider = "realtimekit"
        started = time.perf_counter()
        try:
            sink = self._webhook_sink
            if sink is None:
                raise _Rejected(404, "unrouted", "no receiver for this provider")
            body = await self._body(request)
            if self.config.realtimekit_key is None:
                raise _Rejected(401, "forged", "no RealtimeKit webhook public key is configured")
            try:
                verify_realtimekit(body, request.headers, self.config.realtimekit_key)
            except SignatureError as exc:
                raise _Rejected(401, exc.reason, str(exc)) from None
            try:
                hook = parse_webhook(
                    body, request.headers.get("rtk-uuid"), request.headers.get("rtk-webhook-id")
                )
            except MalformedWebhook as exc:
                raise _Rejected(400, "malformed", str(exc)) from None
            key = hook.recording_id or hook.delivery_id
            result = await self._apply(provider, key, hook.delivery_id, lambda: sink(hook))
            return self._done(provider, 200, result, started, {"ok": True, "result": result})
        except _Rejected as exc:
            return self._refuse(request, provider, exc, started)

    # --- steps -----------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> bytes:
        source = request.remote or "unknown"
        if not self._limiter.allow(source):
            raise _Rejected(429, "rate_limited", "too many callbacks from this source")
        if request.content_length is not None and request.content_length > self.config.max_body_bytes:
            raise _Rejected(413, "oversized", f"body larger than {self.config.max_body_bytes} bytes")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _Rejected(
                413, "oversized", f"body larger than {self.config.max_body_bytes} bytes"
            ) from None

    async def _apply(
        self,
        provider: str,
        session: str,
        delivery: str,
        run: Callable[[], Awaitable[str]],
        *,
        redeliver: bool = True,
    ) -> str:
        """Run the sink once per delivery ID, serialised per session; 503 on failure or timeout,
        and (with `redeliver`) the notice is applied again in the background (`_redeliver`)."""
        lock, users = self._locks.get(session) or (asyncio.Lock(), 0)
        self._locks[session] = (lock, users + 1)
        try:
            async with lock:
                if delivery in self._applied:
                    return "duplicate"
                try:
                    result = await asyncio.wait_for(run(), self.config.answer_timeout_s)
                except (MalformedNotice, MalformedWebhook) as exc:
                    raise _Rejected(400, "malformed", str(exc)) from None
                except Exception as exc:
                    slow = isinstance(exc, TimeoutError)
                    if not slow:
                        log.warning(f"applying a callback failed: {type(exc).__name__}: {exc}")
                    if redeliver:
                        self._redeliver_later(provider, session, delivery, run)
                    message = "applying the notice took too long" if slow else "applying the notice failed"
                    raise _Rejected(503, "error", message) from None
                self._applied.add(delivery)
                return result
        finally:
            lock, users = self._locks[session]
            if users <= 1:
                del self._locks[session]
            else:
                self._locks[session] = (lock, users - 1)

    def _redeliver_later(
        self, provider: str, session: str, delivery: str, run: Callable[[], Awaitable[str]]
    ) -> None:
        if delivery in self._redeliveries or len(self._redeliveries) >= self.config.redeliver_max:
            return
        task = asyncio.create_task(self._redeliver(provider, session, delivery, run))
        self._redeliveries[delivery] = task
        task.add_done_callback(lambda _: self._redeliveries.pop(delivery, None))

    async def _redeliver(
        self, provider: str, session: str, delivery: str, run: Callable[[], Awaitable[str]]
    ) -> None:
        """Apply a notice whose sink failed again, every 2 s doubling to 30 s, for up to
        `redeliver_window_s` seconds or until it is applied (here or by a provider's resend).
        Counted in `recording_operator_callbacks_total` with the result prefixed `redelivered_`."""
        deadline = time.monotonic() + self.config.redeliver_window_s
        delay = 2.0
        while time.monotonic() + delay < deadline:
            await asyncio.sleep(delay)
            if delivery in self._applied:
                return
            try:
                result = await self._apply(provider, session, delivery, run, redeliver=False)
            except _Rejected as exc:
                if exc.result == "malformed":
                    return
                delay = min(2 * delay, 30.0)
                continue
            CALLBACKS.labels(provider, f"redelivered_{result}").inc()
            log.info(f"{provider} notice {delivery} applied on redelivery: {result}")
            return
        CALLBACKS.labels(provider, "redelivery_expired").inc()
        log.warning(
            f"{provider} notice {delivery} could not be applied within {self.config.redeliver_window_s:.0f}s"
        )

    def _done(
        self, provider: str, status: int, result: str, started: float, body: Mapping[str, object]
    ) -> web.Response:
        CALLBACKS.labels(provider, result).inc()
        CALLBACK_DURATION.labels(provider).observe(time.perf_counter() - started)
        return _answer(status, body)

    def _refuse(self, request: web.Request, provider: str, exc: _Rejected, started: float) -> web.Response:
        level = logging.WARNING if exc.status in (401, 413) else logging.INFO
        log.log(level, f"{provider} callback from {request.remote} refused ({exc.result}): {exc}")
        return self._done(provider, exc.status, exc.result, started, {"ok": False, "error": exc.result})
