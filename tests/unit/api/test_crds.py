"""The CRDs in crds/ are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from recording_operator.api.crd_renderer import dump_crd
from recording_operator.api.v1alpha1.crds import RESOURCES

CRD_DIR = Path(__file__).resolve().parents[3] / "crds"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_crd_file_matches_generator(resource: Any) -> None:
    path = CRD_DIR / f"{resource.crd_name}.yaml"
    assert path.exists(), f"{path} missing: run `make crds`"
    assert path.read_text(encoding="utf-8") == dump_crd(resource), f"{path} is stale: run `make crds`"


def _walk(node: Any, where: str = "") -> list[str]:
    """Structural-schema violations (apiextensions.k8s.io/v1 rules) below `node`."""
    problems = []
    if isinstance(node, dict):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs"):
            if banned in node:
                problems.append(f"{where}: {banned}")
        if node.get("additionalProperties") is False:
            problems.append(f"{where}: additionalProperties false")
        if "properties" in node or "items" in node or "enum" in node:
            if "type" not in node:
                problems.append(f"{where}: untyped")
        for key, value in node.get("properties", {}).items():
            problems += _walk(value, f"{where}.{key}")
        if "items" in node:
            problems += _walk(node["items"], f"{where}[]")
    return problems


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_schema_is_structural(resource: Any) -> None:
    crd = yaml.safe_load(dump_crd(resource))
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert _walk(version["schema"]["openAPIV3Schema"]) == []


def test_cloudrecording_crd_names_and_columns() -> None:
    crd = yaml.safe_load((CRD_DIR / "cloudrecordings.recording.mediaops.io.yaml").read_text())
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["crec"]
    assert set(names["categories"]) == {"recordings", "mediaops"}
    columns = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == [
        "Provider",
        "Phase",
        "SID",
        "Files",
        "Ready",
        "Synced",
        "Reason",
        "Synced-Reason",
        "Age",
    ]
    assert columns["SID"]["priority"] == 1
    # REASON in the default view is the Ready condition's (why it is not ready); Synced's in -o wide.
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert "priority" not in columns["Reason"] and columns["Synced-Reason"]["priority"] == 1
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["state"]["enum"] == ["Recording", "Paused", "Stopped"]
    assert spec["agora"]["properties"]["resourceExpiredHour"] == {
        "type": "integer",
        "description": "Hours after start during which the session can be queried/stopped.",
        "default": 72,
        "maximum": 720,
        "minimum": 1,
    }


def test_exclusive_bounds_become_openapi_v3_0() -> None:
    from pydantic import BaseModel, Field

    from recording_operator.api.crd_renderer import model_schema

    class Rate(BaseModel):
        fps: float = Field(gt=0, lt=120)

    assert model_schema(Rate)["properties"]["fps"] == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 120,
        "exclusiveMaximum": True,
    }
