"""Real recordings from every input type, pull and listen, each served on loopback.

Each test starts a publisher or server on 127.0.0.1 (ffmpeg; a static HTTP(S) site for HLS and DASH;
GStreamer's RTSP server for rtsp/rtsps; a TLS terminator in front of ffmpeg's RTMP server for rtmps),
runs the agent as its own process, waits until a first closed file is stored (vendor volume), stops
it with SIGTERM, and probes what was stored: it opens, has video and audio, decodes without errors.
TLS sources use a self-signed certificate: FFmpeg's TLS client does not verify peers by default.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .recorder_support import (
    H264,
    RTSP_PACKAGES,
    SOURCE,
    Agent,
    free_port,
    probe,
    publisher,
    rtsp_server,
    rtsp_server_missing,
    run_agent,
    self_signed_cert,
    serve_directory,
    tls_terminator,
    volume_spec,
)

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


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: FFmpeg's TLS client does not verify it (`tls_verify` 0)."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


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


def test_pull_rtmps(tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
    """RTMP over TLS: FFmpeg's RTMP server refuses rtmps, so a TLS terminator fronts it (as stunnel would)."""
    port = free_port()
    pub = publisher(f"rtmp://127.0.0.1:{port}/live/cam", seconds=8, fmt="flv", extra=["-listen", "1"])
    try:
        time.sleep(0.3)
        with tls_terminator(port, tls_cert) as tls_port:
            with run_agent(tmp_path, spec_for({"url": f"rtmps://127.0.0.1:{tls_port}/live/cam"})) as agent:
                check_media(record_one(agent, tmp_path))
    finally:
        pub.kill()


@pytest.fixture(scope="module")
def vod_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the same 6 s source as HLS (`hls/index.m3u8`) and as DASH (`dash/manifest.mpd`),
    1 s segments each, written ahead of time (a finished, static presentation).

    Not a live DASH publisher: FFmpeg 5.1's dash demuxer runs ahead of a dynamic MPD's live edge (it
    asks for segments not written yet, skips past each 404 and keeps asking), which gives gaps, not a
    test of the recorder.
    """
    site = tmp_path_factory.mktemp("site")
    encode = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE[1:], "-t", "6", *H264,
              "-c:a", "aac"]  # fmt: skip
    (site / "hls").mkdir()
    hls = ["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", str(site / "hls" / "index.m3u8")]
    subprocess.run([*encode, *hls], check=True)
    (site / "dash").mkdir()
    subprocess.run(
        [*encode, "-f", "dash", "-seg_duration", "1", str(site / "dash" / "manifest.mpd")], check=True
    )
    return site


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ["hls/index.m3u8", "dash/manifest.mpd"], ids=["hls", "dash"])
def test_pull_hls_and_dash(
    tmp_path: Path, vod_site: Path, tls_cert: tuple[Path, Path], path: str, scheme: str
) -> None:
    """HLS (`.m3u8`) and DASH (`.mpd`) over http and https (a self-signed certificate)."""
    with serve_directory(vod_site, tls=tls_cert if scheme == "https" else None) as base:
        assert base.startswith(f"{scheme}://")
        with run_agent(tmp_path, spec_for({"url": f"{base}/{path}"})) as agent:
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


@pytest.mark.parametrize(
    ("scheme", "transport"),
    [("rtsp", "tcp"), ("rtsp", "udp"), ("rtsps", "tcp")],
    ids=["rtsp-tcp", "rtsp-udp", "rtsps"],
)
def test_pull_rtsp(tmp_path: Path, tls_cert: tuple[Path, Path], scheme: str, transport: str) -> None:
    """GStreamer's RTSP server (rtsp_server.py: H.264 + Opus, live); rtsps with a self-signed certificate."""
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(
            f"no RTSP server here ({missing}): GStreamer's RTSP server needs Debian's {RTSP_PACKAGES}; "
            "`make system-packages` (as root) installs them"
        )
    with rtsp_server(tls=tls_cert if scheme == "rtsps" else None) as url:
        assert url.startswith(f"{scheme}://")
        with run_agent(tmp_path, spec_for({"url": url, "rtspTransport": transport})) as agent:
            info = check_media(record_one(agent, tmp_path))
    assert info["codecs"] == ["h264", "opus"], info


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
