"""Label and field selectors, parsed once per request and matched against object bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from recording_sandbox.kube.errors import bad_request

# Fields each resource can be selected by (besides metadata.name and metadata.namespace).
EXTRA_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "events"): frozenset(
        {
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.kind",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "type",
            "source",
        }
    ),
    ("", "secrets"): frozenset({"type"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "pods"): frozenset({"status.phase", "spec.nodeName"}),
}

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_.\-/]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.\-]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``op`` is one of ``= != in notin exists !``."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        """Tell whether a label map satisfies this requirement."""
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # != and notin match objects without the label too, as in Kubernetes.
        return not present or labels[self.key] not in self.values


def _split_outside_parens(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector`` (all requirements must hold)."""

    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector | None:
        """Parse ``a=b,c!=d,e in (f,g),h,!i``; ``None`` for no selector.

        Raises :class:`~recording_sandbox.kube.errors.ApiError` (400) on syntax errors.
        """
        if not text or not text.strip():
            return None
        requirements: list[Requirement] = []
        for part in _split_outside_parens(text):
            match = _REQUIREMENT.match(part)
            if match is None:
                raise bad_request(f"unable to parse requirement: {part!r}")
            key = match["key"]
            if match["neg"]:
                if match["op"] or match["setop"]:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                requirements.append(Requirement(key, "!"))
            elif match["op"]:
                op = "!=" if match["op"] == "!=" else "="
                requirements.append(Requirement(key, op, frozenset({match["value"]})))
            elif match["setop"]:
                values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
                requirements.append(Requirement(key, match["setop"], values))
            else:
                requirements.append(Requirement(key, "exists"))
        return cls(tuple(requirements))

    def matches(self, obj: dict[str, Any]) -> bool:
        """Tell whether an object's ``metadata.labels`` satisfy every requirement."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, dict) and path == "source":
        return str(value.get("component", ""))
    return str(value)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector`` of ``field=value`` / ``field!=value`` terms."""

    terms: tuple[tuple[str, bool, str], ...]

    @classmethod
    def parse(cls, text: str | None, key: tuple[str, str]) -> FieldSelector | None:
        """Parse a field selector for a resource ``(group, plural)``; ``None`` for no selector.

        Raises :class:`~recording_sandbox.kube.errors.ApiError` (400) on syntax errors
        and on fields the resource cannot be selected by.
        """
        if not text or not text.strip():
            return None
        allowed = {"metadata.name", "metadata.namespace"} | EXTRA_FIELDS.get(key, frozenset())
        terms: list[tuple[str, bool, str]] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "!=" in part:
                name, value = part.split("!=", 1)
                equal = False
            elif "==" in part:
                name, value = part.split("==", 1)
                equal = True
            elif "=" in part:
                name, value = part.split("=", 1)
                equal = True
            else:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
            name = name.strip()
            if name not in allowed:
                raise bad_request(
                    f'"{name}" is not a known field selector: only "{", ".join(sorted(allowed))}"'
                )
            terms.append((name, equal, value.strip()))
        return cls(tuple(terms))

    def matches(self, obj: dict[str, Any]) -> bool:
        """Tell whether an object satisfies every term."""
        return all((_field_value(obj, name) == value) == equal for name, equal, value in self.terms)
