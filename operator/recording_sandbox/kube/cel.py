"""``x-kubernetes-validations`` CEL rules, evaluated with cel-python.

Rules are compiled once and cached by their text. Transition rules (those that mention
``oldSelf``) are evaluated only on updates where the old value exists at the same path, as the
API server does. A rule cel-python cannot compile or evaluate is skipped with a logged warning.

Validation ratcheting (Kubernetes 1.30+, `CRDValidationRatcheting`): on update, a subtree equal to
its old value is not re-validated. Besides being what the API server does, it keeps status and
metadata writes (most of an operator's traffic) free of spec rule evaluation: cel-python takes
about 1 ms per rule. Results are also memoised per (rule, value, old value), since CEL is pure.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Any

import celpy

from recording_sandbox.kube.errors import Cause

logger = logging.getLogger(__name__)

_OLD_SELF = re.compile(r"\boldSelf\b")
_MISSING = object()
#: Memoised rule results kept (an LRU); each entry is one rule on one JSON value.
_MEMO_SIZE = 8192


def type_name(value: Any) -> str:
    """The OpenAPI type name of a JSON value, as the API server prints it in CEL failures."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class RuleEvaluator:
    """Evaluates the CEL rules of a structural schema against new (and old) values."""

    def __init__(self) -> None:
        self._env: celpy.Environment | None = None  # built on first use: building it takes ~0.4 s.
        self._programs: dict[str, Any] = {}
        self._warned: set[str] = set()
        self._memo: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def _warn(self, expression: str, problem: object) -> None:
        if expression not in self._warned:
            self._warned.add(expression)
            logger.warning("Skipping CEL expression %r: %s", expression, problem)

    def _program(self, expression: str) -> Any:
        if expression not in self._programs:
            if self._env is None:
                self._env = celpy.Environment()
            try:
                self._programs[expression] = self._env.program(self._env.compile(expression))
            except Exception as exc:  # cel-python raises assorted parser/compiler errors.
                self._warn(expression, exc)
                self._programs[expression] = None
        return self._programs[expression]

    def _evaluate(self, expression: str, value: Any, old: Any) -> Any:
        """Evaluate an expression (memoised); return the Python-ish result or ``_MISSING`` on errors."""
        key = (
            expression,
            json.dumps(value, sort_keys=True),
            "" if old is _MISSING else json.dumps(old, sort_keys=True),
        )
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        result = self._evaluate_uncached(expression, value, old)
        self._memo[key] = result
        if len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return result

    def _evaluate_uncached(self, expression: str, value: Any, old: Any) -> Any:
        program = self._program(expression)
        if program is None:
            return _MISSING
        activation = {"self": celpy.json_to_cel(value)}
        if old is not _MISSING:
            activation["oldSelf"] = celpy.json_to_cel(old)
        try:
            result = program.evaluate(activation)
        except Exception as exc:  # CELEvalError and errors leaking from cel-python's builtins.
            self._warn(expression, exc)
            return _MISSING
        if isinstance(result, Exception):
            self._warn(expression, result)
            return _MISSING
        return result

    def validate(self, schema: dict[str, Any], value: Any, old: Any, path: str) -> list[Cause]:
        """Evaluate every rule in ``schema`` (recursively) against ``value``.

        ``old`` is the old value at the same path, or ``None`` when there is none (creation).
        Returns one :class:`Cause` per failed rule.
        """
        causes: list[Cause] = []
        self._walk(schema, value, _MISSING if old is None else old, path, causes)
        return causes

    def _walk(self, schema: dict[str, Any], value: Any, old: Any, path: str, causes: list[Cause]) -> None:
        if value is None or not isinstance(schema, dict):
            return
        if old is not _MISSING and value == old:
            return  # ratcheting: an unchanged subtree is not re-validated
        for rule in schema.get("x-kubernetes-validations") or ():
            self._check_rule(rule, value, old, path, causes)
        if isinstance(value, dict):
            properties = schema.get("properties")
            additional = schema.get("additionalProperties")
            for key, child in value.items():
                child_schema = None
                if properties and key in properties:
                    child_schema = properties[key]
                elif isinstance(additional, dict):
                    child_schema = additional
                if child_schema is None:
                    continue
                child_old = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                self._walk(child_schema, child, child_old, f"{path}.{key}" if path else key, causes)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, child in enumerate(value):
                self._walk(schema["items"], child, _MISSING, f"{path}[{index}]", causes)

    def _check_rule(self, rule: dict[str, Any], value: Any, old: Any, path: str, causes: list[Cause]) -> None:
        expression = rule.get("rule")
        if not isinstance(expression, str):
            return
        if _OLD_SELF.search(expression) and old is _MISSING:
            return  # transition rules only run on updates with an old value at this path.
        result = self._evaluate(expression, value, old)
        if result is _MISSING or bool(result):
            return
        message = rule.get("message") or f"failed rule: {expression}"
        if rule.get("messageExpression"):
            custom = self._evaluate(rule["messageExpression"], value, old)
            if isinstance(custom, str) and custom.strip():
                message = str(custom)
        field_path = path
        if rule.get("fieldPath"):
            suffix = str(rule["fieldPath"])
            field_path = f"{path}{suffix}" if suffix.startswith((".", "[")) else f"{path}.{suffix}"
        reason = rule.get("reason") or "FieldValueInvalid"
        prefix = {
            "FieldValueInvalid": f'Invalid value: "{type_name(value)}": ',
            "FieldValueForbidden": "Forbidden: ",
            "FieldValueRequired": "Required value: ",
            "FieldValueDuplicate": f'Duplicate value: "{type_name(value)}": ',
        }.get(reason, f'Invalid value: "{type_name(value)}": ')
        causes.append(Cause(field_path, prefix + message, reason))
