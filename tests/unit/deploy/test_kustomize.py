"""The kustomize base (`kubectl apply -k manifests/base`) and the recorder NetworkPolicy, rendered by
kubectl's kustomize and validated against the supported Kubernetes versions."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.unit.deploy.conftest import CRDS, ROOT, documents, validate_everywhere

pytestmark = pytest.mark.kubectl


def kustomize(path: str) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / path)], check=True, capture_output=True, text=True
    )
    return documents(out.stdout)


def test_base_installs_everything_valid() -> None:
    objs = kustomize("manifests/base")
    kinds = [o["kind"] for o in objs]
    for kind in (
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "NetworkPolicy",
    ):
        assert kind in kinds
    for obj in objs:
        validate_everywhere(obj)
    crds = {o["metadata"]["name"]: o for o in objs if o["kind"] == "CustomResourceDefinition"}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        rendered = crds[crd["metadata"]["name"]]
        assert rendered["metadata"]["labels"].pop("app.kubernetes.io/part-of") == "recording-operator"
        crd["metadata"]["labels"].pop("app.kubernetes.io/part-of", None)
        assert rendered == crd
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "recording-operator"
    (binding,) = [o for o in objs if o["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"][0]["namespace"] == "recording-operator"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == binding["subjects"][0]["name"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/mediaops/recording-operator:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_recorder_policy_applies_per_namespace() -> None:
    (policy,) = kustomize("manifests/recorder-networkpolicy")
    validate_everywhere(policy)
    assert "namespace" not in policy["metadata"]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    blocks = [p["ipBlock"] for r in policy["spec"]["egress"] for p in r.get("to", []) if "ipBlock" in p]
    assert blocks and all("169.254.0.0/16" in b["except"] for b in blocks)


def test_network_policies_open_the_recorder_agent_port() -> None:
    """The operator must reach recorder agents on the port they listen on (recorder/config.py)."""
    import yaml

    from recording_operator.api.agent import HTTP_PORT

    recorder = yaml.safe_load((ROOT / "manifests/recorder-networkpolicy/networkpolicy.yaml").read_text())
    assert {"port": HTTP_PORT, "protocol": "TCP"} in recorder["spec"]["ingress"][0]["ports"]
    operator = yaml.safe_load((ROOT / "manifests/base/networkpolicy.yaml").read_text())
    egress_ports = [p for rule in operator["spec"]["egress"] for p in rule.get("ports", [])]
    assert {"port": HTTP_PORT, "protocol": "TCP"} in egress_ports


def test_base_serves_the_callback_receiver() -> None:
    objs = kustomize("manifests/base")
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CALLBACKS_PORT"] == str(ports["callbacks"])
    # Readiness is /readyz, which includes the callback receiver (process.readiness).
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    (service,) = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"].endswith("-callbacks")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["targetPort"] == "callbacks"
    (policy,) = [
        o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "recording-operator"
    ]
    opened = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports["callbacks"] in opened
