"""The Agora Cloud Transcoder emulator (https://docs.agora.io/en/cloud-transcoding/rest-api/create): a state machine and its routes.

Served by :class:`~.server.AgoraEmulator` next to Cloud Recording, with the same Basic auth, rate
limit, faults, request log, clock and emulated channels. Provider API (base path
``/v1/projects/{appId}/rtsc/cloud-transcoder``), with the endpoint names used by faults and the
request log:

- ``builderTokens`` POST ``/builderTokens`` ``{instanceId, services?}`` → ``{tokenName, createTs, instanceId}``
- ``createTask``    POST ``/tasks?builderToken=`` ``{services}`` → task object
- ``queryTask``     GET  ``/tasks/{taskId}?builderToken=`` → task object
- ``updateTask``    PATCH ``/tasks/{taskId}?builderToken=&sequenceId=&updateMask=`` → 200, empty body
- ``deleteTask``    DELETE ``/tasks/{taskId}?builderToken=`` → task object (``STOPPED``)

Errors are ``{"message"}`` with the https://docs.agora.io/en/cloud-transcoding/reference/status-codes status. Control API: ``GET /_emulator/transcoder/tasks``
→ ``{"tasks": [{taskId, instanceId, appId, channel, status, serviceStatus, sequenceId, updates,
staleUpdates, stopped, stopReason, createTs, builderToken, config}]}`` (ended tasks first, bounded).

Modelled rules:

- builder tokens are valid 300 s for ``create`` and bound to the one task they create; a bound
  token keeps working for that task's query/update/delete and no other (https://docs.agora.io/en/cloud-transcoding/rest-api/acquire);
- one live task per appId + instanceId: another create answers 409 (https://docs.agora.io/en/cloud-transcoding/rest-api/create);
- create with a token already bound to a live task answers **201** with that task (https://docs.agora.io/en/cloud-transcoding/reference/status-codes "task
  already running for this builderToken"), so a client whose create answer was lost can adopt it;
- status ``IDLE → PREPARED → STARTING → CREATED → STARTED → IN_PROGRESS``, one step per
  ``status_step_s`` (https://docs.agora.io/en/cloud-transcoding/rest-api/query), with the matching service status;
- update needs ``updateMask=services.cloudTranscoder.config`` and a whole valid config (https://docs.agora.io/en/cloud-transcoding/rest-api/update);
- the task is destroyed once no input user (an ``rtcUid`` of its RTC inputs; uid 0: anyone) has been
  in the emulated input channel for ``idleTimeout`` s (default 300, https://docs.agora.io/en/cloud-transcoding/rest-api/create); afterwards 404 (https://docs.agora.io/en/cloud-transcoding/rest-api/query);
- delete answers 200 with ``STOPPED``/``serviceCompleted``; later calls answer 404 (https://docs.agora.io/en/cloud-transcoding/rest-api/destroy).

Emulator choices where Agora's Cloud Transcoder documentation is silent (not confirmed upstream):

- **stale sequenceId**: an update whose ``sequenceId`` is not strictly larger than the last one
  applied (a create counts as 0) answers 200 with an empty body and changes nothing, as the server
  "applies the configuration with the highest sequenceId"; the task's ``staleUpdates`` counts them;
- unknown or expired builderToken on create → 400; a token bound to another task → 400;
- a missing or non-integer ``sequenceId`` → 400; any config field may change on update (validated
  as on create), including RTC tokens.
"""

from __future__ import annotations

import base64
import collections
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from recording_sandbox.agora.clock import Clock
from recording_sandbox.agora.notify import NcsSender
from recording_sandbox.agora.transcoder_validation import INSTANCE_ID, transcoder_of

if TYPE_CHECKING:
    from recording_sandbox.agora.server import AgoraEmulator

ENDPOINTS: Final = ("builderTokens", "createTask", "queryTask", "updateTask", "deleteTask")
BUILDER_TOKEN_TTL_S: Final = 300.0
"""https://docs.agora.io/en/cloud-transcoding/rest-api/acquire: a builderToken is valid for 5 min."""
DEFAULT_IDLE_TIMEOUT_S: Final = 300
"""https://docs.agora.io/en/cloud-transcoding/rest-api/create: ``idleTimeout`` default."""
UPDATE_MASK: Final = "services.cloudTranscoder.config"
STATUS_WALK: Final = ("IDLE", "PREPARED", "STARTING", "CREATED", "STARTED", "IN_PROGRESS")
SERVICE_STATUS: Final = {
    "IDLE": "serviceIdle",
    "PREPARED": "serviceReady",
    "STARTING": "serviceReady",
    "CREATED": "serviceReady",
    "STARTED": "serviceStarted",
    "IN_PROGRESS": "serviceInProgress",
    "STOPPED": "serviceCompleted",
}
_BASE = "/v1/projects/{app}/rtsc/cloud-transcoder"


class TranscoderError(Exception):
    """A failure answered with HTTP ``http_status`` and ``{"message": message}`` (https://docs.agora.io/en/cloud-transcoding/get-started/rest-quickstart, https://docs.agora.io/en/cloud-transcoding/reference/status-codes)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(f"{http_status}: {message}")
        self.http_status = http_status
        self.message = message


@dataclass
class BuilderTokenRecord:
    """An acquired builderToken (keyed by ``tokenName``); times in Unix s."""

    name: str
    app_id: str
    instance_id: str
    created_at: float
    task_id: str | None = None

    @property
    def expires_at(self) -> float:
        """End of the create window (https://docs.agora.io/en/cloud-transcoding/rest-api/acquire: 5 min)."""
        return self.created_at + BUILDER_TOKEN_TTL_S


@dataclass
class TranscoderTask:
    """A transcoder task (keyed by ``taskId``); times in Unix s."""

    task_id: str
    app_id: str
    instance_id: str
    token_name: str
    config: dict[str, Any]
    created_at: float
    last_activity: float
    sequence_id: int = 0
    updates: list[int] = field(default_factory=list)
    stale_updates: int = 0
    ended_at: float | None = None
    stop_reason: str | None = None

    @property
    def idle_timeout(self) -> float:
        """``idleTimeout`` in s (default 300, https://docs.agora.io/en/cloud-transcoding/rest-api/create)."""
        value = self.config.get("idleTimeout", DEFAULT_IDLE_TIMEOUT_S)
        return float(value)

    def rtc_inputs(self) -> tuple[str | None, set[int]]:
        """The input channel and the input uids of the RTC inputs."""
        channel: str | None = None
        uids: set[int] = set()
        for key in ("audioInputs", "videoInputs"):
            for entry in self.config.get(key) or []:
                rtc = entry.get("rtc")
                if isinstance(rtc, Mapping):
                    channel = channel or rtc.get("rtcChannel")
                    uids.add(int(rtc.get("rtcUid", 0)))
        return channel, uids


class TranscoderState:
    """Builder tokens and tasks over an injectable clock; lazily advanced like the recording state.

    Args:
        clock: time source.
        channel_users: ``(appId, channel) -> users`` of the emulated RTC channels (shared with the
            Cloud Recording emulator's ``PUT /_emulator/channels/…/users``).
        status_step_s: seconds per status step (IDLE → … → IN_PROGRESS).
        history_size: ended tasks kept for the control API.
        max_tokens: builder tokens remembered at most (oldest unbound ones are forgotten first).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        channel_users: Callable[[str, str], Iterable[str]],
        status_step_s: float = 0.5,
        history_size: int = 1000,
        max_tokens: int = 50_000,
    ) -> None:
        self.clock = clock
        self.channel_users = channel_users
        self.status_step_s = status_step_s
        self.max_tokens = max_tokens
        self.tokens: collections.OrderedDict[str, BuilderTokenRecord] = collections.OrderedDict()
        #: builderToken → the live task it drives (kept as long as the task lives, https://docs.agora.io/en/cloud-transcoding/rest-api/acquire).
        self.bound: dict[str, str] = {}
        self.tasks: dict[str, TranscoderTask] = {}
        self.by_instance: dict[tuple[str, str], str] = {}
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=history_size)
        #: Called with a task when it ends (deleted or destroyed when idle): the NCS sender.
        self.end_listeners: list[Callable[[TranscoderTask], None]] = []

    def reset(self) -> None:
        """Forget every token and task."""
        self.tokens.clear()
        self.bound.clear()
        self.tasks.clear()
        self.by_instance.clear()
        self.history.clear()

    # -- time ----------------------------------------------------------------------------------

    def advance(self) -> None:
        """Apply idle destruction due by ``clock.now()`` and forget stale unbound tokens."""
        now = self.clock.now()
        for task in list(self.tasks.values()):
            channel, uids = task.rtc_inputs()
            users = self.channel_users(task.app_id, channel) if channel else ()
            present = {int(u) for u in users if str(u).isdigit()}
            if present and (0 in uids or uids & present):
                task.last_activity = now
            elif now >= task.last_activity + task.idle_timeout:
                self._end(task, task.last_activity + task.idle_timeout, "idle")
        while self.tokens:
            first = next(iter(self.tokens.values()))
            if first.expires_at > now and len(self.tokens) <= self.max_tokens:
                break
            self.tokens.popitem(last=False)

    def _end(self, task: TranscoderTask, at: float, reason: str) -> None:
        task.ended_at, task.stop_reason = at, reason
        for listener in self.end_listeners:
            listener(task)
        self.tasks.pop(task.task_id, None)
        self.bound.pop(task.token_name, None)
        if self.by_instance.get((task.app_id, task.instance_id)) == task.task_id:
            del self.by_instance[(task.app_id, task.instance_id)]
        self.history.append(self._view(task))

    def status_of(self, task: TranscoderTask) -> str:
        """Task status (https://docs.agora.io/en/cloud-transcoding/rest-api/query) at the clock's time."""
        if task.ended_at is not None:
            return "STOPPED"
        if self.status_step_s <= 0:
            return STATUS_WALK[-1]
        step = int((self.clock.now() - task.created_at) / self.status_step_s)
        return STATUS_WALK[max(0, min(len(STATUS_WALK) - 1, step))]

    # -- endpoints -----------------------------------------------------------------------------

    def acquire(self, app_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """``builderTokens`` (https://docs.agora.io/en/cloud-transcoding/rest-api/acquire): 200 ``{tokenName, createTs, instanceId}``.

        Raises:
            TranscoderError: 400 bad instanceId or an invalid ``services`` config.
        """
        self.advance()
        instance_id = body.get("instanceId")
        if not isinstance(instance_id, str) or not INSTANCE_ID.match(instance_id):
            raise TranscoderError(400, "instanceId is required: at most 64 characters of [A-Za-z0-9_-]")
        if "services" in body:
            _, problems = transcoder_of(body)
            if problems:
                raise TranscoderError(400, "; ".join(problems))
        now = self.clock.now()
        name = secrets.token_urlsafe(48)
        self.tokens[name] = BuilderTokenRecord(name, app_id, instance_id, now)
        return 200, {"tokenName": name, "createTs": int(now), "instanceId": instance_id}

    def create(self, app_id: str, token_name: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """``createTask`` (https://docs.agora.io/en/cloud-transcoding/rest-api/create): 200 with the task object; 201 when this token's task already runs.

        Raises:
            TranscoderError: 400 unknown/expired token or invalid config, 409 instanceId in use.
        """
        self.advance()
        bound = self.tasks.get(self.bound.get(token_name, ""))
        if bound is not None and bound.app_id == app_id:
            return 201, self._task_body(bound, "OnSlaveServiceCreated")
        token = self.tokens.get(token_name)
        now = self.clock.now()
        if token is None or token.app_id != app_id or token.task_id is not None or now >= token.expires_at:
            raise TranscoderError(400, "builderToken is invalid or expired")
        transcoder, problems = transcoder_of(body)
        if problems:
            raise TranscoderError(400, "; ".join(problems))
        if (app_id, token.instance_id) in self.by_instance:
            raise TranscoderError(409, f"a task already exists for instanceId {token.instance_id}")
        task = TranscoderTask(
            task_id=str(uuid.uuid4()),
            app_id=app_id,
            instance_id=token.instance_id,
            token_name=token_name,
            config=json.loads(json.dumps(transcoder)),
            created_at=now,
            last_activity=now,
        )
        token.task_id = task.task_id
        self.bound[token_name] = task.task_id
        self.tasks[task.task_id] = task
        self.by_instance[(app_id, token.instance_id)] = task.task_id
        self.advance()
        return 200, self._task_body(task, "OnSlaveServiceCreated")

    def _find(self, app_id: str, task_id: str, token_name: str) -> TranscoderTask:
        self.advance()
        task = self.tasks.get(task_id)
        if task is None or task.app_id != app_id:
            raise TranscoderError(404, "transcoder not found")
        if token_name != task.token_name:
            raise TranscoderError(400, "builderToken does not match the task")
        return task

    def query(self, app_id: str, task_id: str, token_name: str) -> tuple[int, dict[str, Any]]:
        """``queryTask`` (https://docs.agora.io/en/cloud-transcoding/rest-api/query): 200 with the task object.

        Raises:
            TranscoderError: 404 unknown, deleted or destroyed after idleTimeout; 400 wrong token.
        """
        task = self._find(app_id, task_id, token_name)
        return 200, self._task_body(task, "OnSlaveServiceQueryUpdated")

    def update(
        self, app_id: str, task_id: str, token_name: str, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        """``updateTask`` (https://docs.agora.io/en/cloud-transcoding/rest-api/update): 200 with no body; a stale sequenceId is accepted and ignored.

        Raises:
            TranscoderError: 404 task gone, 400 wrong token, bad ``sequenceId``/``updateMask`` or config.
        """
        task = self._find(app_id, task_id, token_name)
        raw = query.get("sequenceId", "")
        if not raw.isdigit():
            raise TranscoderError(400, "sequenceId is required: an integer >= 0")
        if query.get("updateMask") != UPDATE_MASK:
            raise TranscoderError(400, f"updateMask must be {UPDATE_MASK}")
        transcoder, problems = transcoder_of(body)
        if problems:
            raise TranscoderError(400, "; ".join(problems))
        sequence_id = int(raw)
        task.updates.append(sequence_id)
        if sequence_id <= task.sequence_id:
            task.stale_updates += 1
            return 200, None
        task.sequence_id = sequence_id
        task.config = json.loads(json.dumps(transcoder))
        self.advance()
        return 200, None

    def delete(self, app_id: str, task_id: str, token_name: str) -> tuple[int, dict[str, Any]]:
        """``deleteTask`` (https://docs.agora.io/en/cloud-transcoding/rest-api/destroy): 200 with ``STOPPED``; the task is gone afterwards.

        Raises:
            TranscoderError: 404 unknown or already gone, 400 wrong token.
        """
        task = self._find(app_id, task_id, token_name)
        self._end(task, self.clock.now(), "deleted")
        return 200, self._task_body(task, "OnSlaveServiceStopped")

    # -- views ---------------------------------------------------------------------------------

    def _task_body(self, task: TranscoderTask, message: str) -> dict[str, Any]:
        status = self.status_of(task)
        return {
            "taskId": task.task_id,
            "createTs": int(task.created_at),
            "status": status,
            "sequenceId": str(task.sequence_id),
            "services": {
                "cloudTranscoder": {
                    "serviceType": "cloudTranscoderV2",
                    "config": {"transcoder": task.config},
                    "createTs": int(task.created_at),
                    "status": SERVICE_STATUS.get(status, "serviceUnknown"),
                    "message": message,
                    "details": {},
                }
            },
            "eventHandlers": {},
            "execution": {"workflows": {}},
            "properties": {},
            "variables": {},
            "workflows": {},
        }

    def _view(self, task: TranscoderTask) -> dict[str, Any]:
        status = self.status_of(task)
        channel, _ = task.rtc_inputs()
        return {
            "taskId": task.task_id,
            "instanceId": task.instance_id,
            "appId": task.app_id,
            "channel": channel,
            "status": status,
            "serviceStatus": SERVICE_STATUS.get(status, "serviceUnknown"),
            "sequenceId": task.sequence_id,
            "updates": list(task.updates),
            "staleUpdates": task.stale_updates,
            "stopped": task.ended_at is not None,
            "stopReason": task.stop_reason,
            "createTs": int(task.created_at),
            "builderToken": task.token_name,
            "config": task.config,
        }

    def snapshot(self) -> list[dict[str, Any]]:
        """Ended tasks (bounded history) then live ones, as JSON-ready dicts."""
        self.advance()
        return [*self.history, *(self._view(t) for t in self.tasks.values())]

    def channel_of_token(self, token_name: str) -> str | None:
        """The input channel of the task a token drives, for the request log."""
        task = self.tasks.get(self.bound.get(token_name, ""))
        return task.rtc_inputs()[0] if task else None


class TranscoderApi:
    """The transcoder's HTTP routes inside an :class:`~.server.AgoraEmulator` (auth, faults, log)."""

    def __init__(self, emulator: AgoraEmulator, *, status_step_s: float) -> None:
        self.emulator = emulator
        self.state = TranscoderState(
            clock=emulator.clock, channel_users=emulator.state.channel_users, status_step_s=status_step_s
        )
        #: Cloud Transcoder NCS notices (notify.py; the product ID of transcoder notices is not documented).
        self.ncs = NcsSender(product_id=None)
        self.state.end_listeners.append(self._notify_stopped)

    def _payload(self, task: TranscoderTask, details: dict[str, Any]) -> dict[str, Any]:
        return {
            "taskId": task.task_id,
            "instanceId": task.instance_id,
            "serviceScene": "rtsc/cloud-transcoder",
            "details": {"createTs": int(task.created_at), **details},
        }

    def _notify_stopped(self, task: TranscoderTask) -> None:
        """111 cloud_transcoder_stopped (https://docs.agora.io/en/cloud-transcoding/reference/webhooks/ncs-events)."""
        reason = {"deleted": "Stop request", "idle": "Idle timeout"}.get(task.stop_reason or "", "Stopped")
        details = {
            "event": "cloud_transcoder_stopped",
            "stopReason": reason,
            "updateTs": int(self.state.clock.now()),
        }
        self.ncs.emit(111, self._payload(task, details), session=task.task_id)

    def _notify(
        self, endpoint: str, task_id: str | None, status: int, body: Mapping[str, Any] | None
    ) -> None:
        """110 on a new task, 112 running and 113 on an applied update."""
        if endpoint == "createTask" and status == 200 and body is not None:
            task = self.state.tasks.get(str(body.get("taskId")))
            if task is not None:
                config = json.dumps(task.config)
                started = {
                    "event": "cloud_transcoder_started",
                    "state": "Transcoder success",
                    "transcoder": {"userConfigDetail": config},
                }
                self.ncs.emit(110, self._payload(task, started), session=task.task_id)
                running = {
                    "event": "cloud_transcoder_status",
                    "state": "running",
                    "updateTs": int(self.state.clock.now()),
                }
                self.ncs.emit(112, self._payload(task, running), session=task.task_id)
        elif endpoint == "updateTask" and status == 200:
            task = self.state.tasks.get(task_id or "")
            if task is not None:
                updated = {
                    "event": "cloud_transcoder_updated",
                    "state": "running",
                    "updateTs": int(self.state.clock.now()),
                }
                self.ncs.emit(113, self._payload(task, updated), session=task.task_id)

    def register(self, router: web.UrlDispatcher) -> None:
        """Add the provider and control routes (before the emulator's catch-all route)."""
        router.add_get("/_emulator/transcoder/tasks", self._h_tasks)
        router.add_route("*", _BASE + "/{tail:.*}", self._h_api)

    async def _h_tasks(self, request: web.Request) -> web.Response:
        return web.json_response({"tasks": self.state.snapshot()})

    @staticmethod
    def _route(method: str, tail: str) -> tuple[str, str | None]:
        parts = [p for p in tail.split("/") if p]
        if parts == ["builderTokens"] and method == "POST":
            return "builderTokens", None
        if parts == ["tasks"] and method == "POST":
            return "createTask", None
        if len(parts) == 2 and parts[0] == "tasks":
            names = {"GET": "queryTask", "PATCH": "updateTask", "DELETE": "deleteTask"}
            if method in names:
                return names[method], parts[1]
        return "unknown", None

    async def _h_api(self, request: web.Request) -> web.Response:
        from recording_sandbox.agora.server import (
            _CNAME,  # the request-log key (server.py imports this module)
        )

        emu = self.emulator
        endpoint, task_id = self._route(request.method, request.match_info["tail"])
        if endpoint == "unknown":
            return emu._log(request, "unknown", 404, {"message": "no Route matched with those values"})
        auth = emu._check_auth(request.headers.get("Authorization"))
        if auth is not None:
            return emu._log(request, endpoint, 401, {"message": auth})
        app_id = request.match_info["app"]
        if emu._rate_limited(f"transcoder/{_customer_id(request)}", emu.transcoder_qps_limit):
            return emu._log(request, endpoint, 429, {"message": "API rate limit exceeded"})
        payload: dict[str, Any] = {}
        if request.method in ("POST", "PATCH"):
            try:
                decoded = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return emu._log(request, endpoint, 400, {"message": "request body is not valid JSON"})
            if not isinstance(decoded, dict):
                return emu._log(request, endpoint, 400, {"message": "request body must be a JSON object"})
            payload = decoded
        token = request.query.get("builderToken", "")
        request[_CNAME] = _input_channel(payload) or self.state.channel_of_token(token) or ""
        fault = emu._take_fault(endpoint, request[_CNAME])
        if fault is not None:
            await fault.before()
            if fault.drop == "before":
                return emu.dropped(request, endpoint, "before")
            if fault.status is not None and not fault.answer_late:
                return emu._log(request, endpoint, fault.status, {"message": fault.message})
        handlers: dict[str, Callable[[], tuple[int, dict[str, Any] | None]]] = {
            "builderTokens": lambda: self.state.acquire(app_id, payload),
            "createTask": lambda: self.state.create(app_id, token, payload),
            "queryTask": lambda: self.state.query(app_id, task_id or "", token),
            "updateTask": lambda: self.state.update(app_id, task_id or "", token, request.query, payload),
            "deleteTask": lambda: self.state.delete(app_id, task_id or "", token),
        }
        try:
            status, body = handlers[endpoint]()
        except TranscoderError as error:
            status, body = error.http_status, {"message": error.message}
        else:
            self._notify(endpoint, task_id, status, body)
        if fault is not None:
            await fault.after()
            if fault.drop == "after":
                return emu.dropped(request, endpoint, "after")
            if fault.answer_late and fault.status is not None:
                # The call was processed; its answer is the fault's (e.g. 202 Accepted without the
                # task, or a lost answer).
                return emu._log(request, endpoint, fault.status, {"message": fault.message})
        if body is None:
            emu._log(request, endpoint, status, {})
            return web.Response(status=status)
        return emu._log(request, endpoint, status, body)


def _input_channel(payload: Mapping[str, Any]) -> str | None:
    """The first RTC input channel of a body's ``services.cloudTranscoder.config.transcoder``, if any."""
    node: Any = payload
    for key in ("services", "cloudTranscoder", "config", "transcoder"):
        node = node.get(key) if isinstance(node, Mapping) else None
    transcoder = node
    if not isinstance(transcoder, Mapping):
        return None
    for key in ("audioInputs", "videoInputs"):
        for entry in transcoder.get(key) or []:
            rtc = entry.get("rtc") if isinstance(entry, Mapping) else None
            if isinstance(rtc, Mapping) and isinstance(rtc.get("rtcChannel"), str):
                return str(rtc["rtcChannel"])
    return None


def _customer_id(request: web.Request) -> str:
    """The Customer ID of the request's (already checked) Basic auth: the account Cloud Transcoder's
    rate limit counts (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits)."""
    try:
        decoded = base64.b64decode(request.headers.get("Authorization", "")[6:]).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]
