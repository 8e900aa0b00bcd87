"""The CloudRecording CRD rejects, up front, the Agora values the start page rules out
(https://docs.agora.io/en/cloud-recording/rest-api/start), and accepts their boundaries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.samples import sample_spec
from tests.unit.api.schema_rules import changed, spec_schema, violations

SPEC_SCHEMA = spec_schema("cloudrecordings")
MIX = sample_spec("cloudrecording-mix")
TRANSCODING = "agora__recordingConfig__transcodingConfig__"
INDIVIDUAL = {
    "agora__mode": "individual",
    "agora__recordingConfig": {"channelType": 0, "subscribeUidGroup": 0},
    "agora__recordingFileConfig": None,
}
WEB_PARAM = {
    "url": "https://example.com/board",
    "audioProfile": 0,
    "videoWidth": 1280,
    "videoHeight": 720,
    "maxRecordingHour": 2,
}


def _web(**param: Any) -> dict[str, Any]:
    service = {"serviceName": "web_recorder_service", "serviceParam": {**WEB_PARAM, **param}}
    return changed(
        MIX,
        agora__mode="web",
        agora__recordingConfig=None,
        agora__extensionServiceConfig={"extensionServices": [service]},
    )


def _individual(**changes: Any) -> dict[str, Any]:
    return changed(changed(MIX, **INDIVIDUAL), **changes)


def _problems(spec: dict[str, Any]) -> list[str]:
    return violations(SPEC_SCHEMA, spec)


@pytest.mark.parametrize("uid", ["0", "4294967296", "9999999999", "-1", "01"])
def test_uids_outside_1_to_2_32_minus_1_are_rejected(uid: str) -> None:
    layout = {
        "mixedVideoLayout": 3,
        "layoutConfig": [{"uid": uid, "x_axis": 0, "y_axis": 0, "width": 1, "height": 1}],
    }
    for spec in (
        changed(MIX, **{f"{TRANSCODING}maxResolutionUid": uid, f"{TRANSCODING}mixedVideoLayout": 2}),
        changed(MIX, **{f"{TRANSCODING}{k}": v for k, v in layout.items()}),
        changed(MIX, **{f"{TRANSCODING}backgroundConfig": [{"uid": uid, "image_url": "https://x/y.jpg"}]}),
        changed(MIX, agora__recordingConfig__subscribeAudioUids=[uid]),
    ):
        assert _problems(spec), spec


def test_uid_boundaries_pass() -> None:
    spec = changed(
        MIX, **{f"{TRANSCODING}maxResolutionUid": "4294967295", f"{TRANSCODING}mixedVideoLayout": 2}
    )
    assert _problems(spec) == []
    assert _problems(changed(MIX, agora__recordingConfig__subscribeAudioUids=["1", "#allstream#"])) == []


def test_web_page_larger_than_1080p_is_rejected() -> None:
    assert _problems(_web(videoWidth=1920, videoHeight=1080)) == []
    assert _problems(_web(videoWidth=1080, videoHeight=1920)) == []
    found = _problems(_web(videoWidth=1920, videoHeight=1200))
    assert any("videoWidth × videoHeight must not exceed 1920 × 1080" in p for p in found), found


def test_stream_mode_original_needs_audio_only() -> None:
    found = _problems(_individual(agora__recordingConfig__streamMode="original"))
    assert any("streamMode original" in p for p in found), found
    found = _problems(
        _individual(agora__recordingConfig__streamMode="original", agora__recordingConfig__streamTypes=2)
    )
    assert any("streamMode original" in p for p in found), found
    ok = _individual(agora__recordingConfig__streamMode="original", agora__recordingConfig__streamTypes=0)
    assert _problems(ok) == []


@pytest.mark.parametrize(
    ("stream_types", "key", "message"),
    [
        (1, "subscribeAudioUids", "audio subscription lists need streamTypes 0 or 2"),
        (1, "unsubscribeAudioUids", "audio subscription lists need streamTypes 0 or 2"),
        (0, "subscribeVideoUids", "video subscription lists need streamTypes 1 or 2"),
        (0, "unsubscribeVideoUids", "video subscription lists need streamTypes 1 or 2"),
    ],
)
def test_subscription_lists_must_match_stream_types(stream_types: int, key: str, message: str) -> None:
    spec = changed(
        MIX, agora__recordingConfig__streamTypes=stream_types, **{f"agora__recordingConfig__{key}": ["7"]}
    )
    found = _problems(spec)
    assert any(message in p for p in found), found
    assert _problems(changed(spec, agora__recordingConfig__streamTypes=2)) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (changed(MIX, agora__recordingFileConfig={"avFileType": ["mp4"]}), "avFileType must include hls"),
        (
            changed(MIX, agora__recordingFileConfig={"avFileType": ["hls", "hls"]}),
            "avFileType lists a type twice",
        ),
        (
            _individual(agora__recordingFileConfig={"avFileType": ["hls", "mp4"]}),
            "individual mode records avFileType [hls] only",
        ),
    ],
)
def test_av_file_type_combinations_the_start_page_rules_out(spec: dict[str, Any], message: str) -> None:
    found = _problems(spec)
    assert any(message in p for p in found), found


def test_av_file_type_combinations_allowed() -> None:
    assert _problems(changed(MIX, agora__recordingFileConfig={"avFileType": ["hls", "mp4"]})) == []
    assert _problems(_individual(agora__recordingFileConfig={"avFileType": ["hls"]})) == []


def test_snapshots_need_video_and_paired_lists() -> None:
    snap = {"fileType": ["jpg"]}
    found = _problems(_individual(agora__snapshotConfig=snap, agora__recordingConfig__streamTypes=0))
    assert any("snapshotConfig needs recordingConfig.streamTypes 1 or 2" in p for p in found), found
    found = _problems(
        _individual(agora__snapshotConfig=snap, agora__recordingConfig__subscribeAudioUids=["7"])
    )
    assert any("subscribeAudioUids needs subscribeVideoUids" in p for p in found), found
    paired = _individual(
        agora__snapshotConfig=snap,
        agora__recordingConfig__subscribeAudioUids=["7"],
        agora__recordingConfig__subscribeVideoUids=["7"],
    )
    assert _problems(paired) == []


KEY = {"name": "channel-keys", "key": "secret"}
SALT = {"name": "channel-keys", "key": "salt"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"agora__recordingConfig__decryptionMode": 5},
            "decryptionMode other than 0 needs encryption.secretRef",
        ),
        ({"agora__encryption": {"secretRef": KEY}}, "encryption needs a decryptionMode other than 0"),
        (
            {"agora__recordingConfig__decryptionMode": 7, "agora__encryption": {"secretRef": KEY}},
            "decryptionMode 7 and 8 (GCM2) need encryption.saltRef",
        ),
        (
            {"storage__sse": "kms", "storage__vendor": "aliyun", "storage__region": "cn-hangzhou"},
            "storage.sse",
        ),
        ({"storage__tag": "t", "storage__vendor": "gcs", "storage__region": None}, "storage.tag"),
    ],
)
def test_encryption_and_extension_params_rules(changes: dict[str, Any], message: str) -> None:
    found = _problems(changed(MIX, **changes))
    assert any(message in p for p in found), found


def test_encryption_and_extension_params_accepted() -> None:
    assert (
        _problems(
            changed(MIX, agora__recordingConfig__decryptionMode=5, agora__encryption={"secretRef": KEY})
        )
        == []
    )
    gcm2 = {"secretRef": KEY, "saltRef": SALT}
    assert _problems(changed(MIX, agora__recordingConfig__decryptionMode=8, agora__encryption=gcm2)) == []
    assert _problems(changed(MIX, storage__sse="aes256", storage__tag="team=a")) == []
    aliyun = changed(
        MIX, storage__tag="t", storage__vendor="aliyun", storage__region="cn-hangzhou", agora__region="CN"
    )
    assert _problems(aliyun) == []
