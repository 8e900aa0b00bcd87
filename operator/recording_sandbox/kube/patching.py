"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via ``jsonpatch``) and strategic merge."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from recording_sandbox.kube.errors import ApiError, bad_request, unsupported_media_type
from recording_sandbox.kube.strategic import strategic_merge

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; return the new value (``target`` is not mutated)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unprocessable(message: str) -> ApiError:
    # The real API server answers JSON-patch application failures (incl. failed `test` ops) with
    # a generic 422; kopf relies on that to postpone its finalizer patches to the next cycle.
    return ApiError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {message}"
    )


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch; return the new object (``target`` is not mutated).

    Raises :class:`ApiError` 400 for malformed patches, 422 when an operation cannot apply
    (a failed ``test``, a missing path), worded as kube-apiserver's JSON-patch library
    (github.com/evanphx/json-patch: ``testing value <path> failed: test failed``,
    ``<op> operation does not apply: doc is missing path: "<path>": missing value``).
    """
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result: Any = target
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise bad_request(
                f"the server rejected our request due to an error in our request: operation {index} is invalid"
            )
        op, path = operation["op"], str(operation.get("path", ""))
        try:
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=False)
        except jsonpatch.JsonPatchTestFailed:
            raise _unprocessable(f"testing value {path} failed: test failed") from None
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException):
            raise _unprocessable(
                f'{op} operation does not apply: doc is missing path: "{path}": missing value'
            ) from None
        except (jsonpatch.InvalidJsonPatch, TypeError, KeyError, ValueError):
            raise bad_request(
                f'the server rejected our request due to an error in our request: unexpected operation "{op}"'
            ) from None
    if not isinstance(result, dict):
        raise _unprocessable("the patched document is not an object")
    return result


def apply_patch(content_type: str, target: dict[str, Any], body: Any) -> dict[str, Any]:
    """Apply a PATCH body of a given ``Content-Type`` to an object; return the new object.

    Strategic merge patches follow strategic.py (built-ins only: the store refuses them for
    custom resources). Raises :class:`ApiError` 415 for
    server-side apply and unknown types, 400/422 as :func:`json_patch` does.
    """
    if content_type == STRATEGIC_MERGE_PATCH:
        result = strategic_merge(target, body)
        assert isinstance(result, dict)
        return result
    if content_type == MERGE_PATCH:
        if not isinstance(body, dict):
            raise bad_request("a merge patch must be a JSON object")
        result = merge_patch(target, body)
        assert isinstance(result, dict)
        return result
    if content_type == JSON_PATCH:
        return json_patch(target, body)
    raise unsupported_media_type(content_type)
