"""RecordedFile naming and bodies from provider file lists; files carried until they are published."""

from __future__ import annotations

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL, RecordedFileSpec
from recording_operator.controllers.recordedfile.publication import (
    MAX_UNPUBLISHED_BYTES,
    UNPUBLISHED_ANNOTATION,
    FileRecord,
    agora_files,
    carried_records,
    carry_records,
    file_object_name,
    realtimekit_files,
    recorded_file_body,
)
from recording_operator.providers.agora import RecordingFile
from recording_operator.providers.realtimekit import RecordingFile as RtkFile
from recording_operator.providers.realtimekit import RecordingState

S3 = StorageSpec(
    vendor="s3", region="us-east-1", bucket="recordings", prefix=["teamA", "standup"],
    credentialsSecretRef={"name": "recordings-s3"},
)  # fmt: skip


OWNER = {"name": "standup", "uid": "u-1"}


def test_agora_file_list_keys_keep_the_prefix_once() -> None:
    records = agora_files(
        S3,
        [
            RecordingFile("teamA/standup/sid_standup.m3u8", slice_start_time_ms=1_700_000_000_000),
            RecordingFile("sid_standup_0.mp4"),
        ],
    )
    assert [r.key for r in records] == ["teamA/standup/sid_standup.m3u8", "teamA/standup/sid_standup_0.mp4"]
    assert records[0].started_at == "2023-11-14T22:13:20Z" and records[1].format == "mp4"


def test_names_are_deterministic_and_distinct() -> None:
    a, b = FileRecord(key="p/a.mp4"), FileRecord(key="p/b.mp4")
    assert file_object_name("standup", a) == file_object_name("standup", FileRecord(key="p/a.mp4"))
    assert file_object_name("standup", a) != file_object_name("standup", b)
    assert len(file_object_name("x" * 253, a)) == 253
    signed = FileRecord(url="https://rtk/f.mp4?sig=1")
    assert file_object_name("r", signed) == file_object_name("r", FileRecord(url="https://rtk/f.mp4?sig=2"))


def test_manifest_is_a_valid_owned_labelled_recordedfile() -> None:
    body = recorded_file_body(
        kind="CloudRecording",
        recording=OWNER,
        storage=S3,
        record=FileRecord(key="teamA/standup/x.m3u8"),
        expires_at="2030-01-01T00:00:00Z",
    )
    spec = RecordedFileSpec.model_validate(body["spec"])
    assert spec.location.key == "teamA/standup/x.m3u8" and spec.location.bucket == "recordings"
    assert spec.credentialsSecretRef is not None and spec.credentialsSecretRef.name == "recordings-s3"
    assert spec.format == "m3u8" and spec.expiresAt == "2030-01-01T00:00:00Z"
    meta = body["metadata"]
    assert meta["labels"] == {RECORDING_LABEL: "standup"}
    assert meta["ownerReferences"][0]["uid"] == "u-1" and meta["finalizers"]


def test_realtimekit_files_only_once_uploaded() -> None:
    bucket = StorageSpec(vendor="realtimekit-bucket")
    files = [RtkFile("m_1.mp4", "https://rtk/m_1.mp4?sig", "2030-01-08T00:00:00Z", 1000)]
    running = RecordingState(id="r", status="UPLOADING", files=files)
    assert realtimekit_files(bucket, running) == []
    done = RecordingState(id="r", status="UPLOADED", files=files, duration_s=60, output_file_name="m_1.mp4")
    (record,) = realtimekit_files(bucket, done)
    assert record.url and record.url_expires_at == "2030-01-08T00:00:00Z" and record.duration_ms == 60_000
    (external,) = realtimekit_files(S3, done)
    assert external.key == "teamA/standup/m_1.mp4"


def test_unpublished_files_are_carried_in_an_annotation_and_read_back() -> None:
    records = [
        FileRecord(key="p/a.m3u8", size_bytes=10, started_at="2026-11-21T12:00:00Z"),
        FileRecord(key="p/a.m3u8", size_bytes=10),  # the same file again: kept once
        FileRecord(url="https://dl.example/b.mp4?sig=1", url_expires_at="2026-11-22T12:00:00Z"),
    ]
    text = carry_records(records)
    assert carried_records({UNPUBLISHED_ANNOTATION: text}) == [
        FileRecord(key="p/a.m3u8", size_bytes=10),
        FileRecord(url="https://dl.example/b.mp4?sig=1", url_expires_at="2026-11-22T12:00:00Z"),
    ]
    assert "null" not in text  # only the fields a record has


@pytest.mark.parametrize("value", [None, "", "not json", "{}", '[{"size_bytes": 3}]', '[1, "x"]'])
def test_a_malformed_carried_list_counts_as_none(value: str | None) -> None:
    assert carried_records({} if value is None else {UNPUBLISHED_ANNOTATION: value}) == []


def test_unknown_fields_of_a_carried_record_are_skipped() -> None:
    text = '[{"key": "k", "sizeBytes": 1, "size_bytes": 2}]'
    assert carried_records({UNPUBLISHED_ANNOTATION: text}) == [FileRecord(key="k", size_bytes=2)]


def test_the_carried_list_stays_within_its_bound() -> None:
    records = [FileRecord(key=f"prefix/{i:06d}.ts", size_bytes=i) for i in range(10_000)]
    text = carry_records(records)
    assert len(text.encode()) <= MAX_UNPUBLISHED_BYTES
    kept = carried_records({UNPUBLISHED_ANNOTATION: text})
    assert kept == records[: len(kept)] and len(kept) > 1000
