"""Real recordings from every input type that can be served on loopback here, pull and listen.

Each test starts an ffmpeg publisher (or server) on 127.0.0.1, runs the agent as its own process,
waits until a first closed file is stored (vendor volume), stops it with SIGTERM, and probes what
was stored: it opens, has video and audio, decodes without errors.
"""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .recorder_support import H264, SOURCE, Agent, free_port, probe, publisher, run_agent, volume_spec

OUTPUT = {"format": "mpegts", "segmentDuration": "1s"}


def record_one(agent: Agent, tmp: Path) -> Path:
    """Wait for a first stored file, stop the agent (exit 0) and return the stored path."""
    status = agent.wait_for(lambda s: any(f.uploaded for f in s.files))
    assert agent.stop() == 0, agent.log()
    first = status.files[0]
    assert first.location.startswith("volume://recordings/team/")
    return tmp / "volume" / first.key


def check_media(path: Path, streams: list[str] = ["audio", "video"]) -> dict[str, Any]:  # noqa: B006
    info = probe(path)
    assert info["streams"] == streams, info
    assert info["decode_errors"] == 0, info
    assert info["duration"] > 0.5, info
    return info


def spec_for(inp: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": {"readTimeout": "3s", "stallTimeout": "4s", **inp},
        "output": OUTPUT,
        "storage": volume_spec(),
    }


def test_pull_udp(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with run_agent(tmp_path, spec_for({"url": f"udp://127.0.0.1:{port}"})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=4)
        check_media(record_one(agent, tmp_path))
        pub.kill()


def test_pull_rtp_mpegts(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM) & ~1  # RTP uses an even port (+1 for RTCP)
    with run_agent(tmp_path, spec_for({"url": f"rtp://127.0.0.1:{port}"})) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"rtp://127.0.0.1:{port}", seconds=4, fmt="rtp_mpegts")
        check_media(record_one(agent, tmp_path))
        pub.kill()


def test_pull_rtp_h264_with_sdp(tmp_path: Path) -> None:
    """H.264 RTP payload (not MPEG-TS): the spec carries the SDP the publisher wrote."""
    port = free_port(socket.SOCK_DGRAM) & ~1
    sdp_file = tmp_path / "pub.sdp"
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE[:5], "-t", "6", *H264,
            "-an", "-f", "rtp", "-sdp_file", str(sdp_file), f"rtp://127.0.0.1:{port}"]  # fmt: skip
    pub = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not sdp_file.exists() or not sdp_file.read_text():
            time.sleep(0.05)
        sdp = sdp_file.read_text()
        with run_agent(tmp_path, spec_for({"url": f"rtp://127.0.0.1:{port}", "sdp": sdp})) as agent:
            check_media(record_one(agent, tmp_path), ["video"])
    finally:
        pub.kill()


def test_pull_srt(tmp_path: Path) -> None:
    """The publisher is the SRT listener; the agent calls it with a passphrase from the environment."""
    port = free_port(socket.SOCK_DGRAM)
    passphrase = "correct-horse-battery"
    pub = publisher(f"srt://127.0.0.1:{port}?mode=listener", seconds=8, extra=["-passphrase", passphrase])
    try:
        spec = spec_for({"url": f"srt://127.0.0.1:{port}", "passphraseSecretRef": {"name": "s", "key": "p"}})
        with run_agent(tmp_path, spec, env={"SRT_PASSPHRASE": passphrase}) as agent:
            path = record_one(agent, tmp_path)
            assert passphrase not in agent.log()
            check_media(path)
    finally:
        pub.kill()


def test_pull_rtmp(tmp_path: Path) -> None:
    """The publisher serves RTMP (`-listen 1`); the agent plays from it."""
    port = free_port()
    pub = publisher(f"rtmp://127.0.0.1:{port}/live/cam", seconds=8, fmt="flv", extra=["-listen", "1"])
    try:
        time.sleep(0.3)
        with run_agent(tmp_path, spec_for({"url": f"rtmp://127.0.0.1:{port}/live/cam"})) as agent:
            check_media(record_one(agent, tmp_path))
    finally:
        pub.kill()


@pytest.fixture
def hls_server(tmp_path: Path) -> Iterator[str]:
    """A directory with a 6 s HLS recording (1 s segments) served over HTTP on loopback."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE[1:], "-t", "6", *H264,
         "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", str(site / "index.m3u8")],
        check=True,
    )  # fmt: skip
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.m3u8"
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_pull_hls_over_http(tmp_path: Path, hls_server: str) -> None:
    with run_agent(tmp_path, spec_for({"url": hls_server})) as agent:
        check_media(record_one(agent, tmp_path))


def test_pull_rist(tmp_path: Path) -> None:
    """The publisher listens (`rist://@`); the agent connects as a RIST receiver."""
    port = free_port(socket.SOCK_DGRAM) & ~1
    pub = publisher(f"rist://@127.0.0.1:{port}", seconds=8)
    try:
        with run_agent(tmp_path, spec_for({"url": f"rist://127.0.0.1:{port}"})) as agent:
            check_media(record_one(agent, tmp_path))
    finally:
        pub.kill()


def test_pull_rtsp() -> None:
    """RTSP pull needs an RTSP server: FFmpeg cannot serve RTSP to a puller (dependency-notes.md)."""
    try:
        import gi  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pytest.skip(
            "no RTSP server here: GStreamer's gst-rtsp-server needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 "
            "and gstreamer1.0-plugins-{base,good,ugly,bad}, which are not installed (argv covered by unit tests)"
        )
    pytest.skip("python3-gi is importable, but the GstRtspServer harness is not part of this suite yet")


@pytest.mark.parametrize("protocol", ["srt", "rtmp", "udp", "rist"])
def test_listen(tmp_path: Path, protocol: str) -> None:
    """The agent is the server; a publisher pushes to it."""
    port = free_port(socket.SOCK_DGRAM if protocol in ("srt", "udp", "rist") else socket.SOCK_STREAM)
    if protocol == "rist":
        port &= ~1
    spec = spec_for({"listen": {"protocol": protocol, "port": port}})
    with run_agent(tmp_path, spec) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        time.sleep(0.5)  # the listener binds right after FFmpeg starts
        url, fmt = {
            "srt": (f"srt://127.0.0.1:{port}?mode=caller", "mpegts"),
            "rtmp": (f"rtmp://127.0.0.1:{port}/live/stream", "flv"),
            "udp": (f"udp://127.0.0.1:{port}?pkt_size=1316", "mpegts"),
            "rist": (f"rist://127.0.0.1:{port}", "mpegts"),
        }[protocol]
        pub = publisher(url, seconds=5, fmt=fmt)
        try:
            check_media(record_one(agent, tmp_path))
        finally:
            pub.kill()
