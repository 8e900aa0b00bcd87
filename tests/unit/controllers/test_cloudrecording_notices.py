"""CloudRecording notices: what each Agora NCS event changes, which recording it concerns, adoption."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from recording_operator.controllers.cloudrecording.decide import PENDING_ANNOTATION, adoptable
from recording_operator.controllers.cloudrecording.notices import (
    NoticeActivity,
    NotIndexedYet,
    Orphan,
    Orphans,
    OwnStops,
    SessionIndex,
    agora_effect,
    apply_agora_notice,
    notice_files,
    query_interval,
)
from recording_operator.providers.agora.ncs import MalformedNotice, Notice, parse_notice
from recording_operator.settings import Settings


def notice(event_type: int, details: dict[str, Any], sequence: int = 0, **payload: Any) -> Notice:
    return Notice(
        app_id="app",
        notice_id=f"n-{event_type}-{sequence}",
        notify_ms=1,
        event_type=event_type,
        product_id=3,
        payload={
            "sid": "s1",
            "cname": "c",
            "uid": "7",
            "sequence": sequence,
            "sendts": sequence,
            "details": details,
            **payload,
        },
    )


def test_recorder_started_moves_only_a_starting_recording() -> None:
    started = notice(40, {"msgName": "recorder_started", "status": 0})
    assert agora_effect(started, "Starting", newer=True).started
    for phase in ("Recording", "Stopped", "Failed", None):
        assert agora_effect(started, phase, newer=True).empty


def test_provider_ended_only_while_active_and_not_for_our_own_stop() -> None:
    idle = notice(41, {"msgName": "recorder_leave", "leaveCode": 4})
    effect = agora_effect(idle, "Recording", newer=True)
    assert effect.ended and effect.ended[0] == "ProviderEnded" and "leaveCode 4" in effect.ended[1]
    assert agora_effect(idle, "Stopped", newer=True).empty
    # leaveCode 16: it left because stop was called: the stop's answer reports that.
    assert agora_effect(notice(41, {"leaveCode": 16}), "Recording", newer=True).empty
    exit_ = agora_effect(notice(11, {"msgName": "session_exit", "exitStatus": 1}), "Paused", newer=True)
    assert exit_.ended and "abnormally" in exit_.ended[1]
    assert agora_effect(notice(11, {"exitStatus": 0}), "Stopped", newer=True).empty
    # Our own stop is under way: its answer, not the notices it causes, ends the session.
    assert agora_effect(idle, "Stopping", newer=True).empty
    assert agora_effect(idle, "Recording", newer=True, own_stop=True).empty
    assert agora_effect(notice(11, {"exitStatus": 0}), "Recording", newer=True, own_stop=True).empty
    assert agora_effect(notice(11, {"exitStatus": 0}), "Stopping", newer=True).empty


def test_failover_and_progress_need_a_newer_notice() -> None:
    failover = notice(12, {"msgName": "session_failover", "newUid": 424242})
    effect = agora_effect(failover, "Recording", newer=True)
    assert (
        effect.fields == {"recorderUid": "424242"} and effect.event and effect.event[1] == "SessionFailover"
    )
    assert agora_effect(failover, "Recording", newer=False).empty
    progress = agora_effect(notice(33, {"progress": 12000}), "Stopped", newer=True)
    assert progress.fields == {"uploadProgress": 10000}


def test_files_from_uploaded_snapshot_and_web_notices() -> None:
    uploaded = notice(31, {"fileList": [{"fileName": "a/b/s1_c.m3u8", "sliceStartTime": 1700000000000}]})
    assert [f.file_name for f in notice_files(uploaded)] == ["a/b/s1_c.m3u8"]
    assert agora_effect(uploaded, "Stopped", newer=False).files  # files count in any phase
    assert [f.file_name for f in notice_files(notice(45, {"fileName": "p/x.jpg"}))] == ["p/x.jpg"]
    web = notice(71, {"code": 0, "fileList": [{"filename": "w/s1_c_0.mp4", "sliceStartTime": 5}]})
    assert [f.file_name for f in notice_files(web)] == ["w/s1_c_0.mp4"]
    assert notice_files(notice(31, {"msgName": "uploaded", "status": 0})) == []  # web mode sends no list


def test_uploaded_after_the_stop_means_every_file_is_stored() -> None:
    # 31 after a stop that answered uploadingStatus backuped: the backed-up files have landed.
    uploaded = notice(31, {"msgName": "uploaded", "status": 0})
    assert agora_effect(uploaded, "Stopped", newer=True).fields == {"uploadingStatus": "uploaded"}
    assert "uploadingStatus" not in agora_effect(uploaded, "Recording", newer=True).fields


def test_order_marks_per_session_and_event() -> None:
    activity = NoticeActivity()
    assert activity.newer("s1", 12, (3, 30))
    assert activity.newer("s1", 12, (3, 30)), "not applied yet (its write failed): a resend is still newer"
    activity.applied("s1", 12, (3, 30))
    assert not activity.newer("s1", 12, (2, 20))  # reordered: older than what was applied
    assert not activity.newer("s1", 12, (3, 30))  # resent after it was applied
    activity.applied("s1", 12, (2, 20))  # an older one applied late does not move the mark back
    assert not activity.newer("s1", 12, (3, 30))
    assert activity.newer("s1", 33, (2, 20))  # another event type has its own mark
    assert activity.newer("s2", 12, (0, 0))


def test_index_by_sid_and_channel() -> None:
    index = SessionIndex()
    body = {
        "metadata": {"namespace": "ns", "name": "r"},
        "spec": {"agora": {"appId": "app", "channel": "c", "uid": "7"}},
        "status": {"sid": "s1"},
    }
    index.observe("ADDED", body)
    assert index.by_sid("s1") == ("ns", "r")
    assert index.by_channel("app", "c", "7") == [("ns", "r")]
    assert index.by_channel("default", "c", "7") == [("ns", "r")]
    assert index.by_channel("other-app", "c", "7") == []
    assert index.of_channel("c") == [("ns", "r")]
    index.observe("MODIFIED", {**body, "status": {"sid": "s2"}})
    assert index.by_sid("s1") is None and index.by_sid("s2") == ("ns", "r")
    index.observe("DELETED", {**body, "status": {"sid": "s2"}})
    assert index.by_sid("s2") is None and index.by_channel("app", "c", "7") == []
    assert index.deleted("s2") and not index.deleted("s3")


def test_adoptable_follows_the_start_pending_rule() -> None:
    pending = {PENDING_ANNOTATION: json.dumps({"resourceId": "r-1", "acquiredAt": "2026-01-01T00:00:00Z"})}
    assert adoptable({}, pending) == "r-1"
    assert adoptable({"sid": "s1"}, pending) is None
    assert adoptable({"resourceId": "r-0"}, {}) is None


def test_query_interval_stretches_while_notices_arrive() -> None:
    from recording_operator.controllers.cloudrecording import notices

    settings = Settings(query_interval_s=60, callbacks_query_stretch=5)
    assert query_interval(settings, "ns", "quiet") == 60
    notices.ACTIVITY.touch(("ns", "busy"))
    assert query_interval(settings, "ns", "busy") == 300


def test_parse_notice_envelope() -> None:
    body = json.dumps(
        {
            "noticeId": "n",
            "productId": 3,
            "eventType": 40,
            "notifyMs": 5,
            "sid": "top",
            "payload": {"cname": "c"},
        }
    ).encode()
    parsed = parse_notice(body, "app")
    assert (parsed.sid, parsed.cname, parsed.event_type, parsed.app_id) == ("top", "c", 40, "app")
    for bad in (b"\xff", b"[]", b'{"noticeId": "n", "eventType": 1, "notifyMs": 1}', b'{"eventType": 1}'):
        try:
            parse_notice(bad, "app")
        except MalformedNotice:
            continue
        raise AssertionError(f"{bad!r} was accepted")


async def test_a_notice_for_no_known_recording_is_refused_while_the_operator_has_just_started() -> None:
    """Right after a restart the watch may not have listed the recording a notice concerns: the
    notice is refused (the receiver answers 503: Agora resends it, the receiver applies it again)
    instead of being counted unmatched and lost; once the grace is over it is unmatched."""
    stranger = notice(40, {"msgName": "recorder_started", "status": 0}, cname="nobody-records-this")
    young = SimpleNamespace(settings=Settings(callbacks_unmatched_grace_s=3600))
    with pytest.raises(NotIndexedYet, match="nobody-records-this"):
        await apply_agora_notice(young, stranger)  # type: ignore[arg-type]
    settled = SimpleNamespace(settings=Settings(callbacks_unmatched_grace_s=0))
    assert await apply_agora_notice(settled, stranger) == "unmatched"  # type: ignore[arg-type]


def test_a_stop_agora_answered_makes_a_later_404_the_end() -> None:
    stops = OwnStops(limit=2)
    stops.add("s1")
    assert "s1" in stops and not stops.ended_here("s1")  # sent, not answered: a 404 may be a migration
    stops.answered("s1")
    assert stops.ended_here("s1") and not stops.ended_here(None)
    stops.answered("s2")
    stops.answered("s3")  # bounded: the oldest goes
    assert not stops.ended_here("s1") and stops.ended_here("s3")


def test_an_orphaned_start_is_returned_even_when_journalling_its_taking_fails(tmp_path: Path) -> None:
    journal = tmp_path / "orphaned-starts.jsonl"
    orphans = Orphans()
    orphans.open(journal)
    orphan = Orphan(app_id="app", resource_id="rid", mode="mix", namespace="ns", credentials_secret="agora")
    orphans.remember("ch", "42", orphan)
    journal.unlink()
    journal.mkdir()  # the next journal write fails (as on a full or lost volume)

    assert orphans.take("ch", "42") == orphan
    assert not orphans.known("ch", "42") and orphans.take("ch", "42") is None
