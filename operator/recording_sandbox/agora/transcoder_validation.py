"""Shape and range checks of a Cloud Transcoder config, as the emulator enforces them (the
`transcoder` parameters and output rules of https://docs.agora.io/en/cloud-transcoding/rest-api/create).

Each function returns a list of problems (empty = valid); the emulator answers 400 ``{"message"}``
with them joined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SERVICE_TYPE = "cloudTranscoderV2"
INSTANCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROFILE_TYPES = frozenset(
    {
        "AUDIO_PROFILE_DEFAULT",
        "AUDIO_PROFILE_SPEECH_STANDARD",
        "AUDIO_PROFILE_MUSIC_STANDARD",
        "AUDIO_PROFILE_MUSIC_STANDARD_STEREO",
        "AUDIO_PROFILE_MUSIC_HIGH_QUALITY",
        "AUDIO_PROFILE_MUSIC_HIGH_QUALITY_STEREO",
    }
)
_IMAGE = re.compile(r"\.(jpg|png)$", re.IGNORECASE)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(
    node: Mapping[str, Any], key: str, lo: int, hi: int, where: str, problems: list[str], *, required: bool
) -> None:
    if key not in node:
        if required:
            problems.append(f"{where}.{key} is required")
        return
    value = node[key]
    if not _is_int(value) or not lo <= value <= hi:
        problems.append(f"{where}.{key} must be an integer in [{lo}, {hi}]")


def _rtc(node: Any, where: str, problems: list[str]) -> str | None:
    """Check an ``rtc{rtcChannel, rtcUid, rtcToken}`` entry; returns its channel."""
    if not isinstance(node, Mapping):
        problems.append(f"{where} must be an object")
        return None
    channel = node.get("rtcChannel")
    if not isinstance(channel, str) or not channel:
        problems.append(f"{where}.rtcChannel is required")
        channel = None
    _int_in(node, "rtcUid", 0, 4_294_967_295, where, problems, required=True)
    if "rtcToken" in node and not isinstance(node["rtcToken"], str):
        problems.append(f"{where}.rtcToken must be a string")
    unknown = set(node) - {"rtcChannel", "rtcUid", "rtcToken"}
    if unknown:
        problems.append(f"{where} has unknown fields {sorted(unknown)}")
    return channel


def _source(entry: Mapping[str, Any], where: str, problems: list[str]) -> str | None:
    has_rtc, has_url = "rtc" in entry, "streamUrl" in entry
    if has_rtc == has_url:
        problems.append(f"{where} needs exactly one of rtc and streamUrl")
        return None
    if "repeat" in entry:
        repeat = entry["repeat"]
        if not _is_int(repeat) or repeat == 0 or repeat < -1:
            problems.append(f"{where}.repeat must be -1 or a positive integer")
    if has_url:
        if not isinstance(entry["streamUrl"], str) or not entry["streamUrl"]:
            problems.append(f"{where}.streamUrl must be a URL")
        return None
    return _rtc(entry["rtc"], f"{where}.rtc", problems)


def _region(node: Any, where: str, z_min: int, problems: list[str]) -> None:
    if not isinstance(node, Mapping):
        problems.append(f"{where} is required")
        return
    for key in ("x", "y"):
        _int_in(node, key, 0, 3840, where, problems, required=True)
    for key in ("width", "height"):
        _int_in(node, key, 120, 3840, where, problems, required=True)
    _int_in(node, "zOrder", z_min, 100, where, problems, required=True)


def validate_transcoder(config: Any) -> list[str]:
    """Problems of ``services.cloudTranscoder.config.transcoder`` (parameter table and
    output rules of https://docs.agora.io/en/cloud-transcoding/rest-api/create)."""
    problems: list[str] = []
    if not isinstance(config, Mapping):
        return ["config.transcoder is required and must be an object"]
    w = "transcoder"
    _int_in(config, "idleTimeout", 1, 86400, w, problems, required=False)
    mode = config.get("streamProcessMode")
    if mode is not None and mode not in ("heterogeneous-single", "single"):
        problems.append(f"{w}.streamProcessMode must be heterogeneous-single or single")
    channels: set[str] = set()
    audio = config.get("audioInputs") or []
    video = config.get("videoInputs") or []
    if not isinstance(audio, list) or not isinstance(video, list):
        return [*problems, f"{w}.audioInputs and videoInputs must be arrays"]
    if not audio and not video:
        problems.append(f"{w} needs at least one audio or video input")
    for i, entry in enumerate(audio):
        where = f"{w}.audioInputs[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        if (channel := _source(entry, where, problems)) is not None:
            channels.add(channel)
        if "volume" in entry:
            _int_in(entry, "volume", 0, 200, where, problems, required=False)
    for i, entry in enumerate(video):
        where = f"{w}.videoInputs[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        if (channel := _source(entry, where, problems)) is not None:
            channels.add(channel)
        _region(entry.get("region"), f"{where}.region", 2, problems)
        url = entry.get("placeholderImageUrl")
        if url is not None and (not isinstance(url, str) or not _IMAGE.search(url)):
            problems.append(f"{where}.placeholderImageUrl must end in .jpg or .png")
    if len(channels) > 1:
        problems.append(f"{w}: all RTC inputs must come from a single channel")
    if mode is not None and (len(audio) > 1 or len(video) > 1):
        problems.append(f"{w}.streamProcessMode {mode} allows one audio and one video input")
    canvas = config.get("canvas")
    if video or canvas is not None:
        if not isinstance(canvas, Mapping):
            problems.append(f"{w}.canvas is required")
        else:
            _int_in(canvas, "width", 120, 3840, f"{w}.canvas", problems, required=True)
            _int_in(canvas, "height", 120, 3840, f"{w}.canvas", problems, required=True)
            _int_in(canvas, "color", 0, 16_777_215, f"{w}.canvas", problems, required=True)
            if canvas.get("fillMode", "FILL") not in ("FILL", "FIT"):
                problems.append(f"{w}.canvas.fillMode must be FILL or FIT")
    for i, mark in enumerate(config.get("waterMarks") or []):
        where = f"{w}.waterMarks[{i}]"
        if not isinstance(mark, Mapping) or not isinstance(mark.get("imageUrl"), str):
            problems.append(f"{where}.imageUrl is required")
            continue
        _region(mark.get("region"), f"{where}.region", 0, problems)
    outputs = config.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        problems.append(f"{w}.outputs is required")
        return problems
    rtc_outputs = 0
    for i, out in enumerate(outputs):
        where = f"{w}.outputs[{i}]"
        if not isinstance(out, Mapping):
            problems.append(f"{where} must be an object")
            continue
        if ("rtc" in out) == ("streamUrl" in out):
            problems.append(f"{where} needs exactly one of rtc and streamUrl")
        elif "rtc" in out:
            rtc_outputs += 1
            _rtc(out["rtc"], f"{where}.rtc", problems)
        audio_option = out.get("audioOption")
        if audio_option is not None:
            profile = audio_option.get("profileType") if isinstance(audio_option, Mapping) else None
            if profile is not None and profile not in PROFILE_TYPES:
                problems.append(f"{where}.audioOption.profileType {profile!r} is unknown")
        option = out.get("videoOption")
        if isinstance(option, Mapping):
            vw = f"{where}.videoOption"
            _int_in(option, "width", 120, 3840, vw, problems, required=False)
            _int_in(option, "height", 120, 3840, vw, problems, required=False)
            _int_in(option, "fps", 1, 30, vw, problems, required=False)
            _int_in(option, "bitrate", 1, 10000, vw, problems, required=False)
            if option.get("codec", "H264") not in ("H264", "VP8"):
                problems.append(f"{vw}.codec must be H264 or VP8")
            if option.get("mode") is not None:
                if option["mode"] != "RAW":
                    problems.append(f"{vw}.mode must be RAW")
                elif len(video) > 1:
                    problems.append(f"{vw}.mode RAW allows one video input")
    if rtc_outputs > 1:
        problems.append(f"{w}: a task pushes to one RTC channel only")
    if rtc_outputs and rtc_outputs != len(outputs):
        problems.append(f"{w}: a task cannot push to a CDN and an RTC channel together")
    return problems


def transcoder_of(body: Any) -> tuple[Any, list[str]]:
    """``(config.transcoder, problems)`` of a create/update/builderTokens body's ``services`` (https://docs.agora.io/en/cloud-transcoding/rest-api/create)."""
    if not isinstance(body, Mapping):
        return None, ["body must be a JSON object"]
    services = body.get("services")
    service = services.get("cloudTranscoder") if isinstance(services, Mapping) else None
    if not isinstance(service, Mapping):
        return None, ["services.cloudTranscoder is required"]
    if service.get("serviceType") != SERVICE_TYPE:
        return None, [f"services.cloudTranscoder.serviceType must be {SERVICE_TYPE}"]
    config = service.get("config")
    transcoder = config.get("transcoder") if isinstance(config, Mapping) else None
    return transcoder, validate_transcoder(transcoder)
