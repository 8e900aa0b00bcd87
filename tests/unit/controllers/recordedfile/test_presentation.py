"""`status.size` / `status.durationSeconds`: what the RecordedFile printer columns show."""

from __future__ import annotations

from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers.recordedfile.decide import Probe, human_size, presentation


def test_human_size() -> None:
    assert human_size(None) is None
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(734_003_200) == "700.0 MiB"
    assert human_size(5 * 1024**5) == "5120.0 TiB"


def test_presentation_prefers_the_stored_size() -> None:
    spec = RecordedFileSpec.model_validate(
        {
            "recordingRef": {"kind": "CloudRecording", "name": "standup"},
            "location": {"vendor": "s3", "bucket": "b", "key": "k.mp4"},
            "sizeBytes": 1024,
            "durationMs": 61_999,
        }
    )
    stored = Probe("Available", "Stored", "exists", 2048)
    assert presentation(spec, stored) == {"size": "2.0 KiB", "durationSeconds": 61}
    assert presentation(spec, Probe("Available", "ProviderUrl", "url")) == {
        "size": "1.0 KiB",
        "durationSeconds": 61,
    }
