"""CloudTranscoder notices: what each Cloud Transcoder NCS event (110–113) changes."""

from __future__ import annotations

from typing import Any

from recording_operator.controllers.cloudtranscoder.notices import transcoder_effect
from recording_operator.providers.agora.ncs import Notice


def notice(event_type: int, **details: Any) -> Notice:
    payload = {"taskId": "t1", "instanceId": "i", "serviceScene": "rtsc/cloud-transcoder", "details": details}
    return Notice(
        app_id="a", notice_id="n", notify_ms=1, event_type=event_type, product_id=None, payload=payload
    )


def test_started_moves_only_a_starting_task() -> None:
    started = notice(110, event="cloud_transcoder_started", state="Transcoder success")
    effect = transcoder_effect(started, "CREATED")
    assert effect.phase == "STARTED" and effect.ready and effect.ready[0] == "True"
    assert transcoder_effect(started, "IN_PROGRESS").empty
    assert transcoder_effect(started, "Exited").empty  # a late start never revives an ended task


def test_stopped_ends_a_live_task_once() -> None:
    stopped = notice(111, event="cloud_transcoder_stopped", stopReason="Idle timeout")
    effect = transcoder_effect(stopped, "IN_PROGRESS")
    assert effect.exited and "Idle timeout" in effect.exited
    assert transcoder_effect(stopped, "Exited").empty


def test_status_and_updated() -> None:
    assert transcoder_effect(notice(112, state="running"), "STARTED").ready == (
        "True",
        "Running",
        "task t1 is IN_PROGRESS",
    )
    failed = transcoder_effect(notice(112, state="failed"), "STARTED")
    assert failed.ready and failed.ready[:2] == ("False", "TaskFailed")
    assert transcoder_effect(notice(112, state="connecting"), "STARTED").empty
    assert transcoder_effect(notice(113, state="running"), "IN_PROGRESS").empty
