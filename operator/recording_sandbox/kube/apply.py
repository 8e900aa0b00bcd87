"""Server-side apply and ``metadata.managedFields``, as kube-apiserver does them.

Rules (https://kubernetes.io/docs/reference/using-api/server-side-apply/):

- Every write records which *field manager* set which fields, in ``metadata.managedFields``
  entries ``{manager, operation: Apply|Update, apiVersion, time, fieldsType: FieldsV1, fieldsV1}``
  ("Field management"). ``Update`` writes (create, update, patch) take ownership of the fields
  whose value they changed; the manager is the ``fieldManager`` query parameter or the client's
  user agent up to its first ``/`` ("Using Server-Side Apply in a controller"/"Field management").
- An apply (``PATCH`` with ``application/apply-patch+yaml``) creates the object when absent and
  otherwise merges the applied configuration into it: maps merge per key, lists marked
  ``x-kubernetes-list-type: map`` merge per ``x-kubernetes-list-map-keys``, ``set`` lists per
  value, other lists and scalars are replaced ("Merge strategy"). Fields the manager applied
  before but no longer applies, and that no other manager owns, are removed.
- Applying a field another manager owns with a different value is a *conflict*: 409 ``Conflict``
  with one ``FieldManagerConflict`` cause per field, unless ``force=true`` moves the ownership
  ("Conflicts"). Applying the same value shares the ownership.

``FieldsV1`` (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/
#ObjectMeta, "managedFields"): a trie whose keys are ``f:<field>``, ``k:<json of the map keys>``
for list-map elements, ``v:<json value>`` for set elements and ``.`` for the element itself.

Built-in kinds have no schema in the sandbox: their list merge keys come from
:data:`BUILTIN_LIST_KEYS` (the ``patchMergeKey``/``listMapKeys`` the API reference gives for
those fields, https://kubernetes.io/docs/reference/kubernetes-api/); other lists are atomic.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from recording_sandbox.kube.errors import ApiError, Cause

Step = tuple[str, str]
"""One path step: ``("f", name)``, ``("k", json keys)``, ``("v", json value)`` or ``(".", "")``."""
Path = tuple[Step, ...]

#: List fields of built-in kinds merged per key (``x-kubernetes-list-map-keys`` of the k8s API).
BUILTIN_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
}
#: List fields of built-in kinds that are sets (``x-kubernetes-list-type: set``).
BUILTIN_SETS = frozenset({"finalizers"})

_UNSET = object()


def _child_schema(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    if key in properties:
        return properties[key]
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, dict) else None


def _list_kind(schema: dict[str, Any] | None, name: str) -> tuple[str, tuple[str, ...]]:
    """``("map", keys)``, ``("set", ())`` or ``("atomic", ())`` for the list field ``name``."""
    if schema is not None and schema.get("x-kubernetes-list-type"):
        kind = schema["x-kubernetes-list-type"]
        if kind == "map":
            return "map", tuple(schema.get("x-kubernetes-list-map-keys") or ())
        return ("set", ()) if kind == "set" else ("atomic", ())
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields") or not schema.get("items"):
        if name in BUILTIN_LIST_KEYS:
            return "map", BUILTIN_LIST_KEYS[name]
        if name in BUILTIN_SETS:
            return "set", ()
    return "atomic", ()


def _element_key(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict) or not all(key in item for key in keys):
        return None
    return json.dumps({key: item[key] for key in keys}, sort_keys=True, separators=(",", ":"))


def field_set(value: dict[str, Any], schema: dict[str, Any] | None) -> set[Path]:
    """The leaf fields (and list-map elements) set in ``value``, as paths.

    ``metadata`` keeps only ``labels``, ``annotations``, ``finalizers`` and ``ownerReferences``
    (the fields managers own); ``apiVersion``, ``kind`` and ``status`` (for the main resource)
    are not owned.
    """
    paths: set[Path] = set()
    for key, item in value.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(item, dict):
            kept = {
                k: v
                for k, v in item.items()
                if k in ("labels", "annotations", "finalizers", "ownerReferences")
            }
            _walk(kept, None, (("f", "metadata"),), paths)
            continue
        _walk_field(key, item, _child_schema(schema, key), (), paths)
    return paths


def _walk(value: dict[str, Any], schema: dict[str, Any] | None, prefix: Path, paths: set[Path]) -> None:
    for key, item in value.items():
        _walk_field(key, item, _child_schema(schema, key), prefix, paths)


def _walk_field(key: str, item: Any, schema: dict[str, Any] | None, prefix: Path, paths: set[Path]) -> None:
    path = (*prefix, ("f", key))
    if isinstance(item, dict) and item:
        _walk(item, schema, path, paths)
    elif isinstance(item, list) and item:
        kind, keys = _list_kind(schema, key)
        items_schema = (schema or {}).get("items") if schema else None
        if kind == "map":
            for element in item:
                element_key = _element_key(element, keys)
                if element_key is None:
                    paths.add(path)
                    return
            for element in item:
                element_path = (*path, ("k", _element_key(element, keys) or ""))
                paths.add((*element_path, (".", "")))
                _walk(element, items_schema, element_path, paths)
        elif kind == "set":
            for element in item:
                paths.add((*path, ("v", json.dumps(element, sort_keys=True, separators=(",", ":")))))
        else:
            paths.add(path)
    else:
        paths.add(path)


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """Encode paths as a FieldsV1 trie (``{"f:spec": {"f:x": {}}}``)."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for kind, name in path:
            node = node.setdefault("." if kind == "." else f"{kind}:{name}", {})
    return root


def from_fields_v1(trie: Any, prefix: Path = ()) -> set[Path]:
    """Decode a FieldsV1 trie into the set of owned paths (leaves and ``.`` markers)."""
    paths: set[Path] = set()
    if not isinstance(trie, dict):
        return paths
    for key, child in trie.items():
        if key == ".":
            paths.add((*prefix, (".", "")))
            continue
        kind, _, name = key.partition(":")
        step = (*prefix, (kind, name))
        if isinstance(child, dict) and child:
            paths |= from_fields_v1(child, step)
        else:
            paths.add(step)
    return paths


def value_at(obj: Any, path: Path) -> Any:
    """The value at ``path`` in ``obj`` (``_UNSET`` when absent)."""
    node = obj
    for kind, name in path:
        if kind == ".":
            return node
        if kind == "f":
            if not isinstance(node, dict) or name not in node:
                return _UNSET
            node = node[name]
        elif kind == "k":
            wanted = json.loads(name)
            if not isinstance(node, list):
                return _UNSET
            match = [e for e in node if isinstance(e, dict) and all(e.get(k) == v for k, v in wanted.items())]
            if not match:
                return _UNSET
            node = match[0]
        else:
            wanted_value = json.loads(name)
            return wanted_value if isinstance(node, list) and wanted_value in node else _UNSET
    return node


def format_path(path: Path) -> str:
    """A path as kube-apiserver prints it in conflicts: ``.spec.inputs[name="a"].url``."""
    text = ""
    for kind, name in path:
        if kind == "f":
            text += f".{name}"
        elif kind == "k":
            pairs = json.loads(name)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "]"
        elif kind == "v":
            text += f"[={name}]"
    return text


def merge(live: Any, applied: Any, schema: dict[str, Any] | None, name: str = "") -> Any:
    """Merge an applied configuration into a live value (see the module rules)."""
    if isinstance(live, dict) and isinstance(applied, dict):
        result = dict(live)
        for key, item in applied.items():
            child = _child_schema(schema, key) if name != "metadata" else None
            result[key] = merge(live.get(key), item, child, key) if key in live else copy.deepcopy(item)
        return result
    if isinstance(live, list) and isinstance(applied, list):
        kind, keys = _list_kind(schema, name)
        items_schema = (schema or {}).get("items") if schema else None
        if kind == "map" and all(_element_key(e, keys) is not None for e in [*live, *applied]):
            merged = list(live)
            index = {_element_key(e, keys): i for i, e in enumerate(merged)}
            for element in applied:
                position = index.get(_element_key(element, keys))
                if position is None:
                    merged.append(copy.deepcopy(element))
                else:
                    merged[position] = merge(merged[position], element, items_schema)
            return merged
        if kind == "set":
            return [*live, *[copy.deepcopy(e) for e in applied if e not in live]]
    return copy.deepcopy(applied)


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Remove the field (or list element) at ``path`` from ``obj`` in place, if present."""
    parent: Any = obj
    steps = [step for step in path if step[0] != "."]
    element = len(steps) != len(path)
    for index, (kind, name) in enumerate(steps):
        last = index == len(steps) - 1
        if kind == "f":
            if not isinstance(parent, dict) or name not in parent:
                return
            if last:
                del parent[name]
                return
            parent = parent[name]
        elif kind == "k":
            wanted = json.loads(name)
            if not isinstance(parent, list):
                return
            for position, item in enumerate(parent):
                if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                    if last and element:
                        del parent[position]
                        return
                    parent = item
                    break
            else:
                return
        elif kind == "v":
            value = json.loads(name)
            if isinstance(parent, list) and value in parent:
                parent.remove(value)
            return


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in (obj.get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


def _entry_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (entry.get("manager", ""), entry.get("operation", ""), entry.get("subresource", ""))


def record(
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    schema: dict[str, Any] | None,
    *,
    manager: str,
    operation: str,
    api_version: str,
    now: str,
    subresource: str | None = None,
    owned: set[Path] | None = None,
    force: bool = False,
) -> None:
    """Set ``obj``'s ``metadata.managedFields`` after a write by ``manager``.

    ``Update`` writes own the fields that differ from ``old``; an ``Apply`` owns exactly ``owned``
    (the applied set) and, with ``force``, takes those fields from the other managers. Every
    manager loses fields no longer present; entries left empty are dropped.
    """
    present = field_set(obj, schema)
    previous = [] if old is None else _entries(old)
    if operation == "Update":
        changed = {p for p in present if old is None or value_at(old, p) != value_at(obj, p)}
        if old is not None:
            changed |= {p for p in present if value_at(old, p) is _UNSET}
        owned = changed
    owned = owned or set()
    result: list[dict[str, Any]] = []
    mine_key = (manager, operation, subresource or "")
    mine: set[Path] = set(owned)
    for entry in previous:
        paths = from_fields_v1(entry.get("fieldsV1"))
        if _entry_key(entry) == mine_key:
            if operation == "Update":
                mine |= paths
            continue
        if operation == "Update" or force:
            paths -= owned
        paths = {p for p in paths if value_at(obj, p) is not _UNSET}
        if paths:
            result.append({**entry, "fieldsV1": to_fields_v1(paths)})
    mine = {p for p in mine if value_at(obj, p) is not _UNSET}
    if mine:
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(mine),
        }
        if subresource:
            entry["subresource"] = subresource
        result.append(entry)
    metadata = obj.setdefault("metadata", {})
    if result:
        metadata["managedFields"] = result
    else:
        metadata.pop("managedFields", None)


def conflicts(
    live: dict[str, Any], applied: dict[str, Any], applied_paths: set[Path], manager: str
) -> list[tuple[str, str, Path]]:
    """``(manager, apiVersion, path)`` of each field another manager owns with another value."""
    found: list[tuple[str, str, Path]] = []
    for entry in _entries(live):
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            continue
        for path in sorted(from_fields_v1(entry.get("fieldsV1")) & applied_paths):
            if path and path[-1][0] == ".":
                continue
            if value_at(live, path) != value_at(applied, path):
                found.append((entry.get("manager", ""), entry.get("apiVersion", ""), path))
    return found


def conflict_error(
    kind: str, group: str, plural: str, name: str, found: list[tuple[str, str, Path]]
) -> ApiError:
    """409 ``Conflict`` as kube-apiserver answers an apply conflict (one cause per field)."""
    causes = [
        Cause(format_path(path), f'conflict with "{manager}" using {api_version}', "FieldManagerConflict")
        for manager, api_version, path in found
    ]
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].field}"
    else:
        lines = "\n".join(f"{cause.message}: {cause.field}" for cause in causes)
        message = f"Apply failed with {len(causes)} conflicts: {lines}"
    return ApiError(409, "Conflict", message, name, group, plural, causes)


def applied_object(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    schema: dict[str, Any] | None,
    manager: str,
) -> tuple[dict[str, Any], set[Path]]:
    """The object after applying ``applied`` by ``manager`` (no conflict check), and the applied set.

    Fields ``manager`` applied before (its ``Apply`` entry) and now omits are removed unless
    another manager owns them.
    """
    applied_paths = field_set(applied, schema)
    if live is None:
        return copy.deepcopy(applied), applied_paths
    result = merge(live, applied, schema)
    previous: set[Path] = set()
    others: set[Path] = set()
    for entry in _entries(live):
        paths = from_fields_v1(entry.get("fieldsV1"))
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            previous |= paths
        else:
            others |= paths
    for path in sorted(previous - applied_paths - others, key=len, reverse=True):
        remove_path(result, path)
    return result, applied_paths


__all__ = [
    "BUILTIN_LIST_KEYS",
    "applied_object",
    "conflict_error",
    "conflicts",
    "field_set",
    "format_path",
    "from_fields_v1",
    "merge",
    "record",
    "to_fields_v1",
]
