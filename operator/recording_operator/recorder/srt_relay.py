"""The SRT relay: libsrt's `srt-live-transmit` receives an SRT input and hands it to FFmpeg, so that
the agent can report the link's statistics (`stats.srt`), which FFmpeg's `srt` protocol keeps to itself.

Design (measured with Debian's srt-tools 1.5.1 and FFmpeg 5.1; options from
https://github.com/Haivision/srt/blob/master/docs/apps/srt-live-transmit.md):

- Hand-off: `srt-live-transmit <srt uri> file://con` writes the payload to its stdout, an OS pipe
  that is FFmpeg's stdin (`-i pipe:0`): no UDP hop that could drop packets, and the two processes
  are coupled both ways: FFmpeg sees EOF when the relay exits, the relay dies of EPIPE when FFmpeg
  does. The agent still ends the relay itself after every FFmpeg exit (a relay that waits for a
  peer writes nothing and would not notice).
- `-a:no`: the relay exits when the peer goes away instead of reconnecting behind FFmpeg's back, so a
  lost input ends the FFmpeg session exactly as FFmpeg's own SRT input did (input ended → restart).
- Statistics: `-s:<packets> -pf:json -statsout:/dev/fd/<n>`, fd n being a pipe the agent reads. `-s`
  counts received packets in 1.5.1 (not ms): one report per STATS_EVERY_PACKETS packets, i.e. about
  1.2 s at 1 Mbit/s. Each report is one JSON object per line whose counters cover the interval since
  the previous report (`SrtStatsAccumulator` sums them).
- Options: the URI's query takes libsrt's socket option names (`mode`, `latency` in ms, `conntimeo`
  and `peeridletimeo` in ms, `passphrase`, `streamid`). Its parser splits the query on `&` and does
  not percent-decode (a passphrase `abc%26...` is taken literally: measured, "Incorrect
  passphrase"), so a passphrase or stream id holding `&` cannot be passed: FFmpeg then receives SRT
  itself. A URL query of the spec is FFmpeg's option syntax (its `latency` is in µs, libsrt's in
  ms) and is not translated: such an input is received by FFmpeg too. srt-live-transmit refuses
  ports below 1024 ("Port value invalid").
- Passphrase: srt-live-transmit reads it from its URI only (no file, no environment variable), so it
  is on the relay's command line, exactly as `-passphrase` is on FFmpeg's: readable by the processes
  of the recorder container only (the Pod shares no process namespace), never logged (the agent
  redacts it from argv and stderr lines).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from recording_operator.api.v1alpha1.common import parse_duration
from recording_operator.api.v1alpha1.localrecording import RecordingInput, SrtStats, input_kind

#: The executable (Debian package `srt-tools`).
RELAY_BINARY = "srt-live-transmit"
#: Received packets between two statistics reports (`-s`); 1316-byte payloads: ~1.2 s at 1 Mbit/s.
STATS_EVERY_PACKETS = 100
#: The lowest port srt-live-transmit 1.5.1 accepts.
MIN_PORT = 1024


def relay_problem(inp: RecordingInput, *, passphrase: str | None, binary: str | None) -> str | None:
    """Why this input is received by FFmpeg itself instead of through the relay; None: relay it.

    Args:
        inp: the spec's input (any kind: non-SRT inputs give a reason, never shown for them).
        passphrase: the SRT passphrase, if any.
        binary: the relay's path (`shutil.which(RELAY_BINARY)`), None when it is not installed.
    """
    if input_kind(inp) != "srt":
        return "not an SRT input"
    if inp.srtStatistics is False:
        return "input.srtStatistics is false"
    if binary is None:
        return f"{RELAY_BINARY} is not installed in the recorder image"
    if inp.url is not None:
        parts = urlsplit(inp.url)
        if parts.query:
            return "input.url has query options (FFmpeg's syntax, not translated for srt-live-transmit)"
        if (parts.port or 0) < MIN_PORT:
            return f"{RELAY_BINARY} refuses ports below {MIN_PORT}"
    if passphrase and "&" in passphrase:
        return f"the passphrase holds '&', which {RELAY_BINARY}'s URI cannot carry"
    if inp.streamid and "&" in inp.streamid:
        return f"input.streamid holds '&', which {RELAY_BINARY}'s URI cannot carry"
    return None


def relay_uri(inp: RecordingInput, *, passphrase: str | None) -> str:
    """The relay's SRT source URI: `srt://host:port?mode=caller|listener&...` with libsrt's option
    names. `readTimeout` becomes `conntimeo` (caller: keep sending handshakes that long, as FFmpeg's
    `-connect_timeout`) and `peeridletimeo` (a silent peer ends the session), both in ms; `latency` is
    in ms. Values are not escaped (`relay_problem` refuses those holding `&`).
    """
    timeout_ms = str(int(parse_duration(inp.readTimeout).total_seconds() * 1000))
    if inp.listen is not None:
        base = f"srt://0.0.0.0:{inp.listen.port}"
        options = [("mode", "listener")]
    else:
        parts = urlsplit(inp.url or "")
        base = f"srt://{parts.netloc}"
        options = [("mode", "caller"), ("conntimeo", timeout_ms)]
    options.append(("peeridletimeo", timeout_ms))
    if inp.latency:
        options.append(("latency", str(int(parse_duration(inp.latency).total_seconds() * 1000))))
    if passphrase:
        options.append(("passphrase", passphrase))
    if inp.streamid:
        options.append(("streamid", inp.streamid))
    return base + "?" + "&".join(f"{key}={value}" for key, value in options)


def relay_argv(inp: RecordingInput, *, passphrase: str | None, stats_fd: int, binary: str) -> list[str]:
    """The relay's argv: receive `relay_uri`, write the payload to stdout, report statistics as JSON
    lines to its file descriptor `stats_fd`, exit when the peer goes away (`-a:no`), log errors only."""
    return [
        binary,
        "-a:no",
        f"-s:{STATS_EVERY_PACKETS}",
        "-pf:json",
        f"-statsout:/dev/fd/{stats_fd}",
        "-loglevel:error",
        relay_uri(inp, passphrase=passphrase),
        "file://con",
    ]


def _number(section: object, key: str) -> float | None:
    if not isinstance(section, dict):
        return None
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class SrtStatsAccumulator:
    """Turns srt-live-transmit's JSON report lines into `SrtStats` (one accumulator per session).

    A report looks like (1.5.1, abridged): `{"link": {"rtt": 0.23, "bandwidth": 11.1}, "recv":
    {"packets": 52, "packetsLost": 0, "packetsRetransmitted": 0, "packetsDropped": 0, "bytes": 54928,
    "msBuf": 168, "mbitRate": 0.227, "msTsbPdDelay": 200}}`; `recv` counters are per interval.
    """

    def __init__(self) -> None:
        """Start with zero counters."""
        self._totals = {
            "packets": 0,
            "packetsLost": 0,
            "packetsRetransmitted": 0,
            "packetsDropped": 0,
            "bytes": 0,
        }

    def feed(self, line: str, *, now: str) -> SrtStats | None:
        """One report line → the stats so far (`now`: RFC 3339 time of arrival); None for a line that
        is not a JSON report."""
        try:
            report = json.loads(line)
        except ValueError:
            return None
        if not isinstance(report, dict) or not isinstance(report.get("recv"), dict):
            return None
        link, recv = report.get("link"), report["recv"]
        for key in self._totals:
            value = _number(recv, key)
            if value is not None and value > 0:
                self._totals[key] += int(value)
        buffer_ms, latency_ms = _number(recv, "msBuf"), _number(recv, "msTsbPdDelay")
        return SrtStats(
            rttMs=_number(link, "rtt"),
            bandwidthMbps=_number(link, "bandwidth"),
            receiveRateMbps=_number(recv, "mbitRate"),
            packetsReceived=self._totals["packets"],
            packetsLost=self._totals["packetsLost"],
            packetsRetransmitted=self._totals["packetsRetransmitted"],
            packetsDropped=self._totals["packetsDropped"],
            bytesReceived=self._totals["bytes"],
            receiveBufferMs=None if buffer_ms is None else max(int(buffer_ms), 0),
            latencyMs=None if latency_ms is None else max(int(latency_ms), 0),
            updatedAt=now,
        )
