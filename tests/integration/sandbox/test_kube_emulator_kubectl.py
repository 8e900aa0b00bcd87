"""The Kubernetes API emulator as seen by kubectl 1.32 (real HTTP, real binary)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from recording_sandbox.kube import KubeEmulator, ThreadedKubeEmulator

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kube"
pytestmark = pytest.mark.kubectl

MANIFESTS = """
apiVersion: test.sandbox.io/v1
kind: Widget
metadata:
  name: w1
  labels: {team: media}
spec:
  channel: studio-a
  size: medium
  replicas: 2
---
apiVersion: v1
kind: Secret
metadata:
  name: agora-creds
stringData:
  customerId: abc
"""


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[tuple[KubeEmulator, ThreadedKubeEmulator, Path]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    threaded = ThreadedKubeEmulator(crd_paths=[FIXTURES])
    with threaded as emulator:
        yield emulator, threaded, emulator.write_kubeconfig(tmp_path / "kubeconfig")


def run(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=30
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def test_apply_get_patch_describe_delete(
    kubectl: tuple[KubeEmulator, ThreadedKubeEmulator, Path], tmp_path: Path
) -> None:
    emulator, threaded, kubeconfig = kubectl
    manifest = tmp_path / "manifests.yaml"
    manifest.write_text(MANIFESTS)

    applied = run(kubeconfig, "apply", "--validate=false", "-f", str(manifest))
    assert "widget.test.sandbox.io/w1 created" in applied.stdout
    assert "secret/agora-creds created" in applied.stdout
    again = run(kubeconfig, "apply", "--validate=false", "-f", str(manifest))
    assert "widget.test.sandbox.io/w1 unchanged" in again.stdout

    table = run(kubeconfig, "get", "widgets").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "REPLICAS", "READY", "AGE"]
    assert table[1].split()[:3] == ["w1", "medium", "2"]
    wide = run(kubeconfig, "get", "wg", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "SIZE", "REPLICAS", "READY", "PHASE", "AGE"]

    document = yaml.safe_load(run(kubeconfig, "get", "widget", "w1", "-o", "yaml").stdout)
    assert document["spec"] == {"channel": "studio-a", "size": "medium", "replicas": 2, "mode": "auto"}
    assert document["metadata"]["labels"] == {"team": "media"}
    secret = json.loads(run(kubeconfig, "get", "secret", "agora-creds", "-o", "json").stdout)
    assert secret["data"] == {"customerId": "YWJj"} and secret["type"] == "Opaque"

    run(kubeconfig, "patch", "widget", "w1", "--type", "merge", "-p", '{"spec":{"size":"large"}}')
    assert run(kubeconfig, "get", "wg", "w1", "--no-headers").stdout.split()[1] == "large"
    refused = run(
        kubeconfig, "patch", "wg", "w1", "--type", "merge", "-p", '{"spec":{"channel":"b"}}', check=False
    )
    assert refused.returncode != 0 and "channel is immutable" in refused.stderr

    widget = json.loads(run(kubeconfig, "get", "wg", "w1", "-o", "json").stdout)
    event = {
        "metadata": {"generateName": "w1."},
        "involvedObject": {
            "apiVersion": "test.sandbox.io/v1",
            "kind": "Widget",
            "name": "w1",
            "namespace": "default",
            "uid": widget["metadata"]["uid"],
        },
        "reason": "Started",
        "message": "Recording started",
        "type": "Normal",
        "source": {"component": "recording-operator"},
        "firstTimestamp": widget["metadata"]["creationTimestamp"],
        "lastTimestamp": widget["metadata"]["creationTimestamp"],
        "count": 1,
    }
    threaded.call(
        lambda: emulator.store.create(emulator.registry.lookup("", "v1", "events"), "default", event)
    )
    described = run(kubeconfig, "describe", "widget", "w1").stdout
    assert "Events:" in described and "Started" in described and "Recording started" in described
    assert "Channel:" in described and "studio-a" in described

    deleted = run(kubeconfig, "delete", "widget", "w1")
    assert 'widget.test.sandbox.io "w1" deleted' in deleted.stdout
    assert "No resources found" in run(kubeconfig, "get", "widgets").stderr
    run(kubeconfig, "delete", "secret", "agora-creds")
    assert emulator.stats.count(verb="delete") == 2
