"""Argo CD resource actions (manifests/argocd/actions) in real Lua: which actions each status enables,
and what each action changes (spec or the reconcile annotation, never status)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.argocd_health import ACTIONS, discover, run_action
from tests.unit.deploy.conftest import ROOT

ARGOCD = ROOT / "manifests" / "argocd"
REQUESTED_AT = "recording.mediaops.io/reconcile-requested-at"

#: Enabled actions per fixture (status as the controllers write it, the sample's spec).
ENABLED: dict[str, dict[str, set[str]]] = {
    "CloudRecording": {
        "new": {"stop"},
        "starting": {"stop"},
        "recording": {"stop"},  # mix mode cannot pause
        "paused": {"stop", "resume"},
        "stopped": {"start"},
        "provider-unavailable": {"stop"},
        "auth-failed": {"stop", "reconcile"},
        "provider-failed": {"stop"},
        "spec-change-pending": {"stop"},
    },
    "LocalRecording": {
        "new": {"stop"},
        "pod-starting": {"stop"},
        "recording": {"stop", "restart"},
        "input-down": {"stop", "restart"},
        "failed": {"stop"},
        "stopped": {"start"},
    },
    "CloudTranscoder": {
        "new": set(),
        "in-progress": {"restart"},
        "failed": set(),
        "invalid": {"reconcile"},
    },
}


def fixture(kind: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(
        (ACTIONS / kind / "actions" / "testdata" / f"{name}.yaml").read_text()
    )
    return obj


def cases() -> list[Any]:
    return [
        pytest.param(kind, name, id=f"{kind}-{name}") for kind, names in ENABLED.items() for name in names
    ]


@pytest.mark.parametrize(("kind", "name"), cases())
def test_discovery_enables_what_makes_sense(kind: str, name: str) -> None:
    actions = discover(kind, fixture(kind, name))
    assert {a for a, disabled in actions.items() if not disabled} == ENABLED[kind][name]


def test_every_fixture_is_covered() -> None:
    for kind, names in ENABLED.items():
        files = {p.stem for p in (ACTIONS / kind / "actions" / "testdata").glob("*.yaml")}
        assert files == set(names), kind


def test_nothing_is_offered_while_deleting() -> None:
    obj = fixture("CloudRecording", "auth-failed")
    obj["metadata"]["deletionTimestamp"] = "2026-11-25T22:00:00Z"
    assert all(discover("CloudRecording", obj).values())


@pytest.mark.parametrize(
    ("kind", "name", "action", "path", "value"),
    [
        ("CloudRecording", "recording", "stop", ("spec", "state"), "Stopped"),
        ("CloudRecording", "stopped", "start", ("spec", "state"), "Recording"),
        ("CloudRecording", "paused", "resume", ("spec", "state"), "Recording"),
        ("LocalRecording", "recording", "stop", ("spec", "active"), False),
        ("LocalRecording", "stopped", "start", ("spec", "active"), True),
    ],
)
def test_actions_patch_the_spec(kind: str, name: str, action: str, path: tuple[str, str], value: Any) -> None:
    before = fixture(kind, name)
    after = run_action(kind, action, before)
    assert after[path[0]][path[1]] == value
    assert after["status"] == before["status"]


def test_pause_on_a_pausable_recording() -> None:
    obj = fixture("CloudRecording", "paused")
    obj["spec"]["state"] = "Recording"
    assert discover("CloudRecording", obj)["pause"] is False
    assert run_action("CloudRecording", "pause", obj)["spec"]["state"] == "Paused"


@pytest.mark.parametrize(
    ("kind", "name"), [("CloudRecording", "auth-failed"), ("CloudTranscoder", "invalid")]
)
def test_reconcile_sets_the_annotation(kind: str, name: str) -> None:
    before = fixture(kind, name)
    after = run_action(kind, "reconcile", before)
    value = after["metadata"]["annotations"][REQUESTED_AT]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)
    assert after["spec"] == before["spec"] and after["status"] == before["status"]


@pytest.mark.parametrize(
    ("kind", "name"), [("LocalRecording", "recording"), ("CloudTranscoder", "in-progress")]
)
def test_restart_sets_the_restart_annotation(kind: str, name: str) -> None:
    before = fixture(kind, name)
    after = run_action(kind, "restart", before)
    value = after["metadata"]["annotations"]["recording.mediaops.io/restart-requested-at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)
    assert after["spec"] == before["spec"] and after["status"] == before["status"]


def test_a_stopped_transcoder_task_can_be_restarted() -> None:
    obj = fixture("CloudTranscoder", "in-progress")
    obj["status"]["phase"] = "Exited"
    assert discover("CloudTranscoder", obj)["restart"] is False
    obj["status"]["phase"] = "Creating"  # the pending create is resumed first
    assert discover("CloudTranscoder", obj)["restart"] is True


def test_argocd_cm_values_match_the_scripts() -> None:
    kustomization = yaml.safe_load((ARGOCD / "kustomization.yaml").read_text())
    files = dict(f.split("=", 1) for f in kustomization["configMapGenerator"][0]["files"])
    for kind in ENABLED:
        key = f"resource.customizations.actions.recording.mediaops.io_{kind}"
        value = yaml.safe_load((ARGOCD / files[key]).read_text())
        base = ACTIONS / kind / "actions"
        assert value["discovery.lua"] == (base / "discovery.lua").read_text()
        definitions = {d["name"]: d["action.lua"] for d in value["definitions"]}
        on_disk = {p.parent.name: p.read_text() for p in base.glob("*/action.lua")}
        assert definitions == on_disk
        assert set(definitions) == set(discover(kind, fixture(kind, "new")))


def test_fixture_statuses_come_from_the_health_fixtures() -> None:
    health = ROOT / "manifests" / "argocd" / "health" / "recording.mediaops.io"
    for kind, names in ENABLED.items():
        for name in names:
            src = yaml.safe_load(Path(health / kind / "testdata" / f"{name}.yaml").read_text())
            assert fixture(kind, name).get("status") == src.get("status"), (kind, name)
