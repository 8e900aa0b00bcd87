"""Request validation of the Agora emulator: the request rules of Agora's
`acquire`, `start`, `update` and `updateLayout` pages (https://docs.agora.io/en/cloud-recording/rest-api/acquire, https://docs.agora.io/en/cloud-recording/rest-api/start,
https://docs.agora.io/en/cloud-recording/rest-api/update, https://docs.agora.io/en/cloud-recording/rest-api/update-layout).

Every function returns a list of human-readable problems (empty = valid). The emulator answers
the first failing call with HTTP 400 ``{"code": 2, "reason": "; ".join(problems)}`` (https://docs.agora.io/en/cloud-recording/rest-api/start "All
other validation failures give HTTP 400, code 2 with a human-readable reason").
Pure functions: no HTTP, no clock.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

UINT32_MAX = 2**32 - 1
MODES = ("individual", "mix", "web")
STORAGE_VENDORS = (1, 2, 3, 5, 6, 7, 8, 11)
"""https://docs.agora.io/en/cloud-recording/rest-api/start: 1 S3, 2 Alibaba, 3 Tencent, 5 Azure, 6 Google, 7 Huawei, 8 Baidu, 11 S3-compatible."""
MAX_PIXELS = 1920 * 1080
ALL_STREAMS = "#allstream#"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9]+$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_CNAME_RE = re.compile(r"^[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+$")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_valid_uid(value: Any) -> bool:
    """A recorder ``uid``: a string holding a decimal integer in [1, 2^32-1]; ``"0"`` is rejected (`uid` of
    https://docs.agora.io/en/cloud-recording/rest-api/start)."""
    return isinstance(value, str) and value.isdigit() and value.isascii() and 1 <= int(value) <= UINT32_MAX


def is_valid_channel_name(cname: Any) -> bool:
    """Channel name rule (code 1013 of https://docs.agora.io/en/cloud-recording/reference/common-errors): under 64 bytes from the documented character set."""
    return isinstance(cname, str) and 0 < len(cname.encode()) < 64 and bool(_CNAME_RE.match(cname))


def _int_range(problems: list[str], obj: Mapping[str, Any], key: str, path: str, lo: int, hi: int) -> None:
    if key in obj and obj[key] is not None:
        value = obj[key]
        if not _is_int(value) or not lo <= value <= hi:
            problems.append(f"{path}.{key} must be an integer in [{lo}, {hi}] (got {value!r})")


def _num_range(
    problems: list[str], obj: Mapping[str, Any], key: str, path: str, lo: float, hi: float
) -> None:
    if key in obj and obj[key] is not None:
        value = obj[key]
        if not _is_num(value) or not lo <= value <= hi:
            problems.append(f"{path}.{key} must be a number in [{lo}, {hi}] (got {value!r})")


def _one_of(
    problems: list[str], obj: Mapping[str, Any], key: str, path: str, allowed: tuple[Any, ...]
) -> None:
    if key in obj and obj[key] is not None:
        value = obj[key]
        if isinstance(value, bool) or value not in allowed:
            shown = ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed)
            problems.append(f"{path}.{key} must be one of {shown} (got {value!r})")


def _object(problems: list[str], obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(f"{path}.{key} must be an object")
        return None
    return value


def validate_acquire(cname: Any, uid: Any, client_request: Any) -> list[str]:
    """Validate an ``acquire`` body (https://docs.agora.io/en/cloud-recording/rest-api/acquire).

    Rules: ``cname`` a non-empty string (≤1024 bytes); ``uid`` per :func:`is_valid_uid`;
    ``clientRequest`` an object; ``scene`` 0 or 1; ``resourceExpiredHour`` an integer in [1, 720]
    (reason ``"Acquire: invalid resourceExpiredHour value!"``, as Agora words it); ``region`` one of
    CN/AP/EU/NA.
    """
    problems: list[str] = []
    if not isinstance(cname, str) or not cname or len(cname.encode()) > 1024:
        problems.append("cname must be a non-empty string of at most 1024 bytes")
    if not is_valid_uid(uid):
        problems.append(f"uid must be a string holding an integer in [1, {UINT32_MAX}] (got {uid!r})")
    if not isinstance(client_request, Mapping):
        problems.append("clientRequest must be an object")
        return problems
    _one_of(problems, client_request, "scene", "clientRequest", (0, 1))
    hours = client_request.get("resourceExpiredHour")
    if hours is not None and (not _is_int(hours) or not 1 <= hours <= 720):
        problems.append("Acquire: invalid resourceExpiredHour value!")
    _one_of(problems, client_request, "region", "clientRequest", ("CN", "AP", "EU", "NA"))
    if "startParameter" in client_request and not isinstance(client_request["startParameter"], Mapping):
        problems.append("clientRequest.startParameter must be an object")
    exclude = client_request.get("excludeResourceIds")
    if exclude is not None and (
        not isinstance(exclude, list) or not all(isinstance(r, str) and r for r in exclude)
    ):
        problems.append("clientRequest.excludeResourceIds must be an array of resourceId strings")
    return problems


def validate_storage_config(storage: Any, path: str = "clientRequest.storageConfig") -> list[str]:
    """Validate a ``storageConfig`` (https://docs.agora.io/en/cloud-recording/rest-api/start, also used by ``update`` https://docs.agora.io/en/cloud-recording/rest-api/update).

    Rules: object; ``vendor`` ∈ {1,2,3,5,6,7,8,11}; ``region`` integer ≥ 0; ``bucket``,
    ``accessKey``, ``secretKey`` non-empty strings; vendor 11 needs ``extensionParams.endpoint``;
    ``stsToken`` only for vendors 1-3; ``fileNamePrefix`` a string array, each ``[A-Za-z0-9]+``, the
    joined path (with ``/``) ≤ 128 characters; ``extensionParams.sse`` ∈ {kms, aes256} and S3 only;
    ``extensionParams.tag`` S3 or Alibaba only.
    """
    problems: list[str] = []
    if not isinstance(storage, Mapping):
        return [f"{path} is required and must be an object"]
    vendor = storage.get("vendor")
    if not _is_int(vendor) or vendor not in STORAGE_VENDORS:
        problems.append(f"{path}.vendor must be one of 1, 2, 3, 5, 6, 7, 8, 11 (got {vendor!r})")
    region = storage.get("region")
    if not _is_int(region) or region < 0:
        problems.append(f"{path}.region must be a non-negative integer from the vendor's region table")
    for key in ("bucket", "accessKey", "secretKey"):
        value = storage.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"{path}.{key} is required and must be a non-empty string")
    if storage.get("stsToken") is not None:
        if not isinstance(storage["stsToken"], str):
            problems.append(f"{path}.stsToken must be a string")
        elif vendor not in (1, 2, 3):
            problems.append(f"{path}.stsToken is supported only for vendors 1, 2 and 3")
    if storage.get("stsExpiration") is not None and not _is_int(storage["stsExpiration"]):
        problems.append(f"{path}.stsExpiration must be a Unix time in seconds")
    prefix = storage.get("fileNamePrefix")
    if prefix is not None:
        if not isinstance(prefix, list) or not all(isinstance(p, str) for p in prefix):
            problems.append(f"{path}.fileNamePrefix must be an array of strings")
        else:
            bad = [p for p in prefix if not _PREFIX_RE.match(p)]
            if bad:
                problems.append(
                    f"{path}.fileNamePrefix elements may contain only A-Z, a-z and 0-9 (got {bad!r})"
                )
            if len("/".join(prefix)) + (1 if prefix else 0) > 128:
                problems.append(f"{path}.fileNamePrefix is longer than 128 characters in total")
    ext = storage.get("extensionParams")
    if ext is not None and not isinstance(ext, Mapping):
        problems.append(f"{path}.extensionParams must be an object")
        ext = None
    if vendor == 11:
        endpoint = ext.get("endpoint") if ext else None
        if not isinstance(endpoint, str) or not endpoint:
            problems.append(f"{path}.extensionParams.endpoint is required for vendor 11 (S3-compatible)")
    if ext:
        sse = ext.get("sse")
        if sse is not None:
            if sse not in ("kms", "aes256"):
                problems.append(f"{path}.extensionParams.sse must be 'kms' or 'aes256'")
            elif vendor != 1:
                problems.append(f"{path}.extensionParams.sse applies to Amazon S3 (vendor 1) only")
        if ext.get("tag") is not None and vendor not in (1, 2):
            problems.append(f"{path}.extensionParams.tag applies to Amazon S3 and Alibaba Cloud only")
    return problems


def _uid_list(problems: list[str], obj: Mapping[str, Any], key: str, path: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{path}.{key} must be an array of strings")
        return None
    if len(value) > 32:
        problems.append(f"{path}.{key} holds {len(value)} entries; at most 32 are allowed")
    if value != [ALL_STREAMS]:
        for entry in value:
            if not (entry.isdigit() and entry.isascii() and int(entry) <= UINT32_MAX):
                problems.append(f"{path}.{key}: uid inside the List can't be convert to uint32_t ({entry!r})")
                break
    return value


def validate_subscriptions(obj: Mapping[str, Any], path: str) -> list[str]:
    """Subscribe/unsubscribe lists (https://docs.agora.io/en/cloud-recording/rest-api/start, https://docs.agora.io/en/cloud-recording/rest-api/update).

    Each list: ≤32 entries, each a uint32 decimal string, or exactly ``["#allstream#"]``; a
    subscribe list and its unsubscribe list are mutually exclusive.
    """
    problems: list[str] = []
    for media in ("Audio", "Video"):
        sub = _uid_list(problems, obj, f"subscribe{media}Uids", path)
        unsub = _uid_list(problems, obj, f"unsubscribe{media}Uids", path)
        if sub is not None and unsub is not None:
            problems.append(f"{path}: subscribe{media}Uids and unsubscribe{media}Uids cannot both be set")
    return problems


def validate_layout(obj: Mapping[str, Any], path: str) -> list[str]:
    """Mix layout fields shared by ``transcodingConfig`` (https://docs.agora.io/en/cloud-recording/rest-api/start) and ``updateLayout`` (https://docs.agora.io/en/cloud-recording/rest-api/update-layout).

    Rules: ``mixedVideoLayout`` 0..3; 2 needs ``maxResolutionUid`` (uid in [1, 2^32-1]); 3 needs
    ``layoutConfig`` (1..17 entries, ``x_axis``/``y_axis``/``width``/``height`` in [0, 1] required,
    ``alpha`` in [0, 1], ``render_mode`` 0|1); ``backgroundColor`` ``#RRGGBB``;
    ``backgroundConfig[]`` needs ``uid`` and an https ``image_url``, ``render_mode`` 0|1.
    """
    problems: list[str] = []
    _one_of(problems, obj, "mixedVideoLayout", path, (0, 1, 2, 3))
    layout = obj.get("mixedVideoLayout", 0)
    max_uid = obj.get("maxResolutionUid")
    if max_uid is not None and not is_valid_uid(max_uid):
        problems.append(f"{path}.maxResolutionUid must be a uid string in [1, {UINT32_MAX}]")
    if layout == 2 and max_uid is None:
        problems.append(f"{path}.maxResolutionUid is required when mixedVideoLayout is 2 (vertical)")
    cells = obj.get("layoutConfig")
    if cells is not None:
        if not isinstance(cells, list) or not all(isinstance(c, Mapping) for c in cells):
            problems.append(f"{path}.layoutConfig must be an array of objects")
            cells = None
        elif len(cells) > 17:
            problems.append(f"{path}.layoutConfig holds {len(cells)} entries; at most 17 are allowed")
    if layout == 3 and not cells:
        problems.append(f"{path}.layoutConfig is required when mixedVideoLayout is 3 (custom)")
    for i, cell in enumerate(cells or []):
        cell_path = f"{path}.layoutConfig[{i}]"
        for key in ("x_axis", "y_axis", "width", "height"):
            if key not in cell:
                problems.append(f"{cell_path}.{key} is required")
            else:
                _num_range(problems, cell, key, cell_path, 0.0, 1.0)
        _num_range(problems, cell, "alpha", cell_path, 0.0, 1.0)
        _one_of(problems, cell, "render_mode", cell_path, (0, 1))
        if cell.get("uid") is not None and not is_valid_uid(cell["uid"]):
            problems.append(f"{cell_path}.uid must be a uid string in [1, {UINT32_MAX}]")
    color = obj.get("backgroundColor")
    if color is not None and (not isinstance(color, str) or not _COLOR_RE.match(color)):
        problems.append(f"{path}.backgroundColor must be an RGB hex string like '#000000'")
    backgrounds = obj.get("backgroundConfig")
    if backgrounds is not None:
        if not isinstance(backgrounds, list) or not all(isinstance(b, Mapping) for b in backgrounds):
            problems.append(f"{path}.backgroundConfig must be an array of objects")
        else:
            for i, bg in enumerate(backgrounds):
                bg_path = f"{path}.backgroundConfig[{i}]"
                if not isinstance(bg.get("uid"), str) or not bg["uid"]:
                    problems.append(f"{bg_path}.uid is required")
                url = bg.get("image_url")
                if not isinstance(url, str) or not url.startswith("https://"):
                    problems.append(f"{bg_path}.image_url is required and must be an https URL")
                _one_of(problems, bg, "render_mode", bg_path, (0, 1))
    return problems


def _validate_transcoding(tc: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    for key in ("width", "height", "fps", "bitrate"):
        value = tc.get(key)
        if value is not None and (not _is_int(value) or value <= 0):
            problems.append(f"{path}.{key} must be a positive integer")
    width, height = tc.get("width", 360), tc.get("height", 640)
    if _is_int(width) and _is_int(height) and width * height > MAX_PIXELS:
        problems.append(f"{path}: width x height must not exceed 1920 x 1080")
    problems.extend(validate_layout(tc, path))
    return problems


def _validate_recording_config(mode: str, rc: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    _one_of(problems, rc, "channelType", path, (0, 1))
    _int_range(problems, rc, "decryptionMode", path, 0, 8)
    decryption = rc.get("decryptionMode", 0)
    if _is_int(decryption) and decryption != 0 and not isinstance(rc.get("secret"), str):
        problems.append(f"{path}.secret is required when decryptionMode is not 0")
    if decryption in (7, 8):
        salt = rc.get("salt")
        try:
            ok = isinstance(salt, str) and len(base64.b64decode(salt, validate=True)) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            problems.append(f"{path}.salt must be base64 of 32 bytes when decryptionMode is 7 or 8")
    _int_range(problems, rc, "maxIdleTime", path, 5, 2_592_000)
    _one_of(problems, rc, "streamTypes", path, (0, 1, 2))
    _one_of(problems, rc, "videoStreamType", path, (0, 1))
    problems.extend(validate_subscriptions(rc, path))
    group = rc.get("subscribeUidGroup")
    if mode == "individual" and group is None:
        problems.append(f"{path}.subscribeUidGroup is required in individual mode")
    _one_of(problems, rc, "subscribeUidGroup", path, (0, 1, 2, 3, 4, 5))
    _one_of(problems, rc, "streamMode", path, ("default", "standard", "original"))
    if rc.get("streamMode") == "original" and rc.get("streamTypes", 2) != 0:
        problems.append(f"{path}.streamMode 'original' applies only when streamTypes is 0")
    _one_of(problems, rc, "audioProfile", path, (0, 1, 2))
    tc = _object(problems, rc, "transcodingConfig", path)
    if tc is not None and mode == "mix":
        problems.extend(_validate_transcoding(tc, f"{path}.transcodingConfig"))
    return problems


def _validate_web(esc: Any, path: str) -> list[str]:
    if not isinstance(esc, Mapping):
        return [f"{path} is required in web mode"]
    problems: list[str] = []
    if esc.get("errorHandlePolicy") not in (None, "error_abort"):
        problems.append(f"{path}.errorHandlePolicy supports only 'error_abort'")
    services = esc.get("extensionServices")
    if not isinstance(services, list) or not services or not all(isinstance(s, Mapping) for s in services):
        return [*problems, f"{path}.extensionServices is required and must be a non-empty array of objects"]
    names = [s.get("serviceName") for s in services]
    if names.count("web_recorder_service") != 1:
        problems.append(f"{path}.extensionServices must hold exactly one 'web_recorder_service'")
    if names.count("rtmp_publish_service") > 1:
        problems.append(f"{path}.extensionServices may hold at most one 'rtmp_publish_service'")
    for i, service in enumerate(services):
        spath = f"{path}.extensionServices[{i}]"
        name = service.get("serviceName")
        if name not in ("web_recorder_service", "rtmp_publish_service"):
            problems.append(f"{spath}.serviceName must be 'web_recorder_service' or 'rtmp_publish_service'")
            continue
        _one_of(problems, service, "errorHandlePolicy", spath, ("error_abort", "error_ignore"))
        param = service.get("serviceParam")
        if not isinstance(param, Mapping):
            problems.append(f"{spath}.serviceParam is required and must be an object")
            continue
        ppath = f"{spath}.serviceParam"
        if name == "web_recorder_service":
            url = param.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                problems.append(f"{ppath}.url is required and must be an http(s) URL")
            for key in ("audioProfile", "videoWidth", "videoHeight", "maxRecordingHour"):
                if param.get(key) is None:
                    problems.append(f"{ppath}.{key} is required")
            _one_of(problems, param, "audioProfile", ppath, (0, 1, 2))
            for key in ("videoWidth", "videoHeight", "videoBitrate"):
                value = param.get(key)
                if value is not None and (not _is_int(value) or value <= 0):
                    problems.append(f"{ppath}.{key} must be a positive integer")
            width, height = param.get("videoWidth"), param.get("videoHeight")
            if _is_int(width) and _is_int(height) and width * height > MAX_PIXELS:
                problems.append(f"{ppath}: videoWidth x videoHeight must not exceed 1920 x 1080")
            _int_range(problems, param, "maxRecordingHour", ppath, 1, 720)
            _int_range(problems, param, "videoFps", ppath, 5, 60)
            _int_range(problems, param, "maxVideoDuration", ppath, 30, 240)
            _int_range(problems, param, "readyTimeout", ppath, 0, 60)
            for key in ("mobile", "onhold"):
                if param.get(key) is not None and not isinstance(param[key], bool):
                    problems.append(f"{ppath}.{key} must be a boolean")
        else:
            problems.extend(validate_rtmp_outputs(param, ppath))
    return problems


def validate_rtmp_outputs(obj: Mapping[str, Any], path: str) -> list[str]:
    """``{outputs: [{rtmpUrl}]}``: exactly one CDN output, ``rtmp://`` or ``rtmps://`` (https://docs.agora.io/en/cloud-recording/rest-api/start, https://docs.agora.io/en/cloud-recording/rest-api/update)."""
    outputs = obj.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != 1 or not isinstance(outputs[0], Mapping):
        return [f"{path}.outputs must hold exactly one {{rtmpUrl}} object"]
    url = outputs[0].get("rtmpUrl")
    if not isinstance(url, str) or not url.startswith(("rtmp://", "rtmps://")):
        return [f"{path}.outputs[0].rtmpUrl must be an rtmp:// or rtmps:// URL"]
    return []


def validate_start(mode: str, client_request: Any, *, scene: int = 0) -> list[str]:
    """Validate a ``start`` ``clientRequest`` for ``mode`` (https://docs.agora.io/en/cloud-recording/rest-api/start).

    Args:
        mode: the path's mode; must be ``individual | mix | web``.
        client_request: the body's ``clientRequest``.
        scene: the resource's acquire ``scene``; web mode needs 1 (https://docs.agora.io/en/cloud-recording/rest-api/acquire), other modes not 1.

    Returns:
        The problems found (empty = valid). Covers ``storageConfig``
        (:func:`validate_storage_config`), ``recordingConfig`` (ranges, subscriptions,
        ``subscribeUidGroup`` required in individual, ``transcodingConfig`` in mix),
        ``recordingFileConfig.avFileType`` (``["mp4"]`` alone is an error), ``snapshotConfig``
        (individual only; ``captureInterval`` [5, 3600], ``fileType == ["jpg"]``, ``streamTypes``
        1|2, audio subscriptions need video subscriptions) and ``extensionServiceConfig`` (web).
    """
    path = "clientRequest"
    if mode not in MODES:
        return [f"mode must be one of individual, mix, web (got {mode!r})"]
    if not isinstance(client_request, Mapping):
        return ["clientRequest is required and must be an object"]
    problems: list[str] = []
    if mode == "web" and scene != 1:
        problems.append("web mode needs a resource acquired with clientRequest.scene = 1")
    if mode != "web" and scene == 1:
        problems.append(f"a resource acquired with scene = 1 can only start web mode (got {mode!r})")
    if client_request.get("token") is not None and not isinstance(client_request["token"], str):
        problems.append(f"{path}.token must be a string")
    problems.extend(validate_storage_config(client_request.get("storageConfig")))
    rc = _object(problems, client_request, "recordingConfig", path)
    if mode != "web":
        problems.extend(_validate_recording_config(mode, rc or {}, f"{path}.recordingConfig"))
    rfc = _object(problems, client_request, "recordingFileConfig", path)
    if rfc is not None and rfc.get("avFileType") is not None:
        types = rfc["avFileType"]
        if not isinstance(types, list) or not types or any(t not in ("hls", "mp4") for t in types):
            problems.append(f"{path}.recordingFileConfig.avFileType must be a non-empty array of 'hls'/'mp4'")
        elif "hls" not in types:
            problems.append(
                f"{path}.recordingFileConfig.avFileType ['mp4'] alone is not allowed; use ['hls','mp4']"
            )
    snap = _object(problems, client_request, "snapshotConfig", path)
    if snap is not None:
        spath = f"{path}.snapshotConfig"
        if mode != "individual":
            problems.append(f"{spath} is supported in individual mode only")
        _int_range(problems, snap, "captureInterval", spath, 5, 3600)
        if snap.get("fileType") != ["jpg"]:
            problems.append(f"{spath}.fileType is required and must be ['jpg']")
        if rc is not None:
            if rc.get("streamTypes", 2) not in (1, 2):
                problems.append(f"{spath} needs recordingConfig.streamTypes 1 or 2")
            if rc.get("subscribeAudioUids") is not None and rc.get("subscribeVideoUids") is None:
                problems.append(f"{spath}: subscribeAudioUids is set, so subscribeVideoUids must be set too")
    if mode == "web":
        problems.extend(
            _validate_web(client_request.get("extensionServiceConfig"), f"{path}.extensionServiceConfig")
        )
    return problems


def validate_update(mode: str, client_request: Any) -> list[str]:
    """Validate an ``update`` ``clientRequest`` (https://docs.agora.io/en/cloud-recording/rest-api/update).

    ``streamSubscribe`` (individual/mix) ``{audioUidList: {subscribeAudioUids|unsubscribeAudioUids},
    videoUidList: {...}}`` with the start list rules; ``webRecordingConfig {onhold: bool}`` and
    ``rtmpPublishConfig {outputs}`` (web only); ``storageConfig`` with the start schema.
    """
    path = "clientRequest"
    if not isinstance(client_request, Mapping):
        return ["clientRequest is required and must be an object"]
    problems: list[str] = []
    sub = _object(problems, client_request, "streamSubscribe", path)
    if sub is not None:
        if mode == "web":
            problems.append(f"{path}.streamSubscribe is not supported in web mode")
        for key in ("audioUidList", "videoUidList"):
            lists = _object(problems, sub, key, f"{path}.streamSubscribe")
            if lists is not None:
                problems.extend(validate_subscriptions(lists, f"{path}.streamSubscribe.{key}"))
    web = _object(problems, client_request, "webRecordingConfig", path)
    if web is not None:
        if mode != "web":
            problems.append(f"{path}.webRecordingConfig is supported in web mode only")
        if not isinstance(web.get("onhold"), bool):
            problems.append(f"{path}.webRecordingConfig.onhold is required and must be a boolean")
    rtmp = _object(problems, client_request, "rtmpPublishConfig", path)
    if rtmp is not None:
        if mode != "web":
            problems.append(f"{path}.rtmpPublishConfig is supported in web mode only")
        problems.extend(validate_rtmp_outputs(rtmp, f"{path}.rtmpPublishConfig"))
    if client_request.get("storageConfig") is not None:
        problems.extend(validate_storage_config(client_request["storageConfig"]))
    return problems
