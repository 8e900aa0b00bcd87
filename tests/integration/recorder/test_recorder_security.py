"""The agent's endpoints against other Pods: `/status` (the recording's files, its errors) answers
only the controller's bearer token; `/healthz` (the kubelet's probe) stays open."""

from __future__ import annotations

import base64
import functools
import http.server
import subprocess
import threading
import urllib.parse
from pathlib import Path
from typing import ClassVar

import httpx

from recording_sandbox.ports import free_port
from tests.support.recorder import H264, SOURCE, run_agent, volume_spec
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


class _BasicAuthHandler(http.server.SimpleHTTPRequestHandler):
    """Serves its directory to `user:pass` (Basic) only; notes every Authorization header."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        header = self.headers.get("Authorization") or ""
        type(self).seen.append(header)
        if header != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


USER, PASSWORD = "viewer", "p@ss:w0rd/with?chars"


def test_source_credentials_come_from_the_environment_never_the_spec(tmp_path: Path) -> None:
    """`input.credentialsSecretRef`: the URL in the spec (and the ConfigMap) has no userinfo; the agent
    adds it for FFmpeg from its environment, and the password is in no log line or status."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE[1:], "-t", "4", *H264,
                    "-c:a", "aac", "-f", "mpegts", str(site / "live.ts")], check=True)  # fmt: skip
    handler = functools.partial(_BasicAuthHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
        spec = {"input": {"url": url, "readTimeout": "3s"}, "output": {"format": "mpegts", "segmentDuration": "1s"},
                "storage": volume_spec()}  # fmt: skip
        env = {"RECORDER_INPUT_USERNAME": USER, "RECORDER_INPUT_PASSWORD": PASSWORD}
        with run_agent(tmp_path, spec, env=env) as agent:
            status = agent.wait_for(lambda s: any(f.uploaded for f in s.files))
            agent.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert status.files and (tmp_path / "volume" / status.files[0].key).stat().st_size > 0
    assert any(h.startswith("Basic ") for h in _BasicAuthHandler.seen)
    log = agent.log()
    encoded = urllib.parse.quote(PASSWORD, safe="")
    assert PASSWORD not in log and encoded not in log
    assert PASSWORD not in status.model_dump_json() and encoded not in status.model_dump_json()
    assert "***" in log  # the argv line names the input, its userinfo redacted
