"""RecordedFile decisions: deletion policy and what deleting takes, phase from a probe, expiry, Job outcome."""

from __future__ import annotations

from typing import Any

from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers.recordedfile.decide import (
    Probe,
    decide_deletion,
    deleted_names,
    epoch_of,
    file_deletion_policy,
    job_failure_reason,
    job_outcome,
    location_probe,
    owned_by,
    ready_condition,
    recording_path,
    retains,
    stored_probe,
    with_deleted,
)

S3_FILE: dict[str, Any] = {
    "recordingRef": {"kind": "LocalRecording", "name": "standup"},
    "location": {"vendor": "s3", "bucket": "rec", "key": "teama/standup-00001.mp4"},
    "format": "mp4",
    "deletionPolicy": "Delete",
}
URL_FILE: dict[str, Any] = {
    **S3_FILE,
    "location": {"url": "https://dl.example/m.mp4?sig=1", "expiresAt": "2030-01-08T00:00:00Z"},
}
VOLUME_FILE: dict[str, Any] = {**S3_FILE, "location": {"volume": {"claimName": "recs", "path": "team/a.mp4"}}}
#: 2030-01-08T00:00:00Z in Unix seconds.
URL_EXPIRY = 1_894_060_800.0


def test_retain_and_orphan_keep_data() -> None:
    assert retains("Retain") and retains("Orphan") and not retains("Delete") and not retains(None)


def test_a_job_is_finished_only_by_its_complete_or_failed_condition() -> None:
    def cond(type_: str, status: str = "True") -> dict[str, str]:
        return {"type": type_, "status": status}

    assert job_outcome({}) == "Running"
    # Kubernetes 1.31+: the Pod is counted before the Job is Complete (SuccessCriteriaMet first).
    assert job_outcome({"status": {"succeeded": 1, "conditions": [cond("SuccessCriteriaMet")]}}) == "Running"
    assert (
        job_outcome({"status": {"conditions": [cond("SuccessCriteriaMet"), cond("Complete")]}}) == "Complete"
    )
    assert job_outcome({"status": {"failed": 4, "conditions": [cond("FailureTarget")]}}) == "Running"
    assert job_outcome({"status": {"conditions": [cond("Failed")]}}) == "Failed"
    assert job_outcome({"status": {"conditions": [cond("Complete", "False")]}}) == "Running"


def test_deleting_takes_what_the_location_needs() -> None:
    assert decide_deletion({**S3_FILE, "deletionPolicy": "Retain"}).action == "keep"
    assert decide_deletion({**S3_FILE, "deletionPolicy": "Orphan"}).action == "keep"
    obj = decide_deletion(S3_FILE)
    assert (
        obj.action == "object" and obj.spec is not None and obj.spec.location.key == "teama/standup-00001.mp4"
    )
    assert decide_deletion(VOLUME_FILE).action == "volume"
    url = decide_deletion(URL_FILE)
    assert (url.action, url.message) == (
        "expire",
        "a provider download URL cannot be deleted through an API; it expires by itself at 2030-01-08T00:00:00Z",
    )


def test_an_invalid_spec_or_an_escaping_volume_path_leaves_the_data_in_place() -> None:
    invalid = decide_deletion({"deletionPolicy": "Delete", "location": {}})
    assert invalid.action == "refuse" and invalid.message is not None and "left in place" in invalid.message
    for path in ("../other/a.mp4", "team/./a.mp4", "team/\x00a.mp4"):
        escaping = decide_deletion(
            {**VOLUME_FILE, "location": {"volume": {"claimName": "recs", "path": path}}}
        )
        assert escaping.action == "refuse"
        assert escaping.message is not None and escaping.message.startswith("cannot delete the stored file")


def test_phase_without_a_storage_request() -> None:
    url = RecordedFileSpec.model_validate(URL_FILE)
    assert location_probe(url, now=URL_EXPIRY - 1) == Probe(
        "Available", "ProviderUrl", "downloadable from the provider's URL"
    )
    expired = location_probe(url, now=URL_EXPIRY)
    assert expired is not None and (expired.phase, expired.reason) == ("Missing", "UrlExpired")
    volume = location_probe(RecordedFileSpec.model_validate(VOLUME_FILE), now=0)
    assert volume == Probe("Available", "OnVolume", "team/a.mp4 on PersistentVolumeClaim recs")
    assert location_probe(RecordedFileSpec.model_validate(S3_FILE), now=0) is None


def test_phase_and_ready_from_a_stat() -> None:
    found = stored_probe("s3://rec/k.mp4", 1000, exists=True)
    assert found == Probe("Available", "Stored", "s3://rec/k.mp4 exists", 1000)
    assert ready_condition(found) == ("True", "Stored", "s3://rec/k.mp4 exists")
    gone = stored_probe("s3://rec/k.mp4", None, exists=False)
    assert ready_condition(gone) == ("False", "NotFound", "s3://rec/k.mp4 does not exist")


def test_expiry_times_in_unix_seconds() -> None:
    assert epoch_of("2030-01-08T00:00:00Z") == URL_EXPIRY
    assert epoch_of("2030-01-08T01:00:00+01:00") == URL_EXPIRY
    assert epoch_of(None) is None and epoch_of("") is None and epoch_of("next week") is None


def test_a_failed_jobs_reason_is_reported() -> None:
    failed = {"status": {"conditions": [{"type": "FailureTarget", "status": "True", "reason": "X"},
                                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}  # fmt: skip
    assert job_failure_reason(failed) == "BackoffLimitExceeded"
    assert job_failure_reason({"status": {}}) is None


def test_deleted_files_are_remembered_once_and_bounded() -> None:
    assert with_deleted(None, "a") == ["a"]
    assert with_deleted(["a"], "a") is None
    many = [f"f{i}" for i in range(2048)]
    assert with_deleted(many, "new") == [*many[1:], "new"]
    assert deleted_names({"deletedFiles": ["a", "b"]}) == {"a", "b"} and deleted_names(None) == frozenset()


def test_only_the_live_owning_recording_remembers_a_deletion() -> None:
    assert (
        recording_path("ns", S3_FILE)
        == "/apis/recording.mediaops.io/v1alpha1/namespaces/ns/localrecordings/standup"
    )
    assert recording_path("ns", {"recordingRef": {"kind": "Other", "name": "x"}}) is None
    file_meta = {"ownerReferences": [{"uid": "u1"}]}
    assert owned_by(file_meta, {"metadata": {"uid": "u1"}})
    assert not owned_by(file_meta, {"metadata": {"uid": "u2"}})  # a recording of the same name created later
    assert not owned_by({}, {"metadata": {"uid": "u1"}})  # orphaned
    assert not owned_by(file_meta, {"metadata": {"uid": "u1", "deletionTimestamp": "2030-01-01T00:00:00Z"}})


def test_new_files_take_the_recordings_file_policy_not_its_own() -> None:
    assert file_deletion_policy({"deletionPolicy": "Orphan"}) == "Delete"
    assert (
        file_deletion_policy({"deletionPolicy": "Delete", "files": {"deletionPolicy": "Retain"}}) == "Retain"
    )
    assert file_deletion_policy(None) == "Delete"
