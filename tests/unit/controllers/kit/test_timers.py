"""Timers apply their own patch: status first, then metadata; a failed write never ends the timer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from recording_operator.controllers._kit.kube import KubeApiError
from recording_operator.controllers._kit.timers import apply_patch, object_path

PATH = "/apis/recording.mediaops.io/v1alpha1/namespaces/ns/cloudrecordings/standup"


def test_object_path() -> None:
    resource = kopf.Resource("recording.mediaops.io", "v1alpha1", "cloudrecordings")
    assert object_path(resource, "ns", "standup") == PATH
    assert object_path(kopf.Resource("", "v1", "pods"), "ns", "p") == "/api/v1/namespaces/ns/pods/p"


def test_status_is_written_before_the_annotation_that_depends_on_it() -> None:
    writes: list[tuple[str, dict[str, Any]]] = []

    async def write(path: str, body: dict[str, Any]) -> None:
        writes.append((path, body))

    patch = kopf.Patch({"metadata": {"annotations": {"pending": None}}, "status": {"sid": "s1"}})
    asyncio.run(apply_patch(PATH, patch, write, logging.getLogger("t")))
    assert writes == [
        (f"{PATH}/status", {"status": {"sid": "s1"}}),
        (PATH, {"metadata": {"annotations": {"pending": None}}}),
    ]
    assert not patch  # nothing left for kopf to apply


def test_a_failed_write_is_logged_and_dropped(caplog: Any) -> None:
    async def refuse(path: str, body: dict[str, Any]) -> None:
        raise KubeApiError("patching: HTTP 503", 503)

    patch = kopf.Patch({"status": {"phase": "Stopped"}, "metadata": {"annotations": {"a": "b"}}})
    with caplog.at_level(logging.WARNING):
        asyncio.run(apply_patch(PATH, patch, refuse, logging.getLogger("t")))
    assert not patch and "the next tick writes it again" in caplog.text

    async def gone(path: str, body: dict[str, Any]) -> None:
        raise KubeApiError("patching: HTTP 404", 404)

    caplog.clear()
    asyncio.run(apply_patch(PATH, kopf.Patch({"status": {"phase": "Stopped"}}), gone, logging.getLogger("t")))
    assert caplog.text == ""  # the object is gone: nothing to say
