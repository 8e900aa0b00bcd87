"""The LocalRecording CRD rejects unsafe or contradictory specs (CEL via cel-python, patterns via re)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.schema_rules import changed, spec_schema, violations

SPEC_SCHEMA = spec_schema("localrecordings")
GOOD: dict[str, Any] = {
    "input": {"url": "srt://source.example:9000", "passphraseSecretRef": {"name": "srt", "key": "p"}},
    "output": {
        "format": "mp4",
        "segmentDuration": "10m",
        "fileNameTemplate": "{recording}-{start:%Y%m%d}-{index}",
    },
    "transcoding": {"video": {"codec": "h264", "keyframeInterval": "2s"}, "audio": {"codec": "aac"}},
    "storage": {"vendor": "s3", "bucket": "recordings", "region": "us-east-1"},
}


def with_changes(**changes: Any) -> dict[str, Any]:
    return changed(GOOD, **changes)


def test_good_spec_passes() -> None:
    assert violations(SPEC_SCHEMA, GOOD) == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "concat:/etc/hostname|/etc/hostname", "subfile,,start,0,end,0,,:/etc/passwd",
     "data:text/plain;base64,AAAA", "pipe:0", "gopher://x/", "ftp://x/a.ts", "FILE:///etc/passwd",
     "srt://host:1|concat:/x", "srt://"],
)  # fmt: skip
def test_unsafe_input_urls_rejected(url: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(input={"url": url}))
    assert any("spec.input.url: pattern" in v or "scheme must be one of" in v for v in found), found


@pytest.mark.parametrize(
    "url",
    ["srt://h:9000?streamid=cam1", "rtmp://h/live/k", "rtmps://h/live/k", "rtsp://h/s", "https://h/live.ts",
     "http://h/live/index.m3u8", "http://h/manifest.mpd", "udp://239.0.0.1:5000", "rtp://0.0.0.0:5004",
     "rist://h:8000"],
)  # fmt: skip
def test_allowed_input_urls(url: str) -> None:
    assert violations(SPEC_SCHEMA, with_changes(input={"url": url})) == []


INSECURE = {"insecureSkipVerify": True}
CA = {"caConfigMapRef": {"name": "source-ca", "key": "ca.crt"}}


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        ("https://h/live.ts", None),  # verified against the system trust store
        ("https://h/live.ts", CA),
        ("https://h/live.ts", {**CA, "serverName": "origin.example"}),
        ("https://h/live.ts", INSECURE),
        ("rtmps://h/live/k", None),
        ("rtmps://h/live/k", CA),
        ("rtmps://h/live/k", {"serverName": "ingest.example"}),
        ("rtmps://h/live/k", {"insecureSkipVerify": False}),
        ("https://h/live/index.m3u8", INSECURE),
        ("https://h/live/INDEX.M3U8?token=a.mpd", INSECURE),
        ("https://h/manifest.mpd", INSECURE),
        ("rtsps://h/s", INSECURE),
    ],
)
def test_tls_settings_accepted(url: str, tls: dict[str, Any] | None) -> None:
    inp: dict[str, Any] = {"url": url}
    if tls is not None:
        inp["tls"] = tls
    assert violations(SPEC_SCHEMA, with_changes(input=inp)) == []


@pytest.mark.parametrize(
    ("inp", "message"),
    [
        ({"url": "srt://h:1", "tls": CA}, "tls is for https, rtmps, rtsps inputs only"),
        ({"url": "rist://h:1", "tls": INSECURE}, "tls is for https, rtmps, rtsps inputs only"),
        ({"url": "http://h/live.ts", "tls": CA}, "tls is for https, rtmps, rtsps inputs only"),
        ({"url": "rtmp://h/a/b", "tls": INSECURE}, "tls is for https, rtmps, rtsps inputs only"),
        ({"listen": {"protocol": "rtmp", "port": 1935}, "tls": CA}, "tls is for https, rtmps, rtsps inputs only"),
        ({"url": "https://h/a.ts", "tls": {**INSECURE, **CA}}, "insecureSkipVerify turns verification off"),
        ({"url": "rtmps://h/a/b", "tls": {**INSECURE, "serverName": "x.example"}},
         "insecureSkipVerify turns verification off"),
        ({"url": "rtsps://h/s"}, "cannot verify an rtsps source"),
        ({"url": "rtsps://h/s", "tls": CA}, "cannot verify an rtsps source"),
        ({"url": "https://h/live/index.m3u8"}, "HLS/DASH playlist"),
        ({"url": "https://h/live/Index.M3U8?t=1"}, "HLS/DASH playlist"),
        ({"url": "https://h/manifest.mpd", "tls": CA}, "HLS/DASH playlist"),
        ({"url": "https://h/a.ts", "tls": {"caConfigMapRef": {"name": "c", "key": "a/b"}}},
         "spec.input.tls.caConfigMapRef.key: pattern"),
        ({"url": "https://h/a.ts", "tls": {"serverName": "bad name"}}, "spec.input.tls.serverName: pattern"),
    ],
)  # fmt: skip
def test_tls_rules_reject(inp: dict[str, Any], message: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(input=inp))
    assert any(message in v for v in found), found


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input": {"url": "srt://h:1", "listen": {"protocol": "srt", "port": 9000}}}, "exactly one of url and listen"),
        ({"input": {"stallTimeout": "5s"}}, "exactly one of url and listen"),
        ({"input": {"url": "srt://h:1?passphrase=abcdefghijk"}}, "passphraseSecretRef"),
        ({"input": {"url": "rtmp://h/a/b", "passphraseSecretRef": {"name": "s", "key": "k"}}}, "SRT inputs only"),
        ({"input": {"url": "udp://h:1", "streamid": "x"}}, "streamid is for SRT"),
        ({"input": {"url": "udp://h:1", "sdp": "v=0"}}, "sdp is for rtp"),
        ({"output__fileNameTemplate": "{recording}-{start}"}, "must contain {index}"),
        ({"output__segmentDuration": "500ms"}, "must be ≥ 1s"),
        ({"output__format": "mp3"}, "mp3 is audio only: remove transcoding.video"),
        ({"output__format": "mp3", "transcoding": {"audio": {"codec": "aac"}}}, "mp3 output needs"),
        ({"output__format": "mp3", "transcoding": None, "overlay": {"imageUrl": "https://x/l.png"}},
         "mp3 is audio only: remove overlay"),
        ({"output__format": "flv", "transcoding": {"video": {"codec": "hevc"}}}, "flv carries h264"),
        ({"transcoding": {}}, "set video and/or audio"),
        ({"transcoding": {"audio": {"codec": "opus", "sampleRate": 44100}}}, "opus supports sampleRate"),
        ({"storage": {"vendor": "sftp", "bucket": "b"}}, "LocalRecording stores to"),
        ({"storage": {"vendor": "s3-compatible", "bucket": "b"}}, "needs storage.endpoint"),
        ({"storage": {"vendor": "volume"}}, "vendor volume needs storage.volume"),
        ({"storage": {"vendor": "gcs"}}, "needs storage.bucket"),
    ],
)  # fmt: skip
def test_rules_reject(changes: dict[str, Any], message: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(**changes))
    assert any(message in v for v in found), found


@pytest.mark.parametrize(
    "template",
    ["../{index}", "a/{index}", "a\\{index}", "{index} x", "{index};rm", ".{index}", "{start:%c}-{index}",
     "{start:%Y/%m}-{index}", "{foo}-{index}", "{index}\n"],
)  # fmt: skip
def test_unsafe_file_name_templates_rejected(template: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(output__fileNameTemplate=template))
    assert "spec.output.fileNameTemplate: pattern" in found, found


def test_listen_input_and_volume_storage_pass() -> None:
    spec = with_changes(
        input={"listen": {"protocol": "rtmp", "port": 1935}},
        storage={"vendor": "volume", "volume": {"claimName": "c"}},
    )
    assert violations(SPEC_SCHEMA, spec) == []
