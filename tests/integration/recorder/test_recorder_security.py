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


def test_the_agent_refuses_private_destinations_before_ffmpeg_runs(tmp_path: Path) -> None:
    """The controller's check runs again in the Pod, after resolving names there: the cloud metadata
    service as input, `localhost` (resolved from the Pod's /etc/hosts) as overlay, are never fetched."""
    spec = {
        "input": {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
        "output": {"format": "mp4", "segmentDuration": "2s"},
        "storage": volume_spec(),
    }
    with run_agent(tmp_path, spec, allow_private=False) as agent:
        assert agent.proc.wait(timeout=60) == 1
    log = agent.log_path.read_text(errors="replace")
    assert "input.url: 169.254.169.254 is a link-local address" in log
    assert "ffmpeg" not in log.lower().replace("recording_operator", "")

    overlay = {**spec, "input": {"url": f"srt://1.1.1.1:{free_port()}"},
               "transcoding": {"video": {"codec": "h264"}},
               "overlay": {"imageUrl": "http://localhost:9/logo.png"}}  # fmt: skip
    (tmp_path / "overlay").mkdir()
    with run_agent(tmp_path / "overlay", overlay, allow_private=False) as agent:
        assert agent.proc.wait(timeout=60) == 1
    assert (
        "overlay.imageUrl: localhost is a cluster-internal or host-local name" in agent.log_path.read_text()
    )
