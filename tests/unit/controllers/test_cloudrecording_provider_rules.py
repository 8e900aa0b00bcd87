"""Pure rules of the CloudRecording controller for Agora's documented errors, restarts, the start
check, encrypted channels, extraClientRequest and NCS event 100 (no kopf, Kubernetes or HTTP)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers.cloudrecording.agora import session_error
from recording_operator.controllers.cloudrecording.decide import (
    acquire_request,
    channel_encryption,
    consecutive_restarts,
    extra_keys,
    merge_extra,
    restart_due,
    start_request,
    start_timed_out,
    storage_config,
)
from recording_operator.controllers.cloudrecording.notices import agora_effect
from recording_operator.providers.agora import AgoraError, ncs
from tests.support.samples import cloudrecording_spec, sample_spec

SAMPLE = sample_spec("cloudrecording-mix")
CREDS = {"accessKey": "AK", "secretKey": "SK"}
spec = cloudrecording_spec


def error(
    endpoint: str, http_status: int, code: int | None, reason: str = "r", gateway: bool = False
) -> AgoraError:
    return AgoraError(endpoint=endpoint, http_status=http_status, code=code, reason=reason, gateway=gateway)


@pytest.mark.parametrize(
    ("exc", "reason", "retryable"),
    [
        (error("acquire", 403, None, "forbidden", gateway=True), "RecordingNotEnabled", False),
        (error("acquire", 400, 400, "invalid_appid"), "RecordingNotEnabled", False),
        (error("acquire", 400, None, "appid is invalid", gateway=True), "RecordingNotEnabled", False),
        (error("start", 206, 435, "no users in channel"), "NoUsersInChannel", True),
        (error("start", 400, 432, "mismatch"), "ResourceMismatch", False),
        (error("start", 400, 53, "task conflict"), "TaskConflict", True),
        (error("start", 503, None, "unavailable"), "ProviderUnavailable", True),
        (error("start", 401, None, "Unauthorized", gateway=True), "AuthFailed", False),
        (error("start", 400, 2, "invalid"), "InvalidSpec", False),
        (error("stop", 206, 435, "no recorded data"), "InvalidSpec", False),  # stop handles 435 itself
    ],
)
def test_agora_answers_become_their_own_reasons(exc: AgoraError, reason: str, retryable: bool) -> None:
    failure = session_error(exc, spec())
    assert (failure.reason, failure.retryable) == (reason, retryable)
    assert exc.reason in failure.message


def test_not_enabled_message_says_what_to_do() -> None:
    message = session_error(error("acquire", 403, None), spec()).message
    assert "not enabled for App ID 0123456789abcdef0123456789abcdef" in message and "Agora Console" in message


def stopped(reason: str, restarts: int | None = None, ran_s: int = 10) -> dict[str, Any]:
    return {
        "phase": "Stopped",
        "stopReason": reason,
        "restartCount": restarts,
        "sessions": [
            {
                "startedAt": "2026-01-01T00:00:00Z",
                "stoppedAt": f"2026-01-01T00:{ran_s // 60:02d}:{ran_s % 60:02d}Z",
            }
        ],
    }


def test_restart_only_with_on_exit_while_recording_after_a_provider_end() -> None:
    on_exit = spec(restartPolicy="OnExit")
    args = {"since_stop_s": 100.0, "base_s": 5.0, "max_s": 300.0}
    assert restart_due(on_exit, stopped("ProviderEnded"), False, **args) == 0.0
    assert restart_due(on_exit, stopped("StartTimedOut"), False, **args) == 0.0
    assert restart_due(on_exit, stopped("Requested"), False, **args) is None
    assert restart_due(on_exit, stopped("MaxDurationReached"), False, **args) is None
    assert restart_due(on_exit, stopped("ProviderEnded"), True, **args) is None  # a start is pending
    assert restart_due(spec(), stopped("ProviderEnded"), False, **args) is None  # Never
    assert (
        restart_due(spec(restartPolicy="OnExit", state="Stopped"), stopped("ProviderEnded"), False, **args)
        is None
    )


def test_restart_backoff_doubles_and_resets_after_a_long_session() -> None:
    on_exit = spec(restartPolicy="OnExit")
    wait = [
        restart_due(on_exit, stopped("ProviderEnded", n), False, since_stop_s=0.0, base_s=5.0, max_s=300.0)
        for n in (None, 1, 2, 3, 10)
    ]
    assert wait == [5.0, 10.0, 20.0, 40.0, 300.0]
    assert consecutive_restarts(stopped("ProviderEnded", 4, ran_s=10)) == 4
    assert consecutive_restarts(stopped("ProviderEnded", 4, ran_s=599 + 1)) == 0


def test_start_check_needs_status_4_or_5_within_the_limit() -> None:
    assert start_timed_out(3, 90.0, limit_s=90.0)
    assert not start_timed_out(3, 89.0, limit_s=90.0)
    assert not start_timed_out(4, 500.0, limit_s=90.0)
    assert not start_timed_out(5, 500.0, limit_s=90.0)
    assert not start_timed_out(None, 500.0, limit_s=90.0)


SALT = base64.b64encode(bytes(32)).decode()


def test_channel_encryption_goes_into_recording_config() -> None:
    s = spec()
    keys = channel_encryption(8, "key", SALT)
    request = start_request(s, storage_config(s.storage, CREDS), None, onhold=False, encryption=keys)
    assert request["recordingConfig"]["secret"] == "key" and request["recordingConfig"]["salt"] == SALT
    assert channel_encryption(5, "key", None) == {"secret": "key"}


@pytest.mark.parametrize("salt", [None, "not base64!", base64.b64encode(bytes(16)).decode()])
def test_gcm2_needs_a_32_byte_salt(salt: str | None) -> None:
    with pytest.raises(SpecError) as caught:
        channel_encryption(7, "key", salt)
    assert caught.value.reason == "InvalidSpec" and "32 bytes" in str(caught.value)
    assert "key" not in str(caught.value).replace("saltRef", "")


def test_sse_and_tag_are_extension_params() -> None:
    storage = spec(storage={**SAMPLE["storage"], "sse": "kms", "tag": "team=a"}).storage
    assert storage_config(storage, CREDS)["extensionParams"] == {"sse": "kms", "tag": "team=a"}


def test_extra_client_request_is_merged_last_and_named() -> None:
    extra = {"recordingConfig": {"audioProfile": 2, "newField": {"a": 1}}, "appsCollection": {"x": "y"}}
    s = spec(agora={**SAMPLE["agora"], "extraClientRequest": extra, "excludeResourceIds": ["r1"]})
    request = start_request(s, storage_config(s.storage, CREDS), None, onhold=False)
    assert request["recordingConfig"]["audioProfile"] == 2
    assert request["recordingConfig"]["channelType"] == 0  # kept: objects are merged
    assert request["appsCollection"] == {"x": "y"}
    assert extra_keys(extra) == [
        "appsCollection.x",
        "recordingConfig.audioProfile",
        "recordingConfig.newField.a",
    ]
    assert merge_extra({"a": [1]}, {"a": [2]}) == {"a": [2]}
    assert acquire_request(s.agora)["excludeResourceIds"] == ["r1"]  # type: ignore[arg-type]


def notice(status: str, sequence: int = 1) -> ncs.Notice:
    body = {
        "noticeId": "n",
        "productId": 3,
        "eventType": 100,
        "notifyMs": 1,
        "payload": {
            "cname": "c",
            "uid": "1",
            "sid": "s",
            "sequence": sequence,
            "sendts": 1,
            "details": {"msgName": "rtmp_publish_status", "rtmpUrl": "rtmp://x/y", "status": status},
        },
    }
    return ncs.parse_notice(json.dumps(body).encode(), "a")


def test_event_100_sets_the_cdn_status_and_condition() -> None:
    effect = agora_effect(notice("publishing"), "Recording", newer=True)
    assert effect.fields == {"rtmpPublishStatus": "publishing"}
    assert effect.condition is not None and effect.condition[:3] == ("CdnPublishing", "True", "Publishing")
    held = agora_effect(notice("onhold"), "Paused", newer=True)
    assert held.condition is not None and held.condition[1:3] == ("False", "Onhold")
    assert agora_effect(notice("publishing"), "Recording", newer=False).empty  # an older notice
    assert agora_effect(notice("bogus"), "Recording", newer=True).empty
