"""The shipped sample manifests (`manifests/samples/*.yaml`) as test inputs: the specs users start from."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "manifests" / "samples"


def sample_spec(name: str) -> dict[str, Any]:
    """The `spec` of `manifests/samples/<name>.yaml` (a fresh copy: callers may change it)."""
    return copy.deepcopy(yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())["spec"])


def cloudrecording_spec(**overrides: Any) -> CloudRecordingSpec:
    """The mix-mode sample CloudRecording spec with top-level fields replaced by `overrides`."""
    data = sample_spec("cloudrecording-mix")
    data.update(overrides)
    return CloudRecordingSpec.model_validate(data)
