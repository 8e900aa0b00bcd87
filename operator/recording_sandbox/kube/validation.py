"""Structural-schema handling of custom resources: pruning, defaulting and OpenAPI validation.

The order follows the API server: prune unknown fields, apply defaults, validate the schema,
then evaluate the CEL rules (:mod:`recording_sandbox.kube.cel`).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from functools import lru_cache
from typing import Any

from recording_sandbox.kube.cel import RuleEvaluator
from recording_sandbox.kube.errors import Cause

_ROOT_SYSTEM_FIELDS = ("apiVersion", "kind", "metadata")


def _preserves(schema: dict[str, Any]) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) or bool(
        schema.get("x-kubernetes-int-or-string")
    )


def prune(schema: dict[str, Any], value: Any) -> Any:
    """Drop fields the schema does not know (unless ``x-kubernetes-preserve-unknown-fields``).

    Mutates and returns ``value``.
    """
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key in list(value):
            if key in properties:
                prune(properties[key], value[key])
            elif isinstance(additional, dict):
                prune(additional, value[key])
            elif additional is True or _preserves(schema):
                continue
            else:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune(schema["items"], item)
    return value


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill in ``default`` values of absent properties of present objects. Mutates ``value``."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, child in properties.items():
            if key not in value and isinstance(child, dict) and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                apply_defaults(child, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in value:
                if key not in properties:
                    apply_defaults(additional, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)
    return value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: str, actual: str) -> bool:
    return expected == actual or (expected == "number" and actual == "integer")


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _is_date_time(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()


def _check_scalar(schema: dict[str, Any], value: Any, path: str, causes: list[Cause]) -> None:
    shown = _show(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        maximum = schema.get("maximum")
        if maximum is not None:
            if schema.get("exclusiveMaximum") and value >= maximum:
                causes.append(
                    Cause(path, f"Invalid value: {shown}: {path} in body should be less than {maximum}")
                )
            elif value > maximum:
                causes.append(
                    Cause(
                        path,
                        f"Invalid value: {shown}: {path} in body should be less than or equal to {maximum}",
                    )
                )
        minimum = schema.get("minimum")
        if minimum is not None:
            if schema.get("exclusiveMinimum") and value <= minimum:
                causes.append(
                    Cause(path, f"Invalid value: {shown}: {path} in body should be greater than {minimum}")
                )
            elif value < minimum:
                causes.append(
                    Cause(
                        path,
                        f"Invalid value: {shown}: {path} in body should be greater than or equal to {minimum}",
                    )
                )
    if isinstance(value, str):
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            causes.append(
                Cause(path, f"Too long: may not be more than {max_length} bytes", "FieldValueTooLong")
            )
        min_length = schema.get("minLength")
        if min_length is not None and len(value) < min_length:
            causes.append(
                Cause(
                    path, f"Invalid value: {shown}: {path} in body should be at least {min_length} chars long"
                )
            )
        pattern = schema.get("pattern")
        if pattern is not None and _pattern(pattern).search(value) is None:
            causes.append(Cause(path, f"Invalid value: {shown}: {path} in body should match '{pattern}'"))
        if schema.get("format") == "date-time" and not _is_date_time(value):
            causes.append(
                Cause(path, f"Invalid value: {shown}: {path} in body must be of type date-time: {shown}")
            )


def validate_schema(schema: dict[str, Any], value: Any, path: str, causes: list[Cause]) -> None:
    """Append one :class:`Cause` per OpenAPI v3 violation of ``value`` at ``path`` to ``causes``."""
    if not isinstance(schema, dict):
        return
    if value is None:
        if not schema.get("nullable") and not _preserves(schema) and schema.get("type"):
            expected = schema["type"]
            causes.append(
                Cause(
                    path,
                    f'Invalid value: "null": {path} in body must be of type {expected}: "null"',
                    "FieldValueTypeInvalid",
                )
            )
        return
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            causes.append(
                Cause(
                    path,
                    f'Invalid value: "{actual}": {path} in body must be of type integer-or-string',
                    "FieldValueTypeInvalid",
                )
            )
            return
    elif "type" in schema and not _type_ok(schema["type"], actual):
        expected = schema["type"]
        causes.append(
            Cause(
                path,
                f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"',
                "FieldValueTypeInvalid",
            )
        )
        return
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(json.dumps(item) for item in enum)
        causes.append(
            Cause(
                path,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                "FieldValueNotSupported",
            )
        )
    _check_scalar(schema, value, path, causes)
    if isinstance(value, dict):
        _check_object(schema, value, path, causes)
    elif isinstance(value, list):
        _check_array(schema, value, path, causes)


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str, causes: list[Cause]) -> None:
    prefix = f"{path}." if path else ""
    for key in schema.get("required") or ():
        if key not in value:
            causes.append(Cause(f"{prefix}{key}", "Required value", "FieldValueRequired"))
    max_properties = schema.get("maxProperties")
    if max_properties is not None and len(value) > max_properties:
        causes.append(
            Cause(
                path, f"Too many: {len(value)}: must have at most {max_properties} items", "FieldValueTooMany"
            )
        )
    min_properties = schema.get("minProperties")
    if min_properties is not None and len(value) < min_properties:
        causes.append(
            Cause(
                path,
                f"Invalid value: {len(value)}: {path} in body should have at least "
                f"{min_properties} properties",
            )
        )
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key, child in value.items():
        if key in properties:
            validate_schema(properties[key], child, f"{prefix}{key}", causes)
        elif isinstance(additional, dict):
            validate_schema(additional, child, f"{prefix}{key}", causes)


def _check_array(schema: dict[str, Any], value: list[Any], path: str, causes: list[Cause]) -> None:
    max_items = schema.get("maxItems")
    if max_items is not None and len(value) > max_items:
        causes.append(
            Cause(path, f"Too many: {len(value)}: must have at most {max_items} items", "FieldValueTooMany")
        )
    min_items = schema.get("minItems")
    if min_items is not None and len(value) < min_items:
        causes.append(
            Cause(path, f"Invalid value: {len(value)}: {path} in body should have at least {min_items} items")
        )
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: set[str] = set()
        for index, item in enumerate(value):
            token = json.dumps(item, sort_keys=True)
            if token in seen:
                causes.append(
                    Cause(f"{path}[{index}]", f"Duplicate value: {_show(item)}", "FieldValueDuplicate")
                )
            seen.add(token)
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            validate_schema(items, item, f"{path}[{index}]", causes)


class SchemaValidator:
    """Prunes, defaults and validates custom resources against their ``openAPIV3Schema``."""

    def __init__(self) -> None:
        self.rules = RuleEvaluator()

    def admit(self, schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
        """Prune and default ``obj`` in place, then validate it (schema and CEL rules).

        ``old`` is the stored object on updates (``None`` on creation), used by transition
        rules. Returns the violations (empty when the object is valid).
        """
        system = {key: obj[key] for key in _ROOT_SYSTEM_FIELDS if key in obj}
        root_schema = dict(schema)
        root_schema.setdefault("type", "object")
        properties = dict(root_schema.get("properties") or {})
        for key in _ROOT_SYSTEM_FIELDS:
            properties.pop(key, None)
        root_schema["properties"] = properties
        body = {key: value for key, value in obj.items() if key not in _ROOT_SYSTEM_FIELDS}
        prune(root_schema, body)
        apply_defaults(root_schema, body)
        obj.clear()
        obj.update(system)
        obj.update(body)
        causes: list[Cause] = []
        validate_schema(root_schema, body, "", causes)
        old_body = None
        if old is not None:
            old_body = {key: value for key, value in old.items() if key not in _ROOT_SYSTEM_FIELDS}
        causes.extend(self.rules.validate(root_schema, body, old_body, ""))
        return causes
