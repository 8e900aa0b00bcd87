"""The body kopf keeps of each watched object drops its managedFields; nothing else changes."""

from __future__ import annotations

from typing import Any

import kopf

from recording_operator.controllers._kit.kube import shed_managed_fields


def _event() -> dict[str, Any]:
    return {
        "type": "MODIFIED",
        "object": {
            "metadata": {
                "name": "standup",
                "annotations": {"a": "b"},
                "managedFields": [{"manager": "kopf", "operation": "Update", "fieldsV1": {"f:status": {}}}],
            },
            "spec": {"provider": "agora"},
            "status": {"phase": "Recording"},
        },
    }


def test_the_kept_body_loses_managed_fields_only() -> None:
    event = _event()
    kept = kopf.Body(event["object"])  # what kopf holds for the object's timer
    shed_managed_fields(event)
    assert "managedFields" not in kept["metadata"]
    expected = _event()["object"]
    del expected["metadata"]["managedFields"]
    assert dict(kept) == expected


def test_events_without_metadata_are_left_alone() -> None:
    for event in ({"type": None, "object": {}}, {"type": "ERROR", "object": "gone"}, {"type": "ADDED"}):
        before = repr(event)
        shed_managed_fields(event)
        assert repr(event) == before
