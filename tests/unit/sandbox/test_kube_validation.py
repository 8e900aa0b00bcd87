"""OpenAPI schema handling and CEL rules of the emulator, as pure functions and over HTTP."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from recording_sandbox.kube.errors import Cause
from recording_sandbox.kube.validation import SchemaValidator, apply_defaults, prune, validate_schema


def violations(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    causes: list[Cause] = []
    validate_schema(schema, value, "spec", causes)
    return [(cause.field, cause.reason) for cause in causes]


def test_types_integer_number_nullable_int_or_string() -> None:
    assert violations({"type": "integer"}, 1.5) == [("spec", "FieldValueTypeInvalid")]
    assert violations({"type": "integer"}, 2) == []
    assert violations({"type": "number"}, 2) == []
    assert violations({"type": "boolean"}, 1) == [("spec", "FieldValueTypeInvalid")]
    assert violations({"type": "string"}, None) == [("spec", "FieldValueTypeInvalid")]
    assert violations({"type": "string", "nullable": True}, None) == []
    assert violations({"x-kubernetes-int-or-string": True}, "80%") == []
    assert violations({"x-kubernetes-int-or-string": True}, 80) == []
    assert violations({"x-kubernetes-int-or-string": True}, [80]) == [("spec", "FieldValueTypeInvalid")]


def test_bounds_lengths_patterns_formats() -> None:
    assert violations({"type": "integer", "maximum": 5, "exclusiveMaximum": True}, 5) == [
        ("spec", "FieldValueInvalid")
    ]
    assert violations({"type": "integer", "minimum": 5, "exclusiveMinimum": True}, 6) == []
    assert violations({"type": "string", "minLength": 2}, "a") == [("spec", "FieldValueInvalid")]
    assert violations({"type": "string", "maxLength": 2}, "abc") == [("spec", "FieldValueTooLong")]
    assert violations({"type": "string", "pattern": "^[a-z]+$"}, "A1") == [("spec", "FieldValueInvalid")]
    assert violations({"type": "string", "format": "date-time"}, "2026-01-01T00:00:00Z") == []
    assert violations({"type": "string", "format": "date-time"}, "yesterday") == [
        ("spec", "FieldValueInvalid")
    ]
    assert violations({"type": "array", "minItems": 1}, []) == [("spec", "FieldValueInvalid")]
    assert violations({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}) == [
        ("spec", "FieldValueTooMany")
    ]
    assert violations({"type": "object", "minProperties": 1}, {}) == [("spec", "FieldValueInvalid")]
    nested = {
        "type": "object",
        "required": ["a"],
        "properties": {"b": {"type": "array", "items": {"type": "integer"}}},
    }
    assert violations(nested, {"b": [1, "x"]}) == [
        ("spec.a", "FieldValueRequired"),
        ("spec.b[1]", "FieldValueTypeInvalid"),
    ]


def test_pruning_and_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kept": {"type": "object", "properties": {"x": {"type": "integer", "default": 7}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "map": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}},
            },
            "absent": {"type": "object", "properties": {"y": {"type": "integer", "default": 1}}},
        },
    }
    value = {
        "kept": {"junk": 1},
        "free": {"any": {"thing": 1}},
        "map": {"k": {"v": "a", "w": "b"}},
        "junk": 2,
    }
    result = apply_defaults(schema, prune(schema, value))
    assert result == {"kept": {"x": 7}, "free": {"any": {"thing": 1}}, "map": {"k": {"v": "a"}}}


def test_cel_rules_that_cannot_compile_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.a ++ broken"},
                    {"rule": "self.a.matches('^[a-z]+$') && self.missing == 1"},
                    {"rule": "self.a != 'forbidden'", "message": "no", "reason": "FieldValueForbidden"},
                    {"rule": "has(self.a)", "fieldPath": ".a"},
                ],
                "properties": {"a": {"type": "string"}},
            }
        },
    }
    validator = SchemaValidator()
    with caplog.at_level(logging.WARNING):
        assert validator.admit(schema, {"spec": {"a": "xyz"}}, None) == []
    assert "Skipping CEL expression" in caplog.text
    causes = validator.admit(schema, {"spec": {"a": "forbidden"}}, None)
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec", "FieldValueForbidden", "Forbidden: no")
    ]


def test_transition_rules_only_run_on_updates() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}],
                    },
                },
            }
        },
    }
    validator = SchemaValidator()
    assert validator.admit(schema, {"spec": {"id": "a"}}, None) == []
    assert validator.admit(schema, {"spec": {"id": "a"}}, {"spec": {}}) == []  # no old value at the path.
    causes = validator.admit(schema, {"spec": {"id": "b"}}, {"spec": {"id": "a"}})
    assert [(c.field, c.message) for c in causes] == [("spec.id", 'Invalid value: "string": immutable')]


async def test_broken_rule_never_answers_500(kube_http: aiohttp.ClientSession) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "odds.test.sandbox.io"},
        "spec": {
            "group": "test.sandbox.io",
            "scope": "Cluster",
            "names": {"plural": "odds", "kind": "Odd"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-validations": [{"rule": "self.spec.n / 0 == 1"}],
                            "properties": {
                                "spec": {"type": "object", "properties": {"n": {"type": "integer"}}}
                            },
                        }
                    },
                }
            ],
        },
    }
    async with kube_http.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
    ) as response:
        assert response.status == 201
    async with kube_http.post(
        "/apis/test.sandbox.io/v1/odds", json={"metadata": {"name": "o"}, "spec": {"n": 1}}
    ) as response:
        assert response.status == 201
        assert "namespace" not in (await response.json())["metadata"]
