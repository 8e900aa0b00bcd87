"""Encoder controls, picture and sound changes and text overlays, on a real stream, checked on the
recorded file with ffprobe/ffmpeg (sizes, frame rate, pixel format, GOP, rotation, overlay pixels,
sample rate, channels, audio level).

Source: an ffmpeg publisher of 25 fps 320x180 H.264 (testsrc2) + a 1 kHz sine (AAC) over UDP.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

from recording_sandbox.ports import free_port
from tests.support.recorder import probe, publisher, run_agent, serve_directory, volume_spec

#: The source's sine (ffmpeg's `sine` source, amplitude 1/8) measured by `volumedetect`: -21 dB mean.
SOURCE_MEAN_DB = -21.0


def udp_spec(port: int, **fields: Any) -> dict[str, Any]:
    return {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "output": {"format": "mkv", "continuous": True},
        "storage": volume_spec(),
        **fields,
    }


def record(tmp_path: Path, spec: dict[str, Any], *, media_ms: int = 4500) -> Path:
    """Record `media_ms` of the source with `spec`; the one stored file."""
    port = int(spec["input"]["url"].rsplit(":", 1)[1])
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=media_ms / 1000 + 6)
        agent.wait_for(lambda s: (s.stats.outTimeMs or 0) >= media_ms, timeout=60)
        assert agent.stop() == 0, agent.log()
        pub.kill()
    (recorded,) = sorted((tmp_path / "volume" / "team").iterdir())
    assert probe(recorded)["decode_errors"] == 0
    return recorded


def streams(path: Path) -> dict[str, dict[str, Any]]:
    """ffprobe's first video and audio stream of `path`, by codec_type."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found: dict[str, dict[str, Any]] = {}
    for stream in json.loads(out)["streams"]:
        found.setdefault(stream["codec_type"], stream)
    return found


def keyframe_times(path: Path) -> list[float]:
    """Presentation times (s) of the video keyframes."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    times = []
    for line in out.splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags:
            times.append(float(pts))
    return sorted(times)


def gray_region(source: list[str], *, x: int, y: int, w: int, h: int, at_s: float = 2.0) -> bytes:
    """The luma of a `w`x`h` region at (`x`, `y`) of the frame at `at_s` of the input `source` (argv)."""
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", str(at_s), *source, "-vf",
         f"crop={w}:{h}:{x}:{y}", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def black_and_white(region: bytes) -> tuple[float, float]:
    """Shares of the region's pixels that are a black box's (luma < 24) and white text's (> 228); the
    colour bars of the source have neither (their luma spans 29..226 there)."""
    return (sum(1 for p in region if p < 24) / len(region), sum(1 for p in region if p > 228) / len(region))


def mean_volume_db(path: Path) -> float:
    """`volumedetect`'s mean volume of the whole audio (decoding it: the file plays)."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-af", "volumedetect",
         "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    match = re.search(r"mean_volume: (-?[\d.]+) dB", err)
    assert match, err
    return float(match.group(1))


def integrated_loudness(path: Path) -> float:
    """`ebur128`'s integrated loudness (LUFS) of the whole audio."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0", "-af", "ebur128",
         "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = err[err.rindex("Summary:") :]
    match = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert match, summary
    return float(match.group(1))


def test_encoder_controls_set_size_rate_pixel_format_and_a_fixed_gop(tmp_path: Path) -> None:
    video = {
        "codec": "h264",
        "width": 256,
        "height": 144,
        "fps": 15,
        "pixelFormat": "yuv422p",
        "preset": "ultrafast",
        "rateControl": {"mode": "CBR", "bitrateKbps": 400},
        "encoder": {"tune": "zerolatency", "gopFrames": 15, "threads": 1, "slices": 2},
    }
    port = free_port(socket.SOCK_DGRAM)
    recorded = record(tmp_path, udp_spec(port, transcoding={"video": video}))
    v = streams(recorded)["video"]
    assert (v["codec_name"], v["width"], v["height"], v["pix_fmt"]) == ("h264", 256, 144, "yuv422p")
    assert v["r_frame_rate"] == "15/1"
    # A keyframe every 15 frames at 15 fps: exactly one per second, none from scene cuts.
    keys = keyframe_times(recorded)
    assert len(keys) >= 4
    assert {round(b - a, 2) for a, b in itertools.pairwise(keys)} == {1.0}
    # CBR with a filler HRD: the video's average bitrate is the asked one.
    size_bits = 8 * sum(
        int(p)
        for p in subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of",
             "csv=p=0", str(recorded)],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    )  # fmt: skip
    duration = float(json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(recorded)],
        check=True, capture_output=True, text=True).stdout)["format"]["duration"])  # fmt: skip
    assert 0.75 * 400_000 <= size_bits / duration <= 1.25 * 400_000


def test_video_modifications_deinterlace_crop_rotate_flip_scale(tmp_path: Path) -> None:
    """Crop 200x120 of the 320x180 source, rotated 90° clockwise (120x200), flipped, scaled to 60x100."""
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(
        port,
        transcoding={"video": {"preset": "ultrafast", "width": 60, "height": 100}},
        videoFilters={"deinterlace": True, "crop": {"width": 200, "height": 120, "x": 20, "y": 30},
                      "rotate": 90, "flip": "vertical"},
    )  # fmt: skip
    recorded = record(tmp_path, spec)
    v = streams(recorded)["video"]
    assert (v["width"], v["height"]) == (60, 100)

    # Without the scale: the rotation alone turns the crop on its side.
    port = free_port(socket.SOCK_DGRAM)
    other = tmp_path / "unscaled"
    other.mkdir()
    spec = udp_spec(
        port,
        transcoding={"video": {"preset": "ultrafast"}},
        videoFilters={"crop": {"width": 200, "height": 120}, "rotate": 270},
    )
    v = streams(record(other, spec))["video"]
    assert (v["width"], v["height"]) == (120, 200)


def test_audio_is_resampled_downmixed_and_attenuated_and_plays(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(
        port,
        transcoding={"audio": {"codec": "aac", "sampleRate": 22050, "channels": 1}},
        audioFilters={"volumeDb": -12},
    )
    recorded = record(tmp_path, spec)
    a = streams(recorded)["audio"]
    assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("aac", "22050", 1)
    assert abs(mean_volume_db(recorded) - (SOURCE_MEAN_DB - 12)) <= 1.5


def test_loudness_normalization_reaches_the_target(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(
        port,
        transcoding={"audio": {"codec": "aac"}},
        audioFilters={"loudnorm": {"integratedLufs": -30, "truePeakDb": -2}},
    )
    recorded = record(tmp_path, spec, media_ms=6000)
    a = streams(recorded)["audio"]
    assert a["sample_rate"] == "48000"  # loudnorm's 192 kHz is resampled back
    assert abs(integrated_loudness(recorded) - (-30)) <= 2.0


def test_several_text_overlays_and_an_image_are_drawn(tmp_path: Path) -> None:
    """Three opaque black boxes with white text (static with characters a filtergraph would parse,
    a UTC clock, a timecode) over the colour bars, and a blue image: each region holds the box's
    black and the text's white, which the source has nowhere."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=blue:s=32x32",
         "-frames:v", "1", str(site / "logo.png")],
        check=True,
    )  # fmt: skip
    boxed = {"fontSize": 20, "fontColor": "white", "box": True, "boxColor": "black", "boxBorder": 6}
    texts = [
        {"text": "Cam 1: 'A', [B]; 100%", "position": {"x": 120, "y": 10}, **boxed},
        {"clock": {"format": "%H:%M:%S"}, "position": {"x": 120, "y": 70}, **boxed},
        {"timecode": {"start": "10:00:00:00", "rate": 25}, "position": {"x": 120, "y": 130}, **boxed},
    ]
    port = free_port(socket.SOCK_DGRAM)
    with serve_directory(site) as base:
        spec = udp_spec(
            port,
            transcoding={"video": {"preset": "ultrafast"}},
            overlay={"imageUrl": f"{base}/logo.png", "position": {"x": 280, "y": 90}},
            textOverlays=texts,
        )
        recorded = record(tmp_path, spec)
    for y in (10, 70, 130):
        dark, bright = black_and_white(gray_region(["-i", str(recorded)], x=122, y=y + 2, w=60, h=14))
        assert dark > 0.3 and bright > 0.05, (y, dark, bright)
        # The source alone has neither black nor white there.
        source = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"]
        assert black_and_white(gray_region(source, x=122, y=y + 2, w=60, h=14)) == (0.0, 0.0)
    rgb = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", "2", "-i", str(recorded), "-vf",
         "crop=2:2:290:100", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    assert rgb[2] > 200 and rgb[0] < 60 and rgb[1] < 60, rgb


def test_an_encoder_missing_from_the_image_fails_the_start_with_its_name(tmp_path: Path) -> None:
    spec = udp_spec(free_port(socket.SOCK_DGRAM), transcoding={"video": {"codec": "h264_amf"}})
    with run_agent(tmp_path, spec) as agent:
        assert agent.proc.wait(timeout=30) == 1
    log = agent.log()
    assert "video encoder h264_amf (transcoding.video.codec) is not in this recorder image's FFmpeg" in log, (
        log
    )
    assert "libx264" in log
