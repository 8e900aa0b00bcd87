"""Default CPU and memory of a recorder Pod, sized from the recording's transcoding settings.

The figures are measurements of FFmpeg (see the constants); `spec.pod.resources` overrides them key by key.
"""

from __future__ import annotations

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec

#: CPU cost relative to x264 `veryfast` (x264's presets roughly double the work every two steps).
PRESET_COST = {
    "ultrafast": 0.55,
    "superfast": 0.7,
    "veryfast": 1.0,
    "faster": 1.3,
    "fast": 1.6,
    "medium": 2.0,
    "slow": 3.0,
    "slower": 5.0,
    "veryslow": 8.0,
}
#: CPU-seconds per media-second, measured with Debian's FFmpeg 5.1 on a 2-core VM (`/usr/bin/time` over
#: 20 s of 1080p30 H.264 6 Mb/s + AAC from `testsrc2`): `-c copy` 0.007-0.008, AAC re-encode 0.026,
#: x264 `veryfast` 1080p 0.98; x265 costs about 2-3x x264 at the same preset.
CPU_COPY = 0.01
CPU_X264_VERYFAST_1080P30 = 0.98
CPU_AUDIO = 0.03
HEVC_FACTOR = 2.5
#: Real footage costs more than the synthetic source measured: headroom on top of the estimate.
HEADROOM = 1.5
FULL_HD = 1920 * 1080


def _video_encoded(spec: LocalRecordingSpec) -> bool:
    return bool((spec.transcoding and spec.transcoding.video) or spec.overlay)


def _audio_encoded(spec: LocalRecordingSpec) -> bool:
    return bool((spec.transcoding and spec.transcoding.audio) or (spec.audio and spec.audio.channels))


def default_resources(spec: LocalRecordingSpec) -> dict[str, dict[str, str]]:
    """Requests and limits sized from the transcoding settings.

    Stream copy: 50m CPU, 128Mi (limits 500m, 256Mi). Video encoding: 0.98 CPU per 1080p30 x264
    `veryfast` rendition scaled by pixel rate and preset cost (hevc ×2.5), once per media output
    (`output` and each additional output but jpg), ×1.5 headroom; an unset size
    counts as 1080p30. Memory 160Mi + 240Mi per 1080p of pixels (hevc ×1.5). Limits: 2× requests
    (CPU at least 500m).
    """
    cpu = CPU_COPY
    memory_mi = 128.0
    video = spec.transcoding.video if spec.transcoding else None
    if _video_encoded(spec):
        width = (video.width if video else None) or 1920
        height = (video.height if video else None) or 1080
        fps = (video.fps if video else None) or 30.0
        preset = video.preset if video else "veryfast"
        hevc = bool(video and video.codec == "hevc")
        scale = width * height * fps / (FULL_HD * 30.0)
        # Each media output (`output` and every additional one but jpg) is encoded on its own.
        encodes = 1 + sum(1 for extra in spec.additionalOutputs or [] if extra.format != "jpg")
        cpu += (
            encodes * CPU_X264_VERYFAST_1080P30 * scale * PRESET_COST[preset] * (HEVC_FACTOR if hevc else 1.0)
        )
        memory_mi = 160.0 + 240.0 * (width * height / FULL_HD) * (1.5 if hevc else 1.0)
    if _audio_encoded(spec):
        cpu += CPU_AUDIO
        memory_mi = max(memory_mi, 160.0)
    cpu_m = max(50, int(round(cpu * HEADROOM * 1000, -1)))
    memory = max(128, int(memory_mi))
    return {
        "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory}Mi"},
        "limits": {"cpu": f"{max(500, 2 * cpu_m)}m", "memory": f"{2 * memory}Mi"},
    }


def resources(spec: LocalRecordingSpec) -> dict[str, dict[str, str]]:
    """`spec.pod.resources` over the defaults, key by key."""
    result = default_resources(spec)
    own = spec.pod.resources if spec.pod else None
    if own is not None:
        result["requests"].update(own.requests or {})
        result["limits"].update(own.limits or {})
    return result
