"""The CEL rules of the CloudRecording CRD accept good specs and reject bad ones (cel-python)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.samples import sample_spec
from tests.unit.api.schema_rules import changed, spec_schema, violations

SPEC_SCHEMA = spec_schema("cloudrecordings")
SAMPLE = sample_spec("cloudrecording-mix")


def _spec(**changes: Any) -> dict[str, Any]:
    return changed(SAMPLE, **changes)


def test_sample_passes() -> None:
    assert violations(SPEC_SCHEMA, SAMPLE) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agora__recordingFileConfig": {"avFileType": ["mp4"]}}, "avFileType must include hls"),
        (
            {
                "agora__recordingConfig": {
                    "channelType": 0,
                    "subscribeAudioUids": ["1"],
                    "unsubscribeAudioUids": ["2"],
                }
            },
            "subscribeAudioUids and unsubscribeAudioUids are mutually exclusive",
        ),
        ({"agora__mode": "web", "agora__recordingConfig": None}, "web mode requires extensionServiceConfig"),
        ({"agora__mode": "individual", "agora__recordingConfig": {"channelType": 0}}, "subscribeUidGroup"),
        ({"state": "Paused"}, "state Paused is supported in Agora web mode only"),
        ({"storage__vendor": "sftp"}, "Agora stores to"),
        ({"agora__uid": "4294967296"}, "uid must be at most 4294967295"),
    ],
)
def test_rule_rejects(changes: dict[str, Any], message: str) -> None:
    found = violations(SPEC_SCHEMA, _spec(**changes))
    assert any(message in v for v in found), found


@pytest.mark.parametrize("field", ["channel", "uid", "mode", "appId"])
def test_agora_identity_is_immutable(field: str) -> None:
    new = copy.deepcopy(SAMPLE)
    new["agora"][field] = {"channel": "other", "uid": "42", "mode": "individual", "appId": "x" * 32}[field]
    found = violations(SPEC_SCHEMA, new, SAMPLE)
    assert f"spec.agora.{field}: {field} is immutable" in found


def test_provider_is_immutable_and_other_edits_allowed() -> None:
    edited = _spec(state="Stopped", agora__recordingConfig__transcodingConfig__mixedVideoLayout=0)
    assert violations(SPEC_SCHEMA, edited, SAMPLE) == []
    assert "spec.provider: provider is immutable" in violations(
        SPEC_SCHEMA, {**SAMPLE, "provider": "other"}, SAMPLE
    )


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"maxDuration": "721h"}, "must be ≤ 720h"),
        ({"maxDuration": "999999999999h"}, "maxDuration"),
        ({"retention": {"deleteAfter": "99999999h"}}, "retention.deleteAfter"),
        ({"retention": {"deleteAfter": "87601h"}}, "must be ≤ 87600h"),
    ],
)
def test_unbounded_durations_are_rejected(changes: dict[str, Any], found: str) -> None:
    problems = violations(SPEC_SCHEMA, _spec(**changes))
    assert any(found in p for p in problems), problems


def test_durations_within_bounds_pass() -> None:
    assert violations(SPEC_SCHEMA, _spec(maxDuration="720h", retention={"deleteAfter": "87600h"})) == []


def test_any_duration_text_gives_a_usable_timedelta() -> None:
    """Objects stored before the bounds may hold any value: handlers add it to now without overflow."""
    from datetime import UTC, datetime

    from recording_operator.api import parse_duration

    for text in ("99999999h", "999999999999h", "9" * 30 + "h"):
        assert datetime.now(UTC) + parse_duration(text) > datetime.now(UTC)
