"""Kubernetes Events posted outside kopf handlers (the callback receiver's notices)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recording_operator.api import GROUP, VERSION
from recording_operator.api.timestamps import rfc3339
from recording_operator.controllers._kit.kube import KubeClient


async def post_event(
    kube: KubeClient, obj: Mapping[str, Any], kind: str, type_: str, reason: str, message: str
) -> None:
    """Post a core/v1 Event about `obj` (a resource of our group, of kind `kind`), reported by
    `recording-operator`. The message is cut at 1024 characters and must hold no secret.

    Raises:
        KubeApiError: the Event could not be created.
    """
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace", "")
    now = rfc3339()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', kind.lower())}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "recording-operator"},
        "reportingComponent": "recording-operator",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    await kube.create_object(f"/api/v1/namespaces/{namespace}/events", body)
