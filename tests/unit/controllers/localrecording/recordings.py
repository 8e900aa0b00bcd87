"""LocalRecording objects for the unit tests: a recording body, its Pod and ConfigMap, an agent's file entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers.localrecording.manifests import (
    config_map_manifest,
    plan_recorder,
    pod_manifest,
)

IMAGE = "ghcr.io/mediaops/recording-recorder:1.0"


def body(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "input": {"url": "srt://source.example:9000", "passphraseSecretRef": {"name": "srt", "key": "pass"}},
        "output": {"format": "mp4", "segmentDuration": "10s"},
        "storage": {"vendor": "s3", "bucket": "rec", "region": "us-east-1", "prefix": ["teama"],
                    "credentialsSecretRef": {"name": "s3"}},
    }  # fmt: skip
    base.update(spec)
    return {
        "metadata": {"name": "standup", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": base,
    }


def manifests(b: dict[str, Any], first_index: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = LocalRecordingSpec.model_validate(b["spec"])
    plan = plan_recorder(b, spec, first_index)
    return pod_manifest(b, spec, plan, image=IMAGE), config_map_manifest(b, plan)


NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def closed_entry(index: int, *, uploaded: bool = True) -> dict[str, Any]:
    return {
        "index": index,
        "name": f"standup-{index:05d}.mp4",
        "key": f"teama/standup-{index:05d}.mp4",
        "location": f"s3://rec/teama/standup-{index:05d}.mp4",
        "format": "mp4",
        "sizeBytes": 1000 + index,
        "durationMs": 10_000,
        "startedAt": "2026-11-21T12:00:00Z",
        "uploaded": uploaded,
    }
