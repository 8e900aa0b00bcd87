"""Argo CD health checks (manifests/argocd) run in real Lua against status fixtures, in Argo CD's
`health_test.yaml` format, with only Lua's base functions available (Argo CD's default)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.argocd_health import HEALTH, health
from tests.unit.deploy.conftest import ROOT, documents

ARGOCD = ROOT / "manifests" / "argocd"
KINDS = ("CloudRecording", "CloudTranscoder", "LocalRecording", "RecordedFile")
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended"}


def cases() -> list[Any]:
    found = []
    for kind in KINDS:
        spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
        for test in spec["tests"]:
            found.append(pytest.param(kind, test, id=f"{kind}-{Path(test['inputPath']).stem}"))
    return found


@pytest.mark.parametrize(("kind", "test"), cases())
def test_health_of_fixture(kind: str, test: dict[str, Any]) -> None:
    obj = yaml.safe_load((HEALTH / kind / test["inputPath"]).read_text())
    assert obj["kind"] == kind
    assert health(kind, obj) == test["healthStatus"]


def test_every_kind_reaches_each_status_it_can() -> None:
    """Every kind has fixtures for Healthy, Progressing and Degraded (a CloudRecording also Suspended)."""
    for kind in KINDS:
        spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
        seen = {t["healthStatus"]["status"] for t in spec["tests"]}
        assert seen <= STATUSES
        assert {"Healthy", "Progressing", "Degraded"} <= seen, kind
    assert "Suspended" in {
        t["healthStatus"]["status"]
        for t in yaml.safe_load((HEALTH / "CloudRecording" / "health_test.yaml").read_text())["tests"]
    }


@pytest.mark.kubectl
def test_argocd_cm_carries_the_scripts() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(
        ["kubectl", "kustomize", str(ARGOCD)], check=True, capture_output=True, text=True
    ).stdout
    (cm,) = documents(out)
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == (
        "ConfigMap",
        "argocd-cm",
        "argocd",
    )
    ignore = (ARGOCD / "ignore-resource-updates.yaml").read_text()
    for kind in KINDS:
        key = f"recording.mediaops.io_{kind}"
        assert (
            cm["data"][f"resource.customizations.health.{key}"] == (HEALTH / kind / "health.lua").read_text()
        )
        assert cm["data"][f"resource.customizations.ignoreResourceUpdates.{key}"] == ignore
    pointers = yaml.safe_load(ignore)["jsonPointers"]
    assert "/status/conditions" not in pointers and "/status/phase" not in pointers
