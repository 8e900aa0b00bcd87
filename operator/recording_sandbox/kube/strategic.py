"""Strategic merge patches of built-in kinds (``application/strategic-merge-patch+json``).

Rules (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
and https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):

- maps merge per key; ``null`` deletes a key; ``{"$patch": "replace"}`` replaces a map,
  ``{"$patch": "delete"}`` deletes it; ``$retainKeys`` keeps only the listed keys;
- lists with a ``patchMergeKey`` (``containers`` by ``name``...; the sandbox's table is
  :data:`~recording_sandbox.kube.apply.BUILTIN_LIST_KEYS`) merge per key, an element
  ``{"<key>": ..., "$patch": "delete"}`` removes one, ``$setElementOrder/<list>`` orders them;
  primitive lists with the ``merge`` strategy (``finalizers``) are unioned, and
  ``$deleteFromPrimitiveList/<list>`` removes values; every other list is replaced.

Custom resources do not support strategic merge patches: kube-apiserver answers 415
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#advanced-topics,
"strategic merge patch is not supported for custom resources").
"""

from __future__ import annotations

import copy
from typing import Any

from recording_sandbox.kube.apply import BUILTIN_LIST_KEYS, BUILTIN_SETS
from recording_sandbox.kube.errors import ApiError, bad_request

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def custom_resource_refusal() -> ApiError:
    """415 for a strategic merge patch of a custom resource, worded as kube-apiserver does."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )


def strategic_merge(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to ``target``; returns the new value (``target`` untouched).

    Raises 400 for a patch that is not an object or carries an unknown ``$patch`` directive.
    """
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    result = dict(target)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            existing = result.get(key)
            merged = _merge_map(existing if isinstance(existing, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, patch.get(f"{_ORDER}{key}"))
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _matches(item: Any, element: dict[str, Any], keys: tuple[str, ...]) -> bool:
    return isinstance(item, dict) and all(item.get(k) == element.get(k) for k in keys)


def _merge_list(name: str, live: Any, patch: list[Any], order: Any) -> list[Any]:
    live_list = list(live) if isinstance(live, list) else []
    if name in BUILTIN_SETS and all(not isinstance(v, (dict, list)) for v in patch):
        return [*live_list, *[v for v in patch if v not in live_list]]
    keys = BUILTIN_LIST_KEYS.get(name)
    if keys is None or not all(isinstance(e, dict) for e in patch):
        return copy.deepcopy(patch)
    result = list(live_list)
    for element in patch:
        position = next((i for i, item in enumerate(result) if _matches(item, element, keys)), None)
        if element.get("$patch") == "delete":
            if position is not None:
                del result[position]
            continue
        if element.get("$patch") == "replace":
            return [copy.deepcopy({k: v for k, v in e.items() if k != "$patch"}) for e in patch]
        if position is None:
            result.append(copy.deepcopy(element))
        else:
            merged = _merge_map(result[position], element)
            if merged is not None:
                result[position] = merged
    if isinstance(order, list) and all(isinstance(e, dict) for e in order):
        ranked = []
        for wanted in order:
            ranked += [item for item in result if _matches(item, wanted, keys) and item not in ranked]
        ranked += [item for item in result if item not in ranked]
        result = ranked
    return result


__all__ = ["custom_resource_refusal", "strategic_merge"]
