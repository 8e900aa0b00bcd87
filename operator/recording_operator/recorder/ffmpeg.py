"""Pure builders of FFmpeg 5.1 argv and file names for the recorder agent (no I/O).

Every rule here cites recorder-notes.md (measured on Debian's ffmpeg 5.1.9):
- §3.1 input recipes: per-input read timeouts (µs unless noted), low probing
  (`-analyzeduration 1000000 -probesize 1000000`, TL;DR 9), protocol options passed as AVOptions
  before `-i` (so passphrases need no URL escaping).
- §3.7 per-input `-protocol_whitelist`; user strings never reach `file:`/`concat:`/`-f concat`.
- §3.2/§3.3 outputs: fragmented MP4 while recording, `-flush_packets 1` (TL;DR 2), the segment muxer
  with a csv `-segment_list` as the "file closed" signal (TL;DR 3), HLS event playlists with
  `append_list` (§3.6), forced keyframes for exact cuts when transcoding (TL;DR 4).
- §3.4 `-progress pipe:1 -stats_period N -nostats`.

FFmpeg writes into a parts directory under names it can number itself (`seg_000007.mp4`); the agent
renames each closed file to the user's `fileNameTemplate` when it stores it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    EXTENSIONS,
    LocalRecordingSpec,
    RecordingInput,
    input_kind,
    unverifiable_tls,
    uses_tls,
)

#: FFmpeg muxer per output format (hls handled separately).
MUXERS = {"mp4": "mp4", "mkv": "matroska", "flv": "flv", "mpegts": "mpegts", "mp3": "mp3", "avi": "avi"}
#: fMP4 flags: every fragment self-contained, so a SIGKILLed file still plays (§3.3).
FRAGMENTED_MP4 = "+frag_keyframe+empty_moov+default_base_moof"
#: HLS segment length when `segmentDuration` is absent (seconds).
DEFAULT_HLS_TIME_S = 6.0
#: `-segment_time` of a continuous recording (s): longer than any recording (about 31 years).
CONTINUOUS_SEGMENT_S = 1_000_000_000
PART_PREFIX = "seg_"
PART_RE = re.compile(r"^seg_(\d{6,})\.([a-z0-9]+)$")
HLS_PLAYLIST = "index.m3u8"
SEGMENT_LIST = "segments.csv"

#: `-protocol_whitelist` per input kind (§3.7 table); one per `INPUT_KINDS` member.
PROTOCOL_WHITELISTS = {
    "srt": "srt,udp",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tls,tcp",
    "rtsp": "rtsp,rtp,udp,tcp",
    "rtsps": "rtsps,rtsp,rtp,udp,tcp,tls",
    "hls": "http,https,tcp,tls,crypto",
    "dash": "http,https,tcp,tls,crypto",
    "http": "http,https,tcp,tls",
    "udp": "udp",
    "rtp": "rtp,udp",
    "rtp-sdp": "file,rtp,udp",
    "rist": "rist",
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_PLACEHOLDER = re.compile(r"\{(recording|namespace|index|start)(?::([^}]*))?\}")
_STRFTIME_OK = re.compile(r"^([A-Za-z0-9_.-]|%[YmdHMSj])*$")


class TemplateError(ValueError):
    """`fileNameTemplate` is malformed or renders to an unsafe name."""


def _us(duration: str) -> str:
    return str(int(parse_duration(duration).total_seconds() * 1_000_000))


def _with_query(url: str, extra: dict[str, str]) -> str:
    """`url` with `extra` query parameters added unless already present."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in extra.items():
        query.setdefault(key, value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe=":/,"), parts.fragment))


def tls_args(inp: RecordingInput, *, ca_file: Path | None = None) -> list[str]:
    """TLS options of a pull input, as AVOptions before `-i` (FFmpeg's tls protocol: `tls_verify`,
    `ca_file`, `verifyhost`).

    Measured on Debian's FFmpeg 5.1.9 (GnuTLS) against loopback servers with a self-signed certificate,
    a certificate signed by a test CA (SAN 127.0.0.1 + localhost) and one for another name:

    - `tls_verify` defaults to 0: without it every certificate is accepted. With `tls_verify 1` and no
      `ca_file`, GnuTLS loads the system store `/etc/ssl/certs/ca-certificates.crt` (strace; a public
      site verifies, the test CA's server fails "Peer certificate failed verification"); with
      `ca_file` only that file is read and trusted. The host name is checked against the URL's host
      ("The certificate's owner does not match hostname"), or against `verifyhost` when set (also SNI).
    - progressive https (`http` kind): the options reach the tls layer of the first request and of
      redirects (http.c keeps them in `chained_options`: a 302 to a self-signed server is refused).
    - rtmps: rtmpproto passes its options to the tls connection: self-signed refused, test CA with
      `ca_file` accepted, wrong `verifyhost` refused.
    - HLS and DASH over https: only the playlist/manifest request gets the options. Segment requests
      and playlist reloads are opened with the demuxer's own copy of a fixed option list (`headers`,
      `http_proxy`, `user_agent`, `cookies`, `referer`, `rw_timeout`, `icy`): a playlist on a verified
      server listing segments on a self-signed server records without error. 5.1 has no option to pass
      more (no `http_opts`), so these kinds cannot be verified: `unverifiable_tls`.
    - rtsps: the RTSP demuxer opens its tls connection with no options: against a self-signed server
      `-tls_verify 1 -ca_file` connects, then fails "Option tls_verify not found" (never consumed):
      cannot be verified.

    Returns:
        [] for non-TLS inputs and for `insecureSkipVerify`; otherwise `-tls_verify 1`, plus
        `-ca_file <ca_file>` and `-verifyhost <serverName>` when given.

    Raises:
        ValueError: verification is asked for an input FFmpeg 5.1 cannot verify (`unverifiable_tls`).
    """
    if not uses_tls(inp):
        return []
    if inp.tls is not None and inp.tls.insecureSkipVerify:
        return []
    problem = unverifiable_tls(inp)
    if problem:
        raise ValueError(problem)
    args = ["-tls_verify", "1"]
    if ca_file is not None:
        args += ["-ca_file", str(ca_file)]
    if inp.tls is not None and inp.tls.serverName:
        args += ["-verifyhost", inp.tls.serverName]
    return args


def input_args(
    inp: RecordingInput,
    *,
    passphrase: str | None = None,
    sdp_path: Path | None = None,
    ca_file: Path | None = None,
) -> list[str]:
    """Argv from `-protocol_whitelist` up to and including `-i <input>` (§3.1 recipes).

    Args:
        inp: the spec's input block.
        passphrase: SRT passphrase (from ENV_SRT_PASSPHRASE), passed as `-passphrase`, never in the URL.
        sdp_path: where the agent wrote `inp.sdp` (required for rtp with sdp).
        ca_file: PEM CA bundle to trust instead of the system's (`input.tls.caConfigMapRef`, mounted).

    Raises:
        ValueError: input kind not allowed, rtp+sdp without `sdp_path`, or TLS verification asked for
            an input FFmpeg 5.1 cannot verify (`tls_args`).
    """
    kind = input_kind(inp)
    timeout_us = _us(inp.readTimeout)
    args = ["-protocol_whitelist", PROTOCOL_WHITELISTS[kind]]
    args += tls_args(inp, ca_file=ca_file)
    # Low probing: progress starts within ~1 s instead of ~5 s (TL;DR 9).
    args += ["-analyzeduration", "1000000", "-probesize", "1000000", "-fflags", "+genpts+discardcorrupt"]
    url = inp.url or ""
    if kind == "srt":
        args += ["-mode", "listener" if inp.listen else "caller", "-timeout", timeout_us]
        if not inp.listen:
            # The caller keeps sending handshakes for `readTimeout` (`connect_timeout` is in ms)
            # instead of libsrt's 3 s: a listener that comes up meanwhile is joined at once,
            # not after a restart and its backoff (bench/recorder_bench.py measures it).
            args += ["-connect_timeout", str(int(parse_duration(inp.readTimeout).total_seconds() * 1000))]
        if inp.latency:
            args += ["-latency", _us(inp.latency)]
        if passphrase:
            args += ["-passphrase", passphrase]
        if inp.streamid:
            args += ["-streamid", inp.streamid]
        if inp.listen:
            url = f"srt://0.0.0.0:{inp.listen.port}"
    elif kind in ("rtmp", "rtmps"):
        if inp.listen:
            # RTMP `-listen 1`: the Pod is the server; app/key are not checked by FFmpeg's listener.
            args += ["-listen", "1"]
            url = f"rtmp://0.0.0.0:{inp.listen.port}/live/stream"
        args += ["-rw_timeout", timeout_us]
    elif kind in ("rtsp", "rtsps"):
        args += ["-rtsp_transport", inp.rtspTransport, "-timeout", timeout_us]
    elif kind == "hls":
        args += ["-rw_timeout", timeout_us, "-m3u8_hold_counters", "10", "-max_reload", "10"]
        args += ["-http_persistent", "1"]
    elif kind == "dash":
        args += ["-rw_timeout", timeout_us]
    elif kind == "http":
        args += ["-rw_timeout", timeout_us, "-reconnect", "1", "-reconnect_streamed", "1"]
        args += ["-reconnect_on_network_error", "1", "-reconnect_delay_max", "10"]
    elif kind == "udp":
        if inp.listen:
            url = f"udp://0.0.0.0:{inp.listen.port}"
        url = _with_query(url, {"timeout": timeout_us, "fifo_size": "1000000", "overrun_nonfatal": "1"})
    elif kind == "rtp":
        url = _with_query(url, {"timeout": timeout_us})
    elif kind == "rtp-sdp":
        if sdp_path is None:
            raise ValueError("rtp input with sdp needs the path the agent wrote the SDP to")
        args += ["-f", "sdp"]
        url = str(sdp_path)
    elif kind == "rist":
        if inp.listen:
            url = f"rist://@0.0.0.0:{inp.listen.port}"
    return [*args, "-i", url]


def _keyframe_step_s(spec: LocalRecordingSpec) -> float | None:
    """Seconds between forced keyframes: gcd of keyframeInterval and segment length (ms grid)."""
    video = spec.transcoding.video if spec.transcoding else None
    steps_ms = []
    if video and video.keyframeInterval:
        steps_ms.append(round(parse_duration(video.keyframeInterval).total_seconds() * 1000))
    seg = segment_seconds(spec)
    if seg is not None and needs_video_encode(spec):
        steps_ms.append(round(seg * 1000))
    steps_ms = [s for s in steps_ms if s > 0]
    if not steps_ms:
        return None
    return math.gcd(*steps_ms) / 1000


def segment_seconds(spec: LocalRecordingSpec) -> float | None:
    """Segment length in seconds, or None for one continuous file (hls defaults to 6 s)."""
    if spec.output.segmentDuration:
        return parse_duration(spec.output.segmentDuration).total_seconds()
    if spec.output.format == "hls":
        return DEFAULT_HLS_TIME_S
    return None


def needs_video_encode(spec: LocalRecordingSpec) -> bool:
    """True when video is re-encoded: transcoding.video or an overlay (overlay forces h264)."""
    if spec.output.format == "mp3":
        return False
    return bool((spec.transcoding and spec.transcoding.video) or spec.overlay)


def needs_audio_encode(spec: LocalRecordingSpec) -> bool:
    """True when audio is re-encoded: transcoding.audio, channel selection, or mp3 output."""
    return bool(
        (spec.transcoding and spec.transcoding.audio)
        or (spec.audio and spec.audio.channels)
        or spec.output.format == "mp3"
    )


def _fmt_num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def codec_args(spec: LocalRecordingSpec, *, has_overlay_input: bool) -> list[str]:
    """`-map`, filters and codec options (stream copy where nothing is re-encoded)."""
    args: list[str] = []
    track = spec.audio.track if spec.audio else 0
    video = spec.transcoding.video if spec.transcoding else None
    audio = spec.transcoding.audio if spec.transcoding else None
    if spec.output.format == "mp3":
        args += ["-map", f"0:a:{track}", "-vn"]
    else:
        chain: list[str] = []
        if video and (video.width or video.height):
            chain.append(f"scale={video.width or -2}:{video.height or -2}")
        if video and video.fps:
            chain.append(f"fps={_fmt_num(video.fps)}")
        if spec.overlay and has_overlay_input:
            pre = ",".join(chain) if chain else "null"
            pos = spec.overlay.position
            graph = f"[0:v:0]{pre}[base];[base][1:v:0]overlay={pos.x}:{pos.y}:eof_action=repeat[vout]"
            args += ["-filter_complex", graph, "-map", "[vout]"]
        else:
            args += ["-map", "0:v:0?"]
            if chain:
                args += ["-vf", ",".join(chain)]
        args += ["-map", f"0:a:{track}?"]
    if spec.audio and spec.audio.channels:
        picks = spec.audio.channels
        layout = "mono" if len(picks) == 1 else "stereo" if len(picks) == 2 else f"{len(picks)}c"
        mapping = "|".join(f"c{i}=c{ch - 1}" for i, ch in enumerate(picks))
        args += ["-af", f"pan={layout}|{mapping}"]
    if needs_video_encode(spec):
        codec = video.codec if video else "h264"
        preset = video.preset if video else "veryfast"
        args += ["-c:v", "libx264" if codec == "h264" else "libx265", "-preset", preset]
        if video and video.crf is not None:
            args += ["-crf", str(video.crf)]
            if video.bitrateKbps:
                args += ["-maxrate", f"{video.bitrateKbps}k", "-bufsize", f"{2 * video.bitrateKbps}k"]
        elif video and video.bitrateKbps:
            args += ["-b:v", f"{video.bitrateKbps}k", "-maxrate", f"{video.bitrateKbps}k"]
            args += ["-bufsize", f"{2 * video.bitrateKbps}k"]
        step = _keyframe_step_s(spec)
        if step:
            args += ["-force_key_frames", f"expr:gte(t,n_forced*{_fmt_num(step)})"]
            if codec == "h264":
                args += ["-sc_threshold", "0"]
            else:
                args += ["-x265-params", "scenecut=0"]
        args += ["-pix_fmt", (video.pixelFormat if video and video.pixelFormat else "yuv420p")]
        if codec == "hevc" and spec.output.format in ("mp4", "hls"):
            args += ["-tag:v", "hvc1"]
        args += ["-max_muxing_queue_size", "1024"]
    elif spec.output.format != "mp3":
        args += ["-c:v", "copy"]
    if needs_audio_encode(spec):
        acodec = audio.codec if audio else ("mp3" if spec.output.format == "mp3" else "aac")
        args += ["-c:a", {"aac": "aac", "mp3": "libmp3lame", "opus": "libopus"}[acodec]]
        if audio and audio.bitrateKbps:
            args += ["-b:a", f"{audio.bitrateKbps}k"]
        elif acodec == "mp3":
            args += ["-b:a", "128k"]
        if audio and audio.sampleRate:
            args += ["-ar", str(audio.sampleRate)]
        if audio and audio.channels:
            args += ["-ac", str(audio.channels)]
    else:
        args += ["-c:a", "copy"]
    return args


def part_name(index: int, fmt: str) -> str:
    """FFmpeg-side file name of part `index`: `seg_000007.mp4`."""
    return f"{PART_PREFIX}{index:06d}.{EXTENSIONS[fmt]}"


def parse_part_name(name: str) -> int | None:
    """The index in a part name, or None when `name` is not a part."""
    match = PART_RE.match(name)
    return int(match.group(1)) if match else None


def output_args(spec: LocalRecordingSpec, *, parts_dir: Path, start_index: int) -> list[str]:
    """Muxer options and output path (§3.2).

    Segmented: the segment muxer numbering from `start_index` with the csv list
    `parts_dir/segments.csv`. Continuous: the same muxer with a `segment_time` no recording reaches,
    so one file `parts_dir/seg_<start_index>.<ext>`: measured on 5.1.9, a plain `-f mp4`/`-f flv`
    output fails on ADTS AAC copied from MPEG-TS ("Malformed AAC bitstream", after ~0.2 s) while the
    segment muxer's inner muxer inserts `aac_adtstoasc` itself; a fixed `-bsf:a aac_adtstoasc` would
    break mp3/opus sources. hls: an event playlist `parts_dir/index.m3u8` with `append_list`
    (numbering continues across restarts).
    """
    fmt = spec.output.format
    seconds = segment_seconds(spec)
    flush = ["-flush_packets", "1"]
    if fmt == "hls":
        return [
            *flush,
            "-f", "hls",
            "-hls_time", _fmt_num(seconds or DEFAULT_HLS_TIME_S),
            "-hls_list_size", "0",
            "-hls_playlist_type", "event",
            "-hls_flags", "+append_list+program_date_time+independent_segments+temp_file",
            "-hls_segment_type", "mpegts",
            "-start_number", str(start_index),
            "-hls_segment_filename", str(parts_dir / f"{PART_PREFIX}%06d.ts"),
            str(parts_dir / HLS_PLAYLIST),
        ]  # fmt: skip
    args = [
        *flush,
        "-f", "segment",
        "-segment_time", _fmt_num(seconds if seconds is not None else CONTINUOUS_SEGMENT_S),
        "-reset_timestamps", "1",
        "-segment_format", MUXERS[fmt],
        "-segment_list", str(parts_dir / SEGMENT_LIST),
        "-segment_list_type", "csv",
        "-segment_list_flags", "+live",
        "-segment_start_number", str(start_index),
    ]  # fmt: skip
    inner = "flush_packets=1"
    if fmt == "mp4":
        inner = f"movflags={FRAGMENTED_MP4}:frag_duration=1000000:{inner}"
    args += ["-segment_format_options", inner]
    return [*args, str(parts_dir / f"{PART_PREFIX}%06d.{EXTENSIONS[fmt]}")]


def build_argv(
    spec: LocalRecordingSpec,
    *,
    parts_dir: Path,
    start_index: int,
    passphrase: str | None = None,
    sdp_path: Path | None = None,
    overlay_path: Path | None = None,
    ca_file: Path | None = None,
    stats_period_s: float = 1.0,
    ffmpeg: str = "ffmpeg",
) -> list[str]:
    """The whole FFmpeg argv of one recording session.

    Args:
        spec: the LocalRecording spec.
        parts_dir: directory FFmpeg writes into (exists).
        start_index: `{index}` of the first file this session writes.
        passphrase: SRT passphrase (never logged: use `redact`).
        sdp_path: the agent-written SDP file for rtp inputs with `sdp`.
        overlay_path: the downloaded overlay image (required when spec.overlay is set).
        ca_file: the mounted CA bundle of `input.tls.caConfigMapRef` (`tls_args`).
        stats_period_s: `-stats_period` in seconds.
        ffmpeg: the executable.

    Raises:
        ValueError: input not allowed, a required local file path is missing, or TLS verification asked
            for an input FFmpeg 5.1 cannot verify.
    """
    if spec.overlay and overlay_path is None:
        raise ValueError("overlay needs the downloaded image path")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"]
    argv += ["-progress", "pipe:1", "-stats_period", _fmt_num(stats_period_s)]
    argv += input_args(spec.input, passphrase=passphrase, sdp_path=sdp_path, ca_file=ca_file)
    if spec.overlay and overlay_path is not None:
        # The image is a local file the agent downloaded over http(s): only `file` for this input.
        argv += ["-protocol_whitelist", "file", "-i", str(overlay_path)]
    argv += codec_args(spec, has_overlay_input=spec.overlay is not None)
    argv += output_args(spec, parts_dir=parts_dir, start_index=start_index)
    return argv


def concat_argv(list_path: Path, output: Path, fmt: str, *, ffmpeg: str = "ffmpeg") -> list[str]:
    """Join parts listed in an agent-written ffconcat file (§3.6; `-safe 0` only for our own list)."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    args += ["-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", str(list_path)]
    args += ["-map", "0", "-c", "copy"]
    if fmt == "mp4":
        args += ["-movflags", "+faststart"]
    return [*args, "-f", MUXERS[fmt], str(output)]


def render_file_name(
    template: str, *, recording: str, namespace: str, index: int, start: datetime, extension: str
) -> str:
    """Render `fileNameTemplate` to a safe file name with `extension`.

    `{index}` is zero-padded to 5 digits; `{start}` defaults to `%Y%m%dT%H%M%SZ` (UTC).

    Raises:
        TemplateError: unknown placeholder, disallowed strftime code, or an unsafe result
            (anything but letters, digits, `.`, `_`, `-`; leading dot; path separators).
    """
    start_utc = start.astimezone(UTC)

    def sub(match: re.Match[str]) -> str:
        key, fmt = match.group(1), match.group(2)
        if key == "start":
            fmt = fmt or "%Y%m%dT%H%M%SZ"
            if not _STRFTIME_OK.match(fmt):
                raise TemplateError(f"strftime format {fmt!r} not allowed")
            return start_utc.strftime(fmt)
        if fmt is not None:
            raise TemplateError(f"{{{key}}} takes no format")
        return {"recording": recording, "namespace": namespace, "index": f"{index:05d}"}[key]

    rendered = _PLACEHOLDER.sub(sub, template)
    name = f"{rendered}.{extension}"
    if "{" in rendered or "}" in rendered or not _SAFE_NAME.match(name) or len(name) > 255:
        raise TemplateError(f"fileNameTemplate renders to an unsafe file name {name!r}")
    return name


def redact(text: str, secrets: list[str | None]) -> str:
    """`text` with every occurrence of each non-empty secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def redact_argv(argv: list[str], secrets: list[str | None]) -> list[str]:
    """`argv` safe to log: values of `-passphrase` and any secret substring masked."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        out.append("***" if hide_next else redact(arg, secrets))
        hide_next = arg == "-passphrase"
    return out


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
