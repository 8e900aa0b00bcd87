"""The RecordedFile CRD's rules (cel-python): one kind of location, object keys need a bucket, immutability."""

from __future__ import annotations

from typing import Any

from tests.unit.api.schema_rules import spec_schema, violations

SPEC = spec_schema("recordedfiles")
GOOD: dict[str, Any] = {
    "recordingRef": {"kind": "LocalRecording", "name": "standup"},
    "location": {"vendor": "s3", "bucket": "recordings", "key": "team/standup-0001.mp4"},
    "format": "mp4",
    "sizeBytes": 1024,
}


def test_object_location_passes() -> None:
    assert violations(SPEC, GOOD) == []


def test_exactly_one_kind_of_location() -> None:
    both = {**GOOD, "location": {**GOOD["location"], "url": "https://example/x.mp4"}}
    assert any("exactly one of key" in v for v in violations(SPEC, both))
    none = {**GOOD, "location": {"vendor": "s3"}}
    assert any("exactly one of key" in v for v in violations(SPEC, none))


def test_key_needs_a_bucket() -> None:
    no_bucket = {**GOOD, "location": {"vendor": "s3", "key": "k"}}
    assert any("key needs vendor and bucket" in v for v in violations(SPEC, no_bucket))


def test_location_and_recording_are_immutable() -> None:
    moved = {**GOOD, "location": {**GOOD["location"], "key": "elsewhere.mp4"}}
    assert "spec: location is immutable" in violations(SPEC, moved, GOOD)
    assert violations(SPEC, {**GOOD, "deletionPolicy": "Orphan"}, GOOD) == []
