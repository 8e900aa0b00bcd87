"""FFmpeg argv of the recording's input: per-kind options up to `-i`, protocol whitelists, TLS.

Rules, measured with Debian's FFmpeg 5.1.9 (options from https://ffmpeg.org/ffmpeg-protocols.html
and https://ffmpeg.org/ffmpeg-formats.html, section "Demuxers"):

- Every input gets a read timeout (`-rw_timeout`, `-timeout`; in µs unless noted): without one, an
  RTMP/TCP input whose publisher freezes blocks FFmpeg indefinitely; SRT notices a dead peer after
  about 5 s.
- Low probing (`-analyzeduration 1000000 -probesize 1000000`): with the defaults a video-only RTMP
  input held back all output and progress for ~5 s; with these, progress flows at 1 Hz.
- Protocol options are AVOptions before `-i` (so an SRT passphrase needs no URL escaping and is
  never in the URL).
- Each input kind gets its own `-protocol_whitelist`; user strings never reach `file:`, `concat:`,
  `subfile:`, `data:` or `-f concat`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    RecordingInput,
    input_kind,
    unverifiable_tls,
    uses_tls,
)

#: `-protocol_whitelist` per input kind: the protocols of its stack and nothing else
#: (https://ffmpeg.org/ffmpeg-protocols.html); one per `INPUT_KINDS` member.
PROTOCOL_WHITELISTS = {
    "srt": "srt,udp",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tls,tcp",
    "rtsp": "rtsp,rtp,udp,tcp",
    "rtsps": "rtsps,rtsp,rtp,udp,tcp,tls",
    "hls": "http,https,tcp,tls,crypto",
    "dash": "http,https,tcp,tls,crypto",
    "http": "http,https,tcp,tls",
    "udp": "udp",
    "rtp": "rtp,udp",
    "rtp-sdp": "file,rtp,udp",
    "rist": "rist",
}


def _us(duration: str) -> str:
    return str(int(parse_duration(duration).total_seconds() * 1_000_000))


def _with_query(url: str, extra: dict[str, str]) -> str:
    """`url` with `extra` query parameters added unless already present."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in extra.items():
        query.setdefault(key, value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe=":/,"), parts.fragment))


def tls_args(inp: RecordingInput, *, ca_file: Path | None = None) -> list[str]:
    """TLS options of a pull input, as AVOptions before `-i` (FFmpeg's tls protocol: `tls_verify`,
    `ca_file`, `verifyhost`).

    Measured on Debian's FFmpeg 5.1.9 (GnuTLS) against loopback servers with a self-signed certificate,
    a certificate signed by a test CA (SAN 127.0.0.1 + localhost) and one for another name:

    - `tls_verify` defaults to 0: without it every certificate is accepted. With `tls_verify 1` and no
      `ca_file`, GnuTLS loads the system store `/etc/ssl/certs/ca-certificates.crt` (strace; a public
      site verifies, the test CA's server fails "Peer certificate failed verification"); with
      `ca_file` only that file is read and trusted. The host name is checked against the URL's host
      ("The certificate's owner does not match hostname"), or against `verifyhost` when set (also SNI).
    - progressive https (`http` kind): the options reach the tls layer of the first request and of
      redirects (http.c keeps them in `chained_options`: a 302 to a self-signed server is refused).
    - rtmps: rtmpproto passes its options to the tls connection: self-signed refused, test CA with
      `ca_file` accepted, wrong `verifyhost` refused.
    - HLS and DASH over https: only the playlist/manifest request gets the options. Segment requests
      and playlist reloads are opened with the demuxer's own copy of a fixed option list (`headers`,
      `http_proxy`, `user_agent`, `cookies`, `referer`, `rw_timeout`, `icy`): a playlist on a verified
      server listing segments on a self-signed server records without error. 5.1 has no option to pass
      more (no `http_opts`), so these kinds cannot be verified: `unverifiable_tls`.
    - rtsps: the RTSP demuxer opens its tls connection with no options: against a self-signed server
      `-tls_verify 1 -ca_file` connects, then fails "Option tls_verify not found" (never consumed):
      cannot be verified.

    Returns:
        [] for non-TLS inputs and for `insecureSkipVerify`; otherwise `-tls_verify 1`, plus
        `-ca_file <ca_file>` and `-verifyhost <serverName>` when given.

    Raises:
        ValueError: verification is asked for an input FFmpeg 5.1 cannot verify (`unverifiable_tls`).
    """
    if not uses_tls(inp):
        return []
    if inp.tls is not None and inp.tls.insecureSkipVerify:
        return []
    problem = unverifiable_tls(inp)
    if problem:
        raise ValueError(problem)
    args = ["-tls_verify", "1"]
    if ca_file is not None:
        args += ["-ca_file", str(ca_file)]
    if inp.tls is not None and inp.tls.serverName:
        args += ["-verifyhost", inp.tls.serverName]
    return args


def input_args(
    inp: RecordingInput,
    *,
    passphrase: str | None = None,
    sdp_path: Path | None = None,
    ca_file: Path | None = None,
    relayed: bool = False,
) -> list[str]:
    """Argv from `-protocol_whitelist` up to and including `-i <input>` (https://ffmpeg.org/ffmpeg-protocols.html, sections "srt", "rtmp", "rtsp", "http", "udp").

    Args:
        inp: the spec's input block.
        passphrase: SRT passphrase (from ENV_SRT_PASSPHRASE), passed as `-passphrase`, never in the URL.
        sdp_path: where the agent wrote `inp.sdp` (required for rtp with sdp).
        ca_file: PEM CA bundle to trust instead of the system's (`input.tls.caConfigMapRef`, mounted).
        relayed: an SRT input received by the agent's relay (`recorder.srt_relay`): FFmpeg reads its
            stdin (`pipe:0`, only the `pipe` protocol whitelisted); the SRT options go to the relay.

    Raises:
        ValueError: input kind not allowed, rtp+sdp without `sdp_path`, TLS verification asked for
            an input FFmpeg 5.1 cannot verify (`tls_args`), or `relayed` for a non-SRT input.
    """
    kind = input_kind(inp)
    timeout_us = _us(inp.readTimeout)
    if relayed and kind != "srt":
        raise ValueError(f"only SRT inputs are relayed, not {kind}")
    args = ["-protocol_whitelist", "pipe" if relayed else PROTOCOL_WHITELISTS[kind]]
    args += tls_args(inp, ca_file=ca_file)
    # Low probing: progress starts within ~1 s instead of ~5 s (measured with FFmpeg 5.1.9).
    args += ["-analyzeduration", "1000000", "-probesize", "1000000", "-fflags", "+genpts+discardcorrupt"]
    url = inp.url or ""
    if relayed:
        return [*args, "-i", "pipe:0"]
    if kind == "srt":
        args += ["-mode", "listener" if inp.listen else "caller", "-timeout", timeout_us]
        if not inp.listen:
            # The caller keeps sending handshakes for `readTimeout` (`connect_timeout` is in ms)
            # instead of libsrt's 3 s: a listener that comes up meanwhile is joined at once,
            # not after a restart and its backoff (bench/recorder_bench.py measures it).
            args += ["-connect_timeout", str(int(parse_duration(inp.readTimeout).total_seconds() * 1000))]
        if inp.latency:
            args += ["-latency", _us(inp.latency)]
        if passphrase:
            args += ["-passphrase", passphrase]
        if inp.streamid:
            args += ["-streamid", inp.streamid]
        if inp.listen:
            url = f"srt://0.0.0.0:{inp.listen.port}"
    elif kind in ("rtmp", "rtmps"):
        if inp.listen:
            # RTMP `-listen 1`: the Pod is the server; app/key are not checked by FFmpeg's listener.
            args += ["-listen", "1"]
            url = f"rtmp://0.0.0.0:{inp.listen.port}/live/stream"
        args += ["-rw_timeout", timeout_us]
    elif kind in ("rtsp", "rtsps"):
        args += ["-rtsp_transport", inp.rtspTransport, "-timeout", timeout_us]
    elif kind == "hls":
        args += ["-rw_timeout", timeout_us, "-m3u8_hold_counters", "10", "-max_reload", "10"]
        args += ["-http_persistent", "1"]
    elif kind == "dash":
        args += ["-rw_timeout", timeout_us]
    elif kind == "http":
        args += ["-rw_timeout", timeout_us, "-reconnect", "1", "-reconnect_streamed", "1"]
        args += ["-reconnect_on_network_error", "1", "-reconnect_delay_max", "10"]
    elif kind == "udp":
        if inp.listen:
            url = f"udp://0.0.0.0:{inp.listen.port}"
        url = _with_query(url, {"timeout": timeout_us, "fifo_size": "1000000", "overrun_nonfatal": "1"})
    elif kind == "rtp":
        url = _with_query(url, {"timeout": timeout_us})
    elif kind == "rtp-sdp":
        if sdp_path is None:
            raise ValueError("rtp input with sdp needs the path the agent wrote the SDP to")
        args += ["-f", "sdp"]
        url = str(sdp_path)
    elif kind == "rist":
        if inp.listen:
            url = f"rist://@0.0.0.0:{inp.listen.port}"
    return [*args, "-i", url]
