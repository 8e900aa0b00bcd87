"""argv of the encoder controls, picture/sound filters and text overlays (what FFmpeg is asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec, TextOverlay
from recording_operator.recorder import ffmpeg as ff
from recording_operator.recorder.ffmpeg.filters import drawtext, text_file_content


def spec(**fields: Any) -> LocalRecordingSpec:
    base = {"input": {"url": "udp://127.0.0.1:5000"}, "storage": {"vendor": "volume", "volume": {"claimName": "v"}},
            "output": {"format": "mkv", "continuous": True}}  # fmt: skip
    return LocalRecordingSpec.model_validate({**base, **fields})


def argv(s: LocalRecordingSpec, **kw: Any) -> list[str]:
    return ff.build_argv(s, parts_dir=Path("/w/parts"), start_index=0, **kw)


def opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize(
    ("rate_control", "expected", "absent"),
    [
        ({"mode": "CBR", "bitrateKbps": 2000},
         {"-b:v": "2000k", "-minrate": "2000k", "-maxrate": "2000k", "-bufsize": "4000k",
          "-x264-params": "nal-hrd=cbr"}, ["-crf"]),
        ({"mode": "VBR", "bitrateKbps": 2000, "maxrateKbps": 3000, "bufsizeKbps": 1500},
         {"-b:v": "2000k", "-maxrate": "3000k", "-bufsize": "1500k"}, ["-minrate", "-crf", "-x264-params"]),
        ({"mode": "CRF", "crf": 20, "maxrateKbps": 4000},
         {"-crf": "20", "-maxrate": "4000k", "-bufsize": "8000k"}, ["-b:v", "-minrate"]),
    ],
)  # fmt: skip
def test_rate_control(rate_control: dict[str, Any], expected: dict[str, str], absent: list[str]) -> None:
    args = argv(spec(transcoding={"video": {"rateControl": rate_control}}))
    assert {k: opt(args, k) for k in expected} == expected
    assert not set(absent) & set(args)


def test_encoder_tuning_and_a_fixed_gop() -> None:
    video = {"encoder": {"tune": "film", "gopFrames": 48, "threads": 3, "slices": 4}}
    args = argv(spec(transcoding={"video": video}))
    assert (opt(args, "-c:v"), opt(args, "-tune"), opt(args, "-g"), opt(args, "-keyint_min")) == (
        "libx264", "film", "48", "48",
    )  # fmt: skip
    assert (opt(args, "-sc_threshold"), opt(args, "-threads"), opt(args, "-slices")) == ("0", "3", "4")


def test_hevc_scenecut_and_cbr_share_one_x265_params() -> None:
    video = {
        "codec": "hevc",
        "rateControl": {"mode": "CBR", "bitrateKbps": 1000},
        "encoder": {"gopFrames": 50},
    }
    args = argv(spec(transcoding={"video": video}))
    assert args.count("-x265-params") == 1 and opt(args, "-x265-params") == "scenecut=0:strict-cbr=1"


def test_a_hardware_encoder_is_named_as_ffmpeg_names_it_without_software_options() -> None:
    video = {"codec": "hevc_nvenc", "rateControl": {"mode": "CBR", "bitrateKbps": 5000}}
    s = spec(transcoding={"video": video}, output={"format": "mp4", "continuous": True})
    args = argv(s)
    assert ff.video_encoder(s) == "hevc_nvenc"
    assert (opt(args, "-c:v"), opt(args, "-rc"), opt(args, "-tag:v")) == ("hevc_nvenc", "cbr", "hvc1")
    assert "-preset" not in args and "-x265-params" not in args
    assert ff.video_encoder(spec()) is None  # stream copy


def test_video_filters_run_before_scale_fps_and_the_texts() -> None:
    s = spec(
        transcoding={"video": {"width": 640, "fps": 25}},
        videoFilters={"deinterlace": True, "crop": {"width": 800, "height": 600, "x": 8, "y": 4},
                      "rotate": 270, "flip": "horizontal"},
        textOverlays=[{"timecode": {"start": "01:02:03:04", "rate": 25}}],
    )  # fmt: skip
    assert opt(argv(s), "-vf") == (
        "yadif,crop=800:600:8:4,transpose=cclock,hflip,scale=640:-2,fps=25,"
        "drawtext=timecode='01\\:02\\:03\\:04':timecode_rate=25:x=10:y=10:fontsize=24:fontcolor=white"
    )


def test_texts_follow_the_image_overlay_in_one_graph() -> None:
    s = spec(
        transcoding={"video": {}},
        overlay={"imageUrl": "https://img.example/logo.png"},
        textOverlays=[{"text": "A", "box": True, "boxColor": "black", "boxBorder": 2}],
    )
    args = argv(s, overlay_path=Path("/w/overlay.img"), text_files=[Path("/w/text-0.txt")])
    assert opt(args, "-filter_complex") == (
        "[0:v:0]null[base];[base][1:v:0]overlay=10:10:eof_action=repeat,"
        "drawtext=textfile=/w/text-0.txt:expansion=none:x=10:y=10:fontsize=24:fontcolor=white:"
        "box=1:boxcolor=black:boxborderw=2[vout]"
    )


def test_text_files_carry_the_text_never_the_filtergraph() -> None:
    assert text_file_content(TextOverlay(text="a:b,'c' [d]; 100%")) == "a:b,'c' [d]; 100%"
    assert (
        text_file_content(TextOverlay(clock={"format": "%H:%M:%S", "utc": True})) == "%{gmtime:%H\\:%M\\:%S}"
    )
    assert text_file_content(TextOverlay(clock={"utc": False})).startswith("%{localtime:")
    assert text_file_content(TextOverlay(timecode={})) is None
    with pytest.raises(ValueError, match="filtergraph"):
        drawtext(TextOverlay(text="x"), Path("/w/it's.txt"))
    with pytest.raises(ValueError, match="needs its text file"):
        drawtext(TextOverlay(text="x"), None)


def test_audio_filters_and_the_loudnorm_output_rate() -> None:
    s = spec(audio={"channels": [2]}, transcoding={"audio": {"codec": "aac"}},
             audioFilters={"volumeDb": -3.5, "loudnorm": {"integratedLufs": -16}})  # fmt: skip
    args = argv(s)
    assert opt(args, "-af") == "pan=mono|c0=c1,volume=-3.5dB,loudnorm=I=-16:TP=-1:LRA=7"
    assert opt(args, "-ar") == "48000"
    s = spec(transcoding={"audio": {"codec": "aac", "sampleRate": 44100}}, audioFilters={"loudnorm": {}})
    assert opt(argv(s), "-ar") == "44100"


def test_segment_at_clock_time_only_when_segmenting() -> None:
    s = spec(output={"format": "mp4", "segmentDuration": "10m", "segmentAtClockTime": True})
    assert opt(argv(s), "-segment_atclocktime") == "1" and opt(argv(s), "-segment_time") == "600"
    assert "-segment_atclocktime" not in argv(spec(output={"format": "mp4", "segmentDuration": "10m"}))
