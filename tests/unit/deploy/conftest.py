"""Shared helpers of the install-and-operate tests: paths, the Kubernetes versions we support."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "recording-operator"
CRDS = ROOT / "crds"

#: Kubernetes minor versions the chart and manifests support (Chart.yaml kubeVersion >=1.30).
KUBERNETES_VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0")

#: Kinds served by CRDs rather than Kubernetes itself (kubernetes-validate has no schema for them).
CRD_KINDS = {
    ("kopf.dev/v1", "ClusterKopfPeering"),
    ("kopf.dev/v1", "KopfPeering"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a multi-document manifest."""
    return [d for d in yaml.safe_load_all(text) if d]


def validate_everywhere(obj: dict[str, Any]) -> None:
    """Validate a built-in object against every supported version's schema (strict: no unknown fields).

    Raises:
        kubernetes_validate.ValidationError: the object is invalid for one of the versions.
    """
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
