"""The Agora Cloud Recording emulator's HTTP server (aiohttp), over :class:`~.state.AgoraState`.

Provider API (base path ``/v1/apps/{appid}/cloud_recording``, the `acquire` to `stop` pages under
https://docs.agora.io/en/cloud-recording/rest-api/):
``POST acquire``, ``POST …/mode/{mode}/start``, ``GET …/sid/{sid}/mode/{mode}/query``,
``POST …/update``, ``POST …/updateLayout``, ``POST …/stop``.

Gateway behaviour (the gateway's `{"message"}` body of
https://docs.agora.io/en/cloud-recording/rest-api/status-codes): unknown route or wrong method → 404
``{"message": "no Route matched with those values"}``; missing Basic auth → 401
``{"message": "Unauthorized"}``; wrong credentials → 401
``{"message": "Invalid authentication credentials"}``; more than ``qps_limit`` requests in the
last second for one App ID → 429 ``{"message": "API rate limit exceeded"}`` (https://docs.agora.io/en/cloud-recording/rest-api/overview).

Control and introspection (no auth, JSON), under ``/_emulator/``:

- ``GET tasks`` → ``{"tasks": [{sid, resourceId, appId, cname, uid, mode, status, stopped,
  stopReason, startedAt (Unix ms), files, storage (storageConfig without credentials),
  storageUpdates, decryptionMode, channelKeys (which of secret/salt were sent), excludeResourceIds
  (of the acquire), requestPaths (dotted paths of the start clientRequest, no values)}]}`` (ended
  tasks from a bounded history first).
- ``GET requests?limit=N`` → ``{"requests": [{time (Unix ms), method, endpoint, path, httpStatus,
  code}]}`` (newest last); ``DELETE requests`` clears the log and the stats.
- ``GET stats`` → ``{"total", "endpoints": {name: n}, "httpStatus": {"200": n}}``.
- ``GET|PUT channels/{appId}/{cname}/users`` with ``{"users": ["1001", ...]}``.
- ``GET|PUT apps/{appId}`` ``{"cloudRecording": true, "startNeedsUsers": false, "startStalls": false}``:
  the App ID's switches (``state.AppSettings``): Cloud Recording disabled → every Cloud Recording
  call answers 403; ``startNeedsUsers`` → a start in a channel without users answers 206/435;
  ``startStalls`` → tasks started then never pass status 3.
- ``GET|POST|DELETE faults``: POST ``{"endpoint": "start"|"*", "count": 2, "status": 503,
  "code": 65|null, "message": "...", "latencyMs": 0, "answerLate": false, "drop": null, "cname": null}``; the
  next ``count`` matching calls (of that channel only when ``cname`` is set: the recording's
  channel, the transcoder's first RTC input channel) are delayed by ``latencyMs`` and, when ``status`` is set, answered with it (body
  ``{"code", "reason"}`` when ``code`` is set, else ``{"message"}``). With ``answerLate`` the call
  is processed at once (a start starts its task) and only its answer waits ``latencyMs``: a
  provider that accepted the request but answers after the client's timeout (or, with a long
  latency, not at all); with ``status`` too, the late answer is that error (the provider acted,
  the caller never learns it: a lost answer). With ``"drop": "before"`` the TCP connection is reset
  without an answer and the call is not processed; with ``"drop": "after"`` it is processed (a
  start starts its task) and then reset without an answer (``recording_sandbox.drops``). The log
  shows a dropped call with ``httpStatus: null`` and ``dropped: "before"|"after"``.
- ``POST backups`` ``{"cname": "…", "delaySeconds": 5}``: tasks of that channel upload nothing
  while they record, their ``stop`` answers ``uploadingStatus: "backuped"`` (the files went to
  Agora's backup storage, https://docs.agora.io/en/cloud-recording/rest-api/stop) and the files
  land in the bucket ``delaySeconds`` after the stop; ``GET backups`` → ``{"channels": {cname:
  delay}, "pending": n}`` (uploads still to land). Any stop whose files cannot be written within
  ``STOP_UPLOAD_WAIT_S`` (storage refusing or not answering) answers ``backuped`` too, and its
  files are written again every ``BACKUP_RETRY_S`` until they are stored (Agora: files that fail to
  upload to the third-party storage go to its backup storage and are uploaded later,
  https://docs.agora.io/en/cloud-recording/rest-api/stop, ``uploadingStatus``).
- ``POST tasks/{sid}/migrate`` ``{"seconds": 30, "newUid": "…"|null}``: an HA migration; every
  call on the task answers 404 for ``seconds``, then it answers again under ``newUid``.
- ``GET|POST callbacks``: the NCS sender's settings (``notify.py``: ``url``, ``secret``,
  ``duplicate``, ``reorder``, ``delayMs``, ``drop``, ``retries``, ``retryIntervalMs``);
  ``GET callbacks/log`` → ``{"deliveries": [...]}``. Cloud Recording notices sent: 40
  ``recorder_started`` and 30 ``uploader_started`` on start; on exit 41 ``recorder_leave``
  (leaveCode 16 stop, 4 idle, 0 otherwise), 31 ``uploaded`` with the file list (or 71
  ``web_recorder_stopped`` in web mode), then 11 ``session_exit``. Web mode with a CDN output: 100
  ``rtmp_publish_status`` ``connecting`` then ``publishing`` (``onhold`` while on hold) on start,
  after an ``update`` of ``rtmpPublishConfig`` or ``onhold``, and ``disconnected`` on exit.
  Individual mode with ``snapshotConfig``: 45 ``recorder_snapshot_file`` per screenshot (the
  ticker, after writing the jpg).
- ``POST tasks/{sid}/failover``: a high-availability switch: 12 ``session_failover`` with a
  random ``newUid`` (later notices carry it as ``uid``) → ``{"newUid"}``.
- ``GET clock`` → ``{"now" (s), "nowMs"}``; ``POST clock`` ``{"advanceSeconds": 301}``.
- ``POST reset``: forget tasks, resources, channels, faults, log and stats.

Cloud Transcoder routes (``/v1/projects/{appId}/rtsc/cloud-transcoder/…``, endpoints
``builderTokens``, ``createTask``, ``queryTask``, ``updateTask``, ``deleteTask`` for faults and the
log) and ``GET /_emulator/transcoder/tasks``: see ``transcoder.py``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from recording_sandbox.agora.clock import Clock, SystemClock
from recording_sandbox.agora.notify import NcsSender
from recording_sandbox.agora.state import AgoraState, ServiceError, Task
from recording_sandbox.agora.transcoder import ENDPOINTS as TRANSCODER_ENDPOINTS
from recording_sandbox.agora.transcoder import TranscoderApi
from recording_sandbox.agora.uploads import StorageWriter
from recording_sandbox.drops import drop_connection, drop_point

_BASE = r"^/v1/apps/(?P<app>[^/]+)/cloud_recording"
#: The channel a provider request concerns, kept for the request log.
_CNAME = web.RequestKey("cname", str)
#: Seconds a stop waits for its files to be written before they count as backed up.
STOP_UPLOAD_WAIT_S = 2.0
#: Seconds between two writes of backed-up files that could not be stored yet.
BACKUP_RETRY_S = 1.0
#: Seconds after the stop during which backed-up files are written again (then given up).
BACKUP_RETRY_FOR_S = 600.0

_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("acquire", "POST", re.compile(_BASE + r"/acquire/?$")),
    ("start", "POST", re.compile(_BASE + r"/resourceid/(?P<rid>[^/]+)/mode/(?P<mode>[^/]+)/start/?$")),
    (
        "query",
        "GET",
        re.compile(_BASE + r"/resourceid/(?P<rid>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/query/?$"),
    ),
    (
        "update",
        "POST",
        re.compile(_BASE + r"/resourceid/(?P<rid>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/update/?$"),
    ),
    (
        "updateLayout",
        "POST",
        re.compile(
            _BASE + r"/resourceid/(?P<rid>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/updateLayout/?$"
        ),
    ),
    (
        "stop",
        "POST",
        re.compile(_BASE + r"/resourceid/(?P<rid>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/stop/?$"),
    ),
)
ENDPOINTS = tuple(name for name, _, _ in _ROUTES)


@dataclass
class Fault:
    """An injected fault: the next ``remaining`` calls to ``endpoint`` (``"*"`` = any; of channel
    ``cname`` only, when set) are delayed by ``latency_ms`` and, if ``status`` is set, answered with
    it instead of being processed."""

    endpoint: str
    remaining: int
    status: int | None
    code: int | None
    message: str
    latency_ms: int
    answer_late: bool = False
    cname: str | None = None
    #: ``"before"``/``"after"``: the connection is reset without an answer, before or after the
    #: call is processed (``recording_sandbox.drops``).
    drop: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The fault in its POST body form."""
        return {
            "endpoint": self.endpoint,
            "count": self.remaining,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "latencyMs": self.latency_ms,
            "answerLate": self.answer_late,
            "cname": self.cname,
            "drop": self.drop,
        }

    async def before(self) -> None:
        """The delay before the call is processed (none with ``answer_late``)."""
        if self.latency_ms > 0 and not self.answer_late:
            await asyncio.sleep(self.latency_ms / 1000)

    async def after(self) -> None:
        """The delay between processing the call and answering it (``answer_late`` only)."""
        if self.latency_ms > 0 and self.answer_late:
            await asyncio.sleep(self.latency_ms / 1000)


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class AgoraEmulator:
    """A real HTTP server emulating Agora Cloud Recording (https://docs.agora.io/en/cloud-recording/rest-api/overview).

    Args:
        customer_id: expected Basic-auth user (https://docs.agora.io/en/cloud-recording/rest-api/overview).
        customer_secret: expected Basic-auth password (https://docs.agora.io/en/cloud-recording/rest-api/overview).
        qps_limit: requests per second per App ID before 429 (https://docs.agora.io/en/cloud-recording/rest-api/overview: 10 upstream); ``None`` = no limit.
        transcoder_qps_limit: Cloud Transcoder requests per second per account (the Basic-auth
            Customer ID) before 429, counted apart from Cloud Recording
            (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits: 10 upstream); ``None`` = no limit.
        clock: time source of the state machine (default :class:`SystemClock`).
        status_step_s: seconds per status step (0→5, 6→8).
        tick_s: period of the background task applying due transitions (idle, expiry).
        request_log_size: bound of the request log (a deque).

    Attributes:
        url: ``http://HOST:PORT`` once started.
        state: the :class:`AgoraState`, for in-process test access.
    """

    def __init__(
        self,
        *,
        customer_id: str = "sandbox-id",
        customer_secret: str = "sandbox-secret",
        qps_limit: float | None = None,
        transcoder_qps_limit: float | None = None,
        clock: Clock | None = None,
        status_step_s: float = 0.5,
        tick_s: float = 0.2,
        request_log_size: int = 10_000,
    ) -> None:
        self._customer_id = customer_id
        self._customer_secret = customer_secret
        self.qps_limit = qps_limit
        self.transcoder_qps_limit = transcoder_qps_limit
        self.clock: Clock = clock or SystemClock()
        self.state = AgoraState(clock=self.clock, status_step_s=status_step_s)
        #: Cloud Transcoder (https://docs.agora.io/en/cloud-transcoding/rest-api/create), same auth, faults, log, clock and channels (sandbox/agora/transcoder.py).
        self.transcoder = TranscoderApi(self, status_step_s=status_step_s)
        self.tick_s = tick_s
        #: Writes the files query/stop report into the task's storage when reachable (uploads.py).
        self.uploads = StorageWriter()
        self.url = ""
        self.faults: list[Fault] = []
        #: Channels whose uploads are backed up (POST backups): cname → seconds until they land.
        self.backups: dict[str, float] = {}
        self._late_uploads: set[asyncio.Task[None]] = set()
        #: Sessions whose files went to the backup storage: their exit notice is 32 backuped, and 31
        #: uploaded follows once the files are stored.
        self._backing_up: set[str] = set()
        self.request_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=request_log_size)
        self.endpoint_counts: collections.Counter[str] = collections.Counter()
        self.status_counts: collections.Counter[int] = collections.Counter()
        self._windows: dict[str, collections.deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        #: Agora NCS callbacks of Cloud Recording (notify.py); off until given a URL.
        self.ncs = NcsSender()
        #: Recorder UID per sid after a failover (what later notices report as `uid`).
        self._failover_uids: dict[str, str] = {}
        #: Screenshots already announced with event 45, per sid.
        self._snapshots_sent: dict[str, set[str]] = {}
        #: When each running recording last sent 33 uploading_progress (clock seconds), per sid.
        self._progress_sent: dict[str, float] = {}
        self.state.exit_listeners.append(self._notify_exit)
        self.app = self._build_app()

    def __repr__(self) -> str:
        return f"AgoraEmulator(url={self.url!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port) and return the base URL ``http://host:port``."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}"
        self._ticker = asyncio.create_task(self._tick_forever(), name="agora-emulator-ticker")
        self.ncs.start()
        self.transcoder.ncs.start()
        return self.url

    async def stop(self) -> None:
        """Stop the ticker, backed-up files still waiting to be written, the NCS sender and the server."""
        late = list(self._late_uploads)
        for upload in late:
            upload.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        await self.ncs.stop()
        await self.transcoder.ncs.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self.state.advance()
            self.transcoder.state.advance()
            await self._notify_snapshots()
            self._notify_progress()

    async def _notify_snapshots(self) -> None:
        """45 ``recorder_snapshot_file`` once per screenshot a running task has taken (its ``fileName``
        with the fileNamePrefix path, https://docs.agora.io/en/cloud-recording/develop/receive-notifications),
        the jpg written to storage first: query does not list screenshots, the notices do."""
        for task in list(self.state.tasks.values()):
            if not task.screenshots or task.exit_at is not None:
                continue
            sent = self._snapshots_sent.setdefault(task.sid, set())
            new = [f["fileName"] for f in self.state.files(task) if f["fileName"] not in sent]
            if not new:
                continue
            if task.cname not in self.backups:
                await self._upload(task)
            for name in new:
                sent.add(name)
                details = {"msgName": "recorder_snapshot_file", "fileName": name}
                self.ncs.emit(45, self._payload(task, 1, details), session=task.sid)

    def _notify_progress(self) -> None:
        """33 ``uploading_progress`` from every running recording each `ncs.progress_interval_ms`
        after its start: Agora sends it "every minute once the recording starts", `progress` being
        uploaded/recorded × 10000 (https://docs.agora.io/en/cloud-recording/develop/receive-notifications,
        event 33). Here uploads keep up (10000) unless the channel's storage is backed up (0)."""
        interval_s = self.ncs.progress_interval_ms / 1000
        if interval_s <= 0:
            return
        now = self.state.now()
        for sid in set(self._progress_sent) - set(self.state.tasks):
            del self._progress_sent[sid]
        for task in list(self.state.tasks.values()):
            if task.exit_at is not None:
                self._progress_sent.pop(task.sid, None)
                continue
            last = self._progress_sent.get(task.sid, task.started_at)
            if now - last < interval_s:
                continue
            self._progress_sent[task.sid] = now
            progress = 0 if task.cname in self.backups else 10_000
            details = {"msgName": "uploading_progress", "progress": progress}
            self.ncs.emit(33, self._payload(task, 2, details), session=task.sid)

    def reset(self) -> None:
        """Forget tasks, resources, channels, faults, the request log and the stats."""
        self.state.reset()
        self.transcoder.state.reset()
        self.faults.clear()
        self.backups.clear()
        self._backing_up.clear()
        self._progress_sent.clear()
        self.request_log.clear()
        self.endpoint_counts.clear()
        self.status_counts.clear()
        self._windows.clear()

    def add_fault(
        self,
        endpoint: str,
        *,
        count: int = 1,
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        latency_ms: int = 0,
        answer_late: bool = False,
        cname: str | None = None,
        drop: str | None = None,
    ) -> Fault:
        """Inject a fault (see the module docstring); returns it.

        Raises:
            ValueError: an unknown endpoint or drop point.
        """
        if endpoint != "*" and endpoint not in ENDPOINTS + TRANSCODER_ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        fault = Fault(
            endpoint,
            count,
            status,
            code,
            message or "injected fault",
            latency_ms,
            answer_late,
            cname,
            drop_point(drop),
        )
        self.faults.append(fault)
        return fault

    # -- app -----------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/_emulator/tasks", self._h_tasks)
        r.add_post("/_emulator/tasks/{sid}/migrate", self._h_migrate)
        r.add_get("/_emulator/backups", self._h_backups_get)
        r.add_post("/_emulator/backups", self._h_backups_post)
        r.add_get("/_emulator/requests", self._h_requests)
        r.add_delete("/_emulator/requests", self._h_requests_clear)
        r.add_get("/_emulator/stats", self._h_stats)
        r.add_get("/_emulator/channels/{app}/{cname}/users", self._h_channel_get)
        r.add_put("/_emulator/channels/{app}/{cname}/users", self._h_channel_put)
        r.add_get("/_emulator/apps/{app}", self._h_app_get)
        r.add_put("/_emulator/apps/{app}", self._h_app_put)
        r.add_get("/_emulator/faults", self._h_faults_get)
        r.add_post("/_emulator/faults", self._h_faults_post)
        r.add_delete("/_emulator/faults", self._h_faults_clear)
        r.add_get("/_emulator/clock", self._h_clock_get)
        r.add_post("/_emulator/clock", self._h_clock_post)
        r.add_post("/_emulator/reset", self._h_reset)
        r.add_get("/_emulator/callbacks", self._h_callbacks_get)
        r.add_post("/_emulator/callbacks", self._h_callbacks_post)
        r.add_get("/_emulator/callbacks/log", self._h_callbacks_log)
        r.add_post("/_emulator/tasks/{sid}/failover", self._h_failover)
        self.transcoder.register(r)
        r.add_route("*", "/{tail:.*}", self._h_api)
        return app

    # -- provider API --------------------------------------------------------------------------

    async def _h_api(self, request: web.Request) -> web.Response:
        endpoint, match = self._route(request.method, request.path)
        if match is None:
            return self._log(request, "unknown", 404, {"message": "no Route matched with those values"})
        auth = self._check_auth(request.headers.get("Authorization"))
        if auth is not None:
            return self._log(request, endpoint, 401, {"message": auth})
        app_id = match["app"]
        if self._rate_limited(f"recording/{app_id}", self.qps_limit):
            return self._log(request, endpoint, 429, {"message": "API rate limit exceeded"})
        payload: dict[str, Any] = {}
        if request.method == "POST":
            try:
                decoded = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return self._log(
                    request, endpoint, 400, {"code": 2, "reason": "request body is not valid JSON"}
                )
            if not isinstance(decoded, dict):
                return self._log(
                    request, endpoint, 400, {"code": 2, "reason": "request body must be a JSON object"}
                )
            payload = decoded
        request[_CNAME] = str(payload.get("cname") or self._cname_of(match.get("sid")) or "")
        if not self.state.app(app_id).cloud_recording:
            return self._log(
                request, endpoint, 403, {"message": "Cloud Recording is not enabled for this App ID"}
            )
        fault = self._take_fault(endpoint, request[_CNAME])
        if fault is not None:
            await fault.before()
            if fault.drop == "before":
                return self.dropped(request, endpoint, "before")
            if fault.status is not None and not fault.answer_late:
                body: dict[str, Any] = (
                    {"message": fault.message}
                    if fault.code is None
                    else {"code": fault.code, "reason": fault.message}
                )
                return self._log(request, endpoint, fault.status, body)
        return await self._serve(request, endpoint, app_id, match, payload, fault)

    async def _serve(
        self,
        request: web.Request,
        endpoint: str,
        app_id: str,
        match: dict[str, str],
        payload: dict[str, Any],
        fault: Fault | None,
    ) -> web.Response:
        """Process the call; with an `answerLate` fault, answer late (and, with its status, lose the answer)."""
        handlers: dict[str, Callable[[], tuple[int, dict[str, Any]]]] = {
            "acquire": lambda: self.state.acquire(app_id, payload),
            "start": lambda: self.state.start(app_id, match["rid"], match["mode"], payload),
            "query": lambda: self.state.query(app_id, match["rid"], match["sid"], match["mode"]),
            "update": lambda: self.state.update(app_id, match["rid"], match["sid"], match["mode"], payload),
            "updateLayout": lambda: self.state.update_layout(
                app_id, match["rid"], match["sid"], match["mode"], payload
            ),
            "stop": lambda: self.state.stop(app_id, match["rid"], match["sid"], match["mode"], payload),
        }
        task = self.state.tasks.get(match.get("sid") or "")
        outputs_before = [dict(o) for o in (task.rtmp_outputs or [])] if task is not None else []
        stored = True
        if endpoint == "stop" and task is not None and task.cname not in self.backups:
            # What was recorded so far is in storage before the session ends and its exit notices go
            # out, so a stop answers (nearly) as soon as they do, as before slices were uploaded.
            stored = await self._upload_within(task, STOP_UPLOAD_WAIT_S)
        if endpoint == "stop" and task is not None and (not stored or task.cname in self.backups):
            self._backing_up.add(task.sid)  # before the stop: its exit notices say backuped
        try:
            status, body = handlers[endpoint]()
        except ServiceError as error:
            status, body = error.http_status, error.body
        else:
            if endpoint in ("query", "stop") and status == 200 and task is not None:
                if task.cname in self.backups:
                    if endpoint == "stop":
                        body = self._backed_up(task, body, self.backups[task.cname])
                elif endpoint == "query":
                    await self._upload(task)
                elif not (stored and await self._upload_within(task, STOP_UPLOAD_WAIT_S)):
                    body = self._backed_up(task, body, BACKUP_RETRY_S)
            if endpoint == "start" and status == 200:
                self._notify_start(self.state.tasks[body["sid"]])
            if endpoint == "update" and status == 200 and task is not None and task.mode == "web":
                self._notify_update(task, payload.get("clientRequest") or {}, outputs_before)
        if fault is not None:
            await fault.after()
            if fault.drop == "after":
                return self.dropped(request, endpoint, "after")
            if fault.answer_late and fault.status is not None:
                lost: dict[str, Any] = (
                    {"message": fault.message}
                    if fault.code is None
                    else {"code": fault.code, "reason": fault.message}
                )
                return self._log(request, endpoint, fault.status, lost)
        return self._log(request, endpoint, status, body)

    # -- NCS callbacks (notify.py) -------------------------------------------------------------

    def _payload(self, task: Task, service_type: int, details: dict[str, Any]) -> dict[str, Any]:
        return {
            "cname": task.cname,
            "uid": self._failover_uids.get(task.sid, task.uid),
            "sid": task.sid,
            "serviceType": service_type,
            "details": details,
        }

    def _notify_start(self, task: Task) -> None:
        """40 recorder_started and 30 uploader_started (https://docs.agora.io/en/cloud-recording/develop/receive-notifications)."""
        if task.mode == "web":
            details = {"msgName": "web_recorder_started", "recorderStartTime": round(task.started_at * 1000)}
            self.ncs.emit(70, self._payload(task, 6, details), session=task.sid)
            self._notify_rtmp(task, "connecting")
            self._notify_rtmp(task, "onhold" if task.onhold else "publishing")
            return
        details = {"msgName": "recorder_started", "status": 0}
        self.ncs.emit(40, self._payload(task, 1, details), session=task.sid)
        self.ncs.emit(
            30, self._payload(task, 2, {"msgName": "uploader_started", "status": 0}), session=task.sid
        )

    def _notify_rtmp(self, task: Task, status: str) -> None:
        """100 rtmp_publish_status for each CDN output of a web task (``connecting``, ``publishing``,
        ``onhold``, ``disconnected``; https://docs.agora.io/en/cloud-recording/develop/receive-notifications)."""
        for output in task.rtmp_outputs or []:
            details = {"msgName": "rtmp_publish_status", "rtmpUrl": output.get("rtmpUrl"), "status": status}
            self.ncs.emit(100, self._payload(task, 6, details), session=task.sid)

    def _notify_update(
        self, task: Task, client_request: Mapping[str, Any], before: list[dict[str, Any]]
    ) -> None:
        """100 after an ``update``: a replaced CDN output disconnects and the new one publishes; web
        ``onhold`` holds (or resumes) the push."""
        if client_request.get("rtmpPublishConfig") is not None:
            for output in before:
                if output not in (task.rtmp_outputs or []):
                    details = {
                        "msgName": "rtmp_publish_status",
                        "rtmpUrl": output.get("rtmpUrl"),
                        "status": "disconnected",
                    }
                    self.ncs.emit(100, self._payload(task, 6, details), session=task.sid)
            self._notify_rtmp(task, "onhold" if task.onhold else "publishing")
        elif client_request.get("webRecordingConfig") is not None:
            self._notify_rtmp(task, "onhold" if task.onhold else "publishing")

    def _notify_exit(self, task: Task) -> None:
        """41 recorder_leave, 31 uploaded, or 32 backuped when the files went to the backup storage
        (71 web_recorder_stopped and 100 disconnected in web mode), 11 session_exit."""
        at = task.exit_at if task.exit_at is not None else self.state.now()
        files = self.state.files(task, at)
        self._snapshots_sent.pop(task.sid, None)
        if task.mode == "web":
            self._notify_rtmp(task, "disconnected")
            web_files = [{"fileName": f["fileName"], "sliceStartTime": f["sliceStartTime"]} for f in files]
            details = {"msgName": "web_recorder_stopped", "code": 0, "message": "ok", "fileList": web_files}
            self.ncs.emit(71, self._payload(task, 6, details), session=task.sid)
        else:
            code = {"stop": 16, "idle": 4}.get(task.stop_reason or "", 0)
            leave = {"msgName": "recorder_leave", "leaveCode": code}
            self.ncs.emit(41, self._payload(task, 1, leave), session=task.sid)
            if files and task.sid in self._backing_up:
                backuped = {"msgName": "backuped", "status": 0, "fileList": files}
                self.ncs.emit(32, self._payload(task, 2, backuped), session=task.sid)
            elif files:
                uploaded = {"msgName": "uploaded", "status": 0, "fileList": files}
                self.ncs.emit(31, self._payload(task, 2, uploaded), session=task.sid)
        self.ncs.emit(
            11, self._payload(task, 0, {"msgName": "session_exit", "exitStatus": 0}), session=task.sid
        )

    async def _upload(self, task: Task) -> bool:
        """Write the files this task reports into its storage, when that is reachable (uploads.py):
        each HLS playlist's slices, then the playlist (its text, rewritten as slices are added).
        Returns whether every file is stored."""
        storage = task.client_request.get("storageConfig") or {}
        playlists = self.state.playlists(task)
        # Slices before the playlists that name them, as a player reading the playlist expects.
        keys = [name for slices in playlists.values() for name, _ in slices]
        keys += [str(f["fileName"]) for f in self.state.files(task)]
        contents = {name: self.state.playlist_text(slices).encode() for name, slices in playlists.items()}
        failed = await self.uploads.write(
            self.uploads.agora_endpoint(storage),
            storage.get("bucket"),
            str(storage.get("accessKey") or ""),
            str(storage.get("secretKey") or ""),
            keys,
            contents,
        )
        return failed == 0

    async def _upload_within(self, task: Task, seconds: float) -> bool:
        """`_upload`, given up after `seconds` (a storage that does not answer); whether all is stored."""
        try:
            return await asyncio.wait_for(self._upload(task), seconds)
        except TimeoutError:
            return False

    def _backed_up(self, task: Task, body: dict[str, Any], delay_s: float) -> dict[str, Any]:
        """A stop whose files go to the backup storage: answer ``backuped`` and write the files
        `delay_s` seconds later, then every BACKUP_RETRY_S until stored (at most BACKUP_RETRY_FOR_S)."""
        server_response = body.get("serverResponse")
        if isinstance(server_response, dict):
            body = {**body, "serverResponse": {**server_response, "uploadingStatus": "backuped"}}
        upload = asyncio.get_running_loop().create_task(self._upload_later(task, delay_s))
        self._late_uploads.add(upload)
        upload.add_done_callback(self._late_uploads.discard)
        return body

    async def _upload_later(self, task: Task, delay_s: float) -> None:
        """Write the backed-up files; once all are stored, 31 uploaded (web mode: nothing more)."""
        await asyncio.sleep(delay_s)
        give_up = time.monotonic() + BACKUP_RETRY_FOR_S
        while time.monotonic() < give_up:
            if await self._upload(task):  # not cut short: a write that went through is never repeated
                self._backing_up.discard(task.sid)
                files = self.state.files(task)
                if files and task.mode != "web":
                    uploaded = {"msgName": "uploaded", "status": 0, "fileList": files}
                    self.ncs.emit(31, self._payload(task, 2, uploaded), session=task.sid)
                return
            await asyncio.sleep(BACKUP_RETRY_S)

    async def _h_backups_get(self, request: web.Request) -> web.Response:
        return _json(200, {"channels": dict(self.backups), "pending": len(self._late_uploads)})

    async def _h_backups_post(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("cname"), str):
            return _json(400, {"message": "body must be a JSON object with cname"})
        try:
            self.backups[body["cname"]] = float(body.get("delaySeconds", 5))
        except (TypeError, ValueError) as error:
            return _json(400, {"message": str(error)})
        return _json(200, {"channels": dict(self.backups)})

    def _cname_of(self, sid: str | None) -> str | None:
        """Channel of a live or ended task, for the request log of calls that carry no body."""
        if not sid:
            return None
        task = self.state.tasks.get(sid)
        if task is not None:
            return task.cname
        return next((t["cname"] for t in self.state.tasks_snapshot() if t["sid"] == sid), None)

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, dict[str, str] | None]:
        for name, route_method, pattern in _ROUTES:
            m = pattern.match(path)
            if m is not None and method == route_method:
                return name, m.groupdict()
        return "unknown", None

    def _check_auth(self, header: str | None) -> str | None:
        """``None`` when the Basic credentials match, else the gateway's 401 message (https://docs.agora.io/en/cloud-recording/rest-api/status-codes)."""
        if not header:
            return "Unauthorized"
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return "Unauthorized"
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "Invalid authentication credentials"
        ok = (
            sep == ":"
            and secrets.compare_digest(user.encode(), self._customer_id.encode())
            and secrets.compare_digest(password.encode(), self._customer_secret.encode())
        )
        return None if ok else "Invalid authentication credentials"

    def _rate_limited(self, key: str, limit: float | None) -> bool:
        """Sliding 1 s window per key (`recording/<App ID>`, `transcoder/<Customer ID>`), in real
        (monotonic) time (https://docs.agora.io/en/cloud-recording/rest-api/overview: 10 QPS per
        App ID; https://docs.agora.io/en/cloud-transcoding/overview/quota-limits: 10 per account).
        A refused request is not counted."""
        if limit is None:
            return False
        now = time.monotonic()
        window = self._windows.setdefault(key, collections.deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def _take_fault(self, endpoint: str, cname: str = "") -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.endpoint in (endpoint, "*") and fault.cname in (None, cname):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _log(self, request: web.Request, endpoint: str, status: int, body: dict[str, Any]) -> web.Response:
        code = body.get("code")
        self.request_log.append(
            {
                "time": round(self.clock.now() * 1000),
                "method": request.method,
                "endpoint": endpoint,
                "path": request.path,
                "httpStatus": status,
                "code": code if isinstance(code, int) else None,
                "cname": request.get(_CNAME) or None,
            }
        )
        self.endpoint_counts[endpoint] += 1
        self.status_counts[status] += 1
        return _json(status, body)

    def dropped(self, request: web.Request, endpoint: str, when: str) -> web.Response:
        """Log the call as dropped ``when`` (``before``/``after`` processing) and reset its connection."""
        self.request_log.append(
            {
                "time": round(self.clock.now() * 1000),
                "method": request.method,
                "endpoint": endpoint,
                "path": request.path,
                "httpStatus": None,
                "code": None,
                "cname": request.get(_CNAME) or None,
                "dropped": when,
            }
        )
        self.endpoint_counts[endpoint] += 1
        return drop_connection(request)

    # -- control API ---------------------------------------------------------------------------

    async def _h_migrate(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict):
            return _json(400, {"message": "body must be a JSON object"})
        try:
            self.state.migrate(
                request.match_info["sid"],
                float(body.get("seconds", 30)),
                None if body.get("newUid") is None else str(body["newUid"]),
            )
        except KeyError:
            return _json(404, {"message": "no running task with this sid"})
        except (TypeError, ValueError) as error:
            return _json(400, {"message": str(error)})
        return _json(200, {"migrating": request.match_info["sid"]})

    async def _h_tasks(self, request: web.Request) -> web.Response:
        return _json(200, {"tasks": self.state.tasks_snapshot()})

    async def _h_requests(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _json(400, {"message": "limit must be an integer"})
        entries = list(self.request_log)[-limit:] if limit > 0 else []
        return _json(200, {"requests": entries})

    async def _h_requests_clear(self, request: web.Request) -> web.Response:
        self.request_log.clear()
        self.endpoint_counts.clear()
        self.status_counts.clear()
        return _json(200, {"requests": []})

    async def _h_stats(self, request: web.Request) -> web.Response:
        return _json(
            200,
            {
                "total": sum(self.endpoint_counts.values()),
                "endpoints": dict(self.endpoint_counts),
                "httpStatus": {str(k): v for k, v in sorted(self.status_counts.items())},
            },
        )

    async def _h_channel_get(self, request: web.Request) -> web.Response:
        users = self.state.channel_users(request.match_info["app"], request.match_info["cname"])
        return _json(200, {"users": users})

    async def _h_channel_put(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        users = body.get("users") if isinstance(body, dict) else None
        if not isinstance(users, list) or not all(isinstance(u, str | int) for u in users):
            return _json(400, {"message": 'body must be {"users": ["1001", ...]}'})
        self.transcoder.state.advance()  # input users present until now count as activity
        result = self.state.set_channel_users(
            request.match_info["app"], request.match_info["cname"], [str(u) for u in users]
        )
        return _json(200, {"users": result})

    async def _h_app_get(self, request: web.Request) -> web.Response:
        return _json(200, self.state.app(request.match_info["app"]).to_json())

    async def _h_app_put(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict):
            return _json(400, {"message": "body must be a JSON object"})
        settings = self.state.set_app(
            request.match_info["app"],
            cloud_recording=bool(body.get("cloudRecording", True)),
            start_needs_users=bool(body.get("startNeedsUsers", False)),
            start_stalls=bool(body.get("startStalls", False)),
        )
        return _json(200, settings.to_json())

    async def _h_faults_get(self, request: web.Request) -> web.Response:
        return _json(200, {"faults": [f.to_json() for f in self.faults]})

    async def _h_faults_post(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict):
            return _json(400, {"message": "body must be a JSON object"})
        try:
            self.add_fault(
                str(body.get("endpoint", "*")),
                count=int(body.get("count", 1)),
                status=None if body.get("status") is None else int(body["status"]),
                code=None if body.get("code") is None else int(body["code"]),
                message=None if body.get("message") is None else str(body["message"]),
                latency_ms=int(body.get("latencyMs", 0)),
                answer_late=bool(body.get("answerLate", False)),
                cname=None if body.get("cname") is None else str(body["cname"]),
                drop=body.get("drop"),
            )
        except (TypeError, ValueError) as error:
            return _json(400, {"message": str(error)})
        return _json(200, {"faults": [f.to_json() for f in self.faults]})

    async def _h_faults_clear(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return _json(200, {"faults": []})

    def _clock_view(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"now": now, "nowMs": round(now * 1000)}

    async def _h_clock_get(self, request: web.Request) -> web.Response:
        return _json(200, self._clock_view())

    async def _h_clock_post(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        seconds = body.get("advanceSeconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return _json(400, {"message": 'body must be {"advanceSeconds": <non-negative number>}'})
        self.clock.advance(float(seconds))
        self.state.advance()
        self.transcoder.state.advance()
        return _json(200, self._clock_view())

    async def _h_callbacks_get(self, request: web.Request) -> web.Response:
        return _json(200, self.ncs.view())

    async def _h_callbacks_post(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict):
            return _json(400, {"message": "body must be a JSON object"})
        try:
            self.ncs.configure(body)
        except ValueError as error:
            return _json(400, {"message": str(error)})
        return _json(200, self.ncs.view())

    async def _h_callbacks_log(self, request: web.Request) -> web.Response:
        return _json(200, {"deliveries": list(self.ncs.log)})

    async def _h_failover(self, request: web.Request) -> web.Response:
        task = self.state.tasks.get(request.match_info["sid"])
        if task is None or task.exit_at is not None:
            return _json(404, {"message": "no running task with this sid"})
        new_uid = str(secrets.randbelow(2**31 - 2) + 1)
        details = {"msgName": "session_failover", "newUid": int(new_uid)}
        self.ncs.emit(12, self._payload(task, 0, details), session=task.sid)
        self._failover_uids[task.sid] = new_uid
        return _json(200, {"newUid": new_uid})

    async def _h_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json(200, {"reset": True})


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
