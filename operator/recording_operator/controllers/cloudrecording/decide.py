"""Pure decisions for CloudRecording: what to ask Agora for, and what the status becomes.

Nothing here performs I/O, so every rule is unit-testable without kopf, Kubernetes or HTTP.
Provider rules cite Agora's public REST reference (https://docs.agora.io/en/cloud-recording/rest-api/overview).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from recording_operator.api.timestamps import parse_rfc3339
from recording_operator.api.v1alpha1.cloudrecording import (
    AgoraRecordingSpec,
    CloudRecordingSpec,
    LayoutFields,
    RecordingConfig,
)
from recording_operator.api.v1alpha1.common import GROUP, StorageSpec
from recording_operator.api.v1alpha1.storage_regions import agora_storage_codes
from recording_operator.controllers._kit.conditions import terminal_failure_generation
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.status import digest
from recording_operator.controllers.recordedfile.decide import is_session_slice

#: Written before `start` with the acquired resourceId; a resource with it and no `status.sid` may
#: have a start in flight: a start is never repeated with a new resource, so no second paid session is started.
PENDING_ANNOTATION = f"{GROUP}/start-pending"

#: The `Synced` reason while a start was sent but its answer was lost: the session may run and its
#: sid can only come from the provider's callbacks (adoption).
START_UNKNOWN = "StartResultUnknown"

#: Key the start-pending annotation gains once a start's answer was lost (RFC 3339 time).
UNKNOWN_SINCE = "unknownSince"

#: Phases in which a provider session exists (or may exist) and must be stopped on deletion.
ACTIVE_PHASES = frozenset({"Starting", "Recording", "Paused", "Stopping"})

#: How many past sessions `status.sessions` keeps.
MAX_SESSIONS = 10

#: Stop reasons after which `restartPolicy: OnExit` starts a new session: the provider ended it,
#: or it never came up (`StartTimedOut`).
RESTARTABLE_REASONS = frozenset({"ProviderEnded", "StartTimedOut"})

#: A restarted session that ran this long (s) resets the restart backoff.
RESTART_RESET_S = 600.0


def dump(model: Any) -> dict[str, Any]:
    """A model as Agora's JSON (wire names, unset fields left out)."""
    result: dict[str, Any] = model.model_dump(exclude_none=True)
    return result


# --- requests ------------------------------------------------------------------------------------


def storage_config(storage: StorageSpec, credentials: Mapping[str, str]) -> dict[str, Any]:
    """Agora `clientRequest.storageConfig` from `spec.storage` and its Secret's keys (https://docs.agora.io/en/cloud-recording/rest-api/start).

    Secret keys: `accessKey`, `secretKey`; optional `stsToken` and `stsExpiration` (S3, Alibaba,
    Tencent only). `prefix` becomes `fileNamePrefix` (joined length ≤128). `extensionParams` carries
    s3-compatible's `endpoint`, `sse` (S3: kms | aes256) and `tag` (S3, Alibaba).

    Raises:
        SpecError: unknown vendor/region (InvalidSpec), prefix too long (InvalidSpec), or a missing
            Secret key (CredentialsNotFound). Messages name keys, never values.
    """
    try:
        vendor, region = agora_storage_codes(storage.vendor, storage.region)
    except ValueError as exc:
        raise SpecError("InvalidSpec", str(exc)) from exc
    missing = [k for k in ("accessKey", "secretKey") if not credentials.get(k)]
    if missing:
        raise SpecError("CredentialsNotFound", f"storage Secret has no {' or '.join(missing)}")
    config: dict[str, Any] = {
        "vendor": vendor,
        "region": region,
        "bucket": storage.bucket,
        "accessKey": credentials["accessKey"],
        "secretKey": credentials["secretKey"],
    }
    if credentials.get("stsToken") and vendor in (1, 2, 3):
        config["stsToken"] = credentials["stsToken"]
        if credentials.get("stsExpiration"):
            try:
                config["stsExpiration"] = int(credentials["stsExpiration"])
            except ValueError as exc:
                raise SpecError("InvalidSpec", "storage Secret key stsExpiration is not a Unix time") from exc
    if storage.prefix:
        if len("/".join(storage.prefix)) > 128:
            raise SpecError(
                "InvalidSpec",
                "storage.prefix is longer than 128 characters in all (https://docs.agora.io/en/cloud-recording/rest-api/start)",
            )
        config["fileNamePrefix"] = list(storage.prefix)
    extension: dict[str, Any] = {}
    if vendor == 11:
        extension["endpoint"] = storage.endpoint
    for key in ("sse", "tag"):  # RecordingStorageSpec (CloudRecording) only
        if value := getattr(storage, key, None):
            extension[key] = value
    if extension:
        config["extensionParams"] = extension
    return config


def acquire_request(agora: AgoraRecordingSpec) -> dict[str, Any]:
    """Agora `acquire` clientRequest (https://docs.agora.io/en/cloud-recording/rest-api/acquire): scene 1 for web mode, resourceExpiredHour, region, excludeResourceIds."""
    request: dict[str, Any] = {
        "scene": 1 if agora.mode == "web" else 0,
        "resourceExpiredHour": agora.resourceExpiredHour,
    }
    if agora.region:
        request["region"] = agora.region
    if agora.excludeResourceIds:
        request["excludeResourceIds"] = list(agora.excludeResourceIds)
    return request


def effective_recording_config(agora: AgoraRecordingSpec) -> RecordingConfig | None:
    """`recordingConfig` as sent: the spec's, or Agora's defaults for individual/mix (web has none)."""
    if agora.mode == "web":
        return None
    return agora.recordingConfig or RecordingConfig()


def start_request(
    spec: CloudRecordingSpec,
    storage: Mapping[str, Any],
    token: str | None,
    *,
    onhold: bool,
    encryption: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Agora `start` clientRequest (https://docs.agora.io/en/cloud-recording/rest-api/start) from the spec, the storage config and the RTC token.

    `onhold` sets the web recorder's `serviceParam.onhold` (state Paused). `encryption` holds the
    encrypted channel's `secret` (and `salt`), read from Secrets (`channel_encryption`); they go
    into `recordingConfig` next to `decryptionMode`.
    """
    agora = spec.agora
    assert agora is not None
    request: dict[str, Any] = {"storageConfig": dict(storage)}
    if token and agora.mode != "web":
        request["token"] = token
    recording = effective_recording_config(agora)
    if recording is not None:
        request["recordingConfig"] = dump(recording)
        if encryption:
            request["recordingConfig"].update(encryption)
    if agora.recordingFileConfig and agora.recordingFileConfig.avFileType:
        request["recordingFileConfig"] = dump(agora.recordingFileConfig)
    if agora.snapshotConfig:
        request["snapshotConfig"] = dump(agora.snapshotConfig)
    if agora.extensionServiceConfig:
        esc = dump(agora.extensionServiceConfig)
        for service in esc["extensionServices"]:
            if service["serviceName"] == "web_recorder_service":
                service["serviceParam"]["onhold"] = onhold
        request["extensionServiceConfig"] = esc
    if agora.extraClientRequest:
        request = merge_extra(request, agora.extraClientRequest)
    return request


def merge_extra(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged over it: objects merged key by key (recursively), any other value
    (lists included) replaced. Neither argument is changed."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_extra(current, value)
        else:
            merged[key] = value
    return merged


def extra_keys(extra: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """The dotted paths of `extraClientRequest`'s leaves (`recordingConfig.audioProfile`), for the
    Warning Event that names what bypassed the schema; sorted."""
    keys: list[str] = []
    for key, value in (extra or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            keys.extend(extra_keys(value, path + "."))
        else:
            keys.append(path)
    return sorted(keys)


def channel_encryption(decryption_mode: int | None, secret: str, salt: str | None) -> dict[str, str]:
    """`recordingConfig.secret`/`salt` for an encrypted channel (https://docs.agora.io/en/cloud-recording/rest-api/start):
    `secret` required when `decryptionMode` is not 0; `salt`, base64 of 32 bytes, for modes 7 and 8.

    Raises:
        SpecError: InvalidSpec when the secret is empty or the salt is not base64 of 32 bytes (the
            message names the rule, never the value).
    """
    if not secret:
        raise SpecError("InvalidSpec", "the encryption secret (encryption.secretRef) is empty")
    result = {"secret": secret}
    if decryption_mode in (7, 8):
        try:
            size = len(base64.b64decode(salt or "", validate=True))
        except (binascii.Error, ValueError):
            size = -1
        if size != 32:
            raise SpecError(
                "InvalidSpec",
                "the salt (encryption.saltRef) must be base64 of 32 bytes for decryptionMode 7 and 8 "
                "(https://docs.agora.io/en/cloud-recording/rest-api/start, recordingConfig.salt)",
            )
        assert salt is not None
        result["salt"] = salt
    return result


def stream_subscribe(agora: AgoraRecordingSpec) -> dict[str, Any] | None:
    """Agora `update` `streamSubscribe` body (https://docs.agora.io/en/cloud-recording/rest-api/update) from the subscription lists; None in web mode."""
    recording = effective_recording_config(agora)
    if recording is None:
        return None
    body: dict[str, Any] = {}
    audio = {k: v for k in ("subscribeAudioUids", "unsubscribeAudioUids") if (v := getattr(recording, k))}
    video = {k: v for k in ("subscribeVideoUids", "unsubscribeVideoUids") if (v := getattr(recording, k))}
    if audio:
        body["audioUidList"] = audio
    if video:
        body["videoUidList"] = video
    return body


def layout_request(agora: AgoraRecordingSpec) -> dict[str, Any] | None:
    """Agora `updateLayout` clientRequest (https://docs.agora.io/en/cloud-recording/rest-api/update-layout, a full overwrite) in mix mode; None otherwise."""
    if agora.mode != "mix":
        return None
    transcoding = agora.recordingConfig.transcodingConfig if agora.recordingConfig else None
    if transcoding is None:
        return {}
    fields = LayoutFields.model_fields.keys()
    return {k: v for k, v in dump(transcoding).items() if k in fields}


def rtmp_outputs(agora: AgoraRecordingSpec) -> list[dict[str, Any]] | None:
    """The web-mode CDN push outputs (`rtmpPublishConfig.outputs`, https://docs.agora.io/en/cloud-recording/rest-api/update), or None."""
    if agora.extensionServiceConfig is None:
        return None
    for service in agora.extensionServiceConfig.extensionServices:
        if service.serviceName == "rtmp_publish_service" and service.serviceParam.outputs:
            return [o.model_dump() for o in service.serviceParam.outputs]
    return None


# --- observed state and plans --------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What status and annotations say about the provider session.

    `pending` is the start-pending annotation's content (Agora: `{"resourceId": ...}`;
    RealtimeKit: `{"meetingId": ...}`), present while a start's outcome is not yet recorded.
    """

    phase: str | None
    resource_id: str | None
    sid: str | None
    recording_id: str | None
    pending: Mapping[str, Any] | None
    applied: Mapping[str, Any]
    observed_generation: int | None
    terminal_failure_generation: int | None

    @property
    def session_id(self) -> str | None:
        """The provider's session identity: Agora `sid` or RealtimeKit `recordingId`."""
        return self.sid or self.recording_id

    @property
    def pending_resource_id(self) -> str | None:
        """Agora: the resourceId a pending start was sent with."""
        value = (self.pending or {}).get("resourceId")
        return str(value) if value else None

    @property
    def start_unknown(self) -> bool:
        """A start was sent and its answer lost: the session may run; wait for its adoption."""
        return bool(self.pending) and not self.session_id and bool((self.pending or {}).get(UNKNOWN_SINCE))

    @property
    def adopted(self) -> bool:
        """A session id is in status while the start-pending marker is still there: the start's
        outcome was recorded (or adopted from a callback) and the marker is yet to be cleared."""
        return bool(self.pending) and bool(self.session_id)

    @property
    def active(self) -> bool:
        """A session exists (or may exist) at the provider: a session id in an active phase, or one
        adopted for a pending start (whatever the phase the adoption found)."""
        return bool(self.session_id) and (self.phase in ACTIVE_PHASES or self.pending is not None)


def observe(status: Mapping[str, Any] | None, annotations: Mapping[str, str] | None) -> Observed:
    """Read the session bookkeeping out of `status` and the start-pending annotation.

    The start-pending annotation (`PENDING_ANNOTATION`) means "a start was sent, or is about to be,
    and its outcome is unknown or in flight". Its value is JSON: Agora `{"resourceId", "acquiredAt"}`
    (plus `"unknownSince"` once the start's answer was lost), RealtimeKit `{"meetingId", "at"}`;
    it is decoded into `Observed.pending`.

    Adoption rule: the annotation present and no `status.sid` means a sid may be adopted
    (`adoptable`). Adopting is one direct merge patch on `/status` writing `status.sid` (and
    `status.resourceId`) for that recording, e.g. from an Agora notification callback naming the
    channel, the recorder uid and the sid. The controllers then treat the session as started
    (`Observed.adopted`, `Observed.active`): they follow it (query, stop on delete or
    `state: Stopped`), clear the `StartResultUnknown` condition, and remove the annotation only
    once the sid is in status. Whoever records a sid writes it to status before anything removes
    the annotation, so no crash point loses it.
    """
    status = status or {}
    raw = (annotations or {}).get(PENDING_ANNOTATION)
    pending: Mapping[str, Any] | None = None
    if raw:
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = None
        pending = decoded if isinstance(decoded, dict) else None
    terminal_gen = terminal_failure_generation(status)
    return Observed(
        phase=status.get("phase"),
        resource_id=status.get("resourceId"),
        sid=status.get("sid"),
        recording_id=status.get("recordingId"),
        pending=pending,
        applied=status.get("applied") or {},
        observed_generation=status.get("observedGeneration"),
        terminal_failure_generation=terminal_gen,
    )


def adoptable(status: Mapping[str, Any] | None, annotations: Mapping[str, str] | None) -> str | None:
    """The resourceId of a pending Agora start whose sid may be adopted, else None.

    Returns the start-pending annotation's `resourceId` when the annotation is present and
    `status.sid` is not (see `observe` for the rule); None when there is no pending start, it has
    no resourceId (RealtimeKit), or a session id is already recorded.
    """
    obs = observe(status, annotations)
    if obs.pending is None or obs.session_id:
        return None
    return obs.pending_resource_id


def mark_unknown(pending: Mapping[str, Any], now: str) -> str:
    """The start-pending annotation's value once the start's answer was lost: `pending` plus
    `unknownSince` (kept when already set)."""
    return json.dumps({**pending, UNKNOWN_SINCE: pending.get(UNKNOWN_SINCE) or now})


def not_found_delay(elapsed_s: float, checks: int, *, base_s: float, window_s: float) -> float | None:
    """Seconds before the next confirmation of a 404, or None once the session counts as ended.

    Agora answers 404 for a live session while it migrates it to another server (HA), for up to
    90 s; the status codes page asks to retry a 404 after 5, 10, 15 s
    (https://docs.agora.io/en/cloud-recording/rest-api/status-codes). Confirmation `checks` (0-based)
    waits `base_s × (checks + 1)`, cut to what is left of `window_s` after `elapsed_s` (seconds since
    the first 404, which may be older than this confirmation: `status.notFoundSince`); once
    `elapsed_s ≥ window_s` the 404 is final, after one confirmation at least (`base_s` after a 404
    met when the window has already passed).
    """
    remaining = window_s - elapsed_s
    if remaining <= 0:
        return float(base_s) if checks == 0 else None
    return max(0.0, min(base_s * (checks + 1), remaining))


class Plan(Enum):
    """The next step a reconcile takes."""

    NOTHING = "nothing"
    START = "start"  # acquire + start a new session
    RESUME_START = "resume-start"  # a start may be in flight: retry it with the same resourceId
    STOP = "stop"
    UPDATE = "update"  # spec edits while a session runs
    MARK_STOPPED = "mark-stopped"  # state Stopped and no session: just report it


def plan(spec: CloudRecordingSpec, obs: Observed, generation: int | None) -> Plan:
    """Decide the next step from desired (`spec`) and observed state.

    Rules: a pending start is never repeated with a new resource (that could start a second, paid session); a terminal
    failure is not retried until the generation changes, unless a session was adopted since; a
    session the provider ended (phase Stopped at this generation) is not restarted until the spec
    changes.
    """
    if (
        obs.terminal_failure_generation is not None
        and obs.terminal_failure_generation == generation
        and not obs.adopted
    ):
        return Plan.NOTHING
    wants_session = spec.state in ("Recording", "Paused")
    if obs.pending and not obs.session_id:
        return Plan.RESUME_START if wants_session else Plan.MARK_STOPPED
    if obs.active:
        return Plan.UPDATE if wants_session else Plan.STOP
    if not wants_session:
        return Plan.NOTHING if obs.phase == "Stopped" else Plan.MARK_STOPPED
    if obs.phase in ("Stopped", "Failed") and obs.observed_generation == generation:
        return Plan.NOTHING
    return Plan.START


@dataclass(frozen=True)
class Update:
    """One provider call that brings a running session to the spec.

    `endpoint` is `update` or `updateLayout`; `body` the clientRequest; `applied_key`/`applied_value`
    what `status.applied` records once the call succeeded.
    """

    endpoint: str
    body: dict[str, Any]
    applied_key: str
    applied_value: Any


def applied_config(spec: CloudRecordingSpec, storage_digest: str, *, onhold: bool) -> dict[str, Any]:
    """`status.applied` for a session started from this spec (what the provider now has)."""
    agora = spec.agora
    assert agora is not None
    applied: dict[str, Any] = {"storage": storage_digest}
    if (subs := stream_subscribe(agora)) is not None:
        applied["streamSubscribe"] = digest(subs)
    if (layout := layout_request(agora)) is not None:
        applied["layout"] = digest(layout)
    if agora.mode == "web":
        applied["onhold"] = onhold
        if (outputs := rtmp_outputs(agora)) is not None:
            applied["rtmpPublish"] = digest(outputs)
    return applied


def updates_needed(
    spec: CloudRecordingSpec,
    applied: Mapping[str, Any],
    storage: Mapping[str, Any] | None,
    storage_digest: str,
) -> list[Update]:
    """The update/updateLayout calls that turn the applied configuration into the spec (https://docs.agora.io/en/cloud-recording/rest-api/update, https://docs.agora.io/en/cloud-recording/rest-api/update-layout).

    Sent one at a time, in this order (Agora: wait for one response before the next, https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices).
    `storage` is the full storageConfig, needed only when its digest changed.
    """
    agora = spec.agora
    assert agora is not None
    updates: list[Update] = []
    if agora.mode == "web":
        onhold = spec.state == "Paused"
        if applied.get("onhold") != onhold:
            updates.append(Update("update", {"webRecordingConfig": {"onhold": onhold}}, "onhold", onhold))
        outputs = rtmp_outputs(agora)
        if outputs is not None and applied.get("rtmpPublish") != digest(outputs):
            updates.append(
                Update("update", {"rtmpPublishConfig": {"outputs": outputs}}, "rtmpPublish", digest(outputs))
            )
    subs = stream_subscribe(agora)
    if subs is not None and applied.get("streamSubscribe") != digest(subs):
        updates.append(Update("update", {"streamSubscribe": subs}, "streamSubscribe", digest(subs)))
    layout = layout_request(agora)
    if layout is not None and applied.get("layout") != digest(layout):
        updates.append(Update("updateLayout", layout, "layout", digest(layout)))
    if storage is not None and applied.get("storage") != storage_digest:
        updates.append(Update("update", {"storageConfig": dict(storage)}, "storage", storage_digest))
    return updates


# --- status --------------------------------------------------------------------------------------


def closed_session(status: Mapping[str, Any], *, stopped_at: str, reason: str) -> list[dict[str, Any]]:
    """`status.sessions` with the current session appended (bounded to MAX_SESSIONS, newest last)."""
    record = {
        "resourceId": status.get("resourceId"),
        "sid": status.get("sid"),
        "recordingId": status.get("recordingId"),
        "startedAt": status.get("startedAt"),
        "stoppedAt": stopped_at,
        "stopReason": reason,
        "fileCount": (status.get("files") or {}).get("count", 0),
    }
    record = {k: v for k, v in record.items() if v is not None}
    sessions = [*list(status.get("sessions") or []), record]
    return sessions[-MAX_SESSIONS:]


def session_file_stems(status: Mapping[str, Any], channel: str) -> list[str]:
    """`<sid>_<cname>` of each Agora session of this recording that `status` still names
    (`status.sessions`, newest last, and `status.sid`), each once: every file Agora uploads for a
    session starts with it (composite and web: `<sid>_<cname>.m3u8`, `<sid>_<cname>_<utc>.ts`,
    `<sid>_<cname>_0.mp4`; individual: `<sid>_<cname>__uid_s_<uid>__uid_e_<type>…`;
    https://docs.agora.io/en/cloud-recording/develop/manage-files, "Naming conventions").

    >>> session_file_stems({"sessions": [{"sid": "a"}, {"recordingId": "r"}], "sid": "b"}, "room")
    ['a_room', 'b_room']
    """
    sids = [s.get("sid") for s in status.get("sessions") or []] + [status.get("sid")]
    return [f"{sid}_{channel}" for sid in dict.fromkeys(s for s in sids if s)]


#: What follows `<sid>_<cname>` in the name of a file Agora stores for a session: nothing (the
#: playlist), a UTC stamp or index (`_<utc>.ts`, `_0.mp4`), or individual mode's
#: `__uid_s_<uid>__uid_e_<type>` with those (https://docs.agora.io/en/cloud-recording/develop/manage-files,
#: "Naming conventions"); an object that only starts with the stem is not the session's.
_SESSION_FILE_REST = re.compile(r"(?:__uid_s_[^/]+?__uid_e_[a-z]+)?(?:_\d+)*\.(?:m3u8|ts|webm|mp4|jpg|aac)")


def session_file_keys(stem_key: str, keys: list[str]) -> list[str]:
    """Of `keys` (a listing under `stem_key`, a session's `<prefix><sid>_<cname>`), those named like a
    file Agora stores for that session (`_SESSION_FILE_REST`) and standing for a file of their own:
    HLS slices of a listed playlist are left to it (deleting the playlist's RecordedFile deletes
    them, `recordedfile.decide.is_session_slice`); a slice whose playlist is not listed stands for itself.

    >>> session_file_keys("p/s_c", ["p/s_c.m3u8", "p/s_c_20250101000000000.ts", "p/s_c_0.mp4", "p/s_c_x.mp4"])
    ['p/s_c.m3u8', 'p/s_c_0.mp4']
    """
    named = [k for k in keys if k.startswith(stem_key) and _SESSION_FILE_REST.fullmatch(k[len(stem_key) :])]
    playlists = [k for k in named if k.endswith(".m3u8")]
    return [k for k in named if not any(is_session_slice(k, p, named=False) for p in playlists)]


#: Condition type: every file of the last session is in the storage the spec names.
FILES_STORED = "FilesStored"


def files_stored(status: Mapping[str, Any], provider: str) -> tuple[str, str, str] | None:
    """The `FilesStored` condition `(status, reason, message)` for a CloudRecording's `status`, or
    None while no session ever started (no condition).

    A running session: `False/Recording`. A stopped one, by what the provider said last:
    - Agora `uploadingStatus` from `stop` (https://docs.agora.io/en/cloud-recording/rest-api/stop,
      "uploadingStatus"): `uploaded` → `True/Uploaded`; `backuped` (some files wait in Agora's
      backup storage and are uploaded later) → `False/UploadBackedUp`; a session that recorded nothing
      (stop code 435, `files: {count: 0, totalBytes: 0}`) → `True/NoFiles`; anything else (`unknown`,
      or no answer) → `Unknown/UploadStatusUnknown`.
    - RealtimeKit `recordingStatus`
      (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/): `UPLOADED` → `True/Uploaded`; `UPLOADING` → `False/Uploading`; `ERRORED` →
      `False/UploadFailed`; else `Unknown/UploadStatusUnknown`.
    A `Failed` resource keeps whatever it had.
    """
    phase = status.get("phase")
    count = (status.get("files") or {}).get("count", 0)
    if phase in ("Starting", "Recording", "Paused", "Stopping"):
        return "False", "Recording", "the session is still recording; its files are not all stored yet"
    if phase != "Stopped":
        return None
    if provider == "realtimekit":
        state = status.get("recordingStatus")
        if state == "UPLOADED":
            return "True", "Uploaded", f"RealtimeKit uploaded the recording ({count} files)"
        if state == "UPLOADING":
            return "False", "Uploading", "RealtimeKit is uploading the recording"
        if state == "ERRORED":
            return (
                "False",
                "UploadFailed",
                "RealtimeKit reports the recording ERRORED; its files may be missing",
            )
        return "Unknown", "UploadStatusUnknown", f"RealtimeKit has not reported the upload (status {state})"
    uploading = status.get("uploadingStatus")
    if uploading is None and status.get("files") == {"count": 0, "totalBytes": 0}:
        return (
            "True",
            "NoFiles",
            "the session recorded nothing (nobody published), so there is nothing to store",
        )
    if uploading == "uploaded":
        return "True", "Uploaded", f"Agora uploaded every file to the storage ({count} files)"
    if uploading == "backuped":
        return (
            "False",
            "UploadBackedUp",
            "Agora put some files in its backup storage; they reach the storage later "
            "(uploadingStatus backuped)",
        )
    return "Unknown", "UploadStatusUnknown", f"Agora did not say whether the upload finished ({uploading})"


# --- restarts and the start health check -----------------------------------------------------------


def restart_due(
    spec: CloudRecordingSpec,
    status: Mapping[str, Any],
    pending: bool,
    *,
    since_stop_s: float,
    base_s: float,
    max_s: float,
) -> float | None:
    """`restartPolicy: OnExit`: seconds left before the next session may start, or None (no restart).

    A restart is wanted when `spec.state` is Recording or Paused, the phase is Stopped with a stop
    reason in `RESTARTABLE_REASONS` and no start is pending. It waits `base_s × 2^n` seconds after
    the stop (capped at `max_s`), n = `consecutive_restarts(status)`; 0.0 means now.
    """
    if spec.restartPolicy != "OnExit" or spec.state not in ("Recording", "Paused") or pending:
        return None
    if status.get("phase") != "Stopped" or status.get("stopReason") not in RESTARTABLE_REASONS:
        return None
    wait = min(max_s, base_s * (2 ** min(consecutive_restarts(status), 16)))
    return max(0.0, wait - since_stop_s)


def restart_resumable(spec: CloudRecordingSpec, obs: Observed, status: Mapping[str, Any]) -> bool:
    """A restart's start failed (e.g. 400/53 while the ended session is still exiting, 435 no users,
    5xx): `status.restartCount` is set, no session id is recorded, the answer was not lost
    (`Observed.start_unknown`: then only an adoption settles it), and OnExit still wants a session.
    It is tried again at the next tick: with the pending resourceId when its marker is there
    (433 → re-acquire), else with a new acquire."""
    return (
        spec.restartPolicy == "OnExit"
        and spec.state in ("Recording", "Paused")
        and bool(status.get("restartCount"))
        and not obs.session_id
        and not obs.start_unknown
    )


def consecutive_restarts(status: Mapping[str, Any]) -> int:
    """`status.restartCount`, or 0 when the session that just ended ran `RESTART_RESET_S` or more."""
    sessions = status.get("sessions") or []
    last = sessions[-1] if sessions else {}
    ran = _seconds_between(last.get("startedAt"), last.get("stoppedAt"))
    if ran is not None and ran >= RESTART_RESET_S:
        return 0
    count = status.get("restartCount")
    return count if isinstance(count, int) and count > 0 else 0


def _seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_rfc3339(start or ""), parse_rfc3339(end or "")
    return None if a is None or b is None else (b - a).total_seconds()


def start_timed_out(provider_status: int | None, since_start_s: float, *, limit_s: float) -> bool:
    """Agora's start check: `serverResponse.status` 4 (all components ready) or 5 (in progress)
    means the session runs; still below 4 `limit_s` (90 by default) seconds after the sid was
    issued means the start failed (https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices).
    Exiting statuses (6, 7, 8, 20) are not a start failure."""
    return provider_status is not None and provider_status < 4 and since_start_s >= limit_s


def budget_key(spec: Mapping[str, Any]) -> tuple[str, str]:
    """The request budget (scope, key) a recording's calls count against, from its `spec` as
    stored: its Agora App ID (10 requests/s, https://docs.agora.io/en/cloud-recording/rest-api/overview)
    or its RealtimeKit account and app (1,000 Recordings API calls per 60 s,
    https://developers.cloudflare.com/realtime/realtimekit/rate-limits/); ("", "") without either."""
    agora, realtimekit = spec.get("agora"), spec.get("realtimeKit")
    if isinstance(agora, Mapping) and agora.get("appId"):
        return "agora_recording", str(agora["appId"])
    if isinstance(realtimekit, Mapping) and realtimekit.get("accountId") and realtimekit.get("appId"):
        return "realtimekit_recordings", f"{realtimekit['accountId']}/{realtimekit['appId']}"
    return "", ""


def first_start_route(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """The budget (scope, key) of a recording's first start — one the operator has not written a
    status for and whose `spec.state` asks for a session — for `Budget.admission`; None otherwise
    (a stop, an update, a restart or a resume never waits there)."""
    spec = body.get("spec") or {}
    if body.get("status") or spec.get("state") == "Stopped":
        return None
    scope, key = budget_key(spec)
    return (scope, key) if scope else None
