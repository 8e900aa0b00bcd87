"""Pure builders of FFmpeg 5.1 argv and file names for the recorder agent (no I/O).

`inputs` builds the argv of the source (protocol options, whitelists, TLS), `codecs` the maps,
filters and encoders, `outputs` the muxers and file naming; :func:`build_argv` joins them into one
recording session's command line, and :func:`redact_argv` makes it safe to log. Progress is read
from `-progress pipe:1 -stats_period N -nostats` (https://ffmpeg.org/ffmpeg.html#Advanced-options;
the parser is `recorder.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    DEFAULT_THUMBNAIL_INTERVAL,
    AdditionalOutput,
    LocalRecordingSpec,
    RecordingOutput,
)
from recording_operator.recorder.ffmpeg.codecs import (
    DEFAULT_HLS_TIME_S,
    MAX_SIZE_CHUNK_S,
    codec_args,
    file_seconds,
    fmt_num,
    max_size_chunk_seconds,
    needs_audio_encode,
    needs_video_encode,
    segment_seconds,
    video_encoder,
)
from recording_operator.recorder.ffmpeg.filters import text_file_content
from recording_operator.recorder.ffmpeg.inputs import PROTOCOL_WHITELISTS, input_args, tls_args
from recording_operator.recorder.ffmpeg.outputs import (
    CONTINUOUS_SEGMENT_S,
    FRAGMENTED_MP4,
    HLS_PLAYLIST,
    MUXERS,
    PART_PREFIX,
    PART_RE,
    SEGMENT_LIST,
    TemplateError,
    concat_argv,
    now_utc,
    output_args,
    parse_part_name,
    part_name,
    render_file_name,
    thumbnail_args,
)

#: `-hls_list_size` of an hls output with `hlsPlaylistType: live` and no `hlsListSize`.
DEFAULT_HLS_LIVE_LIST_SIZE = 6


def media_output_spec(spec: LocalRecordingSpec, extra: AdditionalOutput) -> LocalRecordingSpec:
    """`spec` as if `extra` (a media output: not jpg) were its `output`: the same streams,
    transcoding, filters and overlays, `extra`'s container, segment length and names (never
    continuous or seamless: an additional output is always segmented)."""
    output = RecordingOutput(
        format=extra.format,  # not jpg: the caller's check
        segmentDuration=extra.segmentDuration,
        segmentAtClockTime=extra.segmentAtClockTime,
        fileNameTemplate=extra.fileNameTemplate,
    )
    return spec.model_copy(update={"output": output, "seamless": False})


def hls_list_size(extra: AdditionalOutput) -> int:
    """`-hls_list_size` of an hls output: 0 (every segment) for an event playlist, else the window."""
    if extra.hlsPlaylistType != "live":
        return 0
    return extra.hlsListSize or DEFAULT_HLS_LIVE_LIST_SIZE


def keyframe_thumbnails(spec: LocalRecordingSpec) -> bool:
    """True when the recording has jpg thumbnails and nothing else decodes: every other output is a
    stream copy. The input's decoders then get `-skip_frame nokey` (https://ffmpeg.org/ffmpeg-codecs.html,
    `skip_frame`): only keyframes are decoded, and each thumbnail is the keyframe nearest its time
    (at most one GOP away). Measured with Debian's FFmpeg 5.1 (bench/recorder_bench.py, 1080p30
    H.264 with a 2 s GOP): decoding every frame for the thumbnails costs about 0.19 CPU s per media s.
    """
    has_thumbnails = any(extra.format == "jpg" for extra in spec.additionalOutputs or [])
    return has_thumbnails and not needs_video_encode(spec) and not needs_audio_encode(spec)


def thumbnail_interval_s(extra: AdditionalOutput) -> float:
    """Seconds between two jpg thumbnails (`segmentDuration`, default DEFAULT_THUMBNAIL_INTERVAL)."""
    return parse_duration(extra.segmentDuration or DEFAULT_THUMBNAIL_INTERVAL).total_seconds()


def build_argv(
    spec: LocalRecordingSpec,
    *,
    parts_dir: Path,
    start_index: int,
    passphrase: str | None = None,
    sdp_path: Path | None = None,
    overlay_path: Path | None = None,
    ca_file: Path | None = None,
    text_files: Sequence[Path | None] = (),
    extra_parts: Sequence[tuple[Path, int]] = (),
    stats_period_s: float = 1.0,
    ffmpeg: str = "ffmpeg",
    relayed: bool = False,
) -> list[str]:
    """The whole FFmpeg argv of one recording session: `output`, then each of `additionalOutputs`.

    Args:
        spec: the LocalRecording spec.
        parts_dir: directory FFmpeg writes into (exists).
        start_index: `{index}` of the first file this session writes.
        passphrase: SRT passphrase (never logged: use `redact`).
        sdp_path: the agent-written SDP file for rtp inputs with `sdp`.
        overlay_path: the downloaded overlay image (required when spec.overlay is set).
        ca_file: the mounted CA bundle of `input.tls.caConfigMapRef` (`tls_args`).
        text_files: per `spec.textOverlays` entry, the file the agent wrote with
            `filters.text_file_content` (None for a timecode).
        extra_parts: per `spec.additionalOutputs` entry, its parts directory (exists) and the number
            FFmpeg gives its first file in this session.
        stats_period_s: `-stats_period` in seconds.
        ffmpeg: the executable.
        relayed: the SRT input comes from the agent's relay on FFmpeg's stdin (`input_args`).

    Raises:
        ValueError: input not allowed, a required local file path is missing, or TLS verification asked
            for an input FFmpeg 5.1 cannot verify, a text overlay without its file, or extra_parts not
            one per additional output.
    """
    if spec.overlay and overlay_path is None:
        raise ValueError("overlay needs the downloaded image path")
    extras = spec.additionalOutputs or []
    if len(extra_parts) != len(extras):
        raise ValueError(f"{len(extras)} additional outputs need as many parts directories")
    # `level+info`: every stderr line carries its level; the agent keeps warnings and errors as error
    # detail and reads the info-level description of the input (`recorder.progress.split_level`).
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"]
    argv += ["-progress", "pipe:1", "-stats_period", fmt_num(stats_period_s)]
    source = input_args(
        spec.input, passphrase=passphrase, sdp_path=sdp_path, ca_file=ca_file, relayed=relayed
    )
    if keyframe_thumbnails(spec):
        source[-2:-2] = ["-skip_frame", "nokey"]
    argv += source
    if spec.overlay and overlay_path is not None:
        # The image is a local file the agent downloaded over http(s): only `file` for this input.
        argv += ["-protocol_whitelist", "file", "-i", str(overlay_path)]
    media = [(spec, parts_dir, start_index, 0)]
    media += [
        (media_output_spec(spec, extra), where, first, hls_list_size(extra))
        for extra, (where, first) in zip(extras, extra_parts, strict=True)
        if extra.format != "jpg"
    ]
    for k, (out_spec, where, first, list_size) in enumerate(media):
        argv += codec_args(
            out_spec,
            has_overlay_input=spec.overlay is not None,
            text_files=text_files,
            overlay_split=(k, len(media)) if len(media) > 1 else None,
        )
        argv += output_args(out_spec, parts_dir=where, start_index=first, hls_list_size=list_size)
    for extra, (where, first) in zip(extras, extra_parts, strict=True):
        if extra.format == "jpg":
            argv += thumbnail_args(
                thumbnail_interval_s(extra), extra.width, parts_dir=where, start_index=first
            )
    return argv


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


__all__ = [
    "CONTINUOUS_SEGMENT_S",
    "DEFAULT_HLS_LIVE_LIST_SIZE",
    "DEFAULT_HLS_TIME_S",
    "FRAGMENTED_MP4",
    "HLS_PLAYLIST",
    "MAX_SIZE_CHUNK_S",
    "MUXERS",
    "PART_PREFIX",
    "PART_RE",
    "PROTOCOL_WHITELISTS",
    "SEGMENT_LIST",
    "TemplateError",
    "build_argv",
    "codec_args",
    "concat_argv",
    "file_seconds",
    "hls_list_size",
    "input_args",
    "keyframe_thumbnails",
    "max_size_chunk_seconds",
    "media_output_spec",
    "needs_audio_encode",
    "needs_video_encode",
    "now_utc",
    "output_args",
    "parse_part_name",
    "part_name",
    "redact",
    "redact_argv",
    "render_file_name",
    "segment_seconds",
    "text_file_content",
    "thumbnail_args",
    "thumbnail_interval_s",
    "tls_args",
    "video_encoder",
]
