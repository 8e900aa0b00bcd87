"""The agent's endpoints against other Pods: `/status` (the recording's files, its errors) answers
only the controller's bearer token; `/healthz` (the kubelet's probe) stays open."""

from __future__ import annotations

from pathlib import Path

import httpx

from recording_sandbox.ports import free_port
from tests.support.recorder import run_agent, volume_spec
from tests.support.waiting import wait_for

TOKEN = "s3cr3t-agent-token"


def test_status_needs_the_agent_token(tmp_path: Path) -> None:
    spec = {
        "input": {"url": f"srt://127.0.0.1:{free_port()}", "readTimeout": "3s", "stallTimeout": "4s"},
        "output": {"format": "mp4", "segmentDuration": "2s"},
        "storage": volume_spec(),
    }
    with run_agent(tmp_path, spec, env={"RECORDER_AGENT_TOKEN": TOKEN}) as agent:

        def healthz() -> httpx.Response | None:
            try:
                return httpx.get(f"{agent.base}/healthz", timeout=2)
            except httpx.TransportError:
                return None

        assert wait_for(healthz, timeout=30, interval=0.2, what="the agent's HTTP server").status_code == 200
        assert httpx.get(f"{agent.base}/status", timeout=5).status_code == 401
        wrong = httpx.get(f"{agent.base}/status", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        basic = httpx.get(f"{agent.base}/status", headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
        assert basic.status_code == 401
        assert "files" not in wrong.text
        right = httpx.get(f"{agent.base}/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert right.status_code == 200 and right.json()["recording"]["name"] == "rec"
