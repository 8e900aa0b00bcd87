"""SRT link statistics in `/status` (`stats.srt`): the agent receives SRT with srt-live-transmit and
reports its RTT, packet counters and rate; loss injected by a UDP proxy that drops data packets shows
as lost and retransmitted packets; without srt-live-transmit (or with `srtStatistics: false`) FFmpeg
receives SRT itself and `stats.srt.unavailableReason` says why. Sources: ffmpeg SRT listeners of a
25 fps 320x240 H.264 + AAC test pattern."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from recording_sandbox.ports import free_port
from tests.support.localrecordings import SrtSource
from tests.support.recorder import ffmpeg_child_of, probe, publisher, run_agent, volume_spec

pytestmark = pytest.mark.skipif(shutil.which("srt-live-transmit") is None, reason="srt-tools not installed")


def srt_spec(port: int, **inp: object) -> dict[str, object]:
    return {
        "input": {"url": f"srt://127.0.0.1:{port}", "readTimeout": "3s", "stallTimeout": "4s", **inp},
        "output": {"format": "mpegts", "segmentDuration": "1s"},
        "storage": volume_spec(),
    }


@contextmanager
def lossy_proxy(upstream_port: int, *, drop_every: int) -> Iterator[int]:
    """A UDP proxy on loopback in front of `upstream_port` that drops every `drop_every`-th SRT data
    packet (first bit 0, https://datatracker.ietf.org/doc/html/draft-sharabayko-srt-01 section 3.1)
    going to the caller; control packets (handshakes, ACKs, NAKs) pass. Yields its port."""
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", 0))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.connect(("127.0.0.1", upstream_port))
    stop = threading.Event()

    def run() -> None:
        caller: tuple[str, int] | None = None
        data = 0
        while not stop.is_set():
            ready, _, _ = select.select([front, back], [], [], 0.2)
            for sock in ready:
                try:
                    packet, addr = sock.recvfrom(65536)
                except OSError:
                    continue  # the upstream listener is not up yet (ICMP port unreachable)
                if sock is front:
                    caller = addr
                    back.send(packet)
                elif caller is not None:
                    if not packet[0] & 0x80:
                        data += 1
                        if data % drop_every == 0:
                            continue
                    front.sendto(packet, caller)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield front.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        front.close()
        back.close()


def test_srt_link_statistics_with_a_passphrase(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    passphrase = "correct-horse-battery"
    pub = publisher(f"srt://127.0.0.1:{port}?mode=listener", seconds=20, extra=["-passphrase", passphrase])
    try:
        spec = srt_spec(port, passphraseSecretRef={"name": "s", "key": "p"}, latency="200ms")
        with run_agent(tmp_path, spec, env={"SRT_PASSPHRASE": passphrase}) as agent:
            status = agent.wait_for(
                lambda s: (
                    s.stats.srt is not None
                    and (s.stats.srt.packetsReceived or 0) >= 300
                    and any(f.uploaded for f in s.files)
                )
            )
            assert agent.stop() == 0, agent.log()
            log = agent.log()
    finally:
        pub.kill()
    srt = status.stats.srt
    assert srt is not None and srt.unavailableReason is None
    assert srt.rttMs is not None and srt.rttMs > 0, srt
    assert (srt.bytesReceived or 0) > 300 * 1000 and (srt.receiveRateMbps or 0) > 0, srt
    assert srt.latencyMs == 200, srt
    assert srt.packetsLost == 0 and srt.packetsDropped == 0, srt
    assert "starting SRT relay" in log and passphrase not in log
    stored = tmp_path / "volume" / status.files[0].key
    assert probe(stored)["streams"] == ["audio", "video"]


def test_injected_loss_moves_the_loss_and_retransmit_counters(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    pub = publisher(f"srt://127.0.0.1:{port}?mode=listener", seconds=20)
    try:
        with lossy_proxy(port, drop_every=20) as proxy_port:
            with run_agent(tmp_path, srt_spec(proxy_port)) as agent:
                status = agent.wait_for(
                    lambda s: (
                        s.stats.srt is not None
                        and (s.stats.srt.packetsRetransmitted or 0) >= 5
                        and any(f.uploaded for f in s.files)
                    )
                )
                metrics = {
                    name: float(value)
                    for name, _, value in (
                        line.partition(" ") for line in httpx.get(f"{agent.base}/metrics").text.splitlines()
                    )
                    if name.startswith("recorder_srt_")
                }
                assert agent.stop() == 0, agent.log()
    finally:
        pub.kill()
    srt = status.stats.srt
    assert srt is not None
    assert metrics["recorder_srt_packets_lost_total"] >= 5 and metrics["recorder_srt_rtt_ms"] > 0, metrics
    assert metrics["recorder_srt_packets_retransmitted_total"] >= 5, metrics
    # One data packet in 20 dropped once: each is reported lost and arrives again, retransmitted.
    assert (srt.packetsLost or 0) >= 5 and (srt.packetsReceived or 0) > 100, srt
    stored = tmp_path / "volume" / status.files[0].key
    assert probe(stored)["decode_errors"] == 0


def relay_children(pid: int) -> list[int]:
    """The srt-live-transmit children of process `pid` (from /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if Path(f"/proc/{c}/comm").read_text().startswith("srt-live-trans")]


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting for its parent's wait() does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_ffmpeg_takes_its_relay_along_and_both_start_again(tmp_path: Path) -> None:
    """kill -9 of FFmpeg mid-recording: its relay exits too (none left behind), the next session
    starts a new pair, the link statistics start over and the recording goes on."""
    port = free_port(socket.SOCK_DGRAM)
    source = SrtSource(port)  # an ffmpeg listener exits with its caller: this one starts again
    try:
        with run_agent(tmp_path, srt_spec(port)) as agent:
            agent.wait_for(lambda s: s.stats.srt is not None and (s.stats.srt.packetsReceived or 0) > 0)
            first_relays = relay_children(agent.proc.pid)
            assert len(first_relays) == 1, first_relays
            os.kill(ffmpeg_child_of(agent.proc.pid), signal.SIGKILL)
            status = agent.wait_for(
                lambda s: (
                    s.sessions >= 2
                    and s.stats.srt is not None
                    and (s.stats.srt.packetsReceived or 0) > 0
                    and (s.stats.outTimeMs or 0) >= 2000
                )
            )
            assert not alive(first_relays[0])
            second_relays = relay_children(agent.proc.pid)
            assert len(second_relays) == 1 and second_relays != first_relays, second_relays
            assert agent.stop() == 0, agent.log()
            assert not alive(second_relays[0])
            log = agent.log()
    finally:
        source.close()
    assert status.reconnects >= 1 and status.phase in ("Recording", "Reconnecting")
    assert log.count("starting SRT relay") >= 2
    stored = [f for f in status.files if f.uploaded]
    assert stored and probe(tmp_path / "volume" / stored[-1].key)["decode_errors"] == 0


@pytest.mark.parametrize("case", ["missing", "disabled"])
def test_ffmpeg_receives_srt_itself_without_the_relay(tmp_path: Path, case: str) -> None:
    """`missing`: a PATH with ffmpeg and ffprobe only (an image without srt-tools)."""
    port = free_port(socket.SOCK_DGRAM)
    env: dict[str, str] = {}
    extra: dict[str, object] = {}
    if case == "missing":
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("ffmpeg", "ffprobe"):
            found = shutil.which(tool)
            assert found is not None
            os.symlink(found, bin_dir / tool)
        env["PATH"] = str(bin_dir)
    else:
        extra["srtStatistics"] = False
    pub = publisher(f"srt://127.0.0.1:{port}?mode=listener", seconds=10)
    try:
        with run_agent(tmp_path, srt_spec(port, **extra), env=env) as agent:
            status = agent.wait_for(lambda s: any(f.uploaded for f in s.files))
            assert agent.stop() == 0, agent.log()
            log = agent.log()
    finally:
        pub.kill()
    srt = status.stats.srt
    assert srt is not None and srt.packetsReceived is None and srt.rttMs is None
    expected = "srt-live-transmit is not installed" if case == "missing" else "srtStatistics is false"
    assert expected in (srt.unavailableReason or ""), srt
    assert "starting SRT relay" not in log
    assert status.reconnects == 0 and status.phase != "Failed"


def test_a_listening_recorder_reports_the_link_of_the_caller_that_pushes_to_it(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = {**srt_spec(port), "input": {"listen": {"protocol": "srt", "port": port}, "latency": "300ms"}}
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"srt://127.0.0.1:{port}?mode=caller", seconds=10)
        try:
            status = agent.wait_for(
                lambda s: (
                    s.stats.srt is not None
                    and (s.stats.srt.packetsReceived or 0) > 100
                    and any(f.uploaded for f in s.files)
                )
            )
            assert agent.stop() == 0, agent.log()
        finally:
            pub.kill()
    srt = status.stats.srt
    assert srt is not None and srt.rttMs is not None and srt.latencyMs == 300, srt
    assert probe(tmp_path / "volume" / status.files[0].key)["streams"] == ["audio", "video"]
