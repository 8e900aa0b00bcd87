"""The commands a newcomer runs: `python -m recording_sandbox sandbox` and `python -m recording_sandbox demo`."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_sandbox_command_writes_kubeconfig_and_endpoints(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "recording_sandbox", "sandbox", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "endpoints.json").exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "endpoints.json not written"
            time.sleep(0.1)
        endpoints = json.loads((tmp_path / "endpoints.json").read_text())
        assert set(endpoints) == {"kubernetes", "agora", "realtimekit", "s3", "callbacks"}
        assert httpx.get(f"{endpoints['s3']}/recordings").status_code == 200  # the bucket exists
        assert httpx.get(f"{endpoints['kubernetes']}/version").status_code == 200
        assert httpx.get(f"{endpoints['agora']}/_emulator/tasks").json() == {"tasks": []}
        assert (tmp_path / "kubeconfig").exists()
        if shutil.which("kubectl"):
            result = subprocess.run(
                ["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "get", "crd"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert "cloudrecordings.recording.mediaops.io" in result.stdout, result.stderr
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


@pytest.mark.timeout(120)
def test_demo_runs_the_main_job() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "recording_sandbox", "demo"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 task(s) left running at Agora" in result.stdout
    # Every step shown as kubectl runs the real kubectl: its own output appears.
    assert "cloudrecording.recording.mediaops.io/standup created" in result.stdout
    assert "cloudtranscoder.recording.mediaops.io/studio-mix created" in result.stdout
    assert 'cloudrecording.recording.mediaops.io "standup" deleted' in result.stdout
    assert "$ kubectl get cloudrecordings standup -o wide" in result.stdout
    assert "updateLayout×1" in result.stdout and "stop×1" in result.stdout
    assert "0 transcoder task(s) left running at Agora" in result.stdout
    assert "RealtimeKit start → stop → UPLOADED → delete; 0 recording(s) left active." in result.stdout
    assert (
        "createTask×1" in result.stdout
        and "updateTask×1" in result.stdout
        and "deleteTask×1" in result.stdout
    )
    assert "sequenceId 1" in result.stdout
    # LocalRecording: a live SRT test stream recorded into 10 s MP4 segments on the sandbox's S3.
    assert "LocalRecording: 3 files in s3://recordings/demo/camera1/ (10.0 s, 10.0 s," in result.stdout
    assert "every file has a RecordedFile" in result.stdout
