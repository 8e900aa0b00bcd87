"""Pure validation rules (Agora's `acquire`, `start`, `update` and `updateLayout` pages under
https://docs.agora.io/en/cloud-recording/rest-api/) of the Agora emulator."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from recording_sandbox.agora.samples import sample_start_request
from recording_sandbox.agora.validation import (
    is_valid_uid,
    validate_acquire,
    validate_layout,
    validate_start,
    validate_update,
)


def _start(mode: str, **changes: Any) -> dict[str, Any]:
    return sample_start_request(mode) | changes


@pytest.mark.parametrize("mode", ["individual", "mix"])
def test_samples_are_valid(mode: str) -> None:
    assert validate_start(mode, sample_start_request(mode)) == []


def test_web_sample_is_valid_with_scene_1() -> None:
    assert validate_start("web", sample_start_request("web"), scene=1) == []
    assert any("scene = 1" in p for p in validate_start("web", sample_start_request("web"), scene=0))
    assert any("scene = 1" in p for p in validate_start("mix", sample_start_request("mix"), scene=1))


def test_mode_must_be_known() -> None:
    assert validate_start("composite", {}) == ["mode must be one of individual, mix, web (got 'composite')"]


@pytest.mark.parametrize(
    ("uid", "ok"),
    [("1", True), ("4294967295", True), ("0", False), ("4294967296", False), ("abc", False), (5, False)],
)
def test_uid_rule(uid: Any, ok: bool) -> None:
    assert is_valid_uid(uid) is ok


def test_acquire_rules() -> None:
    assert validate_acquire("chan", "1", {}) == []
    assert validate_acquire("chan", "1", {"resourceExpiredHour": 0}) == [
        "Acquire: invalid resourceExpiredHour value!"
    ]
    assert validate_acquire("chan", "1", {"resourceExpiredHour": 721}) == [
        "Acquire: invalid resourceExpiredHour value!"
    ]
    assert validate_acquire("chan", "1", {"resourceExpiredHour": 720, "scene": 1}) == []
    assert any("scene" in p for p in validate_acquire("chan", "1", {"scene": 5}))
    assert any("uid" in p for p in validate_acquire("chan", "0", {}))
    assert any("clientRequest" in p for p in validate_acquire("chan", "1", None))


def test_storage_config_required_and_fields() -> None:
    body = sample_start_request("mix")
    del body["storageConfig"]
    assert validate_start("mix", body) == ["clientRequest.storageConfig is required and must be an object"]
    body = sample_start_request("mix")
    body["storageConfig"] = {"vendor": 4, "region": -1}
    problems = validate_start("mix", body)
    assert any("vendor must be one of" in p for p in problems)
    assert any("region" in p for p in problems)
    for key in ("bucket", "accessKey", "secretKey"):
        assert any(f"storageConfig.{key} is required" in p for p in problems)


def test_vendor_11_needs_endpoint() -> None:
    body = sample_start_request("mix")
    del body["storageConfig"]["extensionParams"]
    assert validate_start("mix", body) == [
        "clientRequest.storageConfig.extensionParams.endpoint is required for vendor 11 (S3-compatible)"
    ]


def test_file_name_prefix_rules() -> None:
    body = sample_start_request("mix")
    body["storageConfig"]["fileNamePrefix"] = ["ok", "not-ok"]
    assert any("only A-Z, a-z and 0-9" in p for p in validate_start("mix", body))
    body["storageConfig"]["fileNamePrefix"] = ["a" * 64, "b" * 64]
    assert any("longer than 128" in p for p in validate_start("mix", body))
    body["storageConfig"]["fileNamePrefix"] = ["a" * 63, "b" * 63]
    assert validate_start("mix", body) == []


def test_sse_and_sts_vendor_rules() -> None:
    body = sample_start_request("mix")
    body["storageConfig"]["extensionParams"]["sse"] = "kms"
    body["storageConfig"]["stsToken"] = "t"
    problems = validate_start("mix", body)
    assert any("sse applies to Amazon S3" in p for p in problems)
    assert any("stsToken is supported only" in p for p in problems)


def test_max_idle_time_range() -> None:
    for bad in (4, 2_592_001, "30"):
        body = sample_start_request("mix")
        body["recordingConfig"]["maxIdleTime"] = bad
        assert any("maxIdleTime must be an integer in [5, 2592000]" in p for p in validate_start("mix", body))


def test_subscription_rules() -> None:
    body = sample_start_request("individual")
    body["recordingConfig"]["unsubscribeAudioUids"] = ["1"]
    assert any("cannot both be set" in p for p in validate_start("individual", body))
    body = sample_start_request("individual")
    body["recordingConfig"]["subscribeVideoUids"] = [str(i) for i in range(1, 34)]
    assert any("at most 32" in p for p in validate_start("individual", body))
    body["recordingConfig"]["subscribeVideoUids"] = ["12", "user-a"]
    assert any("can't be convert to uint32_t" in p for p in validate_start("individual", body))


def test_subscribe_uid_group_required_in_individual_only() -> None:
    body = sample_start_request("individual")
    del body["recordingConfig"]["subscribeUidGroup"]
    assert validate_start("individual", body) == [
        "clientRequest.recordingConfig.subscribeUidGroup is required in individual mode"
    ]
    assert "subscribeUidGroup" not in sample_start_request("mix")["recordingConfig"]


def test_av_file_type_mp4_alone_rejected() -> None:
    body = sample_start_request("mix")
    body["recordingFileConfig"]["avFileType"] = ["mp4"]
    assert any("['mp4'] alone" in p for p in validate_start("mix", body))
    body["recordingFileConfig"]["avFileType"] = ["hls", "flv"]
    assert any("avFileType must be" in p for p in validate_start("mix", body))


def test_transcoding_ranges_and_layouts() -> None:
    body = sample_start_request("mix")
    tc = body["recordingConfig"]["transcodingConfig"]
    tc.update(width=1920, height=1200)
    assert any("1920 x 1080" in p for p in validate_start("mix", body))
    tc.update(width=1280, height=720, mixedVideoLayout=2)
    assert any("maxResolutionUid is required" in p for p in validate_start("mix", body))
    tc.update(maxResolutionUid="123")
    assert validate_start("mix", body) == []
    tc.update(mixedVideoLayout=3)
    assert any("layoutConfig is required" in p for p in validate_start("mix", body))
    tc["layoutConfig"] = [{"x_axis": 0.0, "y_axis": 0.0, "width": 1.5, "height": 0.5, "alpha": 2}]
    problems = validate_start("mix", body)
    assert any("layoutConfig[0].width" in p for p in problems)
    assert any("layoutConfig[0].alpha" in p for p in problems)
    tc["layoutConfig"] = [{"x_axis": 0.0, "y_axis": 0.0, "width": 0.5, "height": 0.5}] * 18
    assert any("at most 17" in p for p in validate_start("mix", body))
    tc["layoutConfig"] = [{"x_axis": 0.0, "y_axis": 0.0, "width": 0.5, "height": 0.5}]
    tc["backgroundColor"] = "red"
    assert any("backgroundColor" in p for p in validate_start("mix", body))


def test_snapshot_rules() -> None:
    body = sample_start_request("individual")
    body["snapshotConfig"] = {"captureInterval": 4, "fileType": ["png"]}
    problems = validate_start("individual", body)
    assert any("captureInterval" in p for p in problems)
    assert any("fileType" in p for p in problems)
    body["snapshotConfig"] = {"captureInterval": 5, "fileType": ["jpg"]}
    body["recordingConfig"]["streamTypes"] = 0
    assert any("streamTypes 1 or 2" in p for p in validate_start("individual", body))
    mix = sample_start_request("mix")
    mix["snapshotConfig"] = {"fileType": ["jpg"]}
    assert any("individual mode only" in p for p in validate_start("mix", mix))


def test_snapshot_audio_subscription_needs_video() -> None:
    body = sample_start_request("individual")
    del body["recordingConfig"]["subscribeVideoUids"]
    body["snapshotConfig"] = {"fileType": ["jpg"]}
    assert any("subscribeVideoUids must be set" in p for p in validate_start("individual", body))


def test_web_rules() -> None:
    body = sample_start_request("web")
    del body["extensionServiceConfig"]
    assert validate_start("web", body, scene=1) == [
        "clientRequest.extensionServiceConfig is required in web mode"
    ]
    body = sample_start_request("web")
    esc = body["extensionServiceConfig"]
    esc["errorHandlePolicy"] = "error_ignore"
    param = esc["extensionServices"][0]["serviceParam"]
    del param["url"]
    param.update(videoWidth=1920, videoHeight=1200, maxRecordingHour=721, videoFps=61, maxVideoDuration=20)
    problems = validate_start("web", body, scene=1)
    for fragment in (
        "errorHandlePolicy",
        ".url is required",
        "1920 x 1080",
        "maxRecordingHour",
        "videoFps",
        "maxVideoDuration",
    ):
        assert any(fragment in p for p in problems), fragment
    body = sample_start_request("web")
    body["extensionServiceConfig"]["extensionServices"].append(
        {"serviceName": "rtmp_publish_service", "serviceParam": {"outputs": [{"rtmpUrl": "http://cdn"}]}}
    )
    assert any("rtmp:// or rtmps://" in p for p in validate_start("web", body, scene=1))


def test_decryption_salt() -> None:
    body = sample_start_request("mix")
    body["recordingConfig"].update(decryptionMode=7, secret="s", salt="short")
    assert any("salt" in p for p in validate_start("mix", body))
    body["recordingConfig"]["salt"] = base64.b64encode(b"x" * 32).decode()
    assert validate_start("mix", body) == []


def test_update_rules() -> None:
    ok = {"streamSubscribe": {"audioUidList": {"subscribeAudioUids": ["1", "2"]}}}
    assert validate_update("individual", ok) == []
    bad = copy.deepcopy(ok)
    bad["streamSubscribe"]["audioUidList"]["unsubscribeAudioUids"] = ["3"]
    assert any("cannot both be set" in p for p in validate_update("individual", bad))
    assert validate_update("web", {"webRecordingConfig": {"onhold": True}}) == []
    assert any("web mode only" in p for p in validate_update("mix", {"webRecordingConfig": {"onhold": True}}))
    assert any("outputs" in p for p in validate_update("web", {"rtmpPublishConfig": {"outputs": []}}))
    assert any(
        "endpoint" in p for p in validate_update("mix", {"storageConfig": {"vendor": 11, "region": 0}})
    )


def test_layout_rules() -> None:
    assert validate_layout({"mixedVideoLayout": 1}, "clientRequest") == []
    assert any("mixedVideoLayout" in p for p in validate_layout({"mixedVideoLayout": 4}, "clientRequest"))
    assert any(
        "image_url" in p
        for p in validate_layout(
            {"backgroundConfig": [{"uid": "1", "image_url": "http://x"}]}, "clientRequest"
        )
    )
