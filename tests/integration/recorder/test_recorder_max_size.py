"""`output.maxSize`: short parts joined into files of at most maxSize, checked on real files.

Source: an ffmpeg publisher of 25 fps H.264 (GOP 1 s, CBR 3 Mb/s with filler) + AAC over UDP on
loopback. With 2 s parts of about 750 kB and maxSize 2Mi, a file holds two parts (a third would
pass the limit).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from recording_operator.api.v1alpha1.localrecording import quantity_bytes
from recording_sandbox.ports import free_port
from tests.support.recorder import (
    ffmpeg_child_of,
    non_monotonic_dts,
    probe,
    publisher,
    run_agent,
    volume_spec,
)

SECONDS = 20
MAX_SIZE = "2Mi"


def cbr(mbps: int) -> list[str]:
    """x264 constant bitrate with filler: every part has about `mbps` Mb/s of video."""
    rate = f"{mbps}M"
    return ["-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", "1M", "-x264-params", "nal-hrd=cbr"]


def spec(port: int, fmt: str, max_size: str = MAX_SIZE, **output: str) -> dict[str, object]:
    return {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "output": {"format": fmt, "maxSize": max_size, **output},
        "storage": volume_spec(),
    }


def record(tmp_path: Path, fmt: str, *, mbps: int, seconds: int, max_size: str = MAX_SIZE) -> list[Path]:
    """Record `seconds` of the publisher, stop the agent; the stored files in index order."""
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, spec(port, fmt, max_size)) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=seconds, extra=cbr(mbps))
        pub.wait(timeout=seconds + 60)
        agent.wait_for(lambda s: (s.stats.outTimeMs or 0) >= (seconds - 1) * 1000, timeout=30)
        assert agent.stop() == 0, agent.log()
    extension = "ts" if fmt == "mpegts" else fmt
    return sorted((tmp_path / "volume").rglob(f"*.{extension}"), key=index_of)


def index_of(path: Path) -> int:
    """The `{index}` of a stored file (the default fileNameTemplate ends with it)."""
    return int(path.stem.rsplit("-", 1)[1])


@pytest.mark.parametrize("fmt", ["mpegts", "mp4", "mkv"])
def test_files_stay_within_max_size_without_gap(tmp_path: Path, fmt: str) -> None:
    """Several files, each at most maxSize and playable, numbered without gaps, whose durations add
    up to what was recorded (the joins lose nothing)."""
    stored = record(tmp_path, fmt, mbps=3, seconds=SECONDS)
    assert len(stored) >= 4, stored
    sizes = [p.stat().st_size for p in stored]
    assert max(sizes) <= quantity_bytes(MAX_SIZE), sizes
    assert sum(1 for s in sizes if s > quantity_bytes(MAX_SIZE) // 2) >= 3, sizes  # parts were joined
    durations = []
    for n, path in enumerate(stored):
        info = probe(path)
        # The recording's very first mp4 frame keeps the stream's start offset (a longer first
        # duration), which FFmpeg's null muxer reports once; the seams between joined parts never.
        assert info["decode_errors"] <= (1 if n == 0 and fmt == "mp4" else 0), path
        assert non_monotonic_dts(path) == 0, path
        assert info["streams"] == ["audio", "video"], path
        durations.append(info["duration"])
    # What FFmpeg recorded in all: the publisher's SECONDS, less what it sent before the agent's
    # FFmpeg picked the stream up (up to a GOP).
    assert SECONDS - 1.5 <= sum(durations) <= SECONDS + 0.5, durations
    indices = [index_of(p) for p in stored]
    assert indices == list(range(indices[0], indices[0] + len(indices))), indices


def test_a_part_larger_than_max_size_is_stored_alone(tmp_path: Path) -> None:
    """5 Mb/s in 2 s parts (about 1.25 MB each) against maxSize 1Mi: each part is a file of its own,
    larger than maxSize, not split and not lost."""
    stored = record(tmp_path, "mpegts", mbps=5, seconds=10, max_size="1Mi")
    big = [p for p in stored if p.stat().st_size > quantity_bytes("1Mi")]
    assert len(big) >= 3, [p.stat().st_size for p in stored]
    durations = [probe(p)["duration"] for p in stored]
    assert all(d <= 2.6 for d in durations), durations
    assert sum(durations) >= 8.5, durations


def test_parts_waiting_for_their_file_survive_a_killed_agent(tmp_path: Path) -> None:
    """Agent and FFmpeg killed at once while parts wait for their file (maxSize far away): the next
    agent on the same work dir stores every one of them as a file of its own, nothing lost."""
    port = free_port(socket.SOCK_DGRAM)
    big = spec(port, "mpegts", "100Mi")
    pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=30, extra=cbr(3))
    try:
        with run_agent(tmp_path, big) as first:
            killed = first.wait_for(lambda s: (s.stats.outTimeMs or 0) >= 7000)
            os.kill(ffmpeg_child_of(first.proc.pid), signal.SIGKILL)
            first.proc.kill()
            first.proc.wait()
        assert killed.files == []  # the parts were all waiting for their file
        with run_agent(tmp_path, big, next_index=killed.nextIndex) as second:
            recovered = second.wait_for(lambda s: len(s.files) >= 3 and s.uploadPending == 0)
            assert second.stop() == 0, second.log()
    finally:
        pub.kill()
    left = sorted(recovered.files, key=lambda f: f.index)
    durations = [probe(tmp_path / "volume" / f.key)["duration"] for f in left]
    assert sum(durations) >= killed.stats.outTimeMs / 1000 - 1.5, (durations, killed.stats)
    assert [f.index for f in left] == list(range(killed.nextIndex, killed.nextIndex + len(left)))


def test_with_segment_duration_a_file_closes_at_whichever_comes_first(tmp_path: Path) -> None:
    """maxSize far away and segmentDuration 5s: files close where 5 s segments would (GOP 1 s: at
    the first keyframe at or after each multiple of 5 s), joined from parts of 1.67 s."""
    port = free_port(socket.SOCK_DGRAM)
    timed = spec(port, "mpegts", "100Mi", segmentDuration="5s")
    with run_agent(tmp_path, timed) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=14, extra=cbr(1))
        status = agent.wait_for(lambda s: len([f for f in s.files if f.uploaded]) >= 2, timeout=60)
        pub.kill()
        assert agent.stop() == 0, agent.log()
    first, second = sorted(status.files, key=lambda f: f.index)[:2]
    for f in (first, second):
        assert f.durationMs is not None and 4800 <= f.durationMs <= 6100, f
        assert probe(tmp_path / "volume" / f.key)["decode_errors"] == 0
