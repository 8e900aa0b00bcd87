"""The transcoder emulator's state machine on a manual clock: status walk, idle destroy, tokens."""

from __future__ import annotations

from typing import Any

import pytest

from recording_sandbox.agora import AgoraState, ManualClock
from recording_sandbox.agora.transcoder import TranscoderError, TranscoderState
from recording_sandbox.agora.transcoder_validation import validate_transcoder

CONFIG: dict[str, Any] = {
    "idleTimeout": 10,
    "canvas": {"width": 640, "height": 360, "color": 0},
    "audioInputs": [{"rtc": {"rtcChannel": "ch", "rtcUid": 7}}],
    "videoInputs": [
        {
            "rtc": {"rtcChannel": "ch", "rtcUid": 7},
            "region": {"x": 0, "y": 0, "width": 640, "height": 360, "zOrder": 2},
        }
    ],
    "outputs": [{"rtc": {"rtcChannel": "out", "rtcUid": 99}}],
}
BODY = {
    "services": {"cloudTranscoder": {"serviceType": "cloudTranscoderV2", "config": {"transcoder": CONFIG}}}
}


def make() -> tuple[ManualClock, AgoraState, TranscoderState]:
    clock = ManualClock()
    channels = AgoraState(clock=clock)
    return (
        clock,
        channels,
        TranscoderState(clock=clock, channel_users=channels.channel_users, status_step_s=1.0),
    )


def create(state: TranscoderState, instance: str = "i") -> tuple[str, str]:
    _, token = state.acquire("app", {"instanceId": instance})
    _, task = state.create("app", token["tokenName"], BODY)
    return token["tokenName"], task["taskId"]


def test_status_walk_and_idle_destroy() -> None:
    clock, channels, state = make()
    token, task_id = create(state)
    seen = []
    for _ in range(6):
        seen.append(state.query("app", task_id, token)[1]["status"])
        clock.advance(1)
    assert seen == ["IDLE", "PREPARED", "STARTING", "CREATED", "STARTED", "IN_PROGRESS"]
    channels.set_channel_users("app", "ch", ["7"])
    clock.advance(100)
    assert state.query("app", task_id, token)[1]["status"] == "IN_PROGRESS"  # an input user is present
    channels.set_channel_users("app", "ch", ["8"])  # someone else: not an input user
    state.advance()
    clock.advance(10)
    with pytest.raises(TranscoderError) as gone:
        state.query("app", task_id, token)
    assert gone.value.http_status == 404
    assert state.snapshot()[0]["stopReason"] == "idle"
    create(state)  # the instanceId is free again


def test_builder_tokens_instance_ids_and_sequence_ids() -> None:
    clock, channels, state = make()
    channels.set_channel_users("app", "ch", ["7"])  # an input user keeps the task alive
    token, task_id = create(state)
    assert state.create("app", token, BODY)[0] == 201  # the same token: the same task
    with pytest.raises(TranscoderError) as conflict:
        create(state)
    assert conflict.value.http_status == 409
    _, other = state.acquire("app", {"instanceId": "j"})
    clock.advance(301)
    with pytest.raises(TranscoderError) as expired:
        state.create("app", other["tokenName"], BODY)
    assert expired.value.http_status == 400
    mask = {"updateMask": "services.cloudTranscoder.config"}
    assert state.update("app", task_id, token, {**mask, "sequenceId": "2"}, BODY) == (200, None)
    state.update("app", task_id, token, {**mask, "sequenceId": "1"}, BODY)  # stale: ignored
    view = state.snapshot()[0]
    assert view["sequenceId"] == 2 and view["staleUpdates"] == 1 and view["updates"] == [2, 1]
    with pytest.raises(TranscoderError):
        state.update("app", task_id, token, {"sequenceId": "3"}, BODY)  # no updateMask
    with pytest.raises(TranscoderError) as wrong_token:
        state.query("app", task_id, other["tokenName"])
    assert wrong_token.value.http_status == 400


def test_validation_rules() -> None:
    assert validate_transcoder(CONFIG) == []
    raw_two = {
        **CONFIG,
        "videoInputs": CONFIG["videoInputs"] * 2,
        "outputs": [{"rtc": {"rtcChannel": "o", "rtcUid": 1}, "videoOption": {"mode": "RAW"}}],
    }
    assert any("RAW" in p for p in validate_transcoder(raw_two))
    mixed = {**CONFIG, "outputs": [{"rtc": {"rtcChannel": "o", "rtcUid": 1}}, {"streamUrl": "rtmp://x"}]}
    assert any("CDN and an RTC" in p for p in validate_transcoder(mixed))
    low_z = {
        **CONFIG,
        "videoInputs": [
            {**CONFIG["videoInputs"][0], "region": {"x": 0, "y": 0, "width": 640, "height": 360, "zOrder": 1}}
        ],
    }
    assert any("zOrder" in p for p in validate_transcoder(low_z))
