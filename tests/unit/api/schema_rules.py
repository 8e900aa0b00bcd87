"""Evaluate a CRD schema's CEL rules (cel-python) and string patterns against a value, as the API
server would on create (no `old`) or update (`old` given: transition rules with `oldSelf` run)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import celpy
import yaml

ROOT = Path(__file__).resolve().parents[3]
_ENV = celpy.Environment()


def spec_schema(plural: str) -> dict[str, Any]:
    """The `spec` schema of the generated CRD `crds/<plural>.recording.mediaops.io.yaml`."""
    crd = yaml.safe_load((ROOT / "crds" / f"{plural}.recording.mediaops.io.yaml").read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def changed(spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `spec` with `changes` applied: `a__b=1` sets `spec.a.b`, `a__b=None` removes it."""
    spec = copy.deepcopy(spec)
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


def violations(schema: dict[str, Any], value: Any, old: Any = None, path: str = "spec") -> list[str]:
    """`<path>: <message>` for every rule, and `<path>: pattern` for every pattern, `value` breaks."""
    found: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        uses_old = "oldSelf" in rule["rule"]
        if uses_old and old is None:
            continue
        activation = {"self": celpy.json_to_cel(value)}
        if uses_old:
            activation["oldSelf"] = celpy.json_to_cel(old)
        try:
            holds = bool(_ENV.program(_ENV.compile(rule["rule"])).evaluate(activation))
        except (celpy.CELEvalError, ValueError, OverflowError):
            # The API server rejects an object whose rule cannot be evaluated (e.g. a duration
            # beyond CEL's 64-bit range).
            holds = False
        if not holds:
            found.append(f"{path}: {rule['message']}")
    # Kubernetes patterns are RE2: `$` is the end of text (Python's `$` also matches before a final \n).
    pattern = re.sub(r"\$$", r"\\Z", schema.get("pattern", ""))
    if isinstance(value, str) and pattern and not re.search(pattern, value):
        found.append(f"{path}: pattern")
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                sub_old = old.get(key) if isinstance(old, dict) else None
                found += violations(sub, value[key], sub_old, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += violations(schema["items"], item, None, f"{path}[{i}]")
    return found
