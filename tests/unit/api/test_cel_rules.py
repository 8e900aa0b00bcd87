"""The CEL rules of the CloudRecording CRD accept good specs and reject bad ones (cel-python)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

CRD = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "crds" / "cloudrecordings.recording.mediaops.io.yaml").read_text()
)
SPEC_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
SAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "manifests" / "samples" / "cloudrecording-mix.yaml").read_text()
)["spec"]


def _violations(schema: dict[str, Any], value: Any, old: Any = None, path: str = "spec") -> list[str]:
    """Evaluate every x-kubernetes-validations rule under `schema` against `value` (and `old`)."""
    found: list[str] = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        uses_old = "oldSelf" in rule["rule"]
        if uses_old and old is None:
            continue
        program = env.program(env.compile(rule["rule"]))
        activation = {"self": celpy.json_to_cel(value)}
        if uses_old:
            activation["oldSelf"] = celpy.json_to_cel(old)
        if not bool(program.evaluate(activation)):
            found.append(f"{path}: {rule['message']}")
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                sub_old = old.get(key) if isinstance(old, dict) else None
                found += _violations(sub, value[key], sub_old, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += _violations(schema["items"], item, None, f"{path}[{i}]")
    return found


def _spec(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SAMPLE)
    for dotted, value in changes.items():
        node = spec
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return spec


def test_sample_passes() -> None:
    assert _violations(SPEC_SCHEMA, SAMPLE) == []


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
    violations = _violations(SPEC_SCHEMA, _spec(**changes))
    assert any(message in v for v in violations), violations


@pytest.mark.parametrize("field", ["channel", "uid", "mode", "appId"])
def test_agora_identity_is_immutable(field: str) -> None:
    new = copy.deepcopy(SAMPLE)
    new["agora"][field] = {"channel": "other", "uid": "42", "mode": "individual", "appId": "x" * 32}[field]
    violations = _violations(SPEC_SCHEMA, new, SAMPLE)
    assert f"spec.agora.{field}: {field} is immutable" in violations


def test_provider_is_immutable_and_other_edits_allowed() -> None:
    edited = _spec(state="Stopped", agora__recordingConfig__transcodingConfig__mixedVideoLayout=0)
    assert _violations(SPEC_SCHEMA, edited, SAMPLE) == []
    assert "spec.provider: provider is immutable" in _violations(
        SPEC_SCHEMA, {**SAMPLE, "provider": "other"}, SAMPLE
    )
