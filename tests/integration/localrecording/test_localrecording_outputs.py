"""One capture, three outputs, through the operator: an mp4 archive, an HLS event playlist a player
follows from the bucket while recording, and jpg thumbnails, every file in S3 with a RecordedFile
labelled with its output, numbering continuing after the recorder is killed; the API rejects
impossible combinations with a clear message.

Real operator against the sandbox (its Kubernetes API evaluates the CRD's CEL rules), the Pod
runner running the real recorder agent with Debian's FFmpeg, an SRT test source, moto's S3; the
media checks are ffprobe's.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    BUCKET,
    LRECS,
    NS,
    SrtSource,
    files_of,
    get,
    index_of,
    objects,
    patch_spec,
    recording,
    status,
)
from tests.support.recorder import picture, probe, probe_live
from tests.support.waiting import wait_for

TEMPLATE = "{recording}-{output}-{index}"
OUTPUTS = [
    {"name": "live", "format": "hls", "segmentDuration": "2s", "fileNameTemplate": TEMPLATE},
    {"name": "thumbs", "format": "jpg", "segmentDuration": "2s", "width": 160, "fileNameTemplate": TEMPLATE},
]
OUTPUT_LABEL = "recording.mediaops.io/output"


def per_output(kube: httpx.Client, name: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for f in files_of(kube, name):
        found.setdefault(f["metadata"]["labels"][OUTPUT_LABEL], []).append(f)
    return found


def fetch_playlist(s3: Any, key: str, into: Path) -> Path:
    """The playlist at `key` and every segment it lists, downloaded from the bucket into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    local = into / key.rsplit("/", 1)[1]
    local.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    folder = key.rsplit("/", 1)[0]
    for line in local.read_text().splitlines():
        if line and not line.startswith("#"):
            s3.download_file(BUCKET, f"{folder}/{line}", str(into / line))
    return local


def test_an_archive_a_live_playlist_and_thumbnails_from_one_capture(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, tmp_path: Path
) -> None:
    name = "multi"
    output = {"format": "mp4", "segmentDuration": "4s", "fileNameTemplate": TEMPLATE}
    body = recording(name, sandbox.endpoints["s3"], source.port, output=output, additionalOutputs=OUTPUTS)
    response = kube.post(LRECS, json=body)
    assert response.status_code == 201, response.text

    wait_for(
        lambda: (o := per_output(kube, name)) and len(o.get("main", [])) >= 1 and len(o.get("live", [])) >= 2
        and len(o.get("thumbs", [])) >= 2 and o,
        timeout=60, what="RecordedFiles of every output",
    )  # fmt: skip
    # A player follows the playlist in the bucket while the recording goes on.
    playlist_key = f"sandbox/{name}/{name}-live-00000.m3u8"
    following = fetch_playlist(s3, playlist_key, tmp_path / "following")
    assert (
        "#EXT-X-PLAYLIST-TYPE:EVENT" in following.read_text()
        and "#EXT-X-ENDLIST" not in following.read_text()
    )
    assert probe_live(following, seconds=2) == {"streams": ["audio", "video"], "decode_errors": 0}

    # kill -9 of the agent: the next Pod goes on numbering every output after what was recorded.
    pod = status(kube, name)["podName"]
    pid = sandbox.pods.pid_of(NS, pod)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    before = max(index_of(f) for files in per_output(kube, name).values() for f in files)
    wait_for(
        lambda: (s := status(kube, name)).get("podName") != pod and s.get("phase") == "Recording",
        timeout=60, what="the next recorder Pod recording",
    )  # fmt: skip
    # Two live segments (2 s each) from the next Pod before the stop, so its final playlist holds more
    # than one keyframe-cut segment (the stop follows within a poll: one segment may be 1.8 s).
    wait_for(
        lambda: all(
            len([f for f in files if index_of(f) > before]) >= (2 if output_name == "live" else 1)
            for output_name, files in per_output(kube, name).items()
        ),
        timeout=60, what="files of every output from the next Pod",
    )  # fmt: skip
    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=90, what="phase Stopped")

    outputs = per_output(kube, name)
    assert set(outputs) == {"main", "live", "thumbs"}
    summary = {o["name"]: o["count"] for o in status(kube, name)["outputs"]}
    assert summary == {n: len(fs) for n, fs in outputs.items()}, summary
    stored = objects(s3, name)
    media = sorted(k for k in stored if not k.endswith(".m3u8"))
    assert sorted(f["spec"]["location"]["key"] for fs in outputs.values() for f in fs) == media
    indices = [index_of(f) for fs in outputs.values() for f in fs]
    assert len(indices) == len(set(indices)), "an index names one file across all outputs"
    for output_name, files in outputs.items():
        for f in files:
            key = f["spec"]["location"]["key"]
            assert key.startswith(f"sandbox/{name}/{name}-{output_name}-"), key
        assert any(index_of(f) > before for f in files), output_name
    archive = outputs["main"][0]["spec"]["location"]["key"]
    s3.download_file(BUCKET, archive, str(tmp_path / "archive.mp4"))
    info = probe(tmp_path / "archive.mp4")
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0 and info["duration"] >= 2.0, (
        info
    )
    for f in outputs["thumbs"]:
        local = tmp_path / f["spec"]["location"]["key"].rsplit("/", 1)[1]
        s3.download_file(BUCKET, f["spec"]["location"]["key"], str(local))
        assert picture(local) == {"codec_name": "mjpeg", "width": 160, "height": 90}
        assert f["spec"]["format"] == "jpg"
    # The second Pod's playlist is final after the stop, and plays from the bucket.
    playlists = sorted(k for k in stored if k.endswith(".m3u8") and f"{name}-live-" in k)
    assert len(playlists) == 2, playlists
    final = fetch_playlist(s3, playlists[-1], tmp_path / "final")
    assert final.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    info = probe(final)
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0 and info["duration"] >= 2.0, (
        info
    )
    assert kube.delete(f"{LRECS}/{name}").status_code in (200, 202)
    wait_for(lambda: get(kube, name) is None, timeout=60, what="deletion")


@pytest.mark.parametrize(
    ("outputs", "changes", "message"),
    [
        ([{"name": "live", "format": "hls"}, {"name": "live", "format": "jpg"}], {},
         "additionalOutputs names must be unique"),
        ([{"name": "thumbs", "format": "jpg"}], {"output": {"format": "mp3", "fileNameTemplate": "{index}"}},
         "jpg thumbnails need video: output.format mp3 records audio only"),
        ([{"name": "live", "format": "hls", "segmentAtClockTime": True}], {},
         "segmentAtClockTime is a segment muxer option: not for hls or jpg outputs"),
        ([{"name": "live", "format": "hls", "width": 320}], {}, "width is for jpg thumbnails only"),
        ([{"name": "main", "format": "hls"}], {}, "additionalOutputs name main is output's own"),
        ([{"name": "t", "format": "jpg", "fileNameTemplate": "{recording}-{index}"}], {},
         "an additional output's fileNameTemplate must contain {index} and {output}"),
        ([{"name": f"o{i}", "format": "mpegts"} for i in range(4)], {}, "additionalOutputs"),
    ],
)  # fmt: skip
def test_the_api_rejects_impossible_outputs(
    sandbox: Sandbox, kube: httpx.Client, outputs: list[dict[str, Any]], changes: dict[str, Any], message: str
) -> None:
    body = recording("impossible-outputs", sandbox.endpoints["s3"], 9, additionalOutputs=outputs, **changes)
    response = kube.post(LRECS, json=body)
    assert response.status_code == 422 and message in response.text, response.text
