"""`kubectl recording …` through kubectl's plugin discovery (the installed `kubectl-recording` on
PATH) against the sandbox with the real operator."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import Agora, Cluster, recording
from tests.support.kubectl import kubectl_binary as real_kubectl
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"


def kubectl_binary() -> str:
    if not (BIN / "kubectl-recording").exists():
        pytest.skip("the installed kubectl-recording plugin is missing")
    return real_kubectl()


def plugin(sandbox: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`kubectl recording ARGS` as a user types it (plugin found on PATH by kubectl)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "COLUMNS": "200"}
    env.pop("KUBECTL", None)
    result = subprocess.run(
        [kubectl_binary(), "recording", "--kubeconfig", str(sandbox.kubeconfig), "-n", "default", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def phase(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name) or {}).get("status") or {}).get("phase")


def test_the_plugin_is_discovered() -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    listed = subprocess.run([kubectl_binary(), "plugin", "list"], capture_output=True, text=True, env=env)
    assert "kubectl-recording" in listed.stdout


def test_status_stop_start_files_watch(sandbox: Sandbox, cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording")

    status: dict[str, Any] = json.loads(plugin(sandbox, "status", name, "-o", "json").stdout)
    assert (status["kind"], status["status"]["phase"]) == ("CloudRecording", "Recording")
    assert {c["type"] for c in status["status"]["conditions"]} >= {"Ready", "Synced"}
    assert isinstance(status["events"], list)
    people = plugin(sandbox, "status", f"crec/{name}").stdout
    assert "phase Recording" in people and "Conditions" in people and "Synced" in people and "sid=" in people

    lines = plugin(
        sandbox, "watch", name, "--count", "2", "--interval", "0.2", "-o", "json"
    ).stdout.splitlines()
    assert [json.loads(line)["phase"] for line in lines] == ["Recording", "Recording"]

    # Agora has files only once the recorder has been in the channel a while (the emulator walks the
    # status 0 → 5 first): stop after the provider reported some, so the stop has files to publish.
    wait_for(
        lambda: (((cluster.get(name) or {}).get("status") or {}).get("files") or {}).get("count"),
        what="files reported by the provider",
    )
    assert "spec.state Recording → Stopped" in plugin(sandbox, "stop", name).stdout
    assert (cluster.get(name) or {})["spec"]["state"] == "Stopped"
    wait_for(lambda: phase(cluster, name) == "Stopped", what="Stopped")
    listed = wait_for(lambda: json.loads(plugin(sandbox, "files", name, "-o", "json").stdout), what="files")
    assert all(f["name"] and f["location"] for f in listed)
    assert "NAME" in plugin(sandbox, "files", name).stdout
    # kubectl's own columns: the size for people (status.size), the duration in seconds.
    table = subprocess.run(
        [
            kubectl_binary(),
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "-n",
            "default",
            "get",
            "recordedfiles",
            "-l",
            f"recording.mediaops.io/recording={name}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert "SIZE" in table[0] and "DURATION" in table[0]
    sizes = [re.search(r"\b\d+(?:\.\d)? (?:B|KiB|MiB|GiB)\b", row) for row in table[1:]]
    assert table[1:] and all(sizes), table

    plugin(sandbox, "start", name)
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording again")
    assert "already Recording" in plugin(sandbox, "start", name).stdout

    # Mix mode cannot pause: the API server's validation says why, and the plugin passes it on.
    paused = plugin(sandbox, "pause", name, check=False)
    assert paused.returncode == 1 and "web mode" in paused.stderr
    no_pod = plugin(sandbox, "logs", name, check=False)
    assert no_pod.returncode == 1 and "no recorder Pod" in no_pod.stderr
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def test_reconcile_retries_a_terminal_failure(sandbox: Sandbox, cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 1, 400, code=2, message="invalid mixedVideoLayout")
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Failed", what="Failed")
    assert "reconcile requested at" in plugin(sandbox, "reconcile", name).stdout
    refused = plugin(sandbox, "restart", name, check=False)  # a CloudRecording restarts by stop + start
    assert refused.returncode == 1 and "has no restart" in refused.stderr
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording after kubectl recording reconcile")
    missing = plugin(sandbox, "status", "nope", check=False)
    assert (
        missing.returncode == 1 and "no CloudRecording, LocalRecording or CloudTranscoder" in missing.stderr
    )
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
