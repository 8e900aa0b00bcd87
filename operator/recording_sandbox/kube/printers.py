"""Table columns of built-in kinds as kube-apiserver prints them (``kubectl get`` of built-ins).

The columns and cells follow kube-apiserver's table printers
(https://github.com/kubernetes/kubernetes/blob/master/pkg/printers/internalversion/printers.go,
``AddHandlers``: ``podColumnDefinitions``, ``eventColumnDefinitions``, ``secretColumnDefinitions``,
``configMapColumnDefinitions``, ``jobColumnDefinitions``, ``serviceAccountColumnDefinitions``,
``namespaceColumnDefinitions``), the output documented at
https://kubernetes.io/docs/reference/kubectl/generated/kubectl_get/. Columns of ``priority`` 1
are shown with ``-o wide`` only. Each column is ``{name, type, priority, compute(obj, now)}``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

Cell = Callable[[dict[str, Any], datetime.datetime], Any]
NONE = "<none>"


def _time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _age_of(path: tuple[str, ...]) -> Cell:
    def cell(obj: dict[str, Any], now: datetime.datetime) -> Any:
        from recording_sandbox.kube.tables import human_duration

        value: Any = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        moment = _time(value)
        return human_duration((now - moment).total_seconds()) if moment else "<unknown>"

    return cell


_AGE = _age_of(("metadata", "creationTimestamp"))


def _name(obj: dict[str, Any], _now: datetime.datetime) -> Any:
    return (obj.get("metadata") or {}).get("name", "")


def _column(
    name: str, compute: Cell, kind: str = "string", priority: int = 0, fmt: str = ""
) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "priority": priority, "compute": compute}


def _pod_status(pod: dict[str, Any]) -> tuple[str, int, int, int]:
    """``(STATUS, ready containers, containers, restarts)`` as printPod computes them."""
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    reason = status.get("reason") or status.get("phase") or "Pending"
    ready = restarts = 0
    for container in status.get("containerStatuses") or []:
        restarts += int(container.get("restartCount") or 0)
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            terminated = state["terminated"] or {}
            if terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Signal:{terminated['signal']}"
            else:
                reason = f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and "running" in state:
            ready += 1
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason, ready, len(containers), restarts


def _job_status(job: dict[str, Any]) -> str:
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if (job.get("spec") or {}).get("suspend"):
        return "Suspended"
    return "Running"


def _job_duration(job: dict[str, Any], now: datetime.datetime) -> Any:
    from recording_sandbox.kube.tables import human_duration

    status = job.get("status") or {}
    start = _time(status.get("startTime"))
    if start is None:
        return ""
    end = _time(status.get("completionTime")) or now
    return human_duration((end - start).total_seconds())


def _event_object(event: dict[str, Any], _now: datetime.datetime) -> Any:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(event: dict[str, Any], now: datetime.datetime) -> Any:
    from recording_sandbox.kube.tables import human_duration

    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = _time(event.get(key))
        if moment is not None:
            return human_duration((now - moment).total_seconds())
    moment = _time((event.get("metadata") or {}).get("creationTimestamp"))
    return human_duration((now - moment).total_seconds()) if moment else "<unknown>"


def _source(event: dict[str, Any], _now: datetime.datetime) -> Any:
    source = event.get("source") or {}
    text = source.get("component") or event.get("reportingComponent") or ""
    return f"{text}, {source['host']}" if source.get("host") else text


def _get(*path: str, default: Any = NONE) -> Cell:
    def cell(obj: dict[str, Any], _now: datetime.datetime) -> Any:
        value: Any = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return default if value in (None, "") else value

    return cell


COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Pod": [
        _column("Name", _name, fmt="name"),
        _column("Ready", lambda o, n: "{1}/{2}".format(*_pod_status(o))),
        _column("Status", lambda o, n: _pod_status(o)[0]),
        _column("Restarts", lambda o, n: _pod_status(o)[3], "integer"),
        _column("Age", _AGE),
        _column("IP", _get("status", "podIP"), priority=1),
        _column("Node", _get("spec", "nodeName"), priority=1),
        _column("Nominated Node", _get("status", "nominatedNodeName"), priority=1),
        _column("Readiness Gates", lambda o, n: NONE, priority=1),
    ],
    "Event": [
        _column("Last Seen", _event_last_seen),
        _column("Type", _get("type", default="")),
        _column("Reason", _get("reason", default="")),
        _column("Object", _event_object),
        _column("Subobject", _get("involvedObject", "fieldPath", default=""), priority=1),
        _column("Source", _source, priority=1),
        _column("Message", _get("message", default="")),
        _column("First Seen", _age_of(("firstTimestamp",)), priority=1),
        _column("Count", _get("count", default=1), "integer", priority=1),
        _column("Name", _name, priority=1, fmt="name"),
    ],
    "Secret": [
        _column("Name", _name, fmt="name"),
        _column("Type", _get("type", default="")),
        _column("Data", lambda o, n: len(o.get("data") or {}), "integer"),
        _column("Age", _AGE),
    ],
    "ConfigMap": [
        _column("Name", _name, fmt="name"),
        _column("Data", lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData") or {}), "integer"),
        _column("Age", _AGE),
    ],
    "ServiceAccount": [
        _column("Name", _name, fmt="name"),
        _column("Secrets", lambda o, n: len(o.get("secrets") or []), "integer"),
        _column("Age", _AGE),
    ],
    "Namespace": [
        _column("Name", _name, fmt="name"),
        _column("Status", _get("status", "phase", default="")),
        _column("Age", _AGE),
    ],
    "Job": [
        _column("Name", _name, fmt="name"),
        _column("Status", lambda o, n: _job_status(o)),
        _column(
            "Completions",
            lambda o, n: (
                f"{(o.get('status') or {}).get('succeeded') or 0}/{(o.get('spec') or {}).get('completions', 1)}"
            ),
        ),
        _column("Duration", _job_duration),
        _column("Age", _AGE),
    ],
}


def builtin_columns(kind: str) -> list[dict[str, Any]] | None:
    """The full column list (name column included) of a built-in kind, or ``None``."""
    return COLUMNS.get(kind)


__all__ = ["COLUMNS", "builtin_columns"]
