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
        ({"output__maxSize": "500Mi", "output__continuous": True}, "maxSize splits the recording into files"),
        ({"output__maxSize": "500Mi", "output__format": "flv"}, "for mp4, mkv and mpegts only"),
        ({"output__maxSize": "500Mi", "output__segmentAtClockTime": True}, "not with segmentAtClockTime"),
        ({"output": {"maxSize": "500Mi"}, "seamless": True}, "seamless without output.segmentDuration"),
        ({"output__maxSize": "500MB"}, "maxSize"),
        ({"output__maxSize": "1.5Gi"}, "maxSize"),
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


# --- tenant safety ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["rtsp://admin:hunter2@cam.example/s", "rtmp://user@h/live/k", "https://u:p@h/live.m3u8"]
)
def test_credentials_in_the_url_are_rejected(url: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(input={"url": url}))
    assert any("credentialsSecretRef, not in the URL" in v for v in found), found
    # rist's own `@` (listen on a local address) is no userinfo.
    assert violations(SPEC_SCHEMA, with_changes(input={"url": "rist://@0.0.0.0:8000"})) == []


def test_credentials_come_from_a_secret_for_the_schemes_that_take_them() -> None:
    ok = with_changes(input={"url": "rtsp://cam.example/s", "credentialsSecretRef": {"name": "cam"}})
    assert violations(SPEC_SCHEMA, ok) == []
    bad = with_changes(input={"url": "srt://h:9000", "credentialsSecretRef": {"name": "cam"}})
    assert any("credentialsSecretRef is for" in v for v in violations(SPEC_SCHEMA, bad))


@pytest.mark.parametrize("sub_path", ["../../etc", "a/../../b", "..", "a/.."])
def test_sub_path_stays_inside_the_claim(sub_path: str) -> None:
    storage = {"vendor": "volume", "volume": {"claimName": "recs", "subPath": sub_path}}
    found = violations(SPEC_SCHEMA, with_changes(storage=storage))
    assert any("no '..' element" in v for v in found), found
    fine = {"vendor": "volume", "volume": {"claimName": "recs", "subPath": "team/a..b/c"}}
    assert violations(SPEC_SCHEMA, with_changes(storage=fine)) == []


def test_the_listen_port_is_not_the_agent_port() -> None:
    found = violations(SPEC_SCHEMA, with_changes(input={"listen": {"protocol": "srt", "port": 8090}}))
    assert any("agent's own port" in v for v in found), found


@pytest.mark.parametrize(
    "toleration",
    [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
     {"key": "node-role.kubernetes.io/master", "operator": "Exists"},
     {"operator": "Exists"}],
)  # fmt: skip
def test_recorders_never_tolerate_control_plane_taints(toleration: dict[str, str]) -> None:
    found = violations(SPEC_SCHEMA, with_changes(pod={"tolerations": [toleration]}))
    assert any("control-plane" in v for v in found), found
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert violations(SPEC_SCHEMA, with_changes(pod={"tolerations": [gpu]})) == []


@pytest.mark.parametrize("protocol", ["rtmp", "udp", "rist", "srt"])
def test_public_listeners_must_authenticate_publishers(protocol: str) -> None:
    listen = {"listen": {"protocol": protocol, "port": 9000}}
    public = with_changes(input=listen, pod={"serviceType": "LoadBalancer"})
    assert any("NodePort or LoadBalancer listener" in v for v in violations(SPEC_SCHEMA, public))
    assert violations(SPEC_SCHEMA, with_changes(input=listen, pod={"serviceType": "ClusterIP"})) == []
    anonymous = {"listen": {"protocol": protocol, "port": 9000, "allowAnonymous": True}}
    assert violations(SPEC_SCHEMA, with_changes(input=anonymous, pod={"serviceType": "NodePort"})) == []
    srt = {"listen": {"protocol": "srt", "port": 9000}, "passphraseSecretRef": {"name": "srt", "key": "p"}}
    assert violations(SPEC_SCHEMA, with_changes(input=srt, pod={"serviceType": "LoadBalancer"})) == []


HLS = {"name": "live", "format": "hls"}
THUMBS = {"name": "thumbs", "format": "jpg", "segmentDuration": "5s", "width": 320}


def test_additional_outputs_pass() -> None:
    assert violations(SPEC_SCHEMA, with_changes(additionalOutputs=[HLS, THUMBS])) == []
    live = {**HLS, "hlsPlaylistType": "live", "hlsListSize": 5}
    assert (
        violations(SPEC_SCHEMA, with_changes(additionalOutputs=[live, {"name": "ts", "format": "mpegts"}]))
        == []
    )


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([HLS, {**THUMBS, "name": "live"}], "additionalOutputs names must be unique"),
        ([{**HLS, "name": "main"}], "additionalOutputs name main is output's own"),
        ([{**HLS, "width": 320}], "width is for jpg thumbnails only"),
        ([{**THUMBS, "hlsPlaylistType": "event"}], "hlsPlaylistType and hlsListSize are for hls outputs only"),
        ([{**HLS, "hlsListSize": 5}], "hlsListSize is the sliding window of hlsPlaylistType live"),
        ([{**HLS, "segmentAtClockTime": True}], "segmentAtClockTime is a segment muxer option"),
        ([{**THUMBS, "fileNameTemplate": "{recording}-{index}"}], "must contain {index} and {output}"),
        ([{"name": "Live", "format": "hls"}], "spec.additionalOutputs[0].name"),
    ],
)  # fmt: skip
def test_impossible_additional_outputs_rejected(outputs: list[dict[str, Any]], message: str) -> None:
    found = violations(SPEC_SCHEMA, with_changes(additionalOutputs=outputs))
    assert any(message in v for v in found), found


def test_thumbnails_need_video() -> None:
    audio_only = with_changes(output={"format": "mp3", "fileNameTemplate": "{index}"}, transcoding=None)
    assert violations(SPEC_SCHEMA, {**audio_only, "additionalOutputs": [HLS]}) == []
    found = violations(SPEC_SCHEMA, {**audio_only, "additionalOutputs": [THUMBS]})
    assert any("jpg thumbnails need video: output.format mp3 records audio only" in v for v in found), found


@pytest.mark.parametrize("size", ["1Mi", "500Mi", "2G", "1Ti"])
def test_max_size_accepted(size: str) -> None:
    assert violations(SPEC_SCHEMA, with_changes(output__maxSize=size)) == []
    assert violations(SPEC_SCHEMA, with_changes(output__maxSize=size, seamless=True)) == []
