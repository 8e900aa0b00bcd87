"""Timers apply their own patch: status first, then metadata; a failed write never ends the timer; a
write over a copy changed since the tick began keeps the conditions written meanwhile (the sandbox's
API server, real optimistic concurrency)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import pytest

from recording_operator.controllers._kit.conditions import rebase_status, set_condition
from recording_operator.controllers._kit.kube import KubeApiError, KubeClient
from recording_operator.controllers._kit.timers import apply_patch, object_path
from recording_sandbox.kube import KubeEmulator

WIDGETS = "/apis/test.sandbox.io/v1/namespaces/default/widgets"
KUBE_FIXTURES = Path(__file__).parents[3] / "fixtures" / "kube"

PATH = "/apis/recording.mediaops.io/v1alpha1/namespaces/ns/cloudrecordings/standup"


def test_object_path() -> None:
    resource = kopf.Resource("recording.mediaops.io", "v1alpha1", "cloudrecordings")
    assert object_path(resource, "ns", "standup") == PATH
    assert object_path(kopf.Resource("", "v1", "pods"), "ns", "p") == "/api/v1/namespaces/ns/pods/p"


class Recorded:
    """Stands for the API server in the write-order tests: records each merge patch, or answers
    every one with the HTTP status `refuse`."""

    def __init__(self, refuse: int | None = None) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse

    async def merge_patch(
        self, path: str, body: dict[str, Any], *, resource_version: str | None = None
    ) -> None:
        if self.refuse:
            raise KubeApiError(f"patching: HTTP {self.refuse}", self.refuse)
        self.writes.append((path, body))


def test_status_is_written_before_the_annotation_that_depends_on_it() -> None:
    kube = Recorded()
    patch = kopf.Patch({"metadata": {"annotations": {"pending": None}}, "status": {"sid": "s1"}})
    asyncio.run(apply_patch(PATH, patch, kube, logging.getLogger("t")))  # type: ignore[arg-type]
    assert kube.writes == [
        (f"{PATH}/status", {"status": {"sid": "s1"}}),
        (PATH, {"metadata": {"annotations": {"pending": None}}}),
    ]
    assert not patch  # nothing left for kopf to apply


def test_a_failed_write_is_logged_and_dropped(caplog: Any) -> None:
    patch = kopf.Patch({"status": {"phase": "Stopped"}, "metadata": {"annotations": {"a": "b"}}})
    with caplog.at_level(logging.WARNING):
        asyncio.run(apply_patch(PATH, patch, Recorded(refuse=503), logging.getLogger("t")))  # type: ignore[arg-type]
    assert not patch and "the next tick writes it again" in caplog.text

    caplog.clear()
    gone = Recorded(refuse=404)
    asyncio.run(apply_patch(PATH, kopf.Patch({"status": {"phase": "Stopped"}}), gone, logging.getLogger("t")))  # type: ignore[arg-type]
    assert caplog.text == ""  # the object is gone: nothing to say


def conditions(*entries: tuple[str, str, str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for type_, status, reason in entries:
        result = set_condition(result, type_, status, reason, reason, 1, now="2026-11-27T00:00:00Z")
    return result


def test_a_rebased_draft_keeps_what_was_written_meanwhile_and_applies_only_its_own_changes() -> None:
    base = {"conditions": conditions(("Ready", "False", "Reconciling"))}
    drafted = {
        "phase": "Running",
        "conditions": conditions(
            ("Ready", "True", "Running"),
            ("Synced", "Unknown", "Reconciling"),
            ("Recording", "True", "Running"),
        ),
    }
    # Meanwhile a reconcile wrote Synced=True (the tick drafted Synced=Unknown from a copy without it).
    newest = {
        "conditions": conditions(("Ready", "False", "Reconciling"), ("Synced", "True", "ReconcileSuccess"))
    }
    rebased = rebase_status(drafted, base, newest)
    assert rebased["phase"] == "Running"
    assert [(c["type"], c["status"]) for c in rebased["conditions"]] == [
        ("Ready", "True"),
        ("Synced", "True"),
        ("Recording", "True"),
    ]
    # A condition the tick removed goes, unless it was changed meanwhile.
    assert rebase_status({"conditions": []}, base, base) == {"conditions": []}
    changed = {"conditions": conditions(("Ready", "True", "Running"))}
    assert rebase_status({"conditions": []}, base, changed) == changed
    assert rebase_status({"phase": "Running"}, base, newest) == {"phase": "Running"}


@pytest.fixture
async def api() -> AsyncIterator[KubeClient]:
    """The sandbox's API server (with the test Widget CRD: a status subresource) and the operator's client."""
    emulator = KubeEmulator(crd_paths=[KUBE_FIXTURES], namespaces=["default"])
    url = await emulator.start()
    kube = KubeClient(kopf.ConnectionInfo(server=url))
    try:
        yield kube
    finally:
        await kube.aclose()
        await emulator.stop()


async def test_a_tick_that_drafted_from_an_older_copy_keeps_the_reconciles_conditions(
    api: KubeClient,
) -> None:
    widget = {"apiVersion": "test.sandbox.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
    widget["spec"] = {"channel": "c", "size": "small"}
    created = await api.create_object(WIDGETS, widget)
    assert created is not None
    path = f"{WIDGETS}/w"
    started = {"metadata": dict(created["metadata"]), "status": dict(created.get("status") or {})}
    # The reconcile writes while the tick runs.
    reconciled = {
        "conditions": conditions(("Ready", "False", "Reconciling"), ("Synced", "True", "ReconcileSuccess"))
    }
    await api.merge_patch(f"{path}/status", {"status": reconciled})
    # The tick, drafted from the copy it started with (no conditions), ends.
    drafted = {
        "phase": "Running",
        "conditions": conditions(("Ready", "False", "Reconciling"), ("Synced", "Unknown", "Reconciling")),
    }
    patch = kopf.Patch({"status": drafted})
    await apply_patch(
        path,
        patch,
        api,
        logging.getLogger("t"),
        base=started["status"],
        version=started["metadata"]["resourceVersion"],
    )
    written = await api.get_object(path)
    assert written is not None
    assert written["status"]["phase"] == "Running"
    assert [(c["type"], c["status"]) for c in written["status"]["conditions"]] == [
        ("Ready", "False"),
        ("Synced", "True"),
    ]
