"""The sandbox runs the operator with metrics on a free port and names it in endpoints.json."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.harness import SandboxThread
from tests.support.waiting import wait_for


def test_sandbox_operator_serves_metrics_named_in_endpoints(tmp_path: Path) -> None:
    env = {"CLOUDRECORDING_TICK": "0.5"}  # no METRICS_PORT: the sandbox picks one
    with SandboxThread(tmp_path, with_operator=True, operator_env=env) as sandbox:
        endpoints = json.loads((tmp_path / "endpoints.json").read_text())
        assert set(endpoints) == {"kubernetes", "agora", "realtimekit", "s3", "metrics", "callbacks"}
        assert endpoints["metrics"] == sandbox.endpoints["metrics"]

        def scrape() -> str:
            try:
                return httpx.get(endpoints["metrics"], timeout=5).text
            except httpx.TransportError:
                return ""

        assert "recording_operator_build_info" in wait_for(scrape, timeout=30, what="/metrics")
