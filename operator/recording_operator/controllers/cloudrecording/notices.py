"""Provider notices (Agora NCS, https://docs.agora.io/en/cloud-recording/develop/receive-notifications;
RealtimeKit webhooks, https://developers.cloudflare.com/realtime/realtimekit/webhooks/, see
`apply_realtimekit_webhook`) → CloudRecording status, through the same status code as polling (`driver.mark_started`,
`driver.mark_ended`, `files_summary`, `publication.agora_files` / `publish_files`).

The callback receiver hands every verified, not yet applied notice to `apply_agora_notice`:

1. `INDEX` (fed by the watch, `handlers.track_session`) names the CloudRecording: the one whose
   `status.sid` is the notice's sid (owned), else the one for the notice's App ID, channel and
   recorder uid whose start is unknown (`adoptable`).
2. `agora_effect` (pure) says what the notice changes. Effects are monotone, so duplicated or
   reordered deliveries change nothing twice: `recorder_started` (40) moves only Starting →
   Recording; `recorder_leave` (41, unless it left because we called stop) and `session_exit` (11)
   move only an active phase to Stopped (ProviderEnded); files (31 uploaded, 32 backuped, 45
   snapshot, 71 web recorder stopped) are a union, published as RecordedFiles once (a create that
   fails does not hold the status write back: `status.unpublishedFiles` names the file and the
   timer creates it); a failover's
   `newUid` (12), `uploading_progress` (33) and the CDN push's `rtmp_publish_status` (100:
   `status.rtmpPublishStatus` and condition `CdnPublishing`) are taken only from a notice newer
   (by `sequence`, `sendts`) than the last one applied for that session.
3. Adoption: a notice naming a sid for an adoptable CloudRecording writes `status.sid` and
   `status.resourceId` (the reconcile and the finalizer then follow that session: updates, stop on
   delete), then clears the start-pending annotation.
4. A sid that belongs to no CloudRecording: a log line, the `unmatched` result (counted by the
   receiver) and a Warning Event `UnknownSession` on the recordings of that channel, once per sid.
   With `CALLBACKS_STOP_UNKNOWN_SESSIONS` the session is also stopped when its resourceId is known
   (`ORPHANS`, see `_stop_unknown` for the limit).

Polling stays the fallback (Agora: core business logic should not depend on NCS): while notices
arrive for a recording, `query_interval` stretches its query interval by
`CALLBACKS_QUERY_STRETCH`; when they stop, it returns to `CLOUDRECORDING_QUERY_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.cloudrecording import MAX_UNPUBLISHED_FILES, CloudRecordingSpec
from recording_operator.controllers._kit.journal import Journal
from recording_operator.controllers._kit.kube import (
    KubeApiError,
    SecretNotFound,
    resource_version_of,
    retried_on_conflict,
)
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers._kit.status import StatusDraft, digest, files_summary
from recording_operator.controllers.cloudrecording.decide import (
    ACTIVE_PHASES,
    PENDING_ANNOTATION,
    adoptable,
    applied_config,
    observe,
)
from recording_operator.controllers.cloudrecording.driver import (
    RecordingContext,
    cdn_condition,
    mark_ended,
    mark_started,
)
from recording_operator.controllers.cloudrecording.realtimekit import RealtimeKitSessions
from recording_operator.controllers.recordedfile.publication import (
    FileRecord,
    agora_files,
    file_object_name,
    publish_files,
    remembered,
)
from recording_operator.providers.agora import AgoraError, RecordingFile, ncs, parse_file_list
from recording_operator.providers.realtimekit import RecordingState
from recording_operator.providers.realtimekit_webhooks import (
    RECORDING_STATUS_UPDATE,
    Webhook,
    recording_state,
)
from recording_operator.settings import Settings

log = logging.getLogger(__name__)

KIND = "CloudRecording"
PLURAL = "cloudrecordings"
#: `recorder_leave` leaveCode bit for "left because stop was called"
#: (https://docs.agora.io/en/cloud-recording/develop/receive-notifications, event 41).
LEAVE_CODE_STOPPED = 16

Key = tuple[str, str]  # (namespace, name)


# --- which CloudRecording ------------------------------------------------------------------------


class SessionIndex:
    """CloudRecordings by session (Agora sid, RealtimeKit recordingId), by Agora (App ID, channel,
    recorder uid) and by RealtimeKit meeting, from the watch.

    `observe` is called with every watch event; lookups are in memory, so a notice costs one GET of
    the resource it concerns, not a list.
    """

    def __init__(self) -> None:
        self._born = time.monotonic()
        self._by_sid: dict[str, Key] = {}
        self._by_channel: dict[tuple[str, str, str], set[Key]] = {}
        self._of: dict[Key, tuple[str | None, tuple[str, str, str] | None]] = {}
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._by_meeting: dict[str, set[Key]] = {}

    def observe(self, type_: str | None, body: Mapping[str, Any]) -> None:
        """Record (or, for DELETED, forget) one CloudRecording as the watch shows it."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        old_sid, old_channel = self._of.pop(key, (None, None))
        for keys in self._by_meeting.values():
            keys.discard(key)
        if old_sid is not None and self._by_sid.get(old_sid) == key:
            del self._by_sid[old_sid]
        if old_channel is not None:
            self._by_channel.get(old_channel, set()).discard(key)
            if not self._by_channel.get(old_channel):
                self._by_channel.pop(old_channel, None)
        if type_ == "DELETED":
            ended = body.get("status") or {}
            for gone in {old_sid, ended.get("sid"), ended.get("recordingId")} - {None, ""}:
                self._gone[str(gone)] = None
                while len(self._gone) > 10_000:
                    self._gone.popitem(last=False)
            return
        status = body.get("status") or {}
        sid = status.get("sid") or status.get("recordingId") or None
        meeting = ((body.get("spec") or {}).get("realtimeKit") or {}).get("meetingId")
        if meeting:
            self._by_meeting.setdefault(str(meeting), set()).add(key)
        agora = (body.get("spec") or {}).get("agora") or {}
        channel = None
        if agora.get("channel"):
            channel = (str(agora.get("appId", "")), str(agora["channel"]), str(agora.get("uid", "")))
            self._by_channel.setdefault(channel, set()).add(key)
        if sid:
            self._by_sid[sid] = key
        self._of[key] = (sid, channel)

    def age_s(self) -> float:
        """Seconds since this index (the operator process) started: while it is young, the watch may
        not have listed every recording yet."""
        return time.monotonic() - self._born

    def by_meeting(self, meeting_id: str | None) -> list[Key]:
        """CloudRecordings recording RealtimeKit meeting `meeting_id`."""
        return sorted(self._by_meeting.get(meeting_id or "", set()))

    def by_sid(self, sid: str | None) -> Key | None:
        """The CloudRecording whose `status.sid` (Agora) or `status.recordingId` (RealtimeKit) is `sid`."""
        return self._by_sid.get(sid) if sid else None

    def deleted(self, sid: str | None) -> bool:
        """Whether `sid` was the session of a CloudRecording that has since been deleted."""
        return bool(sid) and sid in self._gone

    def by_channel(self, app_id: str, cname: str | None, uid: str | None) -> list[Key]:
        """CloudRecordings for this channel and recorder uid (any App ID when `app_id` is `default`)."""
        if not cname:
            return []
        if app_id != "default":
            return sorted(self._by_channel.get((app_id, cname, uid or ""), set()))
        return sorted(
            k for (a, c, u), keys in self._by_channel.items() if c == cname and u == uid for k in keys
        )

    def of_channel(self, cname: str | None) -> list[Key]:
        """Every CloudRecording recording channel `cname` (any App ID, any uid)."""
        return sorted(k for (_, c, _), keys in self._by_channel.items() if c == cname for k in keys)


INDEX = SessionIndex()


class NotIndexedYet(Exception):
    """A notice names no CloudRecording the index knows while the operator has just started
    (`CALLBACKS_UNMATCHED_GRACE`): the receiver answers 503, so the provider resends it and the
    receiver applies it again, once the watch has listed the recordings."""


def _unmatched_too_early(runtime: Runtime, what: str) -> None:
    """Raise `NotIndexedYet` for a notice about `what` that found no recording, while the index is young.

    Raises:
        NotIndexedYet: the operator started less than `callbacks_unmatched_grace_s` seconds ago.
    """
    grace_s = runtime.settings.callbacks_unmatched_grace_s
    if INDEX.age_s() < grace_s:
        raise NotIndexedYet(
            f"no CloudRecording is known for {what} yet: the operator started {INDEX.age_s():.0f}s ago "
            f"(under CALLBACKS_UNMATCHED_GRACE={grace_s:.0f}s) and may not have listed it"
        )


class NoticeActivity:
    """When a notice last changed each CloudRecording (monotonic s), and per-session high-water
    marks (`sequence`, `sendts`) of the notices whose effect depends on order (12, 33)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._last: OrderedDict[Key, float] = OrderedDict()
        self._order: OrderedDict[tuple[str, int], tuple[int, int]] = OrderedDict()

    def touch(self, key: Key) -> None:
        """A notice for `key` arrived now."""
        self._last.pop(key, None)
        self._last[key] = time.monotonic()
        while len(self._last) > self.limit:
            self._last.popitem(last=False)

    def since(self, key: Key) -> float | None:
        """Seconds since the last notice for `key`, or None."""
        at = self._last.get(key)
        return None if at is None else time.monotonic() - at

    def newer(self, sid: str, event_type: int, order: tuple[int, int]) -> bool:
        """Whether `order` is newer than the last applied notice of this type for `sid` (`applied`
        records one once its status is written: a notice whose write failed is newer when resent)."""
        last = self._order.get((sid, event_type))
        return last is None or order > last

    def applied(self, sid: str, event_type: int, order: tuple[int, int]) -> None:
        """The notice of this type for `sid` at `order` is written (the mark only moves forward)."""
        mark = (sid, event_type)
        last = self._order.pop(mark, None)
        self._order[mark] = order if last is None else max(last, order)
        while len(self._order) > self.limit:
            self._order.popitem(last=False)


ACTIVITY = NoticeActivity()


def query_interval(settings: Settings, namespace: str, name: str) -> float:
    """Seconds between `query` calls for this recording: `CLOUDRECORDING_QUERY_INTERVAL`, times
    `CALLBACKS_QUERY_STRETCH` while notices arrive (one within the stretched interval)."""
    base = settings.query_interval_s
    stretched = base * max(1.0, settings.callbacks_query_stretch)
    since = ACTIVITY.since((namespace, name))
    return stretched if since is not None and since < stretched else base


async def adopted_meanwhile(ctx: RecordingContext) -> bool:
    """Whether a notice adopted this recording's pending start while its `start` call was in flight
    (Agora then answers the repeated start 201/7). If so, the handler's draft is reset to the
    adopted status (so its write does not undo the adoption) and the start-pending annotation is
    removed.

    Raises:
        KubeApiError: the resource could not be read.
    """
    fresh = await ctx.runtime.kube.get_object(ctx.path)
    status = (fresh or {}).get("status") or {}
    if not status.get("sid"):
        return False
    ctx.status = StatusDraft(dict(status))
    ctx.remove_annotation(PENDING_ANNOTATION)
    return True


# --- what a notice changes (pure) ----------------------------------------------------------------


@dataclass
class Effect:
    """What one notice changes on a CloudRecording whose session it concerns.

    `started`: Starting → Recording. `ended`: (reason, message) for an active session the provider
    ended. `fields`: plain status fields. `files`: files reported. `event`: (type, reason, message).
    """

    started: bool = False
    ended: tuple[str, str] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    files: list[RecordingFile] = field(default_factory=list)
    event: tuple[str, str, str] | None = None
    condition: tuple[str, str, str, str] | None = None

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not (self.started or self.ended or self.fields or self.files or self.event or self.condition)


def notice_files(notice: ncs.Notice) -> list[RecordingFile]:
    """Files a notice reports: 31/32 `details.fileList[]`, 45 `details.fileName`, 71 `details.fileList[]`."""
    details = notice.details
    if notice.event_type in (ncs.EVENT_UPLOADED, ncs.EVENT_BACKUPED, ncs.EVENT_WEB_RECORDER_STOPPED):
        return parse_file_list({"fileList": details.get("fileList")})
    if notice.event_type == ncs.EVENT_SNAPSHOT_FILE and details.get("fileName"):
        return [RecordingFile(file_name=str(details["fileName"]))]
    return []


class OwnStops:
    """Sessions this process has sent `stop` for (the newest `limit` sids): the `recorder_leave` and
    `session_exit` notices that stop causes can arrive before its answer is in status, and must not
    read as the provider ending the session (`stopReason` stays what the stop was for)."""

    def __init__(self, limit: int = 4096) -> None:
        """`limit`: how many sids are remembered (oldest forgotten first)."""
        self._limit = limit
        self._sids: dict[str, None] = {}
        self._answered: dict[str, None] = {}

    def _remember(self, sids: dict[str, None], sid: str) -> None:
        sids.pop(sid, None)
        sids[sid] = None
        while len(sids) > self._limit:
            del sids[next(iter(sids))]

    def add(self, sid: str) -> None:
        """Remember that `sid` is being stopped by this process."""
        self._remember(self._sids, sid)

    def answered(self, sid: str) -> None:
        """Remember that Agora answered this process's stop of `sid` (stopped, or already exiting)."""
        self._remember(self._answered, sid)

    def ended_here(self, sid: str | None) -> bool:
        """Whether Agora answered this process's stop of `sid`: a 404 for it is that end, not a migration."""
        return sid is not None and sid in self._answered

    def __contains__(self, sid: object) -> bool:
        return sid in self._sids


#: The sessions this process is stopping or has stopped (see OwnStops).
OWN_STOPS = OwnStops()


def agora_effect(notice: ncs.Notice, phase: str | None, *, newer: bool, own_stop: bool = False) -> Effect:
    """What `notice` changes for a recording in `phase` whose current session it concerns.

    `newer`: the notice is newer than the last applied one of its type for this session (only
    order-dependent fields, failover uid and upload progress, need it). `own_stop`: this process sent
    `stop` for the session — then, as while `Stopping`, `recorder_leave` and `session_exit` end
    nothing: the stop's answer does.
    """
    effect = Effect(files=notice_files(notice))
    details = notice.details
    kind = notice.event_type
    if kind == ncs.EVENT_RECORDER_STARTED and phase == "Starting":
        effect.started = True
    elif kind == ncs.EVENT_SESSION_FAILOVER and newer and details.get("newUid") is not None:
        uid = str(details["newUid"])
        effect.fields["recorderUid"] = uid
        effect.event = (
            "Normal",
            "SessionFailover",
            f"Agora moved session {notice.sid} to recorder uid {uid}",
        )
    elif kind == ncs.EVENT_UPLOADED and phase == "Stopped":
        # All files reached the storage, also those Agora had backed up (uploadingStatus backuped).
        effect.fields["uploadingStatus"] = "uploaded"
    elif kind == ncs.EVENT_UPLOADING_PROGRESS and newer and isinstance(details.get("progress"), int):
        effect.fields["uploadProgress"] = max(0, min(10000, details["progress"]))
    elif kind == ncs.EVENT_RTMP_PUBLISH_STATUS and newer and details.get("status") in RTMP_STATUSES:
        status = str(details["status"])
        effect.fields["rtmpPublishStatus"] = status
        effect.condition = cdn_condition(status, notice.sid)
    elif kind == ncs.EVENT_RECORDER_LEAVE and phase in ACTIVE_PHASES and phase != "Stopping" and not own_stop:
        code = details.get("leaveCode")
        if not (isinstance(code, int) and code & LEAVE_CODE_STOPPED):
            effect.ended = (
                "ProviderEnded",
                f"Agora's recorder left the channel (recorder_leave, leaveCode {code})",
            )
    elif kind == ncs.EVENT_SESSION_EXIT and phase in ACTIVE_PHASES and phase != "Stopping" and not own_stop:
        status = details.get("exitStatus", details.get("leaveStatus"))
        how = "abnormally" if status == 1 else "normally"
        effect.ended = ("ProviderEnded", f"Agora ended the session {how} (session_exit, exitStatus {status})")
    return effect


#: `rtmp_publish_status` (event 100) `status` values: documented as a Number, sent as these strings
#: (https://docs.agora.io/en/cloud-recording/develop/receive-notifications).
RTMP_STATUSES = frozenset({"connecting", "publishing", "onhold", "disconnected"})


# --- applying ------------------------------------------------------------------------------------


class NoticeContext(RecordingContext):
    """A RecordingContext outside a kopf handler: its patch and Events are written by `apply_agora_notice`."""

    def __init__(self, obj: dict[str, Any], runtime: Runtime) -> None:
        super().__init__(cast(kopf.Body, obj), cast(kopf.Patch, {}), runtime, log)
        self.events: list[tuple[str, str, str]] = []

    def event(self, type_: str, reason: str, message: str) -> None:
        """Collected; posted after the status is written."""
        self.events.append((type_, reason, message))


def _path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


async def _write(ctx: NoticeContext, obj: dict[str, Any]) -> None:
    """Write the drafted status (only onto the version of the object it was drafted from: a 409
    Conflict sends the caller round `retried_on_conflict`), then the annotations, then the Events.

    The drafted `status.conditions` is the whole list (a merge patch replaces lists): written over a
    newer version it would undo what kopf's handler wrote meanwhile (e.g. `Synced=True` after the
    start, replaced by the notice's `Synced=Unknown`).
    """
    ctx.flush()
    patch = cast(dict[str, Any], ctx.patch)
    if patch.get("status"):
        await ctx.runtime.kube.merge_patch(
            ctx.path + "/status", {"status": patch["status"]}, resource_version=resource_version_of(obj)
        )
    if patch.get("metadata"):
        await ctx.runtime.kube.merge_patch(ctx.path, {"metadata": patch["metadata"]})
    for type_, reason, message in ctx.events:
        ctx.runtime.events.record(obj, type_, reason, message)


async def _applied(ctx: NoticeContext, spec: CloudRecordingSpec) -> dict[str, Any]:
    """`status.applied` of a session started from this spec (as the start would have recorded it)."""
    ref = spec.storage.credentialsSecretRef
    version = None
    if ref is not None:
        await ctx.runtime.kube.read_secret(ctx.namespace, ref.name)
        version = ctx.runtime.kube.secret_version(ctx.namespace, ref.name)
    storage_digest = digest([spec.storage.model_dump(), version])
    return applied_config(spec, storage_digest, onhold=spec.state == "Paused")


@dataclass(frozen=True)
class Orphan:
    """A start this operator sent and gave up on (its CloudRecording was deleted before the sid was
    known): what a `stop` of the session it may have created needs besides the sid."""

    app_id: str
    resource_id: str
    mode: str
    namespace: str
    credentials_secret: str


class Orphans:
    """Orphaned starts by Agora (channel, recorder uid), newest kept, bounded. With `open` (the
    `OPERATOR_STATE_DIR` setting) they are journalled (`_kit.journal.Journal`), so an operator
    restart between a recording's release and its session's next notice (33 comes every minute)
    still stops that session; without it they are kept in memory only."""

    def __init__(self, size: int = 1000) -> None:
        self._entries = Journal(size)

    @staticmethod
    def _key(cname: str | None, uid: str | None) -> str:
        return json.dumps([cname or "", uid or ""])

    def open(self, path: Path) -> int:
        """Load the orphans journalled in `path` and keep journalling there.

        Returns:
            How many were loaded.

        Raises:
            OSError: the journal cannot be read or written.
        """
        return self._entries.open(path)

    def remember(self, cname: str, uid: str, orphan: Orphan) -> None:
        """Keep `orphan` for the session a later notice may name (a journal that cannot be written
        is logged: the orphan is still kept in memory)."""
        try:
            self._entries.set(self._key(cname, uid), asdict(orphan))
        except OSError as exc:
            log.warning(f"journalling the orphaned start of channel {cname!r} uid {uid} failed: {exc}")

    def known(self, cname: str | None, uid: str | None) -> bool:
        """Whether an orphaned start of that recorder is kept."""
        return self._key(cname, uid) in self._entries

    def take(self, cname: str, uid: str) -> Orphan | None:
        """The orphaned start of that recorder, forgotten once taken (also when journalling that it
        was taken fails: the start is still returned, so its session is stopped)."""
        key = self._key(cname, uid)
        value = self._entries.get(key)
        try:
            self._entries.pop(key)
        except OSError as exc:
            log.warning(
                f"journalling that the orphaned start of channel {cname!r} uid {uid} was taken failed: {exc}"
            )
        try:
            return Orphan(**value) if isinstance(value, dict) else None
        except TypeError:
            return None


ORPHANS = Orphans()


_warned: OrderedDict[str, None] = OrderedDict()


async def _stop_unknown(runtime: Runtime, notice: ncs.Notice) -> str:
    """`CALLBACKS_STOP_UNKNOWN_SESSIONS`: stop a session no CloudRecording owns, when its resourceId is known.

    Agora's `stop` needs appid, resourceId, sid, mode, cname and uid
    (https://docs.agora.io/en/cloud-recording/rest-api/stop); a notice carries cname, uid and sid
    but no resourceId (https://docs.agora.io/en/cloud-recording/develop/receive-notifications, the
    payload fields). The resourceId is known only for a start this operator sent and gave up on
    (`ORPHANS`: a recording deleted while its start's answer was lost); any other session cannot be
    stopped and ends after `maxIdleTime`.

    Returns:
        One sentence for the Warning Event and the log, saying what was done.
    """
    cname, uid, sid = notice.cname, notice.uid, notice.sid
    orphan = ORPHANS.take(cname, uid) if cname and uid and sid else None
    if orphan is None:
        return (
            "it cannot be stopped from here: Agora's notices carry no resourceId, which stop needs; it is "
            "billed until it ends (channel idle past maxIdleTime)"
        )
    assert cname and uid and sid
    try:
        credentials = await runtime.agora_credentials(orphan.namespace, orphan.credentials_secret)
        client = runtime.agora(credentials)
        await client.stop(orphan.app_id, orphan.resource_id, sid, orphan.mode, cname, uid)
    except AgoraError as exc:
        if exc.is_already_exiting or exc.is_not_found or exc.is_no_recorded_data:
            return f"it was stopped (stopUnknownSessions; Agora: {exc.summary})"
        ORPHANS.remember(cname, uid, orphan)  # the next notice tries again
        return f"stopping it failed ({exc.summary}); the next notice tries again"
    except (SecretNotFound, KubeApiError) as exc:
        return f"stopping it failed: {exc}"
    return f"it was stopped (stopUnknownSessions, resource {orphan.resource_id} of a start given up on)"


async def _unmatched(runtime: Runtime, notice: ncs.Notice) -> str:
    log.warning(
        f"Agora notice {notice.notice_id} (event {notice.event_type}) names session {notice.sid} in channel "
        f"{notice.cname!r}, uid {notice.uid}, which no CloudRecording owns"
    )
    if not notice.sid:
        return "unmatched"
    first = notice.sid not in _warned
    # A session already reported is stopped again at its next notice while its orphaned start is
    # still known (a stop that failed); running sessions send 33 every minute.
    retry = runtime.settings.callbacks_stop_unknown_sessions and ORPHANS.known(notice.cname, notice.uid)
    if first or retry:
        _warned[notice.sid] = None
        while len(_warned) > 10_000:
            _warned.popitem(last=False)
        outcome = "it is billed until it ends (channel idle)"
        if runtime.settings.callbacks_stop_unknown_sessions:
            outcome = await _stop_unknown(runtime, notice)
            log.warning(f"unknown Agora session {notice.sid} in channel {notice.cname!r}: {outcome}")
        if not first:
            return "unmatched"
        for namespace, name in INDEX.of_channel(notice.cname):
            obj = await runtime.kube.get_object(_path(namespace, name))
            if obj is not None:
                runtime.events.record(
                    obj,
                    "Warning",
                    "UnknownSession",
                    f"Agora reports session {notice.sid} (recorder uid {notice.uid}) in channel {notice.cname}, "
                    f"which no CloudRecording owns; {outcome}",
                )
    return "unmatched"


#: Seconds a notice for a recording whose start is in flight waits for the start's own answer
#: before it is adopted (or found to belong to no recording): notices often overtake the answer.
SETTLE_S = 1.5
SETTLE_STEP_S = 0.1


async def apply_agora_notice(runtime: Runtime, notice: ncs.Notice) -> str:
    """Apply one verified Cloud Recording notice (see the module docstring).

    A notice for a recording whose start is in flight (no `status.sid` yet) waits up to
    `SETTLE_S` seconds for the start's answer before it is adopted.

    Returns:
        The receiver's result label: `applied`, `unchanged` (nothing to change, e.g. a reordered
        or stale notice, or the session of a deleted recording) or `unmatched` (no CloudRecording
        owns the session).

    Raises:
        KubeApiError, SecretNotFound: reading or writing failed; the receiver answers 503 so
            Agora resends.
    """
    key = INDEX.by_sid(notice.sid)
    candidates = [key] if key else INDEX.by_channel(notice.app_id, notice.cname, notice.uid)
    deadline = time.monotonic() + SETTLE_S
    for namespace, name in candidates:
        while True:
            obj = await runtime.kube.get_object(_path(namespace, name))
            if obj is None:
                break
            status = obj.get("status") or {}
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if notice.sid and status.get("sid") == notice.sid:
                return await _apply_owned(runtime, obj, notice)
            if any(s.get("sid") == notice.sid for s in status.get("sessions") or []):
                return "unchanged"  # a past session of this recording: its end and files were recorded then
            # No sid yet: a start may be in flight, or its answer is being written (kopf writes the
            # annotations and the status in two requests).
            if key is not None or status.get("sid"):
                break
            if time.monotonic() >= deadline:
                if notice.sid and adoptable(status, annotations) is not None:
                    return await _adopt(runtime, obj, notice)
                break
            await asyncio.sleep(SETTLE_STEP_S)
    if INDEX.deleted(notice.sid):
        return "unchanged"  # the session of a recording deleted since (stopped by its finalizer)
    _unmatched_too_early(runtime, f"session {notice.sid} of channel {notice.cname!r} uid {notice.uid}")
    return await _unmatched(runtime, notice)


async def _apply_owned(runtime: Runtime, obj: dict[str, Any], notice: ncs.Notice) -> str:
    """Apply a notice of the recording's own session; re-decided on a fresh read when the status
    write meets a newer version (`retried_on_conflict`)."""
    sid = notice.sid
    assert sid
    meta = obj.get("metadata") or {}
    # Notices arrive: polling can wait longer.
    ACTIVITY.touch((meta.get("namespace", ""), meta.get("name", "")))
    newer = ACTIVITY.newer(sid, notice.event_type, notice.order)
    result = await retried_on_conflict(
        runtime.kube,
        _path(meta.get("namespace", ""), meta.get("name", "")),
        obj,
        lambda current: _apply_owned_once(runtime, current, notice, newer),
        still_applies=lambda current: (current.get("status") or {}).get("sid") == sid,
        otherwise="unchanged",
    )
    if newer:
        ACTIVITY.applied(sid, notice.event_type, notice.order)
    return result


async def _apply_owned_once(runtime: Runtime, obj: dict[str, Any], notice: ncs.Notice, newer: bool) -> str:
    ctx = NoticeContext(obj, runtime)
    effect = agora_effect(notice, ctx.status.get("phase"), newer=newer, own_stop=notice.sid in OWN_STOPS)
    if effect.empty:
        return "unchanged"
    try:
        spec = CloudRecordingSpec.model_validate(dict(obj.get("spec") or {}))
    except ValidationError:
        return "unchanged"
    _draft(ctx, spec, notice, effect)
    # Only 31/32/45/71 carry files, and they change nothing but files and the upload's status: the
    # notices that move the phase (40, 41, 11) carry none, so they never wait for a create. The
    # creates go first, then one status write: a death in between answers no 200 and Agora resends
    # the notice; a failed create does not hold the write back, its names go into
    # `status.unpublishedFiles` and the next timer tick (`handlers.observe_session`) creates them.
    pending = _unpublished(ctx, spec, effect.files)
    if pending and await _create(ctx, spec, ctx.reported_files):
        pending = []
    if pending:
        current = ctx.status.get("unpublishedFiles") or []
        ctx.status.set(unpublishedFiles=list(dict.fromkeys([*current, *pending]))[:MAX_UNPUBLISHED_FILES])
    changed = bool(ctx.status.delta()) or bool(ctx.events)
    if changed:
        ctx.status.set(lastNoticeAt=rfc3339())
    await _write(ctx, obj)
    return "applied" if changed else "unchanged"


def _unpublished(ctx: NoticeContext, spec: CloudRecordingSpec, files: list[RecordingFile]) -> list[str]:
    """The names of `files` whose RecordedFile this process does not know to exist (no API call)."""
    known = remembered(ctx) or set()
    return [
        f.file_name
        for f in files
        if f.file_name and file_object_name(ctx.name, agora_files(spec.storage, [f])[0]) not in known
    ]


def unpublished_records(spec: CloudRecordingSpec, names: list[str]) -> list[FileRecord]:
    """Records of the Agora file names in `status.unpublishedFiles` (key = storage prefix + fileName)."""
    if spec.provider != "agora":
        return []
    return agora_files(spec.storage, [RecordingFile(file_name=str(n)) for n in names])


async def _create(ctx: NoticeContext, spec: CloudRecordingSpec, records: list[FileRecord]) -> bool:
    """Create the RecordedFiles of `records` not created yet; False (logged) when a create failed:
    `status.unpublishedFiles` then keeps the names and the next timer tick
    (`handlers.observe_session`) creates what is missing."""
    try:
        await publish_files(
            ctx, KIND, spec.storage, records, spec.retention.deleteAfter if spec.retention else None
        )
    except KubeApiError as exc:
        log.warning(
            f"CloudRecording {ctx.namespace}/{ctx.name}: creating the RecordedFiles of noticed files failed "
            f"({exc}); status.unpublishedFiles keeps them for the next tick"
        )
        return False
    return True


def _draft(ctx: NoticeContext, spec: CloudRecordingSpec, notice: ncs.Notice, effect: Effect) -> None:
    if effect.started:
        ctx.status.set(phase="Paused" if spec.state == "Paused" else "Recording")
        ctx.condition(
            "Ready", "True", "Recording", f"session {notice.sid}: Agora's recorder joined the channel"
        )
        ctx.condition(
            "Recording", "True", "Started", f"Agora's recorder joined the channel (session {notice.sid})"
        )
    if effect.fields:
        ctx.status.set(**effect.fields)
    if effect.files:
        current = ctx.status.get("files") or {}
        names = list(dict.fromkeys([*(current.get("names") or []), *(f.file_name for f in effect.files)]))
        summary = files_summary(names)
        summary["count"] = max(summary["count"], int(current.get("count") or 0))
        ctx.status.set(files=summary)
        ctx.reported_files.extend(agora_files(spec.storage, effect.files))
    if effect.ended:
        mark_ended(ctx, *effect.ended)
    if effect.event:
        ctx.event(*effect.event)
    if effect.condition:
        ctx.condition(*effect.condition)


async def _adopt(runtime: Runtime, obj: dict[str, Any], notice: ncs.Notice) -> str:
    """Write the notice's sid into an adoptable recording's status, then apply the notice itself.

    A status write that meets a newer version (the start's own answer landed meanwhile) is decided
    again on the fresh copy: adopted only if it is still adoptable, else applied as the recording's
    own session's notice, else left alone.
    """
    meta = obj.get("metadata") or {}

    def adoptable_now(current: dict[str, Any]) -> bool:
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        return adoptable(current.get("status") or {}, annotations) is not None

    adopted = await retried_on_conflict(
        runtime.kube,
        _path(meta.get("namespace", ""), meta.get("name", "")),
        obj,
        lambda current: _adopt_once(runtime, current, notice),
        still_applies=adoptable_now,
        otherwise=False,
    )
    fresh = await runtime.kube.get_object(_path(meta.get("namespace", ""), meta.get("name", "")))
    if fresh is not None and (fresh.get("status") or {}).get("sid") == notice.sid:
        # The notice itself (an exit, files) applies to the adopted session too.
        await _apply_owned(runtime, fresh, notice)
        return "applied"
    return "applied" if adopted else "unchanged"


async def _adopt_once(runtime: Runtime, obj: dict[str, Any], notice: ncs.Notice) -> bool:
    """The adoption's status and annotation writes; False when the spec cannot be read."""
    ctx = NoticeContext(obj, runtime)
    annotations = ctx.meta.get("annotations") or {}
    resource_id = adoptable(ctx.status.current, annotations) or ctx.status.get("resourceId")
    try:
        spec = CloudRecordingSpec.model_validate(dict(obj.get("spec") or {}))
    except ValidationError:
        return False
    phase = "Paused" if spec.state == "Paused" else "Recording"
    mark_started(
        ctx,
        phase=phase,
        session={"resourceId": resource_id, "sid": notice.sid},
        applied=await _applied(ctx, spec),
    )
    pending = annotations.get(PENDING_ANNOTATION)
    acquired = ""
    if pending:
        try:
            acquired = str(json.loads(pending).get("acquiredAt") or "")
        except (ValueError, AttributeError):
            acquired = ""
    if acquired:
        ctx.status.set(startedAt=acquired)
    ctx.condition("Synced", "True", "Adopted", f"session {notice.sid} adopted from an Agora notice")
    ctx.event(
        "Normal",
        "Adopted",
        f"session {notice.sid} (resource {resource_id}) adopted from Agora's notice {notice.event_type}: "
        "the answer to its start was lost",
    )
    ctx.remove_annotation(PENDING_ANNOTATION)
    ctx.status.set(lastNoticeAt=rfc3339())
    await _write(ctx, obj)
    INDEX.observe("MODIFIED", {**obj, "status": {**(obj.get("status") or {}), "sid": notice.sid}})
    ACTIVITY.touch((ctx.namespace, ctx.name))
    return True


# --- RealtimeKit webhooks ------------------------------------------------------------------------

#: How far a RealtimeKit status is along a recording's life: a webhook never moves a recording back
#: (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/).
STATUS_RANK = {"INVOKED": 0, "RECORDING": 1, "PAUSED": 1, "UPLOADING": 2, "UPLOADED": 3, "ERRORED": 3}


async def apply_realtimekit_webhook(runtime: Runtime, hook: Webhook) -> str:
    """Apply a verified RealtimeKit `recording.statusUpdate` webhook with the driver's own
    `apply_state` (the same code as a GET): phase, files and RecordedFiles, provider-ended sessions.

    A recording whose start is in flight for that meeting (start-pending, no `recordingId`) waits
    up to `SETTLE_S` for the start's answer, then adopts the webhook's recording. Other events
    are acknowledged and ignored.

    Returns:
        `applied`, `unchanged` or `unmatched`.

    Raises:
        KubeApiError, SecretNotFound: reading or writing failed (the receiver answers 503; RealtimeKit retries 5xx).
        MalformedWebhook: a statusUpdate without recording id or status.
    """
    if hook.event != RECORDING_STATUS_UPDATE:
        return "unchanged"
    state = recording_state(hook)
    key = INDEX.by_sid(state.id)
    candidates = [key] if key else INDEX.by_meeting(hook.meeting_id)
    deadline = time.monotonic() + SETTLE_S
    for namespace, name in candidates:
        while True:
            obj = await runtime.kube.get_object(_path(namespace, name))
            if obj is None:
                break
            status = obj.get("status") or {}
            if status.get("recordingId") == state.id:
                return await retried_on_conflict(
                    runtime.kube,
                    _path(namespace, name),
                    obj,
                    lambda current: _apply_webhook_state(runtime, current, state),
                    still_applies=lambda current: (
                        (current.get("status") or {}).get("recordingId") == state.id
                    ),
                    otherwise="unchanged",
                )
            if any(s.get("recordingId") == state.id for s in status.get("sessions") or []):
                return "unchanged"
            if key is not None or status.get("recordingId"):
                break
            if time.monotonic() >= deadline:
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                if observe(status, annotations).pending is not None and state.active:
                    adopted = await retried_on_conflict(
                        runtime.kube,
                        _path(namespace, name),
                        obj,
                        lambda current: _adopt_recording(runtime, current, state),
                        still_applies=_adoptable_recording,
                        otherwise=False,
                    )
                    if adopted:
                        return "applied"
                    continue  # the start's own answer landed meanwhile: read it and apply the webhook to it
                break
            await asyncio.sleep(SETTLE_STEP_S)
    if INDEX.deleted(state.id):
        return "unchanged"
    _unmatched_too_early(runtime, f"RealtimeKit recording {state.id} of meeting {hook.meeting_id}")
    log.warning(
        f"RealtimeKit webhook {hook.delivery_id} names recording {state.id} of meeting {hook.meeting_id}, "
        "which no CloudRecording owns"
    )
    return "unmatched"


def _adoptable_recording(obj: dict[str, Any]) -> bool:
    """A start is pending and no recording id is recorded yet."""
    status = obj.get("status") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return not status.get("recordingId") and observe(status, annotations).pending is not None


async def _adopt_recording(runtime: Runtime, obj: dict[str, Any], state: RecordingState) -> bool:
    """Write a webhook's active recording into a recording whose start answer was lost."""
    ctx = NoticeContext(obj, runtime)
    RealtimeKitSessions().started(ctx, state)
    ctx.condition("Synced", "True", "Adopted", f"recording {state.id} adopted from a webhook")
    ctx.event("Normal", "Adopted", f"recording {state.id} adopted from RealtimeKit's webhook")
    ctx.remove_annotation(PENDING_ANNOTATION)
    await _write(ctx, obj)
    return True


async def _apply_webhook_state(runtime: Runtime, obj: dict[str, Any], state: RecordingState) -> str:
    ctx = NoticeContext(obj, runtime)
    current = STATUS_RANK.get(str(ctx.status.get("recordingStatus")), -1)
    if STATUS_RANK.get(state.status, -1) < current:
        return "unchanged"  # reordered: an older status than the one recorded
    try:
        spec = CloudRecordingSpec.model_validate(dict(obj.get("spec") or {}))
    except ValidationError:
        return "unchanged"
    obs = observe(ctx.status.current, ctx.meta.get("annotations"))
    driver = RealtimeKitSessions()
    if obs.active and not state.active:
        # The recording ended: the webhook does not say why, a GET does (its stop_reason).
        await driver.observe(ctx, spec, obs)
    else:
        await driver.apply_state(ctx, spec, obs, state, follow=False)
    changed = bool(ctx.status.delta()) or bool(ctx.events)
    if changed:
        ctx.status.set(lastNoticeAt=rfc3339())
    await _write(ctx, obj)
    ACTIVITY.touch((ctx.namespace, ctx.name))
    return "applied" if changed else "unchanged"
