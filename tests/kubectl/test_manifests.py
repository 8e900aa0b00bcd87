"""Every manifest a user copies is applied by the real kubectl with its default validation:
the files under manifests/samples/, the kustomize bases the sandbox serves, and README's YAML blocks."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .conftest import ROOT, Kubectl

SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*.yaml"))


def yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```ya?ml\n(.*?)```", markdown, re.S)


def test_every_sample_applies_with_default_validation(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "samples")
    assert len(SAMPLES) >= 5
    for sample in SAMPLES:
        documents = [d for d in yaml.safe_load_all(sample.read_text()) if d]
        applied = kubectl("apply", "-n", "samples", "-f", str(sample)).stdout.splitlines()
        assert len(applied) == len(documents), applied
        assert all(line.endswith(" created") for line in applied), (sample.name, applied)
        again = kubectl("apply", "-n", "samples", "-f", str(sample)).stdout.splitlines()
        # Re-applying changes nothing, except that a Secret's write-only stringData is sent again
        # (kubectl's three-way patch cannot see it in the live object), so kubectl says "configured".
        for line in again:
            expected = " configured" if line.startswith("secret/") else " unchanged"
            assert line.endswith(expected), (sample.name, again)


def test_every_readme_yaml_block_applies(kubectl: Kubectl, tmp_path: Path) -> None:
    """Full manifests are applied as they are; a `spec:` fragment (README shows the RealtimeKit
    variant of a CloudRecording that way) is applied inside a CloudRecording."""
    kubectl("create", "namespace", "readme")
    blocks = yaml_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 4
    for index, block in enumerate(blocks):
        documents = [d for d in yaml.safe_load_all(block) if d]
        if all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in documents):
            text = block
        else:
            assert documents == [{"spec": documents[0]["spec"]}] and "provider" in documents[0]["spec"], block
            text = f"apiVersion: recording.mediaops.io/v1alpha1\nkind: CloudRecording\nmetadata:\n  name: readme-{index}\n{block}"
        manifest = tmp_path / f"block-{index}.yaml"
        manifest.write_text(text)
        own = {d["metadata"]["namespace"] for d in documents if (d.get("metadata") or {}).get("namespace")}
        for namespace in own:
            kubectl("create", "namespace", namespace)
        where = [] if own else ["-n", "readme"]
        applied = kubectl("apply", *where, "-f", str(manifest), check=False)
        assert applied.returncode == 0, f"README YAML block {index} was refused:\n{block}\n{applied.stderr}"
        assert applied.stdout.strip().endswith(" created"), applied.stdout


def test_served_kustomize_bases_apply_server_side(kubectl: Kubectl) -> None:
    """The CRD base (the sandbox's own CRDs: same values, so ownership is shared, no conflict)."""
    applied = kubectl("apply", "--server-side", "-k", "manifests/base/crds").stdout.splitlines()
    assert sorted(applied) == [
        f"customresourcedefinition.apiextensions.k8s.io/{plural}.recording.mediaops.io serverside-applied"
        for plural in ("cloudrecordings", "cloudtranscoders", "localrecordings", "recordedfiles")
    ]
    assert "KIND:       CloudRecording" in kubectl("explain", "cloudrecording").stdout
