"""FFmpeg argv of the encoding: stream maps, scale/fps/overlay/pan filters, video and audio codecs.

Stream copy wherever nothing is re-encoded. When video is re-encoded, keyframes are forced on an
absolute grid (`-force_key_frames expr:gte(t,n_forced*N)` with scene-cut detection off): measured with
Debian's FFmpeg 5.1.9, the segment muxer cuts at the first keyframe at or after each multiple of
`segment_time`, so only forced keyframes give exact segment durations
(https://ffmpeg.org/ffmpeg-formats.html#segment, https://ffmpeg.org/ffmpeg.html#Advanced-Video-options).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    DEFAULT_SEGMENT_DURATION,
    LocalRecordingSpec,
    is_continuous,
)
from recording_operator.recorder.ffmpeg.filters import (
    audio_filters,
    fmt_num,
    output_sample_rate,
    pre_overlay_video_filters,
    text_overlay_filters,
)

#: HLS segment length when `segmentDuration` is absent (seconds).
DEFAULT_HLS_TIME_S = 6.0
#: Longest part FFmpeg cuts for a recording with `output.maxSize` (s): a stored file ends at most
#: this much media (with stream copy: one GOP) before its size limit.
MAX_SIZE_CHUNK_S = 2.0


def segment_seconds(spec: LocalRecordingSpec) -> float | None:
    """Segment length in seconds FFmpeg cuts at, or None for one continuous file (`is_continuous`).

    Absent `segmentDuration`: DEFAULT_HLS_TIME_S for hls, else DEFAULT_SEGMENT_DURATION (60 s).
    With `output.maxSize`: the short part `max_size_chunk_seconds` the agent groups into files.
    """
    if spec.output.format == "hls":
        if spec.output.segmentDuration:
            return parse_duration(spec.output.segmentDuration).total_seconds()
        return DEFAULT_HLS_TIME_S
    if is_continuous(spec):
        return None
    if spec.output.maxSize:
        return max_size_chunk_seconds(file_seconds(spec))
    return parse_duration(spec.output.segmentDuration or DEFAULT_SEGMENT_DURATION).total_seconds()


def file_seconds(spec: LocalRecordingSpec) -> float | None:
    """With `output.maxSize`: the `segmentDuration` a stored file also closes at (s), None when absent
    (files close by size only). Without maxSize: `segment_seconds`."""
    if not spec.output.maxSize:
        return segment_seconds(spec)
    if not spec.output.segmentDuration:
        return None
    return parse_duration(spec.output.segmentDuration).total_seconds()


def max_size_chunk_seconds(file_s: float | None) -> float:
    """`-segment_time` of a recording with `output.maxSize` (s): at most MAX_SIZE_CHUNK_S, and a whole
    fraction of `file_s` (the segmentDuration; None: MAX_SIZE_CHUNK_S), so that a file closed by time
    ends where the segment muxer would have cut it: 5 s → 1.666667 s, 1 s → 1 s, 60 s → 2 s."""
    if file_s is None:
        return MAX_SIZE_CHUNK_S
    return round(file_s / math.ceil(file_s / MAX_SIZE_CHUNK_S - 1e-9), 6)


def needs_video_encode(spec: LocalRecordingSpec) -> bool:
    """True when video is re-encoded: transcoding.video or an overlay (overlay forces h264)."""
    if spec.output.format == "mp3":
        return False
    return bool((spec.transcoding and spec.transcoding.video) or spec.overlay)


def needs_audio_encode(spec: LocalRecordingSpec) -> bool:
    """True when audio is re-encoded: transcoding.audio, channel selection, audio filters, or mp3 output."""
    return bool(
        (spec.transcoding and spec.transcoding.audio)
        or (spec.audio and spec.audio.channels)
        or spec.audioFilters
        or spec.output.format == "mp3"
    )


#: FFmpeg encoder of each `transcoding.video.codec` (the hardware ones are named as FFmpeg names them).
SOFTWARE_ENCODERS = {"h264": "libx264", "hevc": "libx265"}


def video_encoder(spec: LocalRecordingSpec) -> str | None:
    """The FFmpeg video encoder the recording uses (`libx264`, `libx265`, `h264_nvenc`, ...), None for
    stream copy or audio-only output."""
    if not needs_video_encode(spec):
        return None
    codec = spec.transcoding.video.codec if spec.transcoding and spec.transcoding.video else "h264"
    return SOFTWARE_ENCODERS.get(codec, codec)


def _rate_control_args(spec: LocalRecordingSpec, encoder: str) -> list[str]:
    """`-b:v`/`-minrate`/`-maxrate`/`-bufsize`/`-crf` (and `-rc` for nvenc) of `transcoding.video`."""
    video = spec.transcoding.video if spec.transcoding else None
    if video is None:
        return []
    args: list[str] = []
    rc = video.rateControl
    if rc is None:
        if video.crf is not None:
            args += ["-crf", str(video.crf)]
            if video.bitrateKbps:
                args += ["-maxrate", f"{video.bitrateKbps}k", "-bufsize", f"{2 * video.bitrateKbps}k"]
        elif video.bitrateKbps:
            args += ["-b:v", f"{video.bitrateKbps}k", "-maxrate", f"{video.bitrateKbps}k"]
            args += ["-bufsize", f"{2 * video.bitrateKbps}k"]
        return args
    nvenc = encoder.endswith("_nvenc")
    if rc.mode == "CRF":
        args += ["-crf", str(rc.crf)]
        if rc.maxrateKbps:
            args += ["-maxrate", f"{rc.maxrateKbps}k", "-bufsize", f"{rc.bufsizeKbps or 2 * rc.maxrateKbps}k"]
    elif rc.mode == "CBR":
        rate = rc.bitrateKbps
        args += ["-b:v", f"{rate}k", "-minrate", f"{rate}k", "-maxrate", f"{rate}k"]
        args += ["-bufsize", f"{rc.bufsizeKbps or 2 * rate}k"]  # type: ignore[operator]
        if nvenc:
            args += ["-rc", "cbr"]
    else:
        args += ["-b:v", f"{rc.bitrateKbps}k"]
        if rc.maxrateKbps:
            args += ["-maxrate", f"{rc.maxrateKbps}k", "-bufsize", f"{rc.bufsizeKbps or 2 * rc.maxrateKbps}k"]
        elif rc.bufsizeKbps:
            args += ["-bufsize", f"{rc.bufsizeKbps}k"]
        if nvenc:
            args += ["-rc", "vbr"]
    return args


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


def codec_args(
    spec: LocalRecordingSpec,
    *,
    has_overlay_input: bool,
    text_files: Sequence[Path | None] = (),
    overlay_split: tuple[int, int] | None = None,
) -> list[str]:
    """`-map`, filters and codec options (stream copy where nothing is re-encoded).

    `text_files[i]` is the file the agent wrote for `spec.textOverlays[i]` (`filters.text_file_content`).
    `overlay_split` `(k, n)`: this is media output k of n (n ≥ 2) of one FFmpeg process. A
    `-filter_complex` output feeds one output only, so the overlay graph (given once, with output 0)
    ends in `split=n` and output k maps its `[vout<k>]`.

    Raises:
        ValueError: a text overlay without its file (`filters.drawtext`).
    """
    args: list[str] = []
    track = spec.audio.track if spec.audio else 0
    video = spec.transcoding.video if spec.transcoding else None
    audio = spec.transcoding.audio if spec.transcoding else None
    if spec.output.format == "mp3":
        args += ["-map", f"0:a:{track}", "-vn"]
    else:
        chain = pre_overlay_video_filters(spec)
        texts = text_overlay_filters(spec, text_files)
        if spec.overlay and has_overlay_input:
            pre = ",".join(chain) if chain else "null"
            pos = spec.overlay.position
            post = "".join(f",{t}" for t in texts)
            graph = f"[0:v:0]{pre}[base];[base][1:v:0]overlay={pos.x}:{pos.y}:eof_action=repeat{post}"
            if overlay_split is None:
                args += ["-filter_complex", f"{graph}[vout]", "-map", "[vout]"]
            else:
                k, n = overlay_split
                if k == 0:
                    labels = "".join(f"[vout{i}]" for i in range(n))
                    args += ["-filter_complex", f"{graph},split={n}{labels}"]
                args += ["-map", f"[vout{k}]"]
        else:
            args += ["-map", "0:v:0?"]
            if chain or texts:
                args += ["-vf", ",".join(chain + texts)]
        args += ["-map", f"0:a:{track}?"]
    afilters = audio_filters(spec)
    if afilters:
        args += ["-af", ",".join(afilters)]
    encoder = video_encoder(spec)
    if encoder is not None:
        software = encoder in SOFTWARE_ENCODERS.values()
        args += ["-c:v", encoder]
        if software:
            args += ["-preset", video.preset if video else "veryfast"]
        tuning = video.encoder if video else None
        if tuning is not None and tuning.tune:
            args += ["-tune", tuning.tune]
        args += _rate_control_args(spec, encoder)
        x265_params: list[str] = []
        if tuning is not None and tuning.gopFrames:
            args += ["-g", str(tuning.gopFrames)]
            if encoder == "libx264":
                args += ["-keyint_min", str(tuning.gopFrames)]
        step = _keyframe_step_s(spec)
        if step:
            args += ["-force_key_frames", f"expr:gte(t,n_forced*{fmt_num(step)})"]
        if step or (tuning is not None and tuning.gopFrames):
            # A fixed grid: scene cuts add no keyframes of their own.
            if encoder == "libx264":
                args += ["-sc_threshold", "0"]
            elif encoder == "libx265":
                x265_params.append("scenecut=0")
        if encoder == "libx264" and video and video.rateControl and video.rateControl.mode == "CBR":
            args += ["-x264-params", "nal-hrd=cbr"]
        if encoder == "libx265" and video and video.rateControl and video.rateControl.mode == "CBR":
            x265_params.append("strict-cbr=1")
        if x265_params:
            args += ["-x265-params", ":".join(x265_params)]
        if tuning is not None and tuning.threads is not None:
            args += ["-threads", str(tuning.threads)]
        if tuning is not None and tuning.slices is not None:
            args += ["-slices", str(tuning.slices)]
        args += ["-pix_fmt", (video.pixelFormat if video and video.pixelFormat else "yuv420p")]
        if encoder.startswith("hevc") or encoder == "libx265":
            if spec.output.format in ("mp4", "hls"):
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
        rate = output_sample_rate(spec)
        if rate:
            args += ["-ar", str(rate)]
        if audio and audio.channels:
            args += ["-ac", str(audio.channels)]
    else:
        args += ["-c:a", "copy"]
    return args
