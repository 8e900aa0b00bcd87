"""The CI workflows are valid GitHub workflows (check-jsonschema's bundled schema, offline)."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.unit.deploy.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_workflows_match_the_github_schema() -> None:
    assert WORKFLOWS
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_e2e_workflow_runs_make_e2e_kind() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "e2e-kind.yaml").read_text())
    steps = workflow["jobs"]["e2e-kind"]["steps"]
    assert any("make e2e-kind" in step.get("run", "") for step in steps)
    # The kind cluster the workflow creates is the one the Makefile uses.
    (kind,) = [s for s in steps if s.get("uses", "").startswith("helm/kind-action")]
    assert kind["with"]["cluster_name"] == "recording-e2e"
