"""LocalRecording's encoder controls, filters and text overlays as a user meets them: the API
(the CRD's rules) rejects combinations FFmpeg cannot do with a clear message, and a hardware
encoder the recorder image lacks is reported on the recording's conditions with its name.

The real operator runs against the sandbox (its Kubernetes API evaluates the CRD's CEL rules; the
Pod runner runs the real recorder agent with Debian's FFmpeg). The pictures and sounds themselves
are checked in tests/integration/recorder/test_recorder_processing.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    BUCKET,
    LRECS,
    SrtSource,
    files_of,
    get,
    patch_spec,
    recording,
    status,
)
from tests.support.waiting import wait_for

VIDEO = {"transcoding": {"video": {"codec": "h264"}}}
AUDIO = {"transcoding": {"audio": {"codec": "aac"}}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"videoFilters": {"rotate": 90}}, "videoFilters need transcoding.video: stream copy cannot filter video"),
        ({"textOverlays": [{"text": "x"}]}, "textOverlays need transcoding.video: stream copy cannot draw"),
        ({"audioFilters": {"volumeDb": -6}}, "audioFilters need transcoding.audio: stream copy cannot filter"),
        ({**VIDEO, "textOverlays": [{"text": "x", "clock": {}}]}, "exactly one of text, clock or timecode"),
        ({"transcoding": {"video": {"rateControl": {"mode": "CBR"}}}}, "CBR and VBR need bitrateKbps"),
        ({"transcoding": {"video": {"rateControl": {"mode": "CRF"}}}}, "CRF needs crf"),
        ({"transcoding": {"video": {"crf": 20, "rateControl": {"mode": "CRF", "crf": 20}}}},
         "set rateControl or bitrateKbps/crf, not both"),
        ({"transcoding": {"video": {"codec": "h264_nvenc", "rateControl": {"mode": "CRF", "crf": 20}}}},
         "rateControl CRF is for the software encoders"),
        ({"transcoding": {"video": {"codec": "h264_nvenc", "encoder": {"tune": "film"}}}},
         "encoder.tune is for the software encoders"),
        ({"transcoding": {"video": {"codec": "hevc", "encoder": {"tune": "stillimage"}}}},
         "libx265 has no tune film or stillimage"),
        ({"transcoding": {"video": {"keyframeInterval": "2s", "encoder": {"gopFrames": 50}}}},
         "not both"),
        ({"transcoding": {"video": {"rateControl": {"mode": "VBR", "bitrateKbps": 2000, "maxrateKbps": 1000}}}},
         "maxrateKbps must be at least bitrateKbps"),
        ({**VIDEO, "textOverlays": [{"timecode": {"start": "01:00:00;00"}}]}, "timecode.start"),
        ({**VIDEO, "textOverlays": [{"text": "x", "fontColor": "red:box=1"}]}, "fontColor"),
        ({"transcoding": {"video": {"codec": "h264_vaapi"}}}, "codec"),
        ({"output": {"format": "hls", "segmentAtClockTime": True, "fileNameTemplate": "{index}"}},
         "segmentAtClockTime cuts segments: not with continuous or hls"),
        ({"output": {"continuous": True, "segmentAtClockTime": True, "fileNameTemplate": "{index}"}},
         "segmentAtClockTime cuts segments: not with continuous or hls"),
        ({"output": {"continuous": True, "maxSize": "500Mi", "fileNameTemplate": "{index}"}},
         "maxSize splits the recording into files: not with continuous"),
    ],
)  # fmt: skip
def test_the_api_rejects_what_ffmpeg_cannot_do(
    sandbox: Sandbox, kube: httpx.Client, changes: dict[str, Any], message: str
) -> None:
    body = recording("impossible", sandbox.endpoints["s3"], 9, **changes)
    response = kube.post(LRECS, json=body)
    assert response.status_code == 422 and message in response.text, response.text


def test_the_api_accepts_every_control_together(sandbox: Sandbox, kube: httpx.Client) -> None:
    video = {
        "codec": "h264",
        "width": 640,
        "height": 360,
        "fps": 25,
        "pixelFormat": "yuv420p",
        "rateControl": {"mode": "VBR", "bitrateKbps": 1500, "maxrateKbps": 2000, "bufsizeKbps": 4000},
        "encoder": {"tune": "zerolatency", "gopFrames": 50, "threads": 2, "slices": 4},
    }
    body = recording(
        "every-control",
        sandbox.endpoints["s3"],
        9,
        active=False,
        transcoding={"video": video, "audio": {"codec": "aac", "sampleRate": 44100, "channels": 1}},
        videoFilters={
            "deinterlace": True,
            "crop": {"width": 640, "height": 360},
            "rotate": 180,
            "flip": "none",
        },
        audioFilters={"volumeDb": -3, "loudnorm": {"integratedLufs": -16}},
        textOverlays=[
            {"text": "Studio A", "box": True},
            {
                "clock": {"format": "%Y-%m-%d %H:%M:%S"},
                "position": {"x": 10, "y": 40},
                "fontColor": "#ffcc00",
            },
            {"timecode": {"start": "10:00:00:00", "rate": 25}, "position": {"x": 10, "y": 70}},
        ],
    )
    response = kube.post(LRECS, json=body)
    assert response.status_code == 201, response.text
    assert kube.delete(f"{LRECS}/every-control").status_code in (200, 202)
    wait_for(lambda: get(kube, "every-control") is None, timeout=30, what="deletion")


def test_a_hardware_encoder_the_image_lacks_is_named_on_the_conditions(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    name = "no-amf"
    body = recording(name, sandbox.endpoints["s3"], source.port, transcoding={"video": {"codec": "h264_amf"}})
    assert kube.post(LRECS, json=body).status_code == 201

    # The agent checks `ffmpeg -encoders` before recording and exits; its termination message says why.
    error = wait_for(lambda: "h264_amf" in (e := status(kube, name).get("lastError") or "") and e,
                     timeout=60, what="lastError naming the missing encoder")  # fmt: skip
    assert "video encoder h264_amf (transcoding.video.codec) is not in this recorder image's FFmpeg" in error
    recording_condition = next(c for c in status(kube, name)["conditions"] if c["type"] == "Recording")
    assert recording_condition["status"] == "False" and recording_condition["reason"] == "RecorderFailed"
    assert "h264_amf" in recording_condition["message"]
    assert kube.delete(f"{LRECS}/{name}").status_code in (200, 202)
    wait_for(lambda: get(kube, name) is None, timeout=60, what="deletion")


def test_a_rotated_overlaid_recording_is_stored_and_its_input_described(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, tmp_path: Path
) -> None:
    """Through the operator: the stored segments are the source (320x180) turned on its side (180x320),
    and `status.stats.input` describes the source."""
    name = "turned"
    body = recording(
        name,
        sandbox.endpoints["s3"],
        source.port,
        transcoding={"video": {"preset": "ultrafast", "encoder": {"tune": "zerolatency"}}},
        videoFilters={"rotate": 90},
        textOverlays=[{"clock": {}, "box": True}],
    )
    assert kube.post(LRECS, json=body).status_code == 201
    described = wait_for(lambda: (status(kube, name).get("stats") or {}).get("input"), timeout=40,
                         what="status.stats.input")  # fmt: skip
    assert (described["width"], described["height"], described["videoCodec"]) == (320, 180, "h264")
    (first, *_) = wait_for(lambda: files_of(kube, name), timeout=40, what="a RecordedFile")
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=60, what="phase Stopped")
    local = tmp_path / "first.mp4"
    s3.download_file(BUCKET, first["spec"]["location"]["key"], str(local))
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "json", str(local)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert json.loads(out)["streams"][0] == {"width": 180, "height": 320}
    assert kube.delete(f"{LRECS}/{name}").status_code in (200, 202)
    wait_for(lambda: get(kube, name) is None, timeout=60, what="deletion")
