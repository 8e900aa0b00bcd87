"""RealtimeKit webhooks in the emulator (https://developers.cloudflare.com/realtime/realtimekit/webhooks/).

Registration (Bearer auth, `{success, data}` envelope), under
`/client/v4/accounts/{account_id}/realtime/kit/{app_id}`:
`POST /webhooks` `{name, url, events, enabled}`, `GET /webhooks`, `GET|PATCH|DELETE /webhooks/{id}`.

Deliveries: for every recording status change to RECORDING, UPLOADING, UPLOADED or ERRORED, a POST
of `{"event": "recording.statusUpdate", "recording": {...camelCase...}, "meeting": {...}}` to each
enabled webhook of that app subscribed to `recording.statusUpdate`, with `rtk-signature` (base64
RSA-SHA256 PKCS#1 v1.5 of the raw body, the emulator's own key pair), `rtk-uuid` (per delivery) and
`rtk-webhook-id`. A 5xx or no answer is retried (3 times, 100 ms doubling); any other status
is final. The public key is served like RealtimeKit's: `GET /.well-known/webhooks.json` →
`{"success": true, "data": {"publicKey": PEM}, "message": ""}`.

Switches (`POST /_emulator/webhooks` `{duplicate, drop, delayMs}`) and `GET /_emulator/webhooks/log`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from recording_sandbox.realtimekit.state import RealtimeKitState, Recording, iso

#: Statuses `recording.statusUpdate` is sent for (https://developers.cloudflare.com/realtime/realtimekit/webhooks/).
NOTIFIED = frozenset({"RECORDING", "UPLOADING", "UPLOADED", "ERRORED"})
EVENT = "recording.statusUpdate"


class WebhookSender:
    """Webhook configurations per (account, app) and signed deliveries of recording status changes."""

    def __init__(self, state: RealtimeKitState, base_url: Callable[[], str], api_token: str) -> None:
        self.state = state
        self._api_token = api_token
        self._base_url = base_url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.hooks: dict[str, dict[str, Any]] = {}
        self._apps: dict[str, tuple[str, str]] = {}
        self._sent: dict[str, str] = {}
        self.duplicate = False
        self.drop = 0
        self.delay_ms = 0
        self.retries = 3
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    @property
    def public_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM."""
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def register(self, router: web.UrlDispatcher, api_prefix: str) -> None:
        """Add the webhook routes (before the emulator's catch-all route)."""
        router.add_get("/.well-known/webhooks.json", self._h_key)
        router.add_post(api_prefix + "/webhooks", self._h_create)
        router.add_get(api_prefix + "/webhooks", self._h_list)
        router.add_get(api_prefix + "/webhooks/{id}", self._h_get)
        router.add_patch(api_prefix + "/webhooks/{id}", self._h_patch)
        router.add_delete(api_prefix + "/webhooks/{id}", self._h_delete)
        router.add_post("/_emulator/webhooks", self._h_switches)
        router.add_get("/_emulator/webhooks/log", self._h_log)

    async def stop(self) -> None:
        """Cancel deliveries in flight."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- deliveries -------------------------------------------------------------------------------

    def notify_changes(self) -> None:
        """Queue a delivery for every recording whose status changed to a notified one."""
        for recording in list(self.state.recordings.values()):
            if self._sent.get(recording.id) == recording.status:
                continue
            self._sent[recording.id] = recording.status
            if recording.status not in NOTIFIED:
                continue
            for hook in self.hooks.values():
                if (
                    (hook["_account"], hook["_app"]) == (recording.account_id, recording.app_id)
                    and hook["enabled"]
                    and EVENT in hook["events"]
                ):
                    if self.drop > 0:
                        self.drop -= 1
                        continue
                    body = json.dumps(self._body(recording)).encode()
                    delivery = str(uuid.uuid4())
                    for copy in range(2 if self.duplicate else 1):
                        task = asyncio.get_running_loop().create_task(
                            self._deliver(hook, body, delivery, 0.01 * copy)
                        )
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)

    def _body(self, recording: Recording) -> dict[str, Any]:
        data = self.state.to_json(recording, base_url=self._base_url(), full=False)
        return {
            "event": EVENT,
            "recording": {
                "id": recording.id,
                "recordingId": recording.id,
                "status": recording.status,
                "downloadUrl": data.get("download_url")
                if isinstance(data.get("download_url"), str)
                else None,
                "audioDownloadUrl": data.get("audio_download_url"),
                "downloadUrlExpiry": data.get("download_url_expiry"),
                "startedTime": data.get("started_time"),
                "stoppedTime": data.get("stopped_time"),
                "fileSize": str(data["file_size"]) if data.get("file_size") is not None else None,
                "outputFileName": data.get("output_file_name"),
                "meetingId": recording.meeting_id,
                "recordingDuration": data.get("recording_duration"),
                "organizationId": recording.account_id,
                "roomUUID": recording.session_id,
            },
            "meeting": {
                "id": recording.meeting_id,
                "sessionId": recording.session_id,
                "status": "LIVE",
                "createdAt": iso(recording.invoked),
                "startedAt": iso(recording.invoked),
            },
        }

    async def _deliver(self, hook: dict[str, Any], body: bytes, delivery: str, lag_s: float) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        await asyncio.sleep(self.delay_ms / 1000 + lag_s)
        signature = base64.b64encode(self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
        status: int | str = "unsent"
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts += 1
            headers = {
                "Content-Type": "application/json",
                "rtk-signature": signature,
                "rtk-uuid": delivery,  # a retry (and a duplicate copy) is the same delivery
                "rtk-webhook-id": hook["id"],
            }
            try:
                response = await self._http.post(hook["url"], content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            if isinstance(status, int) and status < 500:
                break
            await asyncio.sleep(0.1 * 2**attempt)
        payload = json.loads(body)["recording"]
        self.log.append(
            {
                "webhookId": hook["id"],
                "recordingId": payload["id"],
                "status": payload["status"],
                "attempts": attempts,
                "httpStatus": status,
                "time": round(time.time() * 1000),
            }
        )

    # --- routes -----------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self._api_token}"

    @staticmethod
    def _ok(data: Any, status: int = 200) -> web.Response:
        return web.json_response({"success": True, "data": data}, status=status)

    @staticmethod
    def _fail(status: int, message: str) -> web.Response:
        return web.json_response(
            {
                "success": False,
                "errors": [{"code": status, "message": message}],
                "messages": [],
                "result": None,
            },
            status=status,
        )

    @staticmethod
    def _view(hook: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in hook.items() if not k.startswith("_")}

    async def _h_key(self, request: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": {"publicKey": self.public_pem}, "message": ""})

    async def _h_create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._fail(401, "Authentication error")
        body = await _json(request)
        problems = _check(body, partial=False)
        if problems:
            return self._fail(400, problems)
        now = iso(time.time())
        hook = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "url": body["url"],
            "events": list(body["events"]),
            "enabled": bool(body.get("enabled", True)),
            "created_at": now,
            "updated_at": now,
            "_account": request.match_info["account"],
            "_app": request.match_info["app"],
        }
        self.hooks[hook["id"]] = hook
        return self._ok(self._view(hook), 201)

    def _of_app(self, request: web.Request) -> list[dict[str, Any]]:
        key = (request.match_info["account"], request.match_info["app"])
        return [h for h in self.hooks.values() if (h["_account"], h["_app"]) == key]

    async def _h_list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._fail(401, "Authentication error")
        return self._ok([self._view(h) for h in self._of_app(request)])

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return next((h for h in self._of_app(request) if h["id"] == request.match_info["id"]), None)

    async def _h_get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._fail(401, "Authentication error")
        hook = self._find(request)
        return self._ok(self._view(hook)) if hook else self._fail(404, "webhook not found")

    async def _h_patch(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._fail(401, "Authentication error")
        hook = self._find(request)
        if hook is None:
            return self._fail(404, "webhook not found")
        body = await _json(request)
        problems = _check(body, partial=True)
        if problems:
            return self._fail(400, problems)
        for key in ("name", "url", "events", "enabled"):
            if key in body:
                hook[key] = body[key]
        hook["updated_at"] = iso(time.time())
        return self._ok(self._view(hook))

    async def _h_delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._fail(401, "Authentication error")
        hook = self._find(request)
        if hook is None:
            return self._fail(404, "webhook not found")
        del self.hooks[hook["id"]]
        return self._ok(self._view(hook))

    async def _h_switches(self, request: web.Request) -> web.Response:
        body = await _json(request)
        for key, attr in (("duplicate", "duplicate"), ("drop", "drop"), ("delayMs", "delay_ms")):
            if key in body:
                setattr(self, attr, body[key])
        return web.json_response({"duplicate": self.duplicate, "drop": self.drop, "delayMs": self.delay_ms})

    async def _h_log(self, request: web.Request) -> web.Response:
        return web.json_response({"deliveries": list(self.log)})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _check(body: dict[str, Any], *, partial: bool) -> str:
    """Problems of a webhook body (`name`, `url` strings; `events` a list of strings; `enabled` a bool)."""
    problems = []
    for key in ("name", "url"):
        if (key in body or not partial) and not isinstance(body.get(key), str):
            problems.append(f"{key} is required (a string)")
    events = body.get("events")
    if ("events" in body or not partial) and not (
        isinstance(events, list) and events and all(isinstance(e, str) for e in events)
    ):
        problems.append("events is required (a list of event names)")
    if "enabled" in body and not isinstance(body["enabled"], bool):
        problems.append("enabled must be a boolean")
    return "; ".join(problems)
