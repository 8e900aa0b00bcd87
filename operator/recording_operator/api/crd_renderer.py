"""Render CustomResourceDefinitions from the pydantic models.

The models are the single source of truth: descriptions, enums, defaults, ranges and CEL rules in
`crds/*.yaml` all come from them. The output is a structural schema as `apiextensions.k8s.io/v1`
requires: no `$ref`, no `anyOf` with types, no `title`; every node typed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from recording_operator.api.v1alpha1.common import GROUP, VERSION


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry; `priority` > 0 shows only with `-o wide`."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class CustomResource:
    """Everything needed to render one CRD: names, models and printer columns."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    description: str
    printer_columns: tuple[PrinterColumn, ...] = field(default=())

    @property
    def crd_name(self) -> str:
        """`<plural>.<group>`, the CRD's metadata.name and file stem."""
        return f"{self.plural}.{GROUP}"


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline `$ref`s and collapse pydantic's Optional `anyOf: [X, null]` into X."""
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").split("/")[-1]])
        # Field-level keys (description, default, validations) win over the model's.
        target.update(node)
        node = target
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot render a union of {len(branches)} types structurally: {branches}")
        branch = _resolve(branches[0], defs)
        merged = dict(branch)
        for key, value in node.items():
            if key == "x-kubernetes-validations" and key in merged:
                merged[key] = merged[key] + value
            else:
                merged[key] = value
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is False:
            # `extra="forbid"`: structural schemas cannot say it; unknown fields are pruned instead.
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020 (pydantic gt/lt) → OpenAPI v3.0 as Kubernetes takes it: a bound + a flag.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _resolve(value, defs)
        else:
            out[key] = _resolve(value, defs)
    if "enum" in out and "type" not in out:
        values = out["enum"]
        out["type"] = "integer" if all(isinstance(v, int) for v in values) else "string"
    if "properties" in out:
        out.setdefault("type", "object")
    first = [k for k in _KEY_ORDER if k in out]
    return {k: out[k] for k in first + [k for k in out if k not in _KEY_ORDER]}


_KEY_ORDER = ("type", "description", "default", "enum")


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema of one model (validation mode, defaults included)."""
    raw = model.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})
    return _resolve(raw, defs)


def _condition_friendly(status: dict[str, Any]) -> dict[str, Any]:
    """Mark `conditions` as a map list keyed by type, as metav1.Condition lists are."""
    conditions = status.get("properties", {}).get("conditions")
    if conditions is not None:
        conditions["x-kubernetes-list-type"] = "map"
        conditions["x-kubernetes-list-map-keys"] = ["type"]
    return status


def render_crd(resource: CustomResource) -> dict[str, Any]:
    """The complete `apiextensions.k8s.io/v1` CustomResourceDefinition for one kind."""
    spec_schema = model_schema(resource.spec_model)
    status_schema = _condition_friendly(model_schema(resource.status_model))
    schema = {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"description": c.description} if c.description else {}),
            **({"priority": c.priority} if c.priority else {}),
        }
        for c in resource.printer_columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "recording-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def dump_crd(resource: CustomResource) -> str:
    """YAML text of one CRD, stable across runs (keys in model order)."""
    header = "# Generated by `recording-operator crds` from operator/recording_operator/api. Do not edit.\n"
    return header + yaml.safe_dump(render_crd(resource), sort_keys=False, allow_unicode=True, width=100)


def write_crds(resources: list[CustomResource], directory: Path) -> list[Path]:
    """Write `<plural>.<group>.yaml` for every resource into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for resource in resources:
        path = directory / f"{resource.crd_name}.yaml"
        path.write_text(dump_crd(resource), encoding="utf-8")
        paths.append(path)
    return paths
