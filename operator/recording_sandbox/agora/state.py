"""The Agora Cloud Recording emulator's state machine (https://docs.agora.io/en/cloud-recording/rest-api/overview). No HTTP.

Everything time-dependent reads the injected :class:`~.clock.Clock` and is evaluated lazily: each
public method first calls :meth:`AgoraState.advance`, which applies every transition due by
``clock.now()`` at the exact instant it became due (status walk, idle exit, web
``maxRecordingHour``, ``resourceExpiredHour`` expiry, removal after exit). Advancing the clock by
hours therefore needs no waiting and gives the same result as living through them.

Modelled rules (each with the Agora page that states it):

- resourceId valid 300 s after ``acquire`` (433), one start per resourceId (201/7 echoing ``cname``,
  ``uid``, ``resourceId`` and ``sid: ""``), appid/cname/uid mismatch (432), unknown resourceId
  (1001), sid/resourceId or appid mismatch (1003): https://docs.agora.io/en/cloud-recording/rest-api/status-codes.
- same appid+cname+uid active → 400/53 "task conflict": https://docs.agora.io/en/cloud-recording/rest-api/status-codes.
- status 0→1→2→3→4→5, one step per ``status_step_s``; on exit 6→7→8, then removal: https://docs.agora.io/en/cloud-recording/rest-api/query (`serverResponse.status`).
- idle exit after ``maxIdleTime`` (default 30 s) with no users in the emulated channel
  (individual/mix): https://docs.agora.io/en/cloud-recording/rest-api/start (`maxIdleTime`). Web mode ends after ``maxRecordingHour``:
  https://docs.agora.io/en/cloud-recording/rest-api/start.
- ``resourceExpiredHour`` (default 72) counted from the sid's issue; afterwards 404: https://docs.agora.io/en/cloud-recording/rest-api/acquire.
- query/update/updateLayout/stop on an unknown or ended sid → 404 "failed to find worker": https://docs.agora.io/en/cloud-recording/rest-api/query.
- stop while exiting → 400/49; stop when no user was ever in the channel → 206/435: https://docs.agora.io/en/cloud-recording/rest-api/stop.
- per App ID (:class:`AppSettings`): Cloud Recording not enabled → every call 403; optionally a
  start in a channel without users → 206/435 (Agora's Cloud Recording quick reference).
- file names per https://docs.agora.io/en/cloud-recording/develop/manage-files, ``fileListMode`` and ``serverResponse`` shapes per https://docs.agora.io/en/cloud-recording/rest-api/query and https://docs.agora.io/en/cloud-recording/rest-api/stop.

Emulator choices where the sources are silent (UNCONFIRMED upstream): ``update``/``updateLayout``
on an exiting task answer 404; after an explicit ``stop`` the task is invisible to ``query`` (404)
but a second ``stop`` answers 400/49 until it is fully gone (3 status steps later); a path ``mode``
that differs from the task's mode answers 400/2; cname/uid in an update/stop body that differ from
the task answer 432.
"""

from __future__ import annotations

import collections
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recording_sandbox.agora.clock import Clock, SystemClock
from recording_sandbox.agora.validation import (
    MODES,
    is_valid_channel_name,
    validate_acquire,
    validate_layout,
    validate_start,
    validate_update,
)

RESOURCE_TTL_S = 300.0
"""https://docs.agora.io/en/cloud-recording/rest-api/acquire: a resourceId is valid for 5 minutes."""
RESOURCE_RETAIN_S = 3600.0
"""How long a resourceId is remembered (for 433 / 201/7 answers) before it is forgotten (1001)."""
DEFAULT_MAX_IDLE_S = 30
"""https://docs.agora.io/en/cloud-recording/rest-api/start: ``maxIdleTime`` default."""
DEFAULT_RESOURCE_EXPIRED_HOUR = 72
"""https://docs.agora.io/en/cloud-recording/rest-api/acquire: ``resourceExpiredHour`` default (72, not the 24 of request examples)."""
MIX_MP4_SEGMENT_S = 2 * 3600.0
"""https://docs.agora.io/en/cloud-recording/develop/manage-files: a new mix MP4 about every 2 h (REST page; the file-management page says 3 h)."""
MAX_LISTED_SNAPSHOTS = 100
HLS_SLICE_S = 10.0
"""Seconds of media per emulated HLS slice (emulator choice: Agora documents no slice length)."""


@dataclass
class AppSettings:
    """Per-App-ID switches of the emulated Agora project (set through the control API).

    Attributes:
        cloud_recording: Cloud Recording is enabled in Agora Console for the App ID. When off, every
            Cloud Recording call answers HTTP 403 (Agora's Cloud Recording quick reference: "403:
            Cloud Recording not enabled in Console").
        start_needs_users: ``start`` in a channel without users answers 206/435 (the quick
            reference's "435: no users in channel; ensure the RTC channel has active participants
            before starting"). Off by default: the REST reference lets such a start succeed and
            end after ``maxIdleTime`` (https://docs.agora.io/en/cloud-recording/rest-api/start).
        start_stalls: tasks started from now on never get past ``serverResponse.status`` 3 (some
            components ready) until they exit: the failed start Agora asks callers to detect
            (status 4/5 not reached within 90 s,
            https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices).
    """

    cloud_recording: bool = True
    start_needs_users: bool = False
    start_stalls: bool = False

    def to_json(self) -> dict[str, Any]:
        """The control API's view: ``{"cloudRecording", "startNeedsUsers", "startStalls"}``."""
        return {
            "cloudRecording": self.cloud_recording,
            "startNeedsUsers": self.start_needs_users,
            "startStalls": self.start_stalls,
        }


class ServiceError(Exception):
    """An Agora service-level failure: HTTP ``http_status`` with body ``{"code", "reason", ...extra}`` (https://docs.agora.io/en/cloud-recording/rest-api/status-codes)."""

    def __init__(
        self, http_status: int, code: int, reason: str, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{http_status}/{code}: {reason}")
        self.http_status = http_status
        self.code = code
        self.reason = reason
        self.extra = dict(extra or {})

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body Agora would send."""
        return {"code": self.code, "reason": self.reason, **self.extra}


def _not_found() -> ServiceError:
    return ServiceError(404, 404, "failed to find worker")


def _invalid(problems: Iterable[str]) -> ServiceError:
    return ServiceError(400, 2, "; ".join(problems))


@dataclass
class Resource:
    """An acquired resource (keyed by ``resourceId``); times in Unix seconds."""

    resource_id: str
    app_id: str
    cname: str
    uid: str
    scene: int
    acquired_at: float
    resource_expired_hour: int
    start_parameter: Mapping[str, Any] | None
    used: bool = False
    #: acquire ``excludeResourceIds``: sessions whose region this one avoids (one region here).
    exclude_resource_ids: list[str] = field(default_factory=list)


@dataclass
class Channel:
    """An emulated RTC channel: who is in it, and since when it is empty (Unix seconds)."""

    users: set[str] = field(default_factory=set)
    first_user_at: float | None = None
    empty_since: float | None = None

    @property
    def had_data(self) -> bool:
        """A channel that ever had a user counts as having produced media."""
        return self.first_user_at is not None


@dataclass
class Task:
    """A recording session (keyed by ``sid``); times in Unix seconds."""

    sid: str
    resource_id: str
    app_id: str
    cname: str
    uid: str
    mode: str
    started_at: float
    expires_at: float
    client_request: dict[str, Any]
    subscriptions: dict[str, list[str]]
    layout: dict[str, Any]
    seen_uids: set[str]
    onhold: bool = False
    web_data_from: float | None = None
    rtmp_outputs: list[dict[str, Any]] = field(default_factory=list)
    exit_at: float | None = None
    stop_reason: str | None = None
    removed_at: float | None = None
    #: HA migration (:meth:`AgoraState.migrate`): until this time every call on the task answers 404.
    migrating_until: float | None = None
    #: The recorder uid the task has once its migration ends (``None``: unchanged).
    migrated_uid: str | None = None
    #: Uids the task had before migrations; calls naming them are still accepted.
    former_uids: set[str] = field(default_factory=set)
    #: Started while its App ID had ``start_stalls``: ``serverResponse.status`` stays at most 3.
    stalled: bool = False
    #: ``update`` calls that replaced the storageConfig (e.g. rotated STS credentials).
    storage_updates: int = 0
    #: The acquire's ``excludeResourceIds``.
    exclude_resource_ids: list[str] = field(default_factory=list)

    @property
    def recording_config(self) -> Mapping[str, Any]:
        """``clientRequest.recordingConfig`` or ``{}``."""
        rc = self.client_request.get("recordingConfig")
        return rc if isinstance(rc, Mapping) else {}

    @property
    def web_params(self) -> Mapping[str, Any]:
        """The ``web_recorder_service`` ``serviceParam`` (web mode) or ``{}``."""
        esc = self.client_request.get("extensionServiceConfig") or {}
        for service in esc.get("extensionServices") or []:
            if service.get("serviceName") == "web_recorder_service":
                param = service.get("serviceParam")
                return param if isinstance(param, Mapping) else {}
        return {}

    @property
    def av_file_types(self) -> list[str]:
        """``recordingFileConfig.avFileType`` (default ``["hls"]``, https://docs.agora.io/en/cloud-recording/rest-api/start)."""
        rfc = self.client_request.get("recordingFileConfig") or {}
        types = rfc.get("avFileType") if isinstance(rfc, Mapping) else None
        return list(types) if isinstance(types, list) else ["hls"]

    @property
    def screenshots(self) -> bool:
        """Individual mode with ``snapshotConfig`` (changes the serverResponse shape, https://docs.agora.io/en/cloud-recording/rest-api/query)."""
        return self.mode == "individual" and isinstance(self.client_request.get("snapshotConfig"), Mapping)

    @property
    def prefix(self) -> str:
        """``fileNamePrefix`` as a path (``"a/b/"``) or ``""`` (https://docs.agora.io/en/cloud-recording/rest-api/start)."""
        storage = self.client_request.get("storageConfig") or {}
        parts = storage.get("fileNamePrefix") or []
        return "".join(f"{p}/" for p in parts)


def _paths(obj: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of an object's leaves (no values), sorted: what a request carried."""
    found: list[str] = []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            found.extend(_paths(value, path + "."))
        else:
            found.append(path)
    return sorted(found)


def _storage_view(storage: Mapping[str, Any]) -> dict[str, Any]:
    """A storageConfig without its credentials (``accessKey``, ``secretKey``, ``stsToken``)."""
    return {k: v for k, v in storage.items() if k not in ("accessKey", "secretKey", "stsToken")}


def _utc_stamp(t: float) -> str:
    """``YYYYMMDDhhmmssSSS`` in UTC (https://docs.agora.io/en/cloud-recording/develop/manage-files)."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y%m%d%H%M%S") + f"{dt.microsecond // 1000:03d}"


def _ms(t: float) -> int:
    return round(t * 1000)


class AgoraState:
    """The emulator's whole state, over an injectable clock (https://docs.agora.io/en/cloud-recording/rest-api/overview).

    Args:
        clock: time source (default :class:`SystemClock`).
        status_step_s: seconds per status step (0→5 on start, 6→8 on exit).
        history_size: how many ended tasks :meth:`tasks_snapshot` keeps.
        max_workers_per_app: concurrent tasks per App ID before ``acquire`` answers
            400/406 ``vendor_over_load`` (https://docs.agora.io/en/cloud-recording/rest-api/overview: 50 by default upstream); ``None`` = unlimited.

    Endpoint methods return ``(http_status, body)`` and raise :class:`ServiceError` for
    service-level failures.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        status_step_s: float = 0.5,
        history_size: int = 1000,
        max_workers_per_app: int | None = None,
        max_resources: int = 50_000,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.status_step_s = status_step_s
        self.max_workers_per_app = max_workers_per_app
        self.max_resources = max_resources
        self.resources: collections.OrderedDict[str, Resource] = collections.OrderedDict()
        self.tasks: dict[str, Task] = {}
        self.active: dict[tuple[str, str, str], str] = {}
        self.channels: dict[tuple[str, str], Channel] = {}
        self.apps: dict[str, AppSettings] = {}
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=history_size)
        #: Called with a task the moment it starts exiting (stop, idle, maxRecordingHour, expiry): the NCS sender.
        self.exit_listeners: list[Callable[[Task], None]] = []

    def reset(self) -> None:
        """Forget every resource, task, channel and ended task."""
        self.resources.clear()
        self.tasks.clear()
        self.active.clear()
        self.channels.clear()
        self.apps.clear()
        self.history.clear()

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        """The injected clock's time, Unix seconds."""
        return self.clock.now()

    def advance(self) -> None:
        """Apply every transition due by ``clock.now()`` (idle, maxRecordingHour, expiry, removal)."""
        now = self.now()
        for task in list(self.tasks.values()):
            self._advance_task(task, now)
        while self.resources:
            first = next(iter(self.resources.values()))
            if first.acquired_at + RESOURCE_RETAIN_S > now and len(self.resources) <= self.max_resources:
                break
            self.resources.popitem(last=False)

    def _auto_exit_at(self, task: Task) -> tuple[float, str] | None:
        if task.mode == "web":
            hours = task.web_params.get("maxRecordingHour", 720)
            return task.started_at + float(hours) * 3600.0, "maxRecordingHour"
        channel = self.channels.get((task.app_id, task.cname))
        if channel is not None and channel.users:
            return None
        idle_from = task.started_at
        if channel is not None and channel.empty_since is not None:
            idle_from = max(idle_from, channel.empty_since)
        max_idle = task.recording_config.get("maxIdleTime", DEFAULT_MAX_IDLE_S)
        return idle_from + float(max_idle), "idle"

    def _advance_task(self, task: Task, now: float) -> None:
        if task.exit_at is None:
            due = self._auto_exit_at(task)
            if due is not None and due[0] < task.expires_at and now >= due[0]:
                task.exit_at, task.stop_reason = due
                self._exited(task)
        if task.exit_at is not None and now >= task.exit_at + 3 * self.status_step_s:
            self._remove(task, task.exit_at + 3 * self.status_step_s)
        elif task.exit_at is None and now >= task.expires_at:
            task.exit_at, task.stop_reason = task.expires_at, "expired"
            self._exited(task)
            self._remove(task, task.expires_at)

    def _exited(self, task: Task) -> None:
        for listener in self.exit_listeners:
            listener(task)

    def _remove(self, task: Task, at: float) -> None:
        task.removed_at = at
        self.tasks.pop(task.sid, None)
        if self.active.get((task.app_id, task.cname, task.uid)) == task.sid:
            del self.active[(task.app_id, task.cname, task.uid)]
        self.history.append(self._task_view(task, at))

    def status_of(self, task: Task, now: float | None = None) -> int:
        """``serverResponse.status`` at ``now`` (https://docs.agora.io/en/cloud-recording/rest-api/query): 0..5 while starting/running, 6..8 exiting."""
        t = self.now() if now is None else now
        step = self.status_step_s
        if task.exit_at is not None and t >= task.exit_at:
            return 6 + min(2, int((t - task.exit_at) / step) if step > 0 else 2)
        ceiling = 3 if task.stalled else 5
        if step <= 0:
            return ceiling
        return min(ceiling, int((t - task.started_at) / step))

    # -- apps and channels ---------------------------------------------------------------------

    def app(self, app_id: str) -> AppSettings:
        """The App ID's settings (defaults when never set)."""
        return self.apps.get(app_id) or AppSettings()

    def set_app(
        self, app_id: str, *, cloud_recording: bool, start_needs_users: bool, start_stalls: bool = False
    ) -> AppSettings:
        """Replace the App ID's settings; returns them."""
        settings = AppSettings(
            cloud_recording=cloud_recording, start_needs_users=start_needs_users, start_stalls=start_stalls
        )
        self.apps[app_id] = settings
        return settings

    def channel_users(self, app_id: str, cname: str) -> list[str]:
        """The users currently in the emulated channel, sorted."""
        channel = self.channels.get((app_id, cname))
        return sorted(channel.users) if channel else []

    def set_channel_users(self, app_id: str, cname: str, users: Iterable[str]) -> list[str]:
        """Replace the emulated channel's users (strings); returns them sorted.

        A channel that ever had a user counts as having produced media (no 435 on stop, files
        appear). An empty channel starts the idle countdown of every task in it (`maxIdleTime`, https://docs.agora.io/en/cloud-recording/rest-api/start).
        """
        self.advance()
        now = self.now()
        channel = self.channels.setdefault((app_id, cname), Channel())
        new = {str(u) for u in users}
        if new and channel.first_user_at is None:
            channel.first_user_at = now
        if not new and (channel.users or channel.empty_since is None):
            channel.empty_since = now
        if new:
            channel.empty_since = None
        channel.users = new
        for task in self.tasks.values():
            if task.app_id == app_id and task.cname == cname and task.exit_at is None:
                task.seen_uids |= new
        return sorted(new)

    # -- endpoints -----------------------------------------------------------------------------

    def acquire(self, app_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """``acquire`` (https://docs.agora.io/en/cloud-recording/rest-api/acquire): 200 ``{cname, uid, resourceId}``.

        Raises:
            ServiceError: 400/2 invalid body, 400/401 ``invalid_channel_name`` (non-web scene),
                400/406 ``vendor_over_load`` past ``max_workers_per_app``.
        """
        self.advance()
        cname, uid, cr = body.get("cname"), body.get("uid"), body.get("clientRequest")
        problems = validate_acquire(cname, uid, cr)
        if problems:
            raise _invalid(problems)
        assert isinstance(cname, str) and isinstance(uid, str) and isinstance(cr, Mapping)
        scene = int(cr.get("scene", 0))
        if scene != 1 and not is_valid_channel_name(cname):
            raise ServiceError(400, 401, "invalid_channel_name")
        if self.max_workers_per_app is not None:
            running = sum(1 for t in self.tasks.values() if t.app_id == app_id)
            if running >= self.max_workers_per_app:
                raise ServiceError(400, 406, "vendor_over_load")
        resource_id = secrets.token_urlsafe(96)
        start_parameter = cr.get("startParameter")
        self.resources[resource_id] = Resource(
            resource_id=resource_id,
            app_id=app_id,
            cname=cname,
            uid=uid,
            scene=scene,
            acquired_at=self.now(),
            resource_expired_hour=int(cr.get("resourceExpiredHour", DEFAULT_RESOURCE_EXPIRED_HOUR)),
            start_parameter=start_parameter if isinstance(start_parameter, Mapping) else None,
            exclude_resource_ids=list(cr.get("excludeResourceIds") or []),
        )
        return 200, {"cname": cname, "uid": uid, "resourceId": resource_id}

    def start(
        self, app_id: str, resource_id: str, mode: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``start`` (https://docs.agora.io/en/cloud-recording/rest-api/start): 200 ``{cname, uid, resourceId, sid}``.

        Checks in this order (the code the Agora status-code table gives for each): 1001 unknown resourceId, 432 appid/cname/uid mismatch, 433 expired,
        201/7 already used, 400/53 task conflict, 400/2 validation (incl. acquire
        ``startParameter`` disagreement).
        """
        self.advance()
        now = self.now()
        cname, uid, cr = body.get("cname"), body.get("uid"), body.get("clientRequest")
        resource = self.resources.get(resource_id)
        if resource is None:
            raise ServiceError(400, 1001, "resourceId cannot be parsed")
        if (resource.app_id, resource.cname, resource.uid) != (app_id, cname, uid):
            raise ServiceError(400, 432, "appid, cname or uid does not match the resourceId")
        if now >= resource.acquired_at + RESOURCE_TTL_S:
            raise ServiceError(400, 433, "resourceId expired")
        if resource.used:
            raise ServiceError(
                201, 7, "already started", {"cname": cname, "uid": uid, "resourceId": resource_id, "sid": ""}
            )
        if mode not in MODES:
            raise _invalid([f"mode must be one of individual, mix, web (got {mode!r})"])
        if (app_id, cname, uid) in self.active:
            raise ServiceError(400, 53, "task conflict")
        problems = validate_start(mode, cr, scene=resource.scene)
        if not problems and resource.start_parameter is not None:
            assert isinstance(cr, Mapping)
            for key, value in resource.start_parameter.items():
                if cr.get(key) != value:
                    problems.append(f"clientRequest.{key} does not match the acquire startParameter")
        if problems:
            raise _invalid(problems)
        assert isinstance(cname, str) and isinstance(uid, str) and isinstance(cr, Mapping)
        if self.app(app_id).start_needs_users and not self.channel_users(app_id, cname):
            raise ServiceError(206, 435, "no users in channel")
        resource.used = True
        sid = uuid.uuid4().hex
        request = dict(cr)
        rc = request.get("recordingConfig") or {}
        subs = {
            k: list(v)
            for k, v in rc.items()
            if k
            in ("subscribeAudioUids", "unsubscribeAudioUids", "subscribeVideoUids", "unsubscribeVideoUids")
        }
        channel = self.channels.get((app_id, cname))
        task = Task(
            sid=sid,
            resource_id=resource_id,
            app_id=app_id,
            cname=cname,
            uid=uid,
            mode=mode,
            started_at=now,
            expires_at=now + resource.resource_expired_hour * 3600.0,
            client_request=request,
            subscriptions=subs,
            layout=dict(rc.get("transcodingConfig") or {}),
            seen_uids=set(channel.users) if channel else set(),
            stalled=self.app(app_id).start_stalls,
            exclude_resource_ids=list(resource.exclude_resource_ids),
        )
        if mode == "web":
            params = task.web_params
            task.onhold = bool(params.get("onhold", False))
            if not task.onhold:
                task.web_data_from = now + 5 * self.status_step_s
            esc = request.get("extensionServiceConfig") or {}
            for service in esc.get("extensionServices") or []:
                if service.get("serviceName") == "rtmp_publish_service":
                    task.rtmp_outputs = [dict(o) for o in service["serviceParam"]["outputs"]]
        self.tasks[sid] = task
        self.active[(app_id, cname, uid)] = sid
        return 200, {"cname": cname, "uid": uid, "resourceId": resource_id, "sid": sid}

    def _find(
        self, app_id: str, resource_id: str, sid: str, mode: str, body: Mapping[str, Any] | None
    ) -> Task:
        if mode not in MODES:
            raise _invalid([f"mode must be one of individual, mix, web (got {mode!r})"])
        task = self.tasks.get(sid)
        if task is None:
            raise _not_found()
        if task.migrating_until is not None:
            if self.now() < task.migrating_until:
                raise _not_found()
            self._migrated(task)
        if task.resource_id != resource_id or task.app_id != app_id:
            raise ServiceError(400, 1003, "appid or sid does not match the resourceId")
        if mode != task.mode:
            raise _invalid([f"mode {mode!r} does not match the recording's mode {task.mode!r}"])
        uids = {task.uid, *task.former_uids}
        if body is not None and (body.get("cname") != task.cname or body.get("uid") not in uids):
            raise ServiceError(400, 432, "cname or uid does not match the recording")
        return task

    def migrate(self, sid: str, seconds: float, new_uid: str | None = None) -> None:
        """Emulate an HA migration of a running task: every call on it answers 404 for ``seconds``
        (Agora: up to 90 s, https://docs.agora.io/en/cloud-recording/rest-api/status-codes), then it
        answers again, under ``new_uid`` when given (the ``session_failover`` notification's
        ``newUid``, https://docs.agora.io/en/cloud-recording/develop/receive-notifications). Calls
        naming the former uid keep being accepted.

        Raises:
            KeyError: no running task has this sid.
        """
        task = self.tasks[sid]
        task.migrating_until = self.now() + seconds
        task.migrated_uid = new_uid

    def _migrated(self, task: Task) -> None:
        """End a task's migration: it answers again, with its new uid."""
        task.migrating_until = None
        if task.migrated_uid and task.migrated_uid != task.uid:
            key = (task.app_id, task.cname, task.uid)
            if self.active.get(key) == task.sid:
                del self.active[key]
            task.former_uids.add(task.uid)
            task.uid = task.migrated_uid
            self.active[(task.app_id, task.cname, task.uid)] = task.sid
        task.migrated_uid = None

    def query(self, app_id: str, resource_id: str, sid: str, mode: str) -> tuple[int, dict[str, Any]]:
        """``query`` (https://docs.agora.io/en/cloud-recording/rest-api/query): 200 ``{cname, uid, resourceId, sid, serverResponse}``.

        Raises:
            ServiceError: 404 unknown/ended/stopped, 1003 mismatch, 400/2 mode mismatch.
        """
        self.advance()
        task = self._find(app_id, resource_id, sid, mode, None)
        if task.stop_reason == "stop":
            raise _not_found()
        return 200, self._envelope(task, self._query_response(task))

    def update(
        self, app_id: str, resource_id: str, sid: str, mode: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``update`` (https://docs.agora.io/en/cloud-recording/rest-api/update): ``streamSubscribe``, ``webRecordingConfig``, ``rtmpPublishConfig``,
        ``storageConfig``. 200 ``{cname, uid, resourceId, sid}``.
        """
        self.advance()
        task = self._find(app_id, resource_id, sid, mode, body)
        if task.exit_at is not None:
            raise _not_found()
        cr = body.get("clientRequest")
        problems = validate_update(mode, cr)
        if problems:
            raise _invalid(problems)
        assert isinstance(cr, Mapping)
        now = self.now()
        sub = cr.get("streamSubscribe") or {}
        for media, key in (("Audio", "audioUidList"), ("Video", "videoUidList")):
            if key in sub:
                for k in (f"subscribe{media}Uids", f"unsubscribe{media}Uids"):
                    task.subscriptions.pop(k, None)
                task.subscriptions.update({k: list(v) for k, v in sub[key].items() if v is not None})
        web = cr.get("webRecordingConfig")
        if web is not None:
            task.onhold = bool(web["onhold"])
            if not task.onhold and task.web_data_from is None:
                task.web_data_from = max(now, task.started_at + 5 * self.status_step_s)
        rtmp = cr.get("rtmpPublishConfig")
        if rtmp is not None:
            task.rtmp_outputs = [dict(o) for o in rtmp["outputs"]]
        if cr.get("storageConfig") is not None:
            prefix = (task.client_request.get("storageConfig") or {}).get("fileNamePrefix")
            storage = dict(cr["storageConfig"])
            if prefix is not None:
                storage["fileNamePrefix"] = prefix
            task.client_request["storageConfig"] = storage
            task.storage_updates += 1
        return 200, self._envelope(task, None)

    def update_layout(
        self, app_id: str, resource_id: str, sid: str, mode: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``updateLayout`` (https://docs.agora.io/en/cloud-recording/rest-api/update-layout): mix only (else 400/2); a full overwrite of the layout."""
        self.advance()
        if mode != "mix":
            raise _invalid([f"updateLayout is supported in mix mode only (got {mode!r})"])
        task = self._find(app_id, resource_id, sid, mode, body)
        if task.exit_at is not None:
            raise _not_found()
        cr = body.get("clientRequest")
        if not isinstance(cr, Mapping):
            raise _invalid(["clientRequest is required and must be an object"])
        problems = validate_layout(cr, "clientRequest")
        if problems:
            raise _invalid(problems)
        task.layout = {"mixedVideoLayout": 0, "backgroundColor": "#000000", **cr}
        return 200, self._envelope(task, None)

    def stop(
        self, app_id: str, resource_id: str, sid: str, mode: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``stop`` (https://docs.agora.io/en/cloud-recording/rest-api/stop): 200 with ``uploadingStatus: "uploaded"`` and the file list.

        Raises:
            ServiceError: 400/49 while exiting, 206/435 when nothing was ever recorded (the task
                stops anyway), 404 unknown/ended, 1003 mismatch.
        """
        self.advance()
        task = self._find(app_id, resource_id, sid, mode, body)
        if task.exit_at is not None:
            raise ServiceError(400, 49, "invalid operation")
        now = self.now()
        task.exit_at, task.stop_reason = now, "stop"
        self._exited(task)
        if self._data_from(task) is None:
            raise ServiceError(206, 435, "no recorded data")
        return 200, self._envelope(task, self._stop_response(task))

    # -- views ---------------------------------------------------------------------------------

    def _envelope(self, task: Task, server_response: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cname": task.cname,
            "uid": task.uid,
            "resourceId": task.resource_id,
            "sid": task.sid,
        }
        if server_response is not None:
            body["serverResponse"] = server_response
        return body

    def _data_from(self, task: Task) -> float | None:
        """When the first slice exists (Unix s), or ``None`` if nothing was recorded."""
        ready = task.started_at + 5 * self.status_step_s
        if task.mode == "web":
            return task.web_data_from
        channel = self.channels.get((task.app_id, task.cname))
        if channel is None or channel.first_user_at is None:
            return None
        return max(ready, channel.first_user_at)

    def _subscribed(self, task: Task, media: str, uid: str) -> bool:
        other = "Video" if media == "Audio" else "Audio"
        subs = task.subscriptions
        sub, unsub = subs.get(f"subscribe{media}Uids"), subs.get(f"unsubscribe{media}Uids")
        if sub is not None:
            return sub == ["#allstream#"] or uid in sub
        if unsub is not None:
            return uid not in unsub
        return subs.get(f"subscribe{other}Uids") is None

    def files(self, task: Task, now: float | None = None) -> list[dict[str, Any]]:
        """The task's files at ``now`` as Agora ``fileList`` json entries (https://docs.agora.io/en/cloud-recording/rest-api/query, https://docs.agora.io/en/cloud-recording/develop/manage-files).

        ``fileName`` includes the ``fileNamePrefix`` path; ``sliceStartTime`` is Unix ms.
        """
        t = self.now() if now is None else now
        start = self._data_from(task)
        end = t if task.exit_at is None else min(t, task.exit_at)
        if start is None or end < start:
            return []
        slice_ms = _ms(start)
        prefix = task.prefix
        entries: list[dict[str, Any]] = []
        if task.mode == "individual":
            stream_types = task.recording_config.get("streamTypes", 2)
            uids = sorted((u for u in task.seen_uids if u != task.uid), key=lambda u: (len(u), u))
            if task.screenshots:
                interval = float(task.client_request["snapshotConfig"].get("captureInterval", 10))
                shots = int((end - start) / interval) + 1
                first = max(0, shots - MAX_LISTED_SNAPSHOTS)
                for uid in uids:
                    if not self._subscribed(task, "Video", uid):
                        continue
                    for i in range(first, shots):
                        name = f"{task.sid}_{task.cname}__uid_s_{uid}__uid_e_video_{_utc_stamp(start + i * interval)}.jpg"
                        entries.append(self._entry(prefix + name, "video", uid, False, slice_ms))
                return entries
            for uid in uids:
                for media, track, wanted in (("Audio", "audio", (0, 2)), ("Video", "video", (1, 2))):
                    if stream_types in wanted and self._subscribed(task, media, uid):
                        name = f"{task.sid}_{task.cname}__uid_s_{uid}__uid_e_{track}.m3u8"
                        entries.append(self._entry(prefix + name, track, uid, False, slice_ms))
            return entries
        cname = task.cname if task.mode == "mix" else re.sub(r"[^A-Za-z0-9_\-]", "-", task.cname)
        base = f"{prefix}{task.sid}_{cname}"
        entries.append(self._entry(f"{base}.m3u8", "audio_and_video", "0", True, slice_ms))
        if "mp4" in task.av_file_types:
            if task.mode == "mix":
                segment = MIX_MP4_SEGMENT_S
            else:
                segment = float(task.web_params.get("maxVideoDuration", 120)) * 60.0
            for i in range(int((end - start) / segment) + 1):
                entries.append(
                    self._entry(f"{base}_{i}.mp4", "audio_and_video", "0", True, _ms(start + i * segment))
                )
        return entries

    def playlists(self, task: Task, now: float | None = None) -> dict[str, list[tuple[str, float]]]:
        """Each ``.m3u8`` the task reports at ``now`` → its slices ``[(fileName, seconds)]``, in order.

        Slices are named like the playlist with ``_<utc>.ts`` instead of ``.m3u8`` (``<utc>`` =
        ``YYYYMMDDhhmmssSSS``, UTC+0, when the slice starts; composite and web:
        ``<sid>_<cname>_<utc>.ts``), in the playlist's directory
        (https://docs.agora.io/en/cloud-recording/develop/manage-files, "Naming conventions"); one
        slice per HLS_SLICE_S of media begun, each listed as HLS_SLICE_S long (also the one being
        recorded: a playlist then changes only when a slice begins, emulator choice).
        """
        t = self.now() if now is None else now
        start = self._data_from(task)
        end = t if task.exit_at is None else min(t, task.exit_at)
        if start is None or end < start:
            return {}
        out: dict[str, list[tuple[str, float]]] = {}
        for entry in self.files(task, t):
            name = str(entry["fileName"])
            if not name.endswith(".m3u8"):
                continue
            stem = name.removesuffix(".m3u8")
            slices: list[tuple[str, float]] = []
            at = start
            while True:
                slices.append((f"{stem}_{_utc_stamp(at)}.ts", HLS_SLICE_S))
                at += HLS_SLICE_S
                if at >= end:
                    break
            out[name] = slices
        return out

    @staticmethod
    def playlist_text(slices: list[tuple[str, float]]) -> str:
        """An HLS media playlist (RFC 8216) of ``slices`` (names relative to the playlist's
        directory). Without ``#EXT-X-ENDLIST``: a stop then rewrites nothing that a query before it
        wrote (emulator choice)."""
        target = max((round(d + 0.5) for _, d in slices), default=1)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0"]
        for name, seconds in slices:
            lines += [f"#EXTINF:{seconds:.3f},", name.rsplit("/", 1)[-1]]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _entry(name: str, track: str, uid: str, mixed: bool, slice_ms: int) -> dict[str, Any]:
        return {
            "fileName": name,
            "trackType": track,
            "uid": uid,
            "mixedAllUser": mixed,
            "isPlayable": True,
            "sliceStartTime": slice_ms,
        }

    def _file_list(self, task: Task) -> tuple[str, Any]:
        files = self.files(task)
        if task.mode == "mix" and "mp4" not in task.av_file_types:
            return "string", files[0]["fileName"] if files else ""
        return "json", files

    def _web_state(self, task: Task, *, stopped: bool) -> list[dict[str, Any]]:
        status = self.status_of(task)
        state = "exit" if stopped or status >= 6 else ("inProgress" if status >= 5 else "init")
        file_list = [
            {"filename": f["fileName"], "sliceStartTime": f["sliceStartTime"]} for f in self.files(task)
        ]
        states: list[dict[str, Any]] = [
            {
                "serviceName": "web_recorder_service",
                "payload": {"state": state, "onhold": task.onhold, "fileList": file_list},
            }
        ]
        if task.rtmp_outputs:
            cdn = (
                "disconnected"
                if state == "exit"
                else ("publishing" if state == "inProgress" else "connecting")
            )
            if task.onhold and state == "inProgress":
                cdn = "onhold"
            states.append(
                {
                    "serviceName": "rtmp_publish_service",
                    "payload": {
                        "state": state,
                        "outputs": [{"rtmpUrl": o.get("rtmpUrl"), "status": cdn} for o in task.rtmp_outputs],
                    },
                }
            )
        return states

    def _query_response(self, task: Task) -> dict[str, Any]:
        status = self.status_of(task)
        if task.mode == "web":
            return {"status": status, "extensionServiceState": self._web_state(task, stopped=False)}
        start = self._data_from(task)
        slice_ms = _ms(start) if start is not None and start <= self.now() else 0
        if task.screenshots:
            return {"status": status, "sliceStartTime": slice_ms}
        mode, file_list = self._file_list(task)
        return {"status": status, "fileListMode": mode, "fileList": file_list, "sliceStartTime": slice_ms}

    def _stop_response(self, task: Task) -> dict[str, Any]:
        if task.mode == "web":
            return {
                "extensionServiceState": [
                    {"serviceName": "upload_service", "payload": {"uploadingStatus": "uploaded"}},
                    *self._web_state(task, stopped=True),
                ]
            }
        if task.screenshots:
            return {"uploadingStatus": "uploaded"}
        mode, file_list = self._file_list(task)
        return {"fileListMode": mode, "fileList": file_list, "uploadingStatus": "uploaded"}

    def _task_view(self, task: Task, now: float) -> dict[str, Any]:
        return {
            "sid": task.sid,
            "resourceId": task.resource_id,
            "appId": task.app_id,
            "cname": task.cname,
            "uid": task.uid,
            "mode": task.mode,
            "status": self.status_of(task, now),
            "stopped": task.exit_at is not None,
            "stopReason": task.stop_reason,
            "startedAt": _ms(task.started_at),
            "files": [f["fileName"] for f in self.files(task, now)],
            "storage": _storage_view(task.client_request.get("storageConfig") or {}),
            "storageUpdates": task.storage_updates,
            "decryptionMode": task.recording_config.get("decryptionMode", 0),
            "channelKeys": sorted(k for k in ("secret", "salt") if task.recording_config.get(k)),
            "excludeResourceIds": list(task.exclude_resource_ids),
            "requestPaths": _paths(task.client_request),
        }

    def tasks_snapshot(self) -> list[dict[str, Any]]:
        """Every task, ended ones first (bounded history), as JSON-ready dicts.

        Keys: ``sid, resourceId, appId, cname, uid, mode, status, stopped, stopReason
        ("stop"|"idle"|"maxRecordingHour"|"expired"|None), startedAt`` (Unix ms), ``files``.
        """
        self.advance()
        now = self.now()
        return [*self.history, *(self._task_view(t, now) for t in self.tasks.values())]
