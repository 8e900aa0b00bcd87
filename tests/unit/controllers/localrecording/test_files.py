"""RecordedFile bodies of stored files, `status.files`, and files found in a bucket listing."""

from __future__ import annotations

from datetime import UTC, datetime

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers._kit.shard import SHARD_FINALIZER
from recording_operator.controllers.localrecording.files import (
    StoredFile,
    file_name_pattern,
    files_summary,
    outputs_summary,
    recorded_file_manifest,
    reported_key_problem,
    storage_key_prefix,
    stored_files_from_listing,
    with_reported,
)
from tests.unit.controllers.localrecording.recordings import NOW, body


def test_recorded_file_from_an_agent_entry() -> None:
    b = body(retention={"deleteAfter": "24h"}, deletionPolicy="Orphan")
    spec = LocalRecordingSpec.model_validate(b["spec"])
    file = StoredFile(index=3, key="teama/standup-00003.mp4", size_bytes=1000, format="mp4", duration_ms=2000,
                      started_at="2026-11-21T12:00:00Z", closed_at=datetime(2026, 11, 21, 12, 0, 2, tzinfo=UTC))  # fmt: skip
    manifest = recorded_file_manifest(b, spec, file, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert manifest["metadata"]["name"] == "standup-00003"
    assert manifest["metadata"]["labels"] == {
        "recording.mediaops.io/recording": "standup",
        "recording.mediaops.io/file-index": "00003",
        "recording.mediaops.io/output": "main",
    }
    # Created with its finalizer: deleted before kopf's first pass, it still deletes the stored object.
    assert manifest["metadata"]["finalizers"] == [SHARD_FINALIZER]
    assert manifest["spec"]["location"] == {
        "vendor": "s3", "bucket": "rec", "key": "teama/standup-00003.mp4", "region": "us-east-1",
    }  # fmt: skip
    assert manifest["spec"]["expiresAt"] == "2026-11-22T12:00:02Z"
    # The recording's Orphan is not the file's: new files take files.deletionPolicy (default Delete).
    assert manifest["spec"]["deletionPolicy"] == "Delete"
    assert manifest["spec"]["credentialsSecretRef"] == {"name": "s3"}
    summary = files_summary([manifest])
    assert summary == {"count": 1, "totalBytes": 1000, "latest": "teama/standup-00003.mp4",
                       "names": ["teama/standup-00003.mp4"]}  # fmt: skip


def test_files_are_found_in_the_bucket_by_the_name_template() -> None:
    spec = LocalRecordingSpec.model_validate(body()["spec"])
    pattern = file_name_pattern(
        spec.output.fileNameTemplate, recording="standup", namespace="team-a", extension="mp4"
    )
    assert pattern.fullmatch("standup-20261121-120000-00012.mp4")
    assert not pattern.fullmatch("other-20261121-120000-00012.mp4")
    objects = [
        ("teama/standup-20261121-120000-00001.mp4", 10, None),
        ("teama/standup-20261121-120010-00002.mp4", 20, None),
        ("teama/standup-20261121-120010-00002.ts", 20, None),
        ("teama/sub/standup-20261121-120010-00003.mp4", 20, None),
    ]
    found = stored_files_from_listing(
        spec, recording="standup", namespace="team-a", prefix="teama/", objects=objects, min_index=2
    )
    assert [(f.index, f.key, f.size_bytes) for f in found] == [
        (2, "teama/standup-20261121-120010-00002.mp4", 20)
    ]


def test_files_found_in_the_bucket_keep_what_the_agent_reported() -> None:
    listed = [
        StoredFile(index=4, key="p/r-00004.mp4", size_bytes=10, format="mp4"),
        StoredFile(index=5, key="p/r-00005.mp4", size_bytes=20, format="mp4"),
        StoredFile(index=6, key="p/r-00006.mp4", size_bytes=30, format="mp4"),
    ]
    reported = {
        5: StoredFile(index=5, key="p/r-00005.mp4", size_bytes=20, format="mp4", duration_ms=1980,
                      started_at="2026-11-21T12:00:02Z", closed_at=NOW),
        6: StoredFile(index=6, key="p/other-00006.mp4", size_bytes=30, format="mp4", duration_ms=2000),
    }  # fmt: skip
    merged = with_reported(listed, reported)
    assert [f.duration_ms for f in merged] == [None, 1980, None]
    assert merged[1].started_at == "2026-11-21T12:00:02Z" and merged[1].closed_at == NOW
    # Unknown stays unknown: the RecordedFile has no durationMs rather than 0.
    spec = LocalRecordingSpec.model_validate(body()["spec"])
    manifest = recorded_file_manifest(body(), spec, merged[0], now=NOW)
    assert "durationMs" not in manifest["spec"]
    assert recorded_file_manifest(body(), spec, merged[1], now=NOW)["spec"]["durationMs"] == 1980


def _reported(index: int, key: str) -> StoredFile:
    return StoredFile(index=index, key=key, size_bytes=10, format="mp4")


def test_only_keys_of_the_recording_are_accepted_from_its_agent() -> None:
    """A recorder Pod is not trusted: a key outside the prefix, another name, another index, or an
    index before the Pod's first one never becomes a RecordedFile (which could delete it)."""
    spec = LocalRecordingSpec.model_validate(body(output={"format": "mp4", "fileNameTemplate": "{recording}-{index}"})["spec"])  # fmt: skip

    def problem(index: int, key: str, first_index: int = 0) -> str | None:
        return reported_key_problem(
            spec, recording="standup", namespace="team-a", file=_reported(index, key), first_index=first_index
        )

    assert problem(3, "teama/standup-00003.mp4") is None
    assert problem(3, "teama/standup-00003.mp4", first_index=3) is None
    assert "outside the recording's prefix" in str(problem(3, "teamB/board-meeting/2024.mp4"))
    assert "does not match" in str(problem(3, "teama/board-meeting-00003.mp4"))
    assert "does not match" in str(problem(3, "teama/../teamb/standup-00003.mp4"))
    assert "does not match" in str(problem(3, "teama/sub/standup-00003.mp4"))
    assert "does not match" in str(problem(3, "teama/standup-00003.mkv"))
    assert "reported index 4" in str(problem(4, "teama/standup-00003.mp4"))
    assert "first index 5" in str(problem(3, "teama/standup-00003.mp4", first_index=5))
    no_prefix = LocalRecordingSpec.model_validate(
        body(storage={"vendor": "s3", "bucket": "rec", "region": "us-east-1"})["spec"]
    )
    assert storage_key_prefix(no_prefix) == "" and storage_key_prefix(spec) == "teama/"


def test_new_files_take_the_recordings_file_deletion_policy() -> None:
    b = body(deletionPolicy="Delete", files={"deletionPolicy": "Retain"})
    spec = LocalRecordingSpec.model_validate(b["spec"])
    file = StoredFile(index=0, key="k.mp4", size_bytes=1, format="mp4")
    manifest = recorded_file_manifest(b, spec, file, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert manifest["spec"]["deletionPolicy"] == "Retain"


OUTPUTS = [
    {"name": "live", "format": "hls", "segmentDuration": "2s"},
    {"name": "thumbs", "format": "jpg", "fileNameTemplate": "{recording}-{output}-{index}"},
]


def test_each_output_s_files_are_told_apart_by_name_and_labelled() -> None:
    spec = LocalRecordingSpec.model_validate(
        body(output={"format": "mp4", "fileNameTemplate": "{recording}-{index}"}, additionalOutputs=OUTPUTS)[
            "spec"
        ]
    )
    objects = [
        ("teama/standup-00004.mp4", 10, None),
        ("teama/standup-live-20261121-120000-00005.ts", 20, None),
        ("teama/standup-thumbs-00006.jpg", 30, None),
        ("teama/standup-live-00004.m3u8", 1, None),  # a playlist is no RecordedFile
        ("teama/standup-thumbs-00007.mp4", 1, None),  # not the extension of its output
    ]
    found = stored_files_from_listing(
        spec, recording="standup", namespace="team-a", prefix="teama/", objects=objects, min_index=0
    )
    assert [(f.index, f.output, f.format) for f in found] == [
        (4, "main", "mp4"),
        (5, "live", "ts"),
        (6, "thumbs", "jpg"),
    ]
    labels = recorded_file_manifest(body(), spec, found[2], now=NOW)["metadata"]["labels"]
    assert (
        labels["recording.mediaops.io/output"] == "thumbs"
        and labels["recording.mediaops.io/file-index"] == "00006"
    )

    def problem(file: StoredFile) -> str | None:
        return reported_key_problem(spec, recording="standup", namespace="team-a", file=file, first_index=0)

    thumb = StoredFile(
        index=6, key="teama/standup-thumbs-00006.jpg", size_bytes=1, format="jpg", output="thumbs"
    )
    assert problem(thumb) is None
    assert "does not match" in str(problem(StoredFile(6, thumb.key, 1, "jpg", output="main")))
    assert "not one of the recording's outputs" in str(
        problem(StoredFile(6, thumb.key, 1, "jpg", output="x"))
    )


def test_status_outputs_summarise_each_output_s_files() -> None:
    def rf(index: int, key: str, size: int, output: str | None) -> dict[str, object]:
        labels = {"recording.mediaops.io/file-index": f"{index:05d}"}
        if output:
            labels["recording.mediaops.io/output"] = output
        return {"metadata": {"labels": labels}, "spec": {"location": {"key": key}, "sizeBytes": size}}

    files = [rf(2, "p/t-2.jpg", 5, "thumbs"), rf(0, "p/a-0.mp4", 100, None), rf(1, "p/l-1.ts", 20, "live"),
             rf(3, "p/a-3.mp4", 50, "main"), rf(4, "p/t-4.jpg", 6, "thumbs")]  # fmt: skip
    assert outputs_summary(files) == [
        {"name": "main", "count": 2, "totalBytes": 150, "latest": "p/a-3.mp4"},
        {"name": "live", "count": 1, "totalBytes": 20, "latest": "p/l-1.ts"},
        {"name": "thumbs", "count": 2, "totalBytes": 11, "latest": "p/t-4.jpg"},
    ]
