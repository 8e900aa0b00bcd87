"""A RealtimeKit recordings emulator over real HTTP (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/).

Serves the REST paths of https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/ under `/client/v4` (point the `cloudflare` SDK's `base_url` at
`<url>/client/v4`), with Bearer auth, the `{success, data}` envelope and Cloudflare's error
envelope. Control and introspection under `/_emulator/` (no auth, JSON):

- `GET /_emulator/recordings` → `{"recordings": [...]}` (id, meetingId, type, status, stopReason, active,
  maxSeconds, layers, storage: `storage_config` | `realtimekit_bucket`);
- `GET /_files/{recording_id}/{name}`: a RealtimeKit-bucket file's `download_url` (placeholder bytes;
  404 once `download_url_expiry` passed);
- `GET|DELETE /_emulator/requests` → bounded request log (`endpoint`, `method`, `path`, `httpStatus`);
- `GET|PUT /_emulator/meetings/{meeting_id}/participants` with `{"participants": ["user-1", ...]}`;
- `POST /_emulator/faults` `{"endpoint": "start"|"*", "count": N, "status": 503, "message": "", "latencyMs": 0,
  "answerLate": false, "drop": null}`, `DELETE /_emulator/faults`; with `answerLate` the call is processed at once
  (a start starts its recording) and only its answer waits `latencyMs` (a start accepted but
  answered after the client's timeout); with `"drop": "before"` the TCP connection is reset without
  an answer and the call is not processed, with `"drop": "after"` it is processed (a start starts
  its recording) and then reset without an answer (`recording_sandbox.drops`; logged with
  `httpStatus: null` and `dropped`);
- `GET|POST /_emulator/clock` (`{"advanceSeconds": 61}`); `POST /_emulator/reset`.

Endpoint names: `start`, `startTrack`, `get`, `active`, `list`, `action`.

Webhooks (registration, signed `recording.statusUpdate` deliveries, the public key document at
`/.well-known/webhooks.json`): see `webhooks.py`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from recording_sandbox.agora.clock import Clock
from recording_sandbox.agora.uploads import StorageWriter
from recording_sandbox.drops import drop_connection, drop_point
from recording_sandbox.realtimekit.state import DOWNLOAD_TTL_S, RealtimeKitError, RealtimeKitState, Recording
from recording_sandbox.realtimekit.webhooks import WebhookSender

API = r"/client/v4/accounts/(?P<account>[^/]{1,32})/realtime/kit/(?P<app>[^/]{1,32})/recordings"
_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("startTrack", "POST", re.compile(API + r"/track$")),
    ("active", "GET", re.compile(API + r"/active-recording/(?P<meeting>[^/]+)$")),
    ("start", "POST", re.compile(API + r"$")),
    ("list", "GET", re.compile(API + r"$")),
    ("get", "GET", re.compile(API + r"/(?P<rid>[^/]+)$")),
    ("action", "PUT", re.compile(API + r"/(?P<rid>[^/]+)$")),
)


@dataclass
class Fault:
    """The next `remaining` calls to `endpoint` (`*` = any) are delayed and/or answered with `status`."""

    endpoint: str
    remaining: int
    status: int | None
    message: str
    latency_ms: int
    answer_late: bool = False
    #: `"before"`/`"after"`: the connection is reset without an answer, before or after the call is
    #: processed (`recording_sandbox.drops`).
    drop: str | None = None


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class RealtimeKitEmulator:
    """RealtimeKit recordings on loopback.

    Args:
        api_token: the Bearer token accepted (default `sandbox-token`).
        clock: time source; `state` options (`start_delay_s`, …) pass through `state_options`.
        tick_s: how often time-driven transitions (auto-stop, upload) are applied in the background.
        request_log_size: bound of the request log.
        rate_limits: enforce RealtimeKit's documented limits per account and app, as sliding windows
            in real (monotonic) time: 250 requests per 10 s for all calls, 1,000 per 60 s for the
            Recordings APIs ("Limits and Quotas", https://developers.cloudflare.com/realtime/realtimekit/rate-limits/);
            past either, HTTP 429 with Cloudflare's error envelope. A refused request is not counted.
            Every route served here is a Recordings API.
    """

    #: (requests, window seconds) of the two documented limits.
    ALL_LIMIT = (250, 10.0)
    RECORDINGS_LIMIT = (1000, 60.0)

    def __init__(
        self,
        *,
        api_token: str = "sandbox-token",
        clock: Clock | None = None,
        tick_s: float = 0.2,
        request_log_size: int = 10_000,
        rate_limits: bool = False,
        **state_options: Any,
    ) -> None:
        self.api_token = api_token
        self.rate_limits = rate_limits
        self._windows: dict[tuple[str, str, float], collections.deque[float]] = {}
        self.state = RealtimeKitState(clock=clock, **state_options)
        self.tick_s = tick_s
        #: Writes stopped recordings' files into `storage_config` type aws at `uploads.s3_endpoint`
        #: (while they are UPLOADING: they turn UPLOADED only once written).
        self.uploads = StorageWriter()
        self.state.holds_upload = self._writes_files
        self._upload_lock = asyncio.Lock()
        self.request_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=request_log_size)
        self.endpoint_counts: collections.Counter[str] = collections.Counter()
        self.faults: list[Fault] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        #: Webhook configurations and signed `recording.statusUpdate` deliveries (webhooks.py).
        self.webhooks = WebhookSender(self.state, lambda: self.url, api_token)

    @property
    def api_base_url(self) -> str:
        """What the `cloudflare` SDK's `base_url` should be: `<url>/client/v4`."""
        return f"{self.url}/client/v4"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the base URL `http://host:port`."""
        app = web.Application()
        r = app.router
        r.add_get("/_emulator/recordings", self._h_recordings)
        r.add_get("/_emulator/requests", self._h_requests)
        r.add_delete("/_emulator/requests", self._h_requests_clear)
        r.add_get("/_emulator/meetings/{meeting}/participants", self._h_participants_get)
        r.add_put("/_emulator/meetings/{meeting}/participants", self._h_participants_put)
        r.add_post("/_emulator/faults", self._h_fault)
        r.add_delete("/_emulator/faults", self._h_faults_clear)
        r.add_get("/_emulator/clock", self._h_clock)
        r.add_post("/_emulator/clock", self._h_clock_advance)
        r.add_post("/_emulator/reset", self._h_reset)
        r.add_get("/_files/{rid}/{name}", self._h_file)
        self.webhooks.register(r, "/client/v4/accounts/{account}/realtime/kit/{app}")
        r.add_route("*", "/{tail:.*}", self._h_api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        self._ticker = asyncio.create_task(self._tick())
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._ticker:
            self._ticker.cancel()
        await self.webhooks.stop()
        if self._runner:
            await self._runner.cleanup()

    async def _tick(self) -> None:
        while True:
            self.state.advance()
            await self._upload()
            self.state.advance()
            self.webhooks.notify_changes()
            await asyncio.sleep(self.tick_s)

    def _writes_files(self, recording: Recording) -> bool:
        """Whether the emulator writes this recording's files (storage_config type aws, S3 present)."""
        storage = recording.config.get("storage_config") or {}
        return bool(self.uploads.s3_endpoint and storage.get("type") == "aws" and storage.get("bucket"))

    async def _upload(self) -> None:
        """Write the files of stopped recordings with `storage_config` type aws (agora/uploads.py),
        then let them turn UPLOADED; a failed write is tried again on the next tick or request."""
        async with self._upload_lock:
            for recording in list(self.state.recordings.values()):
                storage = recording.config.get("storage_config")
                if recording.status not in ("UPLOADING", "UPLOADED") or not storage:
                    continue
                if storage.get("type") != "aws":
                    continue
                path = str(storage.get("path") or "").strip("/")
                keys = [f"{path}/{name}" if path else name for name in self.state.files(recording)]
                failures = self.uploads.failures
                await self.uploads.write(
                    self.uploads.s3_endpoint,
                    storage.get("bucket"),
                    str(storage.get("access_key") or ""),
                    str(storage.get("secret") or ""),
                    keys,
                )
                if self.uploads.failures == failures:
                    recording.upload_held = False

    # --- provider API ------------------------------------------------------------------------------

    async def _h_api(self, request: web.Request) -> web.StreamResponse:
        endpoint, match = "unknown", None
        for name, method, pattern in _ROUTES:
            m = pattern.match(request.path)
            if m and request.method == method:
                endpoint, match = name, m.groupdict()
                break
        if match is None:
            return self._log(request, endpoint, 404, _error(404, 7003, "No route for that URI"))
        if request.headers.get("Authorization") != f"Bearer {self.api_token}":
            return self._log(request, endpoint, 401, _error(401, 10000, "Authentication error"))
        if self._rate_limited(match["account"], match["app"]):
            return self._log(request, endpoint, 429, _error(429, 10429, "Rate limit exceeded"))
        # The body is read first, so a latency fault delays the processing of a request whose
        # client may already have given up (the provider acts, the answer is lost).
        body: dict[str, Any] = {}
        if request.method in ("POST", "PUT"):
            try:
                decoded = await request.json()
            except ValueError:
                return self._log(request, endpoint, 400, _error(400, 1000, "body is not JSON"))
            if not isinstance(decoded, dict):
                return self._log(request, endpoint, 400, _error(400, 1000, "body must be an object"))
            body = decoded
        fault = next((f for f in self.faults if f.remaining > 0 and f.endpoint in (endpoint, "*")), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                self.faults.remove(fault)
            if fault.latency_ms and not fault.answer_late:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.drop == "before":
                return self._dropped(request, endpoint, "before")
            if fault.status is not None:
                return self._log(request, endpoint, fault.status, _error(fault.status, 9000, fault.message))
        response = await self._serve(request, endpoint, match, body)
        if fault is not None and fault.answer_late and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault is not None and fault.drop == "after":
            return self._dropped(request, endpoint, "after")
        return response

    def _rate_limited(self, account: str, app: str) -> bool:
        """Whether this request exceeds a documented window of `account/app` (counted when not)."""
        if not self.rate_limits:
            return False
        now = time.monotonic()
        windows = []
        for limit, seconds in (self.ALL_LIMIT, self.RECORDINGS_LIMIT):
            window = self._windows.setdefault((account, app, seconds), collections.deque())
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= limit:
                return True
            windows.append(window)
        for window in windows:
            window.append(now)
        return False

    async def _serve(
        self, request: web.Request, endpoint: str, match: dict[str, str], body: dict[str, Any]
    ) -> web.Response:
        """Process one provider call (after faults); `body` is the request's JSON object."""
        await self._upload()
        base = self.url
        try:
            if endpoint in ("start", "startTrack"):
                rec = self.state.start(match["account"], match["app"], body, track=endpoint == "startTrack")
                data: Any = self.state.to_json(rec, base_url=base)
                if endpoint == "startTrack":
                    data = {
                        "recording": {
                            **self.state.to_json(rec, base_url=base, full=False),
                            "meeting_id": rec.meeting_id,
                            "type": "TRACK",
                        }
                    }
            elif endpoint == "get":
                data = self.state.to_json(self.state.get(match["rid"]), base_url=base)
            elif endpoint == "active":
                data = self.state.to_json(self.state.active(match["meeting"]), base_url=base, full=False)
            elif endpoint == "action":
                data = self.state.to_json(
                    self.state.action(match["rid"], str(body.get("action"))), base_url=base
                )
            else:
                self.state.advance()
                meeting = request.query.get("meeting_id")
                items = [
                    self.state.to_json(r, base_url=base)
                    for r in self.state.recordings.values()
                    if meeting is None or r.meeting_id == meeting
                ]
                return self._log(
                    request,
                    endpoint,
                    200,
                    {
                        "success": True,
                        "data": items,
                        "paging": {
                            "start_offset": 0,
                            "end_offset": max(0, len(items) - 1),
                            "total_count": len(items),
                        },
                    },
                )
        except RealtimeKitError as exc:
            return self._log(request, endpoint, exc.status, exc.body)
        return self._log(request, endpoint, 200, {"success": True, "data": data})

    def _log(self, request: web.Request, endpoint: str, status: int, body: dict[str, Any]) -> web.Response:
        self.request_log.append(
            {
                "time": round(time.time() * 1000),
                "method": request.method,
                "endpoint": endpoint,
                "path": request.path,
                "httpStatus": status,
            }
        )
        self.endpoint_counts[endpoint] += 1
        return _json(status, body)

    def _dropped(self, request: web.Request, endpoint: str, when: str) -> web.Response:
        """Log the call as dropped `when` (`before`/`after` processing) and reset its connection.

        After processing, the entry `_serve` logged for this request (the last one, no await in
        between) is rewritten instead of adding a second one."""
        last = self.request_log[-1] if self.request_log else None
        if when == "after" and last is not None and last["path"] == request.path:
            last.update(httpStatus=None, dropped=when)
            return drop_connection(request)
        self.request_log.append(
            {
                "time": round(time.time() * 1000),
                "method": request.method,
                "endpoint": endpoint,
                "path": request.path,
                "httpStatus": None,
                "dropped": when,
            }
        )
        self.endpoint_counts[endpoint] += 1
        return drop_connection(request)

    # --- control API -------------------------------------------------------------------------------

    async def _h_file(self, request: web.Request) -> web.Response:
        """A RealtimeKit-bucket file behind its `download_url`: placeholder bytes naming it, while the
        URL is valid (`download_url_expiry`, 7 days after upload); else 404 (expired, or unknown)."""
        self.state.advance()
        rid, name = request.match_info["rid"], request.match_info["name"]
        recording = self.state.recordings.get(rid)
        if recording is None or recording.status != "UPLOADED" or name not in self.state.files(recording):
            return web.Response(status=404, text="no such file")
        if (
            recording.uploaded_at is not None
            and self.state.clock.now() > recording.uploaded_at + DOWNLOAD_TTL_S
        ):
            return web.Response(status=404, text="download URL expired")
        return web.Response(
            body=f"realtimekit {rid} {name}\n".encode(), content_type="application/octet-stream"
        )

    async def _h_recordings(self, request: web.Request) -> web.Response:
        self.state.advance()
        return _json(
            200,
            {
                "recordings": [
                    {
                        "id": r.id,
                        "meetingId": r.meeting_id,
                        "type": r.type,
                        "status": r.status,
                        "stopReason": r.stop_reason,
                        "active": r.active,
                        "maxSeconds": r.max_seconds,
                        "layers": r.config.get("layers"),
                        "storage": "storage_config"
                        if r.config.get("storage_config")
                        else "realtimekit_bucket",
                    }
                    for r in self.state.recordings.values()
                ]
            },
        )

    async def _h_requests(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "1000"))
        return _json(200, {"requests": list(self.request_log)[-limit:] if limit > 0 else []})

    async def _h_requests_clear(self, request: web.Request) -> web.Response:
        self.request_log.clear()
        return _json(200, {"requests": []})

    async def _h_participants_get(self, request: web.Request) -> web.Response:
        return _json(200, {"participants": self.state.participants.get(request.match_info["meeting"], [])})

    async def _h_participants_put(self, request: web.Request) -> web.Response:
        body = await request.json()
        users = self.state.set_participants(request.match_info["meeting"], body.get("participants") or [])
        return _json(200, {"participants": users})

    async def _h_fault(self, request: web.Request) -> web.Response:
        b = await request.json()
        try:
            drop = drop_point(b.get("drop"))
        except ValueError as error:
            return _json(400, {"message": str(error)})
        fault = Fault(
            str(b.get("endpoint", "*")),
            int(b.get("count", 1)),
            b.get("status"),
            str(b.get("message", "injected fault")),
            int(b.get("latencyMs", 0)),
            bool(b.get("answerLate", False)),
            drop,
        )
        self.faults.append(fault)
        return _json(200, {"faults": len(self.faults)})

    async def _h_faults_clear(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return _json(200, {"faults": 0})

    async def _h_clock(self, request: web.Request) -> web.Response:
        return _json(200, {"now": self.state.clock.now()})

    async def _h_clock_advance(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.state.clock.advance(float(body.get("advanceSeconds", 0)))
        self.state.advance()
        return _json(200, {"now": self.state.clock.now()})

    async def _h_reset(self, request: web.Request) -> web.Response:
        self.state = RealtimeKitState(
            clock=self.state.clock,
            start_delay_s=self.state.start_delay_s,
            upload_delay_s=self.state.upload_delay_s,
            empty_meeting_stop_s=self.state.empty_meeting_stop_s,
            errored_below_s=self.state.errored_below_s,
        )
        self.faults.clear()
        self.request_log.clear()
        return _json(200, {"reset": True})
