"""Helpers for the recorder tests: free ports, ffmpeg publishers, the agent as a process, probing,
and loopback servers for sources FFmpeg cannot serve itself (static HTTP(S) sites, a TLS terminator,
GStreamer's RTSP server)."""

from __future__ import annotations

import asyncio
import datetime
import functools
import http.server
import ipaddress
import json
import os
import select
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from recording_operator.api.agent import CONFIG_API_VERSION, RecorderStatus
from recording_sandbox.ports import free_port
from tests.support.waiting import wait_for

AGENT = [sys.executable, "-m", "recording_operator", "record"]
SOURCE = [
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x180:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=sample_rate=48000",
]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p"]


def publisher(
    url: str, *, seconds: float, fmt: str = "mpegts", extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """An ffmpeg publisher of a synthetic 25 fps H.264 + AAC source, real-time (`-re`)."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE, "-t", str(seconds)]
    argv += [*H264, "-c:a", "aac", "-b:a", "64k", *(extra or []), "-f", fmt, url]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe format + streams of `path`, and the count of decode-error lines (`ffmpeg -v error -f null`)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_type,codec_name",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(out.stdout)
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return {
        "format": info["format"]["format_name"],
        "duration": float(info["format"].get("duration", "nan")),
        "streams": sorted(s["codec_type"] for s in info["streams"]),
        "codecs": sorted(s["codec_name"] for s in info["streams"]),
        "decode_errors": len([ln for ln in errors.stderr.splitlines() if ln.strip()]),
    }


def probe_live(playlist: Path, *, seconds: float) -> dict[str, Any]:
    """What a player gets from an HLS playlist that has no EXT-X-ENDLIST yet (still recording): its
    streams (ffprobe) and the decode-error lines of its first `seconds` media seconds, read from the
    first segment (`-live_start_index 0`; without `-t` FFmpeg would follow the playlist until it ends).
    """
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", str(playlist)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-live_start_index", "0", "-i", str(playlist), "-t", str(seconds),
         "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return {
        "streams": sorted(s["codec_type"] for s in json.loads(out.stdout)["streams"]),
        "decode_errors": len([ln for ln in errors.stderr.splitlines() if ln.strip()]),
    }


def picture(path: Path) -> dict[str, Any]:
    """ffprobe's codec name, width and height of an image file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stream: dict[str, Any] = json.loads(out.stdout)["streams"][0]
    return stream


def ffmpeg_child_of(pid: int) -> int:
    """PID of the ffmpeg child of process `pid` (from /proc).

    Raises:
        AssertionError: it has none.
    """
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if Path(f"/proc/{child}/comm").read_text().strip() == "ffmpeg":
            return int(child)
    raise AssertionError("no ffmpeg child")


def non_monotonic_dts(path: Path) -> int:
    """Count of video packets whose DTS does not increase (0 for a correct recording; a naive TS `cat` fails it)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    bad, prev = 0, None
    for line in out.stdout.split():
        try:
            value = float(line.strip(","))
        except ValueError:
            continue
        if prev is not None and value <= prev:
            bad += 1
        prev = value
    return bad


@dataclass
class Agent:
    """A running `recording-operator record` process."""

    proc: subprocess.Popen[bytes]
    port: int
    work_dir: Path
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> RecorderStatus:
        response = httpx.get(f"{self.base}/status", timeout=5)
        response.raise_for_status()
        return RecorderStatus.model_validate_json(response.text)

    def wait_for(self, predicate: Callable[[RecorderStatus], bool], *, timeout: float = 30) -> RecorderStatus:
        """Poll /status until `predicate` holds (timeout only guards against a hang).

        Raises:
            AssertionError: the agent exited, or `timeout` s passed (the message ends with its log).
        """
        last: list[RecorderStatus] = []

        def reached() -> RecorderStatus | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}: {self.log()}")
            try:
                last[:] = [self.status()]
            except httpx.HTTPError:
                return None
            return last[0] if predicate(last[0]) else None

        try:
            return wait_for(reached, timeout=timeout, interval=0.2, what="the agent's status")
        except AssertionError as timed_out:
            if self.proc.poll() is not None:
                raise
            raise AssertionError(f"{timed_out}; last status {last}; log: {self.log()[-3000:]}") from None

    def stop(self, *, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def write_config(
    path: Path,
    spec: dict[str, Any],
    *,
    name: str = "rec",
    next_index: int = 0,
    allow_private: bool = True,
    **agent: Any,
) -> Path:
    """Write a recorder config file (recorder/config.py format) with short test timings; the sources
    and stores of the tests are on loopback, so private destinations are allowed unless
    `allow_private` is false."""
    doc = {
        "apiVersion": CONFIG_API_VERSION,
        "recording": {"namespace": "test", "name": name, "uid": "uid-1"},
        "spec": spec,
        "numbering": {"nextIndex": next_index},
        "agent": {
            "statsPeriodS": 0.5,
            "backoffInitialMs": 200,
            "backoffMaxMs": 1000,
            "stopGraceS": 5,
            **agent,
        },
        "policy": {"allowPrivate": allow_private},
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@contextmanager
def run_agent(
    tmp: Path, spec: dict[str, Any], *, env: dict[str, str] | None = None, **config: Any
) -> Iterator[Agent]:
    """Start the agent on a free port with work dir `tmp/work` and volume dir `tmp/volume`."""
    cfg = write_config(tmp / "config.json", spec, **config)
    port = free_port()
    work = tmp / "work"
    log_path = tmp / "agent.log"
    full_env = {
        **os.environ,
        "RECORDER_WORK_DIR": str(work),
        "RECORDER_VOLUME_DIR": str(tmp / "volume"),
        **(env or {}),
    }
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*AGENT, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "-v"],
            env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    agent = Agent(proc, port, work, log_path)
    try:
        yield agent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def volume_spec(**output: Any) -> dict[str, Any]:
    """`storage` for vendor volume."""
    return {"vendor": "volume", "volume": {"claimName": "recordings"}, "prefix": ["team"]}


def _day_certificate(subject: Any, issuer: Any, public_key: Any) -> Any:
    """A `cryptography` CertificateBuilder for `subject` by `issuer`, valid from 5 min ago for a day."""
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (EC P-256): (cert.pem, key.pem) in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        _day_certificate(name, name, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class CertAuthority:
    """A throwaway certificate authority and one server certificate it signed (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    @property
    def server(self) -> tuple[Path, Path]:
        """(cert, key) for the servers below (`tls=`)."""
        return self.cert, self.key


def ca_signed_cert(directory: Path) -> CertAuthority:
    """A test CA (EC P-256, `ca.pem`) and a server certificate it signed for 127.0.0.1 and localhost
    (SAN IP + DNS, serverAuth; `server.pem`, `server-key.pem`), valid for a day, in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recording-operator test CA")])
    ca = (
        _day_certificate(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(ca_usage, True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    localhost = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        _day_certificate(localhost, ca_name, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    result = CertAuthority(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    result.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    result.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return result


def _server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert[0], cert[1])
    return context


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(site: Path, *, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve `site` over HTTP (HTTPS with `tls` = (cert, key)) on loopback; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        server.socket = _server_tls(tls).wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tls_terminator(upstream_port: int, tls: tuple[Path, Path]) -> Iterator[int]:
    """TLS on a free loopback port, forwarded as plain TCP to 127.0.0.1:`upstream_port`; yields the port.

    The shape of an RTMPS ingest (stunnel / nginx `stream { ssl }` in front of an RTMP server): FFmpeg's
    RTMP server (`-listen 1`) refuses rtmps ("rtmp_listen not available for rtmps", 5.1.9).
    """
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=_server_tls(tls)))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def shutdown() -> None:
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


#: Debian's python3 with python3-gi (the RTSP server cannot run in the virtualenv).
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")
RTSP_PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,ugly} glib-networking"
_RTSP_CHECK = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay", "audiotestsrc", "opusenc", "rtpopuspay")
           if Gst.ElementFactory.find(e) is None]
assert not missing, f"GStreamer elements missing: {missing}"
assert Gio.TlsBackend.get_default().supports_tls(), "no GIO TLS backend"
"""


@functools.cache
def rtsp_server_missing() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    check = subprocess.run([SYSTEM_PYTHON, "-c", _RTSP_CHECK], capture_output=True, text=True)
    if check.returncode != 0:
        lines = check.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {check.returncode}"
    return None


@contextmanager
def rtsp_server(*, tls: tuple[Path, Path] | None = None, timeout: float = 30) -> Iterator[str]:
    """tests/support/rtsp_server.py on a free port: yields `rtsp://127.0.0.1:PORT/live` (rtsps with tls)."""
    argv = [SYSTEM_PYTHON, str(RTSP_SERVER)]
    if tls is not None:
        argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
    # stderr is inherited: pytest shows it with a failing test.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            raise AssertionError(f"RTSP server did not start (exit {proc.poll()}): {line!r}")
        scheme = "rtsps" if tls is not None else "rtsp"
        yield f"{scheme}://127.0.0.1:{int(line.split()[1])}/live"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
