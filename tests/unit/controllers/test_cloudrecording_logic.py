"""Decisions of the CloudRecording controller, without kopf, Kubernetes or HTTP."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.status import files_summary
from recording_operator.controllers.cloudrecording.answers import StartAnswers
from recording_operator.controllers.cloudrecording.decide import (
    PENDING_ANNOTATION,
    Plan,
    adoptable,
    applied_config,
    closed_session,
    first_start_route,
    mark_unknown,
    not_found_delay,
    observe,
    plan,
    session_file_keys,
    session_file_stems,
    start_request,
    storage_config,
    updates_needed,
)
from tests.support.samples import cloudrecording_spec, sample_spec

SAMPLE = sample_spec("cloudrecording-mix")
CREDS = {"accessKey": "AK", "secretKey": "SK"}
spec = cloudrecording_spec


def condition(type_: str, status: str, reason: str, gen: int) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "observedGeneration": gen}


def test_new_resource_starts() -> None:
    assert plan(spec(), observe({}, {}), 1) is Plan.START


def test_pending_start_is_resumed_with_the_same_resource_never_a_new_one() -> None:
    annotations = {PENDING_ANNOTATION: json.dumps({"resourceId": "res-1"})}
    obs = observe({"phase": "Starting"}, annotations)
    assert obs.pending_resource_id == "res-1"
    assert plan(spec(), obs, 1) is Plan.RESUME_START
    assert plan(spec(state="Stopped"), obs, 2) is Plan.MARK_STOPPED


def test_running_session_updates_or_stops() -> None:
    obs = observe({"phase": "Recording", "sid": "s", "resourceId": "r"}, {})
    assert plan(spec(), obs, 2) is Plan.UPDATE
    assert plan(spec(state="Stopped"), obs, 2) is Plan.STOP


def test_terminal_failure_waits_for_a_spec_change() -> None:
    status = {
        "phase": "Failed",
        "observedGeneration": 3,
        "conditions": [condition("Synced", "False", "InvalidSpec", 3)],
    }
    assert plan(spec(), observe(status, {}), 3) is Plan.NOTHING
    assert plan(spec(), observe(status, {}), 4) is Plan.START


def test_retryable_failure_is_retried() -> None:
    status = {"phase": "Starting", "conditions": [condition("Synced", "False", "ProviderUnavailable", 1)]}
    assert plan(spec(), observe(status, {}), 1) is Plan.START


def test_provider_ended_session_is_not_restarted_until_the_spec_changes() -> None:
    status = {"phase": "Stopped", "sid": "s", "observedGeneration": 1}
    assert plan(spec(), observe(status, {}), 1) is Plan.NOTHING
    assert plan(spec(), observe(status, {}), 2) is Plan.START
    assert plan(spec(state="Stopped"), observe(status, {}), 2) is Plan.NOTHING


def test_storage_config_maps_names_to_agora_codes() -> None:
    storage = StorageSpec(vendor="s3", region="eu-central-1", bucket="b", prefix=["a", "b2"])
    assert storage_config(storage, CREDS) == {
        "vendor": 1,
        "region": 7,
        "bucket": "b",
        "accessKey": "AK",
        "secretKey": "SK",
        "fileNamePrefix": ["a", "b2"],
    }
    compatible = StorageSpec(vendor="s3-compatible", bucket="b", endpoint="https://minio:9000")
    assert storage_config(compatible, CREDS)["extensionParams"] == {"endpoint": "https://minio:9000"}


def test_storage_config_errors_name_keys_not_values() -> None:
    with pytest.raises(SpecError) as missing:
        storage_config(StorageSpec(vendor="s3", region="us-east-1", bucket="b"), {"accessKey": "AK"})
    assert missing.value.reason == "CredentialsNotFound" and "secretKey" in str(missing.value)
    assert "AK" not in str(missing.value)
    with pytest.raises(SpecError) as region:
        storage_config(StorageSpec(vendor="s3", region="mars-1", bucket="b"), CREDS)
    assert region.value.reason == "InvalidSpec" and "mars-1" in str(region.value)
    with pytest.raises(SpecError):
        storage_config(
            StorageSpec(vendor="s3", region="us-east-1", bucket="b", prefix=["x" * 100, "y" * 40]), CREDS
        )


def test_start_request_follows_agora_shape() -> None:
    request = start_request(spec(), storage_config(spec().storage, CREDS), "tok", onhold=False)
    assert request["token"] == "tok"
    assert request["recordingFileConfig"] == {"avFileType": ["hls", "mp4"]}
    assert request["recordingConfig"]["transcodingConfig"]["mixedVideoLayout"] == 1
    assert request["storageConfig"]["region"] == 0


def test_layout_edit_becomes_one_update_layout() -> None:
    s = spec()
    applied = applied_config(s, "d1", onhold=False)
    assert updates_needed(s, applied, None, "d1") == []
    edited = copy.deepcopy(SAMPLE)
    edited["agora"]["recordingConfig"]["transcodingConfig"]["mixedVideoLayout"] = 0
    updates = updates_needed(CloudRecordingSpec.model_validate(edited), applied, None, "d1")
    assert [(u.endpoint, u.applied_key) for u in updates] == [("updateLayout", "layout")]
    assert updates[0].body["mixedVideoLayout"] == 0
    assert (
        "width" not in updates[0].body
    )  # canvas size is not part of updateLayout (https://docs.agora.io/en/cloud-recording/rest-api/update-layout)


def test_subscription_and_storage_edits_become_updates() -> None:
    s = spec()
    applied = applied_config(s, "d1", onhold=False)
    edited = copy.deepcopy(SAMPLE)
    edited["agora"]["recordingConfig"]["subscribeAudioUids"] = ["100", "101"]
    new = CloudRecordingSpec.model_validate(edited)
    storage = storage_config(new.storage, CREDS)
    updates = updates_needed(new, applied, storage, "d2")
    assert [u.applied_key for u in updates] == ["streamSubscribe", "storage"]
    assert updates[0].body == {"streamSubscribe": {"audioUidList": {"subscribeAudioUids": ["100", "101"]}}}


def test_files_summary_and_bounded_sessions() -> None:
    names = [f"f{i}.ts" for i in range(40)] + ["f0.ts"]
    summary = files_summary(names)
    assert summary["count"] == 40 and summary["latest"] == "f39.ts" and len(summary["names"]) == 32
    status: dict[str, Any] = {"sid": "s", "resourceId": "r", "files": {"count": 3}, "sessions": []}
    for i in range(12):
        status["sessions"] = closed_session(status, stopped_at=f"t{i}", reason="Requested")
    assert len(status["sessions"]) == 10 and status["sessions"][-1]["stoppedAt"] == "t11"
    assert status["sessions"][-1]["fileCount"] == 3


def test_unknown_start_waits_for_adoption_and_an_adopted_sid_is_followed() -> None:
    pending = {"resourceId": "res-1", "acquiredAt": "2026-01-01T00:00:00Z"}
    annotations = {PENDING_ANNOTATION: mark_unknown(pending, "2026-01-01T00:00:10Z")}
    unknown = {"phase": "Starting", "conditions": [condition("Synced", "False", "StartResultUnknown", 1)]}
    obs = observe(unknown, annotations)
    assert obs.start_unknown and not obs.active
    assert adoptable(unknown, annotations) == "res-1"
    assert plan(spec(), obs, 1) is Plan.NOTHING  # not started again at this generation
    adopted = {**unknown, "sid": "sid-1", "resourceId": "res-1"}
    obs = observe(adopted, annotations)
    assert adoptable(adopted, annotations) is None
    assert obs.adopted and obs.active
    assert plan(spec(), obs, 1) is Plan.UPDATE
    assert plan(spec(state="Stopped"), obs, 2) is Plan.STOP
    # Adopted while the phase already said Stopped: still a live session to stop.
    assert observe({**adopted, "phase": "Stopped"}, annotations).active


def test_adoptable_needs_the_marker_and_no_sid() -> None:
    assert adoptable({}, {}) is None
    assert adoptable({"sid": "s"}, {PENDING_ANNOTATION: json.dumps({"resourceId": "r"})}) is None
    assert adoptable({}, {PENDING_ANNOTATION: json.dumps({"meetingId": "m"})}) is None
    assert mark_unknown({"resourceId": "r", "unknownSince": "t0"}, "t1") == json.dumps(
        {"resourceId": "r", "unknownSince": "t0"}
    )


def test_not_found_is_confirmed_with_backoff_until_the_window_passes() -> None:
    delays = []
    elapsed, checks = 0.0, 0
    while (delay := not_found_delay(elapsed, checks, base_s=5, window_s=90)) is not None:
        delays.append(delay)
        elapsed += delay
        checks += 1
    assert delays[:4] == [5, 10, 15, 20]
    assert sum(delays) == 90
    # A 404 met when the window since the first one (status.notFoundSince, written before an
    # operator restart) has passed is still confirmed once before the session counts as ended.
    assert not_found_delay(120, 0, base_s=5, window_s=90) == 5
    assert not_found_delay(125, 1, base_s=5, window_s=90) is None


def test_files_stored_follows_what_the_provider_said_about_the_upload() -> None:
    from recording_operator.controllers.cloudrecording.decide import files_stored

    def verdict(status: dict[str, Any], provider: str = "agora") -> tuple[str, str]:
        found = files_stored(status, provider)
        assert found is not None
        return found[0], found[1]

    assert files_stored({}, "agora") is None  # no session yet
    assert files_stored({"phase": "Failed"}, "agora") is None
    assert verdict({"phase": "Recording"}) == ("False", "Recording")
    stopped = {"phase": "Stopped", "files": {"count": 3}}
    assert verdict({**stopped, "uploadingStatus": "uploaded"}) == ("True", "Uploaded")
    assert verdict({**stopped, "uploadingStatus": "backuped"}) == ("False", "UploadBackedUp")
    assert verdict({**stopped, "uploadingStatus": "unknown"})[0] == "Unknown"
    assert verdict({"phase": "Stopped", "files": {"count": 0, "totalBytes": 0}}) == ("True", "NoFiles")
    assert verdict({**stopped, "recordingStatus": "UPLOADING"}, "realtimekit") == ("False", "Uploading")
    assert verdict({**stopped, "recordingStatus": "UPLOADED"}, "realtimekit") == ("True", "Uploaded")


# --- stored files of a deleted recording's sessions ------------------------------------------------


def test_session_file_stems_name_every_session_once_oldest_first() -> None:
    status = {"sessions": [{"sid": "s1"}, {"sid": "s2"}, {"recordingId": "r"}], "sid": "s2"}
    assert session_file_stems(status, "room") == ["s1_room", "s2_room"]
    assert session_file_stems({}, "room") == []


def test_session_file_keys_are_the_sessions_files_with_slices_left_to_their_playlist() -> None:
    keys = [
        "p/s_c.m3u8",
        "p/s_c_neighbour.mp4",
        "p/s_c_20250101000000000.ts",
        "p/s_c_20250101000010000.ts",
        "p/s_c_0.mp4",
        "p/s_c__uid_s_7__uid_e_audio.m3u8",
        "p/s_c__uid_s_7__uid_e_audio_20250101000000000.ts",
    ]
    assert session_file_keys("p/s_c", keys) == [
        "p/s_c.m3u8",
        "p/s_c_0.mp4",
        "p/s_c__uid_s_7__uid_e_audio.m3u8",
    ]
    # a slice whose playlist is not (or no longer) stored is deleted as a file of its own
    assert session_file_keys("p/s_c", ["p/s_c_20250101000000000.ts"]) == ["p/s_c_20250101000000000.ts"]
    # only names of this session's form, under its own stem
    assert session_file_keys("p/s_c", ["p/s_cx.mp4", "p/s_c_1.mp4.bak", "q/s_c.m3u8"]) == []


AGORA_SPEC = {"provider": "agora", "state": "Recording", "agora": {"appId": "app-1", "channel": "c"}}
RTK_SPEC = {
    "provider": "realtimekit",
    "state": "Recording",
    "realtimeKit": {"accountId": "acc", "appId": "rtk"},
}


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ({"spec": AGORA_SPEC}, ("agora_recording", "app-1")),
        ({"spec": RTK_SPEC}, ("realtimekit_recordings", "acc/rtk")),
        ({"spec": {**AGORA_SPEC, "state": "Paused"}}, ("agora_recording", "app-1")),
        # a recording the operator has written a status for: a retry, a resume, an update or a stop
        ({"spec": AGORA_SPEC, "status": {"phase": "Starting"}}, None),
        ({"spec": AGORA_SPEC, "status": {"conditions": []}}, None),
        # nothing to start
        ({"spec": {**AGORA_SPEC, "state": "Stopped"}}, None),
        ({"spec": {"provider": "agora"}}, None),
    ],
)
def test_only_a_new_recordings_first_start_waits_at_its_credentials_gate(
    body: dict[str, Any], route: tuple[str, str] | None
) -> None:
    assert first_start_route(body) == route


def test_a_start_answer_is_recalled_only_for_the_start_it_answered() -> None:
    answers = StartAnswers(size=2)
    marker = {"resourceId": "r1", "acquiredAt": "2026-11-26T10:00:00Z"}
    answers.remember("uid-1", marker, {"resourceId": "r1", "sid": "s1"})
    # The same start, marked unknown since: still answered.
    unknown = json.loads(mark_unknown(marker, "2026-11-26T10:00:05Z"))
    assert answers.recall("uid-1", unknown) == {"resourceId": "r1", "sid": "s1"}
    # A later start of the same recording (a new resourceId), or another recording: not this answer.
    assert answers.recall("uid-1", {"resourceId": "r2", "acquiredAt": "2026-11-26T10:05:00Z"}) is None
    assert answers.recall("uid-2", marker) is None
    answers.remember("uid-2", marker, {"sid": "s2"})
    answers.remember("uid-3", marker, {"sid": "s3"})  # bounded: the oldest goes
    assert answers.recall("uid-1", marker) is None
    answers.forget("uid-3")
    assert answers.recall("uid-3", marker) is None and answers.recall("uid-2", marker) == {"sid": "s2"}


def test_start_answers_journalled_outlive_the_process(tmp_path: Path) -> None:
    journal = tmp_path / "start-answers.jsonl"
    marker = {"resourceId": "r1", "acquiredAt": "2026-11-26T10:00:00Z"}
    first = StartAnswers()
    assert first.open(journal) == 0
    first.remember("uid-1", marker, {"resourceId": "r1", "sid": "s1"})
    first.remember("uid-2", marker, {"sid": "s2"})
    first.forget("uid-2")
    with journal.open("a") as f:
        f.write("{not json\n")  # a line cut short by a crash mid-write
    # The next process (after a kill: nothing was closed) finds what the first could not write.
    second = StartAnswers()
    assert second.open(journal) == 1
    assert second.recall("uid-1", marker) == {"resourceId": "r1", "sid": "s1"}
    assert second.recall("uid-2", marker) is None
    assert len(journal.read_text().splitlines()) == 1  # rewritten with the live entry only
    second.forget("uid-1")
    assert StartAnswers().open(journal) == 0


def test_the_start_answer_journal_is_compacted(tmp_path: Path) -> None:
    journal = tmp_path / "answers.jsonl"
    answers = StartAnswers()
    answers.open(journal)
    for i in range(3 * StartAnswers.COMPACT_AFTER):
        answers.remember(f"uid-{i}", {"resourceId": f"r{i}"}, {"sid": f"s{i}"})
        answers.forget(f"uid-{i}")
    answers.remember("uid-last", {"resourceId": "rl"}, {"sid": "sl"})
    assert len(journal.read_text().splitlines()) <= StartAnswers.COMPACT_AFTER
    reopened = StartAnswers()
    assert reopened.open(journal) == 1 and reopened.recall("uid-last", {"resourceId": "rl"}) == {"sid": "sl"}
