"""`/status` stats beyond `-progress`: the input's description (codecs, size, frame rate, audio
format, declared bitrate) from FFmpeg's info-level dump, while warnings and errors stay the error
detail. Source: an ffmpeg publisher of 25 fps 320x180 H.264 + 48 kHz mono AAC 64 kb/s over UDP."""

from __future__ import annotations

import socket
from pathlib import Path

from recording_sandbox.ports import free_port
from tests.support.recorder import publisher, run_agent, volume_spec


def test_the_input_is_described_in_the_stats(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "output": {"format": "mpegts", "segmentDuration": "2s"},
        "storage": volume_spec(),
    }
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=5)
        status = agent.wait_for(lambda s: (s.stats.outTimeMs or 0) >= 1000 and s.stats.input is not None)
        pub.wait(timeout=30)
        # The publisher is gone: FFmpeg's read fails, and its error (not the info-level summary it
        # prints after it) is the error detail.
        ended = agent.wait_for(
            lambda s: (s.lastError or "").startswith("input ended") or "exited" in (s.lastError or "")
        )
        assert agent.stop() == 0, agent.log()
    described = status.stats.input
    assert described is not None
    assert (described.videoCodec, described.width, described.height, described.fps) == (
        "h264",
        320,
        180,
        25.0,
    )
    assert (described.audioCodec, described.sampleRate, described.channelLayout) == ("aac", 48000, "mono")
    assert described.declaredBitrateKbps is not None and 50 <= described.declaredBitrateKbps <= 80
    assert status.stats.dropFrames is not None and status.stats.dupFrames is not None
    assert "Input/output error" in (ended.lastError or ""), ended.lastError
    assert "[info]" not in agent.log() and "muxing overhead" not in (ended.lastError or "")
