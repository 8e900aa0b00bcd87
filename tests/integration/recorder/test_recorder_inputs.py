"""Real recordings from every input type, pull and listen, each served on loopback.

Each test starts a publisher or server on 127.0.0.1 (ffmpeg; a static HTTP(S) site for HLS and DASH;
GStreamer's RTSP server for rtsp/rtsps; a TLS terminator in front of ffmpeg's RTMP server for rtmps),
runs the agent as its own process, waits until a first closed file is stored (vendor volume), stops
it with SIGTERM, and probes what was stored: it opens, has video and audio, decodes without errors.

TLS sources (recorder/ffmpeg/inputs.py `tls_args`): the recorder verifies by default, so a self-signed
server is refused (a `lastError` naming the certificate, no file); a server whose certificate a test
CA signed records when the agent trusts that CA (`input.tls.caConfigMapRef`: the file named by
`$RECORDER_TLS_CA_FILE`, as the controller mounts it); `insecureSkipVerify` records from anything.
HLS/DASH over https and rtsps cannot be verified by FFmpeg 5.1: the agent refuses them unless
`insecureSkipVerify`, and two tests pin down the FFmpeg behaviour that rule rests on.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recording_sandbox.ports import free_port
from tests.support.recorder import (
    H264,
    RTSP_PACKAGES,
    SOURCE,
    Agent,
    CertAuthority,
    ca_signed_cert,
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
    """A self-signed certificate for 127.0.0.1: refused unless `insecureSkipVerify`."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertAuthority:
    """A test CA and a server certificate it signed for 127.0.0.1 and localhost."""
    return ca_signed_cert(tmp_path_factory.mktemp("ca"))


INSECURE = {"insecureSkipVerify": True}
CA_REF = {"caConfigMapRef": {"name": "source-ca", "key": "ca.crt"}}
#: How each TLS test runs: the server's certificate, `input.tls`, and whether a file is recorded.
TLS_CASES = {
    "verify-self-signed": ("self-signed", None, False),
    "trusted-ca": ("ca", CA_REF, True),
    "insecure-self-signed": ("self-signed", INSECURE, True),
}


def tls_case(
    case: str, tls_cert: tuple[Path, Path], test_ca: CertAuthority
) -> tuple[tuple[Path, Path], dict[str, Any], dict[str, str], bool]:
    """(server cert, extra input fields, agent environment, records) of a TLS_CASES entry."""
    server, tls, records = TLS_CASES[case]
    extra = {"tls": tls} if tls is not None else {}
    env = {"RECORDER_TLS_CA_FILE": str(test_ca.ca)} if tls == CA_REF else {}
    return (test_ca.server if server == "ca" else tls_cert), extra, env, records


def refused(agent: Agent, tmp: Path) -> str:
    """Wait for a certificate error, check nothing was recorded, stop the agent; returns lastError."""
    status = agent.wait_for(lambda s: bool(s.lastError) and "certificate" in (s.lastError or ""))
    assert status.files == [] and status.filesClosed == 0, status
    assert agent.stop() == 0, agent.log()
    assert not (tmp / "volume").exists() or not any(p.is_file() for p in (tmp / "volume").rglob("*"))
    return status.lastError or ""


def record_or_refuse(agent: Agent, tmp: Path, records: bool) -> None:
    if records:
        check_media(record_one(agent, tmp))
    else:
        assert "TLS: Peer certificate failed verification" in refused(agent, tmp)


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


@pytest.mark.parametrize("case", list(TLS_CASES))
def test_pull_rtmps(tmp_path: Path, tls_cert: tuple[Path, Path], test_ca: CertAuthority, case: str) -> None:
    """RTMP over TLS: FFmpeg's RTMP server refuses rtmps, so a TLS terminator fronts it (as stunnel would).
    rtmpproto passes `tls_verify`/`ca_file` to its tls connection: verified like https."""
    server, extra, env, records = tls_case(case, tls_cert, test_ca)
    port = free_port()
    pub = publisher(f"rtmp://127.0.0.1:{port}/live/cam", seconds=8, fmt="flv", extra=["-listen", "1"])
    try:
        time.sleep(0.3)
        with tls_terminator(port, server) as tls_port:
            spec = spec_for({"url": f"rtmps://127.0.0.1:{tls_port}/live/cam", **extra})
            with run_agent(tmp_path, spec, env=env) as agent:
                record_or_refuse(agent, tmp_path, records)
    finally:
        pub.kill()


@pytest.fixture(scope="module")
def vod_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the same 6 s source as HLS (`hls/index.m3u8`) and as DASH (`dash/manifest.mpd`),
    1 s segments each, and as one progressive MPEG-TS file (`live.ts`), written ahead of time (a
    finished, static presentation).

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
    subprocess.run([*encode, "-f", "mpegts", str(site / "live.ts")], check=True)
    return site


@pytest.mark.parametrize("case", list(TLS_CASES))
def test_pull_progressive_https(
    tmp_path: Path, vod_site: Path, tls_cert: tuple[Path, Path], test_ca: CertAuthority, case: str
) -> None:
    """An MPEG-TS file over https: `tls_verify`/`ca_file` reach the tls layer of the request."""
    server, extra, env, records = tls_case(case, tls_cert, test_ca)
    with serve_directory(vod_site, tls=server) as base:
        with run_agent(tmp_path, spec_for({"url": f"{base}/live.ts", **extra}), env=env) as agent:
            record_or_refuse(agent, tmp_path, records)


def test_a_ca_for_another_server_is_refused_too(
    tmp_path: Path, vod_site: Path, test_ca: CertAuthority
) -> None:
    """Trusting a private CA replaces the system store: the CA-signed server is only accepted under a
    name its certificate holds (`serverName` is checked instead of the URL's host)."""
    with serve_directory(vod_site, tls=test_ca.server) as base:
        tls = {**CA_REF, "serverName": "origin.example"}
        env = {"RECORDER_TLS_CA_FILE": str(test_ca.ca)}
        with run_agent(tmp_path, spec_for({"url": f"{base}/live.ts", "tls": tls}), env=env) as agent:
            assert "does not match hostname origin.example" in refused(agent, tmp_path)


@contextmanager
def mixed_site(
    vod_site: Path, tmp: Path, test_ca: CertAuthority, tls_cert: tuple[Path, Path]
) -> Iterator[str]:
    """A playlist on a server the test CA signed whose segments are on a self-signed server; yields
    the playlist's URL."""
    with serve_directory(vod_site, tls=tls_cert) as segments:
        site = tmp / "mixed"
        site.mkdir()
        lines = (vod_site / "hls" / "index.m3u8").read_text().splitlines()
        text = "\n".join(f"{segments}/hls/{ln}" if ln.endswith(".ts") else ln for ln in lines)
        (site / "index.m3u8").write_text(text + "\n")
        with serve_directory(site, tls=test_ca.server) as base:
            yield f"{base}/index.m3u8"


def test_ffmpeg_does_not_verify_hls_segments(
    tmp_path: Path, vod_site: Path, test_ca: CertAuthority, tls_cert: tuple[Path, Path]
) -> None:
    """Why HLS over https needs insecureSkipVerify: with `-tls_verify 1 -ca_file`, FFmpeg 5.1 verifies
    the playlist but reads segments from a self-signed server without complaint (the hls demuxer
    copies a fixed option list to segment requests). If a newer FFmpeg refuses here, the CRD rule and
    `unverifiable_tls` can allow verified HLS."""
    with mixed_site(vod_site, tmp_path, test_ca, tls_cert) as url:
        argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-tls_verify", "1",
                "-ca_file", str(test_ca.ca), "-i", url, "-c", "copy", "-f", "null", "-"]  # fmt: skip
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "certificate" not in run.stderr, run.stderr


@pytest.mark.parametrize("kind", ["hls", "rtsps"])
def test_unverifiable_inputs_are_refused_by_the_agent(
    tmp_path: Path, vod_site: Path, test_ca: CertAuthority, kind: str
) -> None:
    """HLS over https or rtsps without insecureSkipVerify (a spec stored before the CRD rule): the agent
    exits without running FFmpeg instead of recording unverified, even from a server whose playlist
    it could verify."""
    with serve_directory(vod_site, tls=test_ca.server) as base:
        url = f"{base}/hls/index.m3u8" if kind == "hls" else f"rtsps://127.0.0.1:{free_port()}/live"
        spec = spec_for({"url": url, "tls": CA_REF})
        with run_agent(tmp_path, spec, env={"RECORDER_TLS_CA_FILE": str(test_ca.ca)}) as agent:
            assert agent.proc.wait(timeout=60) == 1
    log = agent.log()
    assert "cannot start" in log and "set tls.insecureSkipVerify: true" in log, log
    assert "starting ffmpeg" not in log, log


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ["hls/index.m3u8", "dash/manifest.mpd"], ids=["hls", "dash"])
def test_pull_hls_and_dash(
    tmp_path: Path, vod_site: Path, tls_cert: tuple[Path, Path], path: str, scheme: str
) -> None:
    """HLS (`.m3u8`) and DASH (`.mpd`) over http, and over https with insecureSkipVerify (self-signed)."""
    extra = {"tls": INSECURE} if scheme == "https" else {}
    with serve_directory(vod_site, tls=tls_cert if scheme == "https" else None) as base:
        assert base.startswith(f"{scheme}://")
        with run_agent(tmp_path, spec_for({"url": f"{base}/{path}", **extra})) as agent:
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
    extra = {"tls": INSECURE} if scheme == "rtsps" else {}
    with rtsp_server(tls=tls_cert if scheme == "rtsps" else None) as url:
        assert url.startswith(f"{scheme}://")
        with run_agent(tmp_path, spec_for({"url": url, "rtspTransport": transport, **extra})) as agent:
            info = check_media(record_one(agent, tmp_path))
    assert info["codecs"] == ["h264", "opus"], info


def test_ffmpeg_cannot_verify_rtsps(tls_cert: tuple[Path, Path], test_ca: CertAuthority) -> None:
    """Why rtsps needs insecureSkipVerify: FFmpeg 5.1's RTSP demuxer opens its tls connection without
    options, so it talks to a self-signed server, and `-tls_verify 1` is then reported unused."""
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(f"no RTSP server here ({missing}): needs Debian's {RTSP_PACKAGES}")
    with rtsp_server(tls=tls_cert) as url:
        argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist",
                "rtsps,rtsp,rtp,udp,tcp,tls", "-rtsp_transport", "tcp", "-tls_verify", "1",
                "-ca_file", str(test_ca.ca), "-i", url, "-t", "1", "-f", "null", "-"]  # fmt: skip
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "Option tls_verify not found" in run.stderr, run.stderr
    assert "certificate" not in run.stderr, run.stderr


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
