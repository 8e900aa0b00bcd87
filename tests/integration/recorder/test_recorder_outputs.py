"""Output formats, segment timing, crash survival, seamless restarts and the agent's HTTP endpoints.

Source: an ffmpeg publisher of 25 fps H.264 (GOP 1 s unless stated) + AAC over UDP on loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from recording_sandbox.ports import free_port
from tests.support.recorder import (
    Agent,
    non_monotonic_dts,
    probe,
    publisher,
    run_agent,
    serve_directory,
    volume_spec,
)

EXPECTED = {
    "mp4": (["audio", "video"], "mov,mp4,m4a,3gp,3g2,mj2"),
    "mkv": (["audio", "video"], "matroska,webm"),
    "flv": (["audio", "video"], "flv"),
    "mpegts": (["audio", "video"], "mpegts"),
    "mp3": (["audio"], "mp3"),
    "avi": (["audio", "video"], "avi"),
}


def udp_spec(port: int, **fields: Any) -> dict[str, Any]:
    return {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "storage": volume_spec(),
        **fields,
    }


def stored(tmp: Path, agent_status: Any) -> list[Path]:
    return [tmp / "volume" / f.key for f in agent_status.files]


def ffmpeg_child(agent: Agent) -> int:
    """PID of the agent's ffmpeg child (from /proc)."""
    children = Path(f"/proc/{agent.proc.pid}/task/{agent.proc.pid}/children").read_text().split()
    for pid in children:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg":
            return int(pid)
    raise AssertionError("no ffmpeg child")


@pytest.mark.parametrize("fmt", ["mp4", "mkv", "flv", "mpegts", "mp3", "avi"])
def test_continuous_format_plays(tmp_path: Path, fmt: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, udp_spec(port, output={"format": fmt})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=6)
        agent.wait_for(lambda s: (s.stats.outTimeMs or 0) >= 2500)
        assert agent.stop() == 0, agent.log()
        pub.kill()
        status = agent.status() if agent.proc.poll() is None else None
    assert status is None  # the agent exited
    files = sorted((tmp_path / "volume" / "team").iterdir())
    assert len(files) == 1 and files[0].suffix == {"mpegts": ".ts"}.get(fmt, f".{fmt}")
    info = probe(files[0])
    streams, container = EXPECTED[fmt]
    assert info["streams"] == streams and info["format"] == container, info
    assert info["decode_errors"] == 0 and info["duration"] >= 2.0, info
    assert list((tmp_path / "work" / "parts").glob("seg_*")) == []  # deleted locally once stored


def test_hls_event_playlist_and_segments(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, udp_spec(port, output={"format": "hls", "segmentDuration": "1s"})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=5)
        agent.wait_for(lambda s: s.filesClosed >= 2)
        assert agent.stop() == 0, agent.log()
        pub.kill()
    playlist = tmp_path / "volume" / "team" / "rec-00000.m3u8"
    text = playlist.read_text()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" in text
    names = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(names) >= 3 and all((playlist.parent / n).exists() for n in names)
    info = probe(playlist)
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0 and info["duration"] >= 2.0


def test_segments_stream_copy_within_one_gop(tmp_path: Path) -> None:
    """Stream copy cuts at the first keyframe at/after each multiple of segment_time (≤ 1 GOP late)."""
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(port, output={"format": "mpegts", "segmentDuration": "2s"})
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=8, extra=["-g", "30"])  # GOP 1.2 s
        status = agent.wait_for(lambda s: s.filesClosed >= 3)
        assert agent.stop() == 0
        pub.kill()
    full = status.files[:3]
    # Cuts follow keyframes on an absolute grid (measured with Debian's FFmpeg 5.1: 12.02/9/9/3 s with T=10, GOP=3 s): the end of segment k lies in
    # [(k+1)·T, (k+1)·T + GOP], and the error does not accumulate.
    end = 0
    for k, f in enumerate(full):
        assert f.durationMs is not None
        end += f.durationMs
        assert (k + 1) * 2000 - 40 <= end <= (k + 1) * 2000 + 1200 + 40, [x.durationMs for x in full]
    for f, path in zip(full, stored(tmp_path, status)[:3], strict=True):
        info = probe(path)
        assert info["decode_errors"] == 0 and abs(info["duration"] * 1000 - (f.durationMs or 0)) < 1300


def test_segments_exact_with_transcoding_and_forced_keyframes(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(
        port,
        output={"format": "mpegts", "segmentDuration": "1s"},
        transcoding={"video": {"codec": "h264", "preset": "ultrafast", "width": 160, "height": 90}},
    )
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(
            f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=6, extra=["-g", "75"]
        )  # source GOP 3 s
        status = agent.wait_for(lambda s: s.filesClosed >= 3)
        assert agent.stop() == 0
        pub.kill()
    for f in status.files[1:3]:
        assert f.durationMs is not None and abs(f.durationMs - 1000) <= 40, (
            status.files
        )  # one frame at 25 fps
    info = probe(stored(tmp_path, status)[1])
    assert info["codecs"] == ["aac", "h264"] and info["decode_errors"] == 0


def test_kill_9_of_ffmpeg_mid_segment(tmp_path: Path) -> None:
    """Every reported file stays intact; the in-flight segment is closed as partial and plays."""
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(port, output={"format": "mp4", "segmentDuration": "2s"})
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=10)
        agent.wait_for(lambda s: s.filesClosed >= 1 and (s.stats.outTimeMs or 0) >= 3000)
        os.kill(ffmpeg_child(agent), signal.SIGKILL)
        status = agent.wait_for(lambda s: any(f.partial for f in s.files) and s.uploadPending == 0)
        assert status.sessions >= 2 or status.reconnects >= 1  # the agent restarted ffmpeg
        assert agent.stop() == 0
        pub.kill()
    partial = next(f for f in status.files if f.partial)
    for f in status.files:
        info = probe(tmp_path / "volume" / f.key)
        assert info["streams"] == ["audio", "video"], (f, info)
        assert info["decode_errors"] <= (1 if f.partial else 0), (f, info)
    assert partial.durationMs is not None and partial.durationMs > 0
    indexes = [f.index for f in status.files]
    assert indexes == sorted(set(indexes))


def test_the_next_agent_stores_what_a_killed_agent_left_in_the_work_dir(tmp_path: Path) -> None:
    """Agent and FFmpeg killed at once (the container gone, its work volume kept): the next agent on the
    same work dir stores the in-flight segment first, numbered from the index it was given (the
    controller records files from there on), then records after it."""
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(port, output={"format": "mp4", "segmentDuration": "30s"})
    pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=30)
    try:
        with run_agent(tmp_path, spec, next_index=5) as first:
            killed = first.wait_for(lambda s: (s.stats.outTimeMs or 0) >= 6000)
            os.kill(ffmpeg_child(first), signal.SIGKILL)
            first.proc.kill()
            first.proc.wait()
        assert killed.files == []  # nothing closed yet: a continuous or per-file upload would lose it all
        # The controller numbers the next Pod after every index it has seen (here: up to 8).
        with run_agent(tmp_path, spec, next_index=9) as second:
            recovered = second.wait_for(lambda s: len(s.files) >= 1 and s.uploadPending == 0)
            second.wait_for(lambda s: s.sessions >= 1 and (s.stats.outTimeMs or 0) >= 1000)
            assert second.stop() == 0
    finally:
        pub.kill()
    (left,) = recovered.files
    assert left.index == 9 and left.partial
    info = probe(tmp_path / "volume" / left.key)
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] <= 1, info
    assert info["duration"] >= killed.stats.outTimeMs / 1000 - 1.5, (info, killed.stats)
    names = sorted(p.name for p in (tmp_path / "volume" / "team").iterdir())
    assert [n.rsplit("-", 1)[-1] for n in names] == ["00009.mp4", "00010.mp4"], names


def test_seamless_continuous_joined_and_numbering_continues(tmp_path: Path) -> None:
    """Input interrupted and resumed: one joined file, monotonic DTS, no part lost."""
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(port, output={"format": "mp4"}, seamless=True)
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        first = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=3)
        first.wait()
        agent.wait_for(lambda s: s.nextIndex >= 1 and s.sessions >= 2)  # part 0 closed, ffmpeg restarted
        second = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=3)
        agent.wait_for(
            lambda s: s.phase == "Recording" and s.sessions >= 2 and (s.stats.outTimeMs or 0) >= 1500
        )
        second.wait()
        assert agent.stop() == 0, agent.log()
    files = sorted((tmp_path / "volume" / "team").iterdir())
    assert len(files) == 1, files
    info = probe(files[0])
    assert info["decode_errors"] == 0 and info["duration"] >= 4.0, info
    assert non_monotonic_dts(files[0]) == 0


def test_seamless_segments_numbering_continues_after_interruption(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = udp_spec(port, output={"format": "mpegts", "segmentDuration": "1s"}, seamless=True)
    with run_agent(tmp_path, spec, next_index=40) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=3).wait()
        agent.wait_for(lambda s: s.sessions >= 2)
        publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=3).wait()
        agent.wait_for(lambda s: s.sessions >= 3)  # second input ended too
        status = agent.status()
        assert agent.stop() == 0
    indexes = [f.index for f in status.files]
    assert indexes == list(range(40, 40 + len(indexes))) and len(indexes) >= 4, status.files
    on_disk = sorted(p.name for p in (tmp_path / "volume" / "team").iterdir())
    assert on_disk == sorted(f.name for f in status.files)
    for f in status.files:
        assert probe(tmp_path / "volume" / f.key)["decode_errors"] == 0


def test_status_metrics_healthz_over_http(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, udp_spec(port, output={"format": "mpegts", "segmentDuration": "1s"})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        assert httpx.get(f"{agent.base}/healthz").text == "ok"
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=5)
        status = agent.wait_for(lambda s: s.filesClosed >= 2 and s.uploadPending == 0)
        assert status.phase == "Recording" and status.stats.speed is not None and status.stats.outTimeMs
        f = status.files[0]
        assert f.name.startswith("rec-") and f.sizeBytes > 0 and f.durationMs and f.startedAt.endswith("Z")
        since = httpx.get(f"{agent.base}/status", params={"sinceIndex": 1}).json()
        assert since["files"][0]["index"] == 1 and since["filesClosed"] == status.filesClosed
        assert httpx.get(f"{agent.base}/status", params={"sinceIndex": "x"}).status_code == 400
        metrics = httpx.get(f"{agent.base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        for name in ("recorder_fps", "recorder_speed", "recorder_out_time_seconds", "recorder_total_size_bytes",
                     "recorder_bitrate_kbps", "recorder_reconnects_total", "recorder_files_closed_total",
                     "recorder_upload_bytes_total", "recorder_upload_failures_total"):  # fmt: skip
            assert f"\n{name}" in text, name
        closed = next(ln for ln in text.splitlines() if ln.startswith("recorder_files_closed_total"))
        assert float(closed.split()[1]) >= 2
        pub.kill()
        assert agent.stop() == 0


def test_bitrate_is_measured_under_stream_copy(tmp_path: Path) -> None:
    # Stream copy into the segment muxer: FFmpeg itself prints bitrate=N/A.
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, udp_spec(port, output={"format": "mpegts", "segmentDuration": "2s"})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=12)
        status = agent.wait_for(lambda s: s.filesClosed >= 3 and s.stats.bitrateKbps is not None)
        measured = status.stats.bitrateKbps
        assert measured is not None
        # The rate of the stored files themselves (bytes over their media duration).
        closed = [f for f in status.files if f.durationMs]
        stored_kbps = sum(f.sizeBytes for f in closed) * 8 / sum(f.durationMs or 0 for f in closed)
        assert 0.75 * stored_kbps <= measured <= 1.25 * stored_kbps, (measured, stored_kbps)
        metric = next(
            ln
            for ln in httpx.get(f"{agent.base}/metrics").text.splitlines()
            if ln.startswith("recorder_bitrate_kbps")
        )
        assert float(metric.split()[1]) > 0
        pub.kill()
        assert agent.stop() == 0


def test_overlay_image_is_downloaded_and_drawn(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=blue:s=64x64",
         "-frames:v", "1", str(site / "logo.png")],
        check=True,
    )  # fmt: skip
    port = free_port(socket.SOCK_DGRAM)
    with serve_directory(site) as base:
        overlay = {"imageUrl": f"{base}/logo.png", "position": {"x": 20, "y": 30}}
        with run_agent(tmp_path, udp_spec(port, overlay=overlay)) as agent:
            agent.wait_for(lambda s: s.sessions >= 1)
            pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=6)
            agent.wait_for(lambda s: (s.stats.outTimeMs or 0) >= 2500)
            assert agent.stop() == 0, agent.log()
            pub.kill()
    (recorded,) = sorted((tmp_path / "volume" / "team").iterdir())
    assert probe(recorded)["decode_errors"] == 0
    # One pixel inside the logo (x 20..83, y 30..93) of the first frame is the logo's blue (the
    # source is red there).
    pixel = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(recorded), "-vf",
         "crop=2:2:50:60", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    red, green, blue = pixel[:3]
    assert blue > 200 and red < 60 and green < 60, pixel


def test_a_missing_overlay_image_fails_the_start_clearly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with serve_directory(site) as base:
        spec = udp_spec(free_port(socket.SOCK_DGRAM), overlay={"imageUrl": f"{base}/missing.png"})
        with run_agent(tmp_path, spec) as agent:
            assert agent.proc.wait(timeout=30) == 1
    assert "overlay image: HTTP 404" in agent.log()
