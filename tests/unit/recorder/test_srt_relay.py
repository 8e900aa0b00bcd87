"""The SRT relay's pure parts: when an input is relayed, the srt-live-transmit URI and argv, FFmpeg's
pipe input, and the sums of the per-interval JSON reports (srt-live-transmit 1.5.1's shape)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recording_operator.api.v1alpha1.localrecording import RecordingInput
from recording_operator.recorder import ffmpeg as ff
from recording_operator.recorder.srt_relay import SrtStatsAccumulator, relay_argv, relay_problem, relay_uri

BIN = "/usr/bin/srt-live-transmit"


def inp(**fields: Any) -> RecordingInput:
    return RecordingInput.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "passphrase", "binary", "reason"),
    [
        ({"url": "srt://src:9000"}, None, BIN, None),
        ({"url": "srt://src:9000", "streamid": "#!::r=live/cam1,m=request"}, "p4ss-phrase!", BIN, None),
        ({"listen": {"protocol": "srt", "port": 9000}}, None, BIN, None),
        ({"url": "srt://src:9000"}, None, None, "srt-live-transmit is not installed"),
        ({"url": "srt://src:9000", "srtStatistics": False}, None, BIN, "srtStatistics is false"),
        ({"url": "srt://src:9000?latency=200000"}, None, BIN, "query options"),
        ({"url": "srt://src:900"}, None, BIN, "ports below 1024"),
        ({"url": "srt://src:9000"}, "a&b-passphrase", BIN, "passphrase holds '&'"),
        ({"url": "srt://src:9000", "streamid": "a&b"}, None, BIN, "streamid holds '&'"),
        ({"url": "rtmp://src/live"}, None, BIN, "not an SRT input"),
    ],
)
def test_relay_problem(
    fields: dict[str, Any], passphrase: str | None, binary: str | None, reason: str | None
) -> None:
    problem = relay_problem(inp(**fields), passphrase=passphrase, binary=binary)
    assert (problem is None) if reason is None else (reason in (problem or "")), problem


def test_srt_statistics_is_for_srt_inputs_only_in_the_crd() -> None:
    rules = RecordingInput.model_json_schema()["x-kubernetes-validations"]
    assert any("srtStatistics" in r["rule"] and "srt" in r["message"] for r in rules)


def test_caller_uri_uses_libsrt_option_names_and_units() -> None:
    uri = relay_uri(
        inp(url="srt://src.example:9000", latency="250ms", readTimeout="4s", streamid="#!::r=a,m=request"),
        passphrase="p4ss-phrase!",
    )
    assert uri == (
        "srt://src.example:9000?mode=caller&conntimeo=4000&peeridletimeo=4000&latency=250"
        "&passphrase=p4ss-phrase!&streamid=#!::r=a,m=request"
    )


def test_listener_uri_binds_every_address() -> None:
    uri = relay_uri(inp(listen={"protocol": "srt", "port": 9000}), passphrase=None)
    assert uri == "srt://0.0.0.0:9000?mode=listener&peeridletimeo=10000"


def test_relay_argv_pipes_to_stdout_and_reports_json_to_its_fd() -> None:
    args = relay_argv(inp(url="srt://src:9000"), passphrase="p4ss-phrase!", stats_fd=7, binary=BIN)
    assert args[0] == BIN and args[-1] == "file://con" and args[-2].startswith("srt://src:9000?")
    assert {"-a:no", "-pf:json", "-statsout:/dev/fd/7", "-s:100"} <= set(args)
    shown = " ".join(ff.redact_argv(args, ["p4ss-phrase!"]))
    assert "p4ss-phrase!" not in shown and "passphrase=***" in shown


def test_ffmpeg_reads_a_relayed_input_from_its_stdin_only() -> None:
    relayed = ff.input_args(
        inp(url="srt://src:9000", latency="200ms"), passphrase="p4ss-phrase!", relayed=True
    )
    assert relayed[relayed.index("-protocol_whitelist") + 1] == "pipe"
    assert relayed[-2:] == ["-i", "pipe:0"]
    assert "-passphrase" not in relayed and "-latency" not in relayed and "-mode" not in relayed
    with pytest.raises(ValueError, match="only SRT"):
        ff.input_args(inp(url="rtmp://src/live"), relayed=True)


def report(**recv: float) -> str:
    base = {"packets": 0, "packetsLost": 0, "packetsRetransmitted": 0, "packetsDropped": 0, "bytes": 0}
    return json.dumps(
        {
            "sid": 1,
            "link": {"rtt": 0.23, "bandwidth": 11.1, "maxBandwidth": 1000},
            "send": {"packets": 0},
            "recv": {**base, "msBuf": 168, "mbitRate": 0.227, "msTsbPdDelay": 200, **recv},
        }
    )


def test_interval_counters_are_summed_and_rates_are_the_last() -> None:
    totals = SrtStatsAccumulator()
    assert totals.feed("SRT source connected", now="t0") is None
    assert totals.feed('{"no": "recv"}', now="t0") is None
    first = totals.feed(report(packets=51, bytes=53004, packetsLost=2, packetsRetransmitted=2), now="t1")
    second = totals.feed(report(packets=52, bytes=54928, packetsDropped=1, mbitRate=0.5), now="t2")
    assert first is not None and first.packetsReceived == 51 and first.packetsLost == 2
    assert second is not None
    assert (second.packetsReceived, second.bytesReceived) == (103, 107932)
    assert (second.packetsLost, second.packetsRetransmitted, second.packetsDropped) == (2, 2, 1)
    assert (second.rttMs, second.bandwidthMbps, second.receiveRateMbps) == (0.23, 11.1, 0.5)
    assert (second.receiveBufferMs, second.latencyMs, second.updatedAt) == (168, 200, "t2")
    assert second.unavailableReason is None
