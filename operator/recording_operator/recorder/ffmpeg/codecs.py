"""FFmpeg argv of the encoding: stream maps, scale/fps/overlay/pan filters, video and audio codecs.

Stream copy wherever nothing is re-encoded. When video is re-encoded, keyframes are forced on an
absolute grid (`-force_key_frames expr:gte(t,n_forced*N)` with scene-cut detection off): measured with
Debian's FFmpeg 5.1.9, the segment muxer cuts at the first keyframe at or after each multiple of
`segment_time`, so only forced keyframes give exact segment durations
(https://ffmpeg.org/ffmpeg-formats.html#segment, https://ffmpeg.org/ffmpeg.html#Advanced-Video-options).
"""

from __future__ import annotations

import math

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    DEFAULT_SEGMENT_DURATION,
    LocalRecordingSpec,
    is_continuous,
)

#: HLS segment length when `segmentDuration` is absent (seconds).
DEFAULT_HLS_TIME_S = 6.0


def fmt_num(value: float) -> str:
    """A number as FFmpeg reads it: `6` for 6.0, `0.5` for 0.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def segment_seconds(spec: LocalRecordingSpec) -> float | None:
    """Segment length in seconds, or None for one continuous file (`is_continuous`).

    Absent `segmentDuration`: DEFAULT_HLS_TIME_S for hls, else DEFAULT_SEGMENT_DURATION (60 s).
    """
    if spec.output.format == "hls":
        if spec.output.segmentDuration:
            return parse_duration(spec.output.segmentDuration).total_seconds()
        return DEFAULT_HLS_TIME_S
    if is_continuous(spec):
        return None
    return parse_duration(spec.output.segmentDuration or DEFAULT_SEGMENT_DURATION).total_seconds()


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
            chain.append(f"fps={fmt_num(video.fps)}")
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
            args += ["-force_key_frames", f"expr:gte(t,n_forced*{fmt_num(step)})"]
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
