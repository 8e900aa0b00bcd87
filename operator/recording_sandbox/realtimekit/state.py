"""The RealtimeKit recordings state machine, over an injectable clock and without HTTP.

Sources: the Recordings API (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/)
and the recording guide's "Monitor recording status" (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/).

Lifecycle: INVOKED → RECORDING (after `start_delay_s`) ⇄ PAUSED; stop → UPLOADING → UPLOADED
(after `upload_delay_s`, with download URLs valid 7 days; held in UPLOADING while `holds_upload`
says its files are not written to their external storage yet, so UPLOADED means stored). Auto-stop: the meeting has had no
participants for `empty_meeting_stop_s` (60 s, `stop_reason ALL_PEERS_LEFT`), or `max_seconds`
passed. Track recordings need participants (an active session) and stop when it ends. A
recording stopped within `errored_below_s` (5 s) of starting ends ERRORED, as real ones often do.

Choices where Cloudflare's documentation is silent (emulator choices, not confirmed upstream): a second start while one is active
without `allow_multiple_recordings` answers 409; an invalid pause/resume/stop transition 400;
an unknown recording 404.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recording_sandbox.agora.clock import Clock, SystemClock

ACTIVE = frozenset({"INVOKED", "RECORDING", "PAUSED"})
DOWNLOAD_TTL_S = (
    7 * 24 * 3600
)  # RealtimeKit bucket retention, https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/
MAX_SECONDS = 86400  # https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/: default and maximum
MIN_SECONDS = 60


class RealtimeKitError(Exception):
    """An API error answer: `status` HTTP code and Cloudflare's error envelope (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": None,
        }


def iso(ts: float | None) -> str | None:
    """Unix seconds → ISO-8601 UTC with milliseconds, as RealtimeKit prints times."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Recording:
    """One recording (composite or track) and its timeline in Unix seconds."""

    id: str
    account_id: str
    app_id: str
    meeting_id: str
    session_id: str
    type: str  # COMPOSITE | TRACK
    config: dict[str, Any]
    invoked: float
    max_seconds: int
    status: str = "INVOKED"
    started: float | None = None
    stopped: float | None = None
    uploaded_at: float | None = None
    paused_total: float = 0.0
    paused_since: float | None = None
    stop_reason: str | None = None
    start_reason: str = "API_CALL"
    participants_at_start: list[str] = field(default_factory=list)
    #: The files are not in the external storage yet: UPLOADING does not turn UPLOADED.
    upload_held: bool = False

    @property
    def active(self) -> bool:
        """INVOKED, RECORDING or PAUSED."""
        return self.status in ACTIVE


class RealtimeKitState:
    """All recordings and meetings of the emulator.

    Args:
        clock: time source (seconds); tests advance it instead of sleeping.
        start_delay_s: INVOKED → RECORDING delay (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/ "a few seconds").
        upload_delay_s: UPLOADING → UPLOADED delay.
        empty_meeting_stop_s: auto-stop after the meeting has been empty this long (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/: 60 s).
        errored_below_s: a recording stopped sooner than this after starting ends ERRORED (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/).
        history_size: ended recordings kept for GET (bounded).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        start_delay_s: float = 1.0,
        upload_delay_s: float = 1.0,
        empty_meeting_stop_s: float = 60.0,
        errored_below_s: float = 5.0,
        history_size: int = 1000,
    ) -> None:
        self.clock = clock or SystemClock()
        self.start_delay_s = start_delay_s
        self.upload_delay_s = upload_delay_s
        self.empty_meeting_stop_s = empty_meeting_stop_s
        self.errored_below_s = errored_below_s
        self.recordings: dict[str, Recording] = {}
        self._ended: deque[str] = deque()
        self._history_size = history_size
        self.participants: dict[str, list[str]] = {}
        self.sessions: dict[str, str] = {}
        self._empty_since: dict[str, float] = {}
        #: Set by the server: whether a stopped recording must wait for its files to be written.
        self.holds_upload: Callable[[Recording], bool] | None = None

    # --- meetings --------------------------------------------------------------------------------

    def set_participants(self, meeting_id: str, user_ids: Iterable[str]) -> list[str]:
        """Set who is in the emulated meeting; a meeting that gains its first participant gets a session."""
        users = list(dict.fromkeys(str(u) for u in user_ids))
        now = self.clock.now()
        self.participants[meeting_id] = users
        if users:
            self.sessions.setdefault(meeting_id, str(uuid.uuid4()))
            self._empty_since.pop(meeting_id, None)
        else:
            self._empty_since.setdefault(meeting_id, now)
        return users

    def _empty_for(self, meeting_id: str, now: float) -> float:
        if self.participants.get(meeting_id):
            return 0.0
        return now - self._empty_since.setdefault(meeting_id, now)

    # --- API -------------------------------------------------------------------------------------

    def start(self, account_id: str, app_id: str, body: dict[str, Any], *, track: bool) -> Recording:
        """POST recordings or recordings/track (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/, https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_track_recording/).

        Raises:
            RealtimeKitError: 400 bad body, 409 an active recording exists (composite without
                `allow_multiple_recordings`), 422 track recording without an active session.
        """
        self.advance()
        meeting_id = body.get("meeting_id")
        if not isinstance(meeting_id, str) or not _is_uuid(meeting_id):
            raise RealtimeKitError(400, 1000, "meeting_id must be a UUID")
        now = self.clock.now()
        if track:
            user_ids = body.get("user_ids")
            if user_ids is not None and (not isinstance(user_ids, list) or len(user_ids) > 100):
                raise RealtimeKitError(400, 1000, "user_ids must be a list of at most 100 user IDs")
            layers = body.get("layers")
            if layers is not None and not isinstance(layers, dict):
                raise RealtimeKitError(400, 1000, "layers must be an object of layer name → layer")
            for layer in (layers or {}).values():
                prefix = (layer or {}).get("file_name_prefix") if isinstance(layer, dict) else None
                if prefix is not None and (
                    not isinstance(prefix, str) or not prefix.replace("_", "").isalnum()
                ):
                    raise RealtimeKitError(
                        400, 1000, "layers.*.file_name_prefix allows letters, digits and _"
                    )
                kind = layer.get("media_kind") if isinstance(layer, dict) else None
                if kind is not None and kind != "audio":
                    raise RealtimeKitError(
                        400, 1000, "layers.*.media_kind must be audio (video is in development)"
                    )
            # max_seconds (beta) of the track start's SDK schema: the same range as a composite's.
            max_seconds = body.get("max_seconds", MAX_SECONDS)
            if not isinstance(max_seconds, int) or not MIN_SECONDS <= max_seconds <= MAX_SECONDS:
                raise RealtimeKitError(400, 1000, f"max_seconds must be {MIN_SECONDS}..{MAX_SECONDS}")
            if not self.participants.get(meeting_id):
                raise RealtimeKitError(422, 1004, "track recording needs an active meeting session")
        else:
            max_seconds = body.get("max_seconds", MAX_SECONDS)
            if not isinstance(max_seconds, int) or not MIN_SECONDS <= max_seconds <= MAX_SECONDS:
                raise RealtimeKitError(400, 1000, f"max_seconds must be {MIN_SECONDS}..{MAX_SECONDS}")
            prefix = body.get("file_name_prefix")
            if prefix is not None and (not isinstance(prefix, str) or not prefix.replace("_", "").isalnum()):
                raise RealtimeKitError(400, 1000, "file_name_prefix allows letters, digits and _")
            bucket = body.get("realtimekit_bucket_config") or {"enabled": True}
            if not bucket.get("enabled", True) and not body.get("storage_config"):
                raise RealtimeKitError(
                    400, 1000, "no storage: realtimekit_bucket_config disabled and no storage_config"
                )
            storage = body.get("storage_config")
            if storage:
                _check_storage(storage)
            if not body.get("allow_multiple_recordings"):
                if any(
                    r.active and r.meeting_id == meeting_id and r.type == "COMPOSITE"
                    for r in self.recordings.values()
                ):
                    raise RealtimeKitError(409, 1002, "an active recording exists for this meeting")
        recording = Recording(
            id=str(uuid.uuid4()),
            account_id=account_id,
            app_id=app_id,
            meeting_id=meeting_id,
            session_id=self.sessions.setdefault(meeting_id, str(uuid.uuid4())),
            type="TRACK" if track else "COMPOSITE",
            config={k: v for k, v in body.items() if k != "meeting_id"},
            invoked=now,
            max_seconds=max_seconds,
            participants_at_start=list(self.participants.get(meeting_id, [])),
        )
        self.recordings[recording.id] = recording
        if not self.participants.get(meeting_id):
            self._empty_since.setdefault(meeting_id, now)
        return recording

    def get(self, recording_id: str) -> Recording:
        """GET recordings/{id}. Raises RealtimeKitError 404 for an unknown ID."""
        self.advance()
        recording = self.recordings.get(recording_id)
        if recording is None:
            raise RealtimeKitError(404, 1001, "recording not found")
        return recording

    def active(self, meeting_id: str) -> Recording:
        """GET active-recording/{meeting_id}: the most recent active one; 404 when none (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/get_active_recordings/)."""
        self.advance()
        candidates = [r for r in self.recordings.values() if r.meeting_id == meeting_id and r.active]
        if not candidates:
            raise RealtimeKitError(404, 1001, "no active recording for this meeting")
        return max(candidates, key=lambda r: r.invoked)

    def action(self, recording_id: str, action: str) -> Recording:
        """PUT recordings/{id} with `action` stop | pause | resume (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/pause_resume_stop_recording/).

        Raises:
            RealtimeKitError: 404 unknown recording; 400 unknown action or invalid transition
                (pause only from RECORDING, resume only from PAUSED, stop only while active).
        """
        recording = self.get(recording_id)
        now = self.clock.now()
        if action == "pause":
            if recording.status != "RECORDING":
                raise RealtimeKitError(400, 1003, f"cannot pause a recording in status {recording.status}")
            recording.status, recording.paused_since = "PAUSED", now
        elif action == "resume":
            if recording.status != "PAUSED":
                raise RealtimeKitError(400, 1003, f"cannot resume a recording in status {recording.status}")
            recording.paused_total += now - (recording.paused_since or now)
            recording.status, recording.paused_since = "RECORDING", None
        elif action == "stop":
            if not recording.active:
                raise RealtimeKitError(400, 1003, f"cannot stop a recording in status {recording.status}")
            self._stop(recording, now, "API_CALL")
        else:
            raise RealtimeKitError(400, 1000, "action must be stop, pause or resume")
        return recording

    # --- time --------------------------------------------------------------------------------------

    def advance(self) -> None:
        """Apply every time-driven transition up to the clock's now."""
        now = self.clock.now()
        for recording in list(self.recordings.values()):
            if recording.status == "INVOKED" and now - recording.invoked >= self.start_delay_s:
                recording.status, recording.started = "RECORDING", recording.invoked + self.start_delay_s
            if recording.active and recording.started is not None:
                if now - recording.started >= recording.max_seconds:
                    self._stop(recording, recording.started + recording.max_seconds, "MAX_SECONDS_REACHED")
                elif recording.type == "TRACK" and not self.participants.get(recording.meeting_id):
                    self._stop(recording, now, "ALL_PEERS_LEFT")
                elif self._empty_for(recording.meeting_id, now) >= self.empty_meeting_stop_s:
                    self._stop(recording, now, "ALL_PEERS_LEFT")
            if (
                recording.status == "UPLOADING"
                and recording.stopped is not None
                and not recording.upload_held
            ):
                if now - recording.stopped >= self.upload_delay_s:
                    recording.status, recording.uploaded_at = (
                        "UPLOADED",
                        recording.stopped + self.upload_delay_s,
                    )

    def _stop(self, recording: Recording, at: float, reason: str) -> None:
        if recording.paused_since is not None:
            recording.paused_total += at - recording.paused_since
            recording.paused_since = None
        recording.stopped, recording.stop_reason = at, reason
        if recording.started is None or at - recording.started < self.errored_below_s:
            recording.status = "ERRORED"
        else:
            recording.status = "UPLOADING"
            recording.upload_held = bool(self.holds_upload and self.holds_upload(recording))
        self._ended.append(recording.id)
        while len(self._ended) > self._history_size:
            self.recordings.pop(self._ended.popleft(), None)

    # --- rendering -------------------------------------------------------------------------------

    def duration_s(self, recording: Recording) -> int | None:
        """Recorded seconds (pauses excluded), once stopped."""
        if recording.started is None or recording.stopped is None:
            return None
        return max(0, round(recording.stopped - recording.started - recording.paused_total))

    def files(self, recording: Recording) -> list[str]:
        """Output file names: composite `<prefix>_<meeting>_<ms>.mp4|webm`; track one WebM per peer (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/)."""
        stamp = round(recording.invoked * 1000)
        if recording.type == "TRACK":
            layers = recording.config.get("layers") or {"default": {"file_name_prefix": "default"}}
            allow = recording.config.get("user_ids")
            users = [u for u in recording.participants_at_start if allow is None or u in allow]
            return [
                f"{(spec or {}).get('file_name_prefix', name)}_{user}_{uuid.uuid5(uuid.NAMESPACE_URL, user).hex[:8]}"
                f"_audio_audio_{stamp}.webm"
                for name, spec in layers.items()
                for user in users
            ]
        codec = ((recording.config.get("video_config") or {}).get("codec") or "H264").upper()
        prefix = recording.config.get("file_name_prefix")
        name = f"{recording.meeting_id[:8]}_{stamp}"
        if prefix:
            name = f"{prefix}_{name}"
        return [name + (".mp4" if codec == "H264" else ".webm")]

    def to_json(self, recording: Recording, *, base_url: str, full: bool = True) -> dict[str, Any]:
        """The Recording object of https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/ (secrets of storage_config never echoed)."""
        uploaded = recording.status == "UPLOADED"
        names = self.files(recording)
        download: Any = None
        if uploaded and recording.type == "TRACK":
            download = [
                {
                    "layer_name": layer,
                    "download_urls": {
                        n: {"download_url": f"{base_url}/_files/{recording.id}/{n}"} for n in names
                    },
                }
                for layer in (recording.config.get("layers") or {"default": {}})
            ]
        elif uploaded and (recording.config.get("realtimekit_bucket_config") or {"enabled": True}).get(
            "enabled", True
        ):
            download = f"{base_url}/_files/{recording.id}/{names[0]}"
        size = None
        if uploaded and (duration := self.duration_s(recording)):
            size = (
                duration * 300 * 1024 * 1024 // 3600
            )  # ~300 MB per hour, https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/
        data: dict[str, Any] = {
            "id": recording.id,
            "status": recording.status,
            "invoked_time": iso(recording.invoked),
            "started_time": iso(recording.started),
            "stopped_time": iso(recording.stopped),
            "output_file_name": names[0] if names else None,
            "download_url": download,
            "audio_download_url": None,
            "download_url_expiry": iso(recording.uploaded_at + DOWNLOAD_TTL_S)
            if download and recording.uploaded_at
            else None,
            "file_size": size,
            "session_id": recording.session_id,
            "recording_duration": self.duration_s(recording),
        }
        if full:
            data["start_reason"] = {
                "reason": recording.start_reason,
                "caller": {"name": "API", "type": "ORGANIZATION"},
            }
            data["stop_reason"] = {"reason": recording.stop_reason} if recording.stop_reason else None
            storage = recording.config.get("storage_config")
            data["storage_config"] = (
                {
                    k: v
                    for k, v in storage.items()
                    if k not in ("access_key", "secret", "password", "private_key")
                }
                if storage
                else None
            )
        return data


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _check_storage(storage: dict[str, Any]) -> None:
    """https://developers.cloudflare.com/realtime/realtimekit/recording-guide/custom-cloud-storage/ / SDK 5.9.0 union rules for storage_config."""
    kind = storage.get("type")
    if kind not in ("aws", "azure", "digitalocean", "gcs", "sftp", "cloudflare"):
        raise RealtimeKitError(
            400, 1000, "storage_config.type must be aws, azure, digitalocean, gcs, sftp or cloudflare"
        )
    if kind in ("aws", "azure", "digitalocean") and not (storage.get("access_key") and "region" in storage):
        raise RealtimeKitError(400, 1000, f"storage_config type {kind} needs access_key and region")
    if kind == "sftp":
        method = storage.get("auth_method")
        if method == "KEY" and not storage.get("private_key"):
            raise RealtimeKitError(400, 1000, "storage_config auth_method KEY needs private_key")
        if method == "PASSWORD" and not storage.get("password"):
            raise RealtimeKitError(400, 1000, "storage_config auth_method PASSWORD needs password")
    if kind != "sftp" and not storage.get("bucket"):
        raise RealtimeKitError(400, 1000, "storage_config.bucket is required")
