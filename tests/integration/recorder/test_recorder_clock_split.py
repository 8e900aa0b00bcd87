"""`output.segmentAtClockTime`: segments cut at wall-clock multiples of `segmentDuration`
(`-segment_atclocktime 1`), checked on the durations of real segments.

Source: an ffmpeg publisher of 25 fps H.264 (GOP 1 s) + AAC over UDP on loopback.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from recording_sandbox.ports import free_port
from tests.support.recorder import probe, publisher, run_agent, volume_spec

PERIOD_S = 5


def spec(port: int, *, at_clock: bool) -> dict[str, object]:
    return {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s", "stallTimeout": "4s"},
        "output": {"format": "mpegts", "segmentDuration": f"{PERIOD_S}s", "segmentAtClockTime": at_clock},
        "storage": volume_spec(),
    }


@pytest.mark.parametrize("at_clock", [True, False])
def test_segments_cut_at_wall_clock_multiples(tmp_path: Path, at_clock: bool) -> None:
    """The publisher starts 2 s after a wall-clock multiple of 5 s: aligned, the first file ends at
    the next multiple (about 3 s of media, up to a GOP late), the next ones last 5 s; not aligned,
    the first file lasts 5 s too."""
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, spec(port, at_clock=at_clock)) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        time.sleep((2.0 - time.time() % PERIOD_S) % PERIOD_S)  # the phase of the start, not a speed check
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=16)
        status = agent.wait_for(lambda s: len([f for f in s.files if f.uploaded]) >= 2, timeout=40)
        pub.kill()
        assert agent.stop() == 0, agent.log()
    first, second = sorted(status.files, key=lambda f: f.index)[:2]
    assert first.durationMs is not None and second.durationMs is not None
    if at_clock:
        assert 1500 <= first.durationMs <= 4200, first
    else:
        assert first.durationMs >= 4800, first
    assert 4000 <= second.durationMs <= 6000, second
    assert probe(tmp_path / "volume" / first.key)["decode_errors"] == 0
