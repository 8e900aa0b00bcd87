"""Server-side ``meta.k8s.io/v1`` ``Table`` rendering (what ``kubectl get`` prints).

Custom resources use their CRD's ``additionalPrinterColumns`` (JSONPath subset: ``.a.b``,
``.a[0].b``, ``.a[?(@.k=="v")].b``); built-ins get NAME, a few kind-specific columns and AGE.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from recording_sandbox.kube.printers import builtin_columns

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[['"](?P<quoted>[^'"]+)['"]\]"""
    r"""|\[\?\(@(?P<fpath>(?:\.[A-Za-z0-9_\-]+)+)\s*(?P<fop>==|!=)\s*['"]?(?P<fvalue>[^'")]*)['"]?\)\]"""
    r"""|\[\*\]"""
)

NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
AGE_COLUMN_PATH = ".metadata.creationTimestamp"


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate a JSONPath subset (``.a.b``, ``[0]``, ``['k']``, ``[*]``, ``[?(@.k=="v")]``).

    Returns the matched values (empty when nothing matches or the path is unsupported).
    """
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    path = path.removeprefix("$")
    values = [obj]
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            return []
        position = match.end()
        found: list[Any] = []
        for value in values:
            if match["field"] is not None or match["quoted"] is not None:
                key = match["field"] if match["field"] is not None else match["quoted"]
                if isinstance(value, dict) and key in value:
                    found.append(value[key])
            elif match["index"] is not None:
                index = int(match["index"])
                if isinstance(value, list) and -len(value) <= index < len(value):
                    found.append(value[index])
            elif match["fpath"] is not None:
                if isinstance(value, list):
                    for item in value:
                        candidates = jsonpath(item, match["fpath"])
                        equal = bool(candidates) and str(candidates[0]) == match["fvalue"]
                        if equal == (match["fop"] == "=="):
                            found.append(item)
            elif isinstance(value, list):
                found.extend(value)
        values = found
    return values


def human_duration(seconds: float) -> str:
    """Format an age like Kubernetes' ``duration.HumanDuration`` (``5s``, ``3m20s``, ``4d``)."""
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _age(timestamp: Any, now: datetime.datetime) -> str | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return human_duration((now - moment).total_seconds())


def _cell(column: dict[str, Any], obj: dict[str, Any], now: datetime.datetime) -> Any:
    if "compute" in column:
        return column["compute"](obj, now)
    results = jsonpath(obj, column.get("jsonPath", ""))
    if not results:
        return None
    value = (
        results[0]
        if len(results) == 1
        else ",".join(json.dumps(r) if isinstance(r, (dict, list)) else str(r) for r in results)
    )
    kind = column.get("type", "string")
    if kind == "date":
        return _age(value, now)
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _builtin_columns(kind: str) -> list[dict[str, Any]]:
    age = {"name": "Age", "type": "date", "jsonPath": AGE_COLUMN_PATH}
    if kind == "Event":
        return [
            {"name": "Last Seen", "type": "date", "jsonPath": ".lastTimestamp"},
            {"name": "Type", "type": "string", "jsonPath": ".type"},
            {"name": "Reason", "type": "string", "jsonPath": ".reason"},
            {"name": "Object", "type": "string", "jsonPath": ".involvedObject.name"},
            {"name": "Message", "type": "string", "jsonPath": ".message"},
        ]
    if kind == "Secret":
        return [{"name": "Type", "type": "string", "jsonPath": ".type"}, age]
    if kind == "Namespace":
        return [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}, age]
    if kind == "Pod":
        return [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}, age]
    if kind == "Job":
        return [
            {"name": "Active", "type": "integer", "jsonPath": ".status.active"},
            {"name": "Succeeded", "type": "integer", "jsonPath": ".status.succeeded"},
            {"name": "Failed", "type": "integer", "jsonPath": ".status.failed"},
            age,
        ]
    return [age]


def _columns(crd: dict[str, Any] | None, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if crd is None:
        kind = objects[0].get("kind", "") if objects else ""
        return _builtin_columns(kind)
    versions = (crd.get("spec") or {}).get("versions") or []
    wanted = None
    if objects and "/" in str(objects[0].get("apiVersion", "")):
        wanted = str(objects[0]["apiVersion"]).rsplit("/", 1)[1]
    chosen = next((v for v in versions if v.get("name") == wanted), None)
    if chosen is None:
        chosen = next((v for v in versions if v.get("storage")), versions[0] if versions else {})
    columns = chosen.get("additionalPrinterColumns")
    if columns is None:
        return [{"name": "Age", "type": "date", "jsonPath": AGE_COLUMN_PATH}]
    return list(columns)


def _partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def render_table(
    crd: dict[str, Any] | None,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    resource_version: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Render objects as a ``meta.k8s.io/v1`` ``Table``.

    ``crd`` is the CustomResourceDefinition body for custom resources, or ``None`` for
    built-ins (columns then depend on the objects' ``kind``). ``include_object`` is
    ``Metadata`` (rows carry ``PartialObjectMetadata``), ``Object`` or ``None``.
    Returns ``{"kind": "Table", "columnDefinitions": [...], "rows": [{"cells", "object"}]}``.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    kind = objects[0].get("kind", "") if objects else ""
    full = builtin_columns(kind) if crd is None else None
    columns = full if full is not None else _columns(crd, objects)
    definitions = [] if full is not None else [dict(NAME_COLUMN)]
    for column in columns:
        definitions.append(
            {
                "name": column.get("name", ""),
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": int(column.get("priority", 0)),
            }
        )
    rows = []
    for obj in objects:
        cells: list[Any] = [] if full is not None else [(obj.get("metadata") or {}).get("name", "")]
        cells.extend(_cell(column, obj, now) for column in columns)
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    }
    if resource_version is not None:
        table["metadata"]["resourceVersion"] = resource_version
    return table
