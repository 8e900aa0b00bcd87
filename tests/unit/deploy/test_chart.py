"""The Helm chart, rendered by a real Helm engine (helm-python-sdk) over several value sets, every
object validated against the Kubernetes schemas of the supported versions."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import helm_python
import pytest
import yaml
from helm_python import Chart

from recording_operator.api.agent import HTTP_PORT as RECORDER_HTTP_PORT
from recording_operator.settings import __doc__ as SETTINGS_DOC
from recording_operator.settings import recorder_pod_defaults
from tests.unit.deploy.conftest import CHART, CRD_KINDS, CRDS, ROOT, documents, validate_everywhere

NAMESPACE = "recording-operator"

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-ha-everything": {
        "replicaCount": 3,
        "watchNamespaces": ["media", "events"],
        "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {}}]},
        "podDisruptionBudget": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "argocd": {"syncWaves": False},
        "crds": {"keep": False},
        "image": {"digest": "sha256:" + "a" * 64},
        "extraEnv": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "callbacks": {
            "publicUrl": "https://callbacks.example.com",
            "agora": {"ncsSecretName": "agora-ncs"},
            "realtimeKit": {
                "publicKeySecretName": "rtk-webhook-key",
                "webhook": {"accountId": "acc", "appId": "app", "tokenSecretName": "rtk-token"},
            },
            "tls": {"secretName": "callbacks-tls"},
            "ingress": {"enabled": True, "className": "nginx", "host": "callbacks.example.com"},
            "httpRoute": {
                "enabled": True,
                "parentRefs": [{"name": "public"}],
                "hostnames": ["cb.example.com"],
            },
        },
    },
    "bring-your-own": {
        "callbacks": {"enabled": False},
        "crds": {"install": False},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "existing"},
        "metrics": {"service": {"enabled": False}, "port": 9090},
        "config": {"agora": {"baseUrls": ["http://agora-emulator:8080"]}, "verbose": True},
    },
    "clusterwide-ha-netpol": {
        "replicaCount": 2,
        "networkPolicy": {"enabled": True, "recorder": {"namespaces": ["cams"]}},
    },
    "operations": {
        "podDisruptionBudget": {"enabled": True},
        "prometheusRule": {"enabled": True, "labels": {"release": "prom"}, "for": {"syncedFalse": "15m"}},
        "config": {
            "log": {"format": "json", "level": "DEBUG"},
            "realtimeKit": {"baseUrl": "http://rtk.internal/client/v4"},
            "cloudTranscoder": {"queryIntervalSeconds": 60, "tickSeconds": 5},
            "localRecording": {"pollIntervalSeconds": 2, "maxRestarts": 3},
            "recordedFile": {"auditIntervalSeconds": 0, "retentionDeleteRate": 5},
            "storage": {"s3Endpoint": "https://s3.eu-central-1.amazonaws.com"},
        },
        "liveness": {"startupTimeoutSeconds": 300},
        "recorder": {
            "podDefaults": {
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"media": "true"},
                "resources": {"limits": {"memory": "2Gi"}},
            }
        },
    },
}


def render(values: dict[str, Any]) -> dict[str, str]:
    chart = Chart.load(str(CHART))
    try:
        return chart.render(values, name="rec", namespace=NAMESPACE)
    finally:
        chart.close()


def objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        obj
        for path, text in render(values).items()
        if not path.endswith("NOTES.txt")
        for obj in documents(text)
    ]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: objects(values) for name, values in VALUE_SETS.items()}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_is_clean(name: str) -> None:
    report = helm_python.lint(str(CHART), VALUE_SETS[name], strict=True, namespace=NAMESPACE)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_object_is_valid_for_every_supported_version(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objs = rendered[name]
    assert objs
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            assert obj["metadata"]["name"]
            continue
        validate_everywhere(obj)


def test_crd_copies_are_byte_identical() -> None:
    """The chart and the kustomize base carry exactly crds/ (whatever kinds are there)."""
    sources = sorted(CRDS.glob("*.yaml"))
    assert sources
    for copies in (CHART / "files" / "crds", ROOT / "manifests" / "base" / "crds"):
        names = sorted(p.name for p in copies.glob("*.yaml") if p.name != "kustomization.yaml")
        assert names == [p.name for p in sources], f"{copies} differs from crds/: run `make crds`"
        for source in sources:
            assert (copies / source.name).read_bytes() == source.read_bytes(), (
                f"{copies / source.name} is stale: run `make crds`"
            )
    listed = yaml.safe_load((ROOT / "manifests/base/crds/kustomization.yaml").read_text())["resources"]
    assert listed == [p.name for p in sources], (
        "manifests/base/crds/kustomization.yaml is stale: run `make crds`"
    )


def test_rendered_crds_are_the_files_plus_the_keep_annotation(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    expected = {
        yaml.safe_load(p.read_text())["metadata"]["name"]: yaml.safe_load(p.read_text())
        for p in CRDS.glob("*.yaml")
    }
    crds = {c["metadata"]["name"]: c for c in by_kind(rendered["defaults"], "CustomResourceDefinition")}
    assert set(crds) == set(expected)
    for name, crd in crds.items():
        annotations = crd["metadata"].pop("annotations")
        assert annotations == {"helm.sh/resource-policy": "keep", "argocd.argoproj.io/sync-wave": "-2"}
        assert crd == expected[name]
    # keep: false and no sync waves: the CRDs as generated, nothing added.
    plain = {
        c["metadata"]["name"]: c
        for c in by_kind(rendered["namespaced-ha-everything"], "CustomResourceDefinition")
    }
    assert plain == expected
    assert by_kind(rendered["bring-your-own"], "CustomResourceDefinition") == []


def test_values_schema_rejects_typos_and_wrong_types() -> None:
    for bad in (
        {"replicas": 2},
        {"replicaCount": "two"},
        {"crds": {"instal": True}},
        {"metrics": {"port": 0}},
    ):
        with pytest.raises(helm_python.HelmError):
            render(bad)


def _container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(objs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_deployment_is_restricted_and_probes_kopf_liveness(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["defaults"]
    (deployment,) = by_kind(objs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(objs)
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    args = container["args"]
    liveness_url = args[args.index("--liveness") + 1]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert liveness_url == f"http://0.0.0.0:{ports['healthz']}/healthz"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    # /readyz: kopf started its watches and the API server answers (process.readiness).
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/readyz", "port": "healthz"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 120
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["METRICS_PORT"] == str(ports["metrics"])
    assert "--peering" not in " ".join(container.get("command", []) + args)
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_chart_sets_only_settings_the_operator_reads(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", SETTINGS_DOC or ""))
    for name in VALUE_SETS:
        env = {e["name"] for e in _container(rendered[name])["env"]}
        # RECORDER_IMAGE: the recorder Pods' image, read by the LocalRecording controller.
        unknown = env - documented - {"RECORDER_IMAGE", "PYTHONUNBUFFERED"}
        assert not unknown, f"{name}: the chart sets variables nothing reads: {unknown}"
    env = {e["name"]: e["value"] for e in _container(rendered["bring-your-own"])["env"]}
    assert env["AGORA_BASE_URL"] == "http://agora-emulator:8080"
    assert env["METRICS_PORT"] == "9090"


def test_ha_runs_kopf_peering_with_random_priorities(rendered: dict[str, list[dict[str, Any]]]) -> None:
    clusterwide = rendered["clusterwide-ha-netpol"]
    container = _container(clusterwide)
    script = " ".join(container["command"])
    assert "--peering" in script and "--priority" in script and "/dev/urandom" in script
    (peering,) = by_kind(clusterwide, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "default"
    (role,) = [
        r for r in by_kind(clusterwide, "ClusterRole") if r["metadata"]["name"] == "rec-recording-operator"
    ]
    assert any("clusterkopfpeerings" in rule["resources"] for rule in role["rules"])
    namespaced = rendered["namespaced-ha-everything"]
    assert sorted(p["metadata"]["namespace"] for p in by_kind(namespaced, "KopfPeering")) == [
        "events",
        "media",
    ]
    assert by_kind(rendered["defaults"], "ClusterKopfPeering") == []
    # Helm installs the peering CRDs (chart crds/) before the peering objects.
    peering_crds = documents((CHART / "crds" / "kopf-peering.yaml").read_text())
    assert {c["spec"]["names"]["kind"] for c in peering_crds} == {"ClusterKopfPeering", "KopfPeering"}
    for crd in peering_crds:
        validate_everywhere(crd)


def _rules(objs: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [rule for o in by_kind(objs, kind) if o["metadata"]["name"] == name for rule in o["rules"]]


def test_rbac_is_least_privilege(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("defaults", "namespaced-ha-everything"):
        for obj in by_kind(rendered[name], "ClusterRole") + by_kind(rendered[name], "Role"):
            for rule in obj["rules"]:
                assert "*" not in rule["verbs"] and "*" not in rule["resources"], obj["metadata"]["name"]
                if "secrets" in rule["resources"]:
                    # list/watch: the Secret watch that re-reconciles resources that failed with it;
                    # create: the per-recording agent token Secret (never update, patch or delete).
                    assert rule["verbs"] == ["get", "list", "watch", "create"]
    clusterwide = _rules(rendered["defaults"], "ClusterRole", "rec-recording-operator")
    resources = {r for rule in clusterwide for r in rule["resources"]}
    for plural in ("cloudrecordings", "cloudtranscoders", "localrecordings", "recordedfiles"):
        assert plural in resources and f"{plural}/status" in resources
    assert {"pods", "services", "configmaps", "jobs", "secrets", "events", "namespaces"} <= resources
    # Watched namespaces: resource access only through Roles there; cluster-wide only discovery.
    namespaced = rendered["namespaced-ha-everything"]
    cluster_resources = {
        r for rule in _rules(namespaced, "ClusterRole", "rec-recording-operator") for r in rule["resources"]
    }
    assert cluster_resources == {"customresourcedefinitions", "namespaces"}
    assert sorted(r["metadata"]["namespace"] for r in by_kind(namespaced, "Role")) == ["events", "media"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(namespaced, "RoleBinding")) == [
        "events",
        "media",
    ]
    args = _container(namespaced)["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--namespace"] == ["media", "events"]
    assert by_kind(rendered["bring-your-own"], "ClusterRole") == []


def test_opt_in_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    defaults = rendered["defaults"]
    for kind in ("ServiceMonitor", "PodDisruptionBudget", "PrometheusRule"):
        assert by_kind(defaults, kind) == [], kind
    # NetworkPolicies are on by default: the operator's and the recorders' (release namespace).
    assert sorted(p["metadata"]["name"] for p in by_kind(defaults, "NetworkPolicy")) == [
        "rec-recording-operator",
        "rec-recording-operator-recorders",
    ]
    everything = rendered["namespaced-ha-everything"]
    (monitor,) = by_kind(everything, "ServiceMonitor")
    (service,) = [s for s in by_kind(everything, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert all(
        service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items()
    )
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (pdb,) = by_kind(everything, "PodDisruptionBudget")
    # maxUnavailable, never minAvailable: a budget that can always let one replica go.
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    (deployment,) = by_kind(everything, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@sha256:" + "a" * 64)


def test_network_policies(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["clusterwide-ha-netpol"]
    policies = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p for p in by_kind(objs, "NetworkPolicy")
    }
    operator = policies[(NAMESPACE, "rec-recording-operator")]
    recorder = policies[("cams", "rec-recording-operator-recorders")]
    # The operator may reach recorder agents on the agent port.
    (to_recorders,) = [r for r in operator["spec"]["egress"] if "podSelector" in (r.get("to") or [{}])[0]]
    assert (
        to_recorders["to"][0]["podSelector"]["matchLabels"] == recorder["spec"]["podSelector"]["matchLabels"]
    )
    assert to_recorders["ports"] == [{"port": RECORDER_HTTP_PORT, "protocol": "TCP"}]
    # Only the operator reaches a recorder's agent.
    (ingress,) = recorder["spec"]["ingress"]
    (source,) = ingress["from"]
    assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
    (deployment,) = by_kind(objs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in source["podSelector"]["matchLabels"].items())
    # Recorder egress: cluster DNS, and public addresses but no private, cluster or metadata ones.
    blocks = [
        p["ipBlock"] for rule in recorder["spec"]["egress"] for p in rule.get("to", []) if "ipBlock" in p
    ]
    (block,) = blocks
    excluded = [ipaddress.ip_network(c) for c in block["except"]]

    def allowed(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(ip in net for net in excluded)

    for denied in ("169.254.169.254", "10.96.0.1", "10.244.1.7", "172.20.0.5", "192.168.1.10", "100.64.0.3"):
        assert not allowed(denied), denied
    for public in ("52.216.0.1", "8.8.8.8"):
        assert allowed(public), public


def test_the_operators_https_egress_reaches_public_addresses_only(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The operator sends credentials to storage endpoints: its HTTPS egress never reaches the metadata
    service or cluster addresses (unless listed), and the API server is its own rule."""
    (operator,) = [
        p
        for p in by_kind(rendered["defaults"], "NetworkPolicy")
        if p["metadata"]["name"] == "rec-recording-operator"
    ]
    https = [r for r in operator["spec"]["egress"] if r.get("ports") == [{"port": 443, "protocol": "TCP"}]]
    (rule,) = [r for r in https if r.get("to")]
    (block,) = [p["ipBlock"] for p in rule["to"]]
    excluded = [ipaddress.ip_network(c) for c in block["except"]]
    for denied in ("169.254.169.254", "10.96.0.10", "192.168.1.10", "172.20.0.5"):
        assert any(ipaddress.ip_address(denied) in net for net in excluded), denied
    narrowed = objects({"networkPolicy": {"apiServerCIDRs": ["10.96.0.1/32"],
                        "storageEgress": [{"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 9000}]}]}})  # fmt: skip
    (operator,) = [
        p for p in by_kind(narrowed, "NetworkPolicy") if p["metadata"]["name"] == "rec-recording-operator"
    ]
    egress = operator["spec"]["egress"]
    (api,) = [r for r in egress if {"port": 6443, "protocol": "TCP"} in r.get("ports", [])]
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert {"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 9000}]} in egress
    # Without apiServerCIDRs nothing but DNS, the API server ports and HTTPS rules is open to every address.
    for rule in operator["spec"]["egress"]:
        assert rule.get("to") or rule["ports"][0]["port"] in (53, 443, 6443)


def test_the_tenant_policy_is_rendered() -> None:
    values = {"policy": {"secretNamespaces": ["media"], "allowedRecorderImages": ["registry.corp/media/"],
                         "allowPrivateDestinations": True,
                         "allowedStorageEndpoints": ["http://minio.storage:9000"]}}  # fmt: skip
    env = {e["name"]: e["value"] for e in _container(objects(values))["env"]}
    assert env["RECORDING_SECRET_NAMESPACES"] == "media"
    assert env["RECORDER_ALLOWED_IMAGES"] == "registry.corp/media/"
    assert env["RECORDING_ALLOW_PRIVATE_DESTINATIONS"] == "true"
    assert env["STORAGE_ALLOWED_ENDPOINTS"] == "http://minio.storage:9000"
    defaults = {e["name"]: e["value"] for e in _container(objects({}))["env"]}
    assert defaults["RECORDING_ALLOW_PRIVATE_DESTINATIONS"] == "false"
    assert defaults["RECORDING_SECRET_NAMESPACES"] == ""


def test_callback_receiver(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The receiver's port, Service, readiness, mounted secrets, Ingress, HTTPRoute and NetworkPolicy rule."""
    objs = rendered["namespaced-ha-everything"]
    container = _container(objs)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CALLBACKS_PORT"] == str(ports["callbacks"])
    # Readiness is the operator's /readyz, which includes the receiver (process.readiness).
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for variable in (
        "CALLBACKS_AGORA_SECRETS_DIR",
        "CALLBACKS_REALTIMEKIT_PUBLIC_KEY_FILE",
        "REALTIMEKIT_WEBHOOK_TOKEN_FILE",
        "CALLBACKS_TLS_CERT_FILE",
    ):
        assert any(env[variable].startswith(m) for m in mounts), variable
    (deployment,) = by_kind(objs, "Deployment")
    secrets = {
        v["secret"]["secretName"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }
    assert secrets == {"agora-ncs", "rtk-webhook-key", "rtk-token", "callbacks-tls"}
    (service,) = [s for s in by_kind(objs, "Service") if s["metadata"]["name"].endswith("-callbacks")]
    assert service["spec"]["ports"][0]["targetPort"] == "callbacks"
    (ingress,) = by_kind(objs, "Ingress")
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/callbacks" and path["backend"]["service"]["name"] == service["metadata"]["name"]
    (route,) = by_kind(objs, "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}
    ]
    (policy,) = [
        p for p in by_kind(objs, "NetworkPolicy") if p["metadata"]["name"] == "rec-recording-operator"
    ]
    assert {"port": ports["callbacks"], "protocol": "TCP"} in [
        p for r in policy["spec"]["ingress"] for p in r["ports"]
    ]
    # Off: no port, no Service.
    off = rendered["bring-your-own"]
    assert "callbacks" not in {p["name"] for p in _container(off)["ports"]}
    assert not [s for s in by_kind(off, "Service") if s["metadata"]["name"].endswith("-callbacks")]
    # Defaults: the receiver runs, plain HTTP, no Ingress/HTTPRoute.
    defaults = rendered["defaults"]
    assert "CALLBACKS_TLS_CERT_FILE" not in {e["name"] for e in _container(defaults)["env"]}
    assert by_kind(defaults, "Ingress") == [] and by_kind(defaults, "HTTPRoute") == []


def test_pdb_never_blocks_a_drain(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # Enabled with one replica: no budget at all (minAvailable 1 of 1 would block every drain).
    assert by_kind(rendered["operations"], "PodDisruptionBudget") == []
    for name in VALUE_SETS:
        for pdb in by_kind(rendered[name], "PodDisruptionBudget"):
            (deployment,) = by_kind(rendered[name], "Deployment")
            assert deployment["spec"]["replicas"] > 1 and "minAvailable" not in pdb["spec"]


def test_replicas_are_spread_over_nodes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (ha,) = by_kind(rendered["clusterwide-ha-netpol"], "Deployment")
    (spread,) = ha["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert (
        spread["topologyKey"] == "kubernetes.io/hostname" and spread["whenUnsatisfiable"] == "ScheduleAnyway"
    )
    pod_labels = ha["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in spread["labelSelector"]["matchLabels"].items())
    (single,) = by_kind(rendered["defaults"], "Deployment")
    assert "topologySpreadConstraints" not in single["spec"]["template"]["spec"]


def test_every_setting_has_a_value(rendered: dict[str, list[dict[str, Any]]]) -> None:
    env = {e["name"]: e["value"] for e in _container(rendered["operations"])["env"]}
    assert env["LOG_FORMAT"] == "json" and env["LOG_LEVEL"] == "DEBUG"
    assert env["REALTIMEKIT_BASE_URL"] == "http://rtk.internal/client/v4"
    assert (env["CLOUDTRANSCODER_QUERY_INTERVAL"], env["CLOUDTRANSCODER_TICK"]) == ("60", "5")
    assert (env["LOCALRECORDING_POLL_INTERVAL"], env["LOCALRECORDING_MAX_RESTARTS"]) == ("2", "3")
    assert (env["RECORDEDFILE_AUDIT_INTERVAL"], env["RETENTION_DELETE_RATE"]) == ("0", "5")
    assert env["STORAGE_S3_ENDPOINT"] == "https://s3.eu-central-1.amazonaws.com"
    assert "STORAGE_S3_ENDPOINT" not in {e["name"] for e in _container(rendered["defaults"])["env"]}
    # Recorder Pod defaults reach the operator as the JSON it parses (rendered only when set).
    assert "RECORDER_POD_DEFAULTS" not in {e["name"] for e in _container(rendered["defaults"])["env"]}
    pod_defaults = recorder_pod_defaults(env["RECORDER_POD_DEFAULTS"])
    assert pod_defaults["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod_defaults["resources"] == {"limits": {"memory": "2Gi"}}
    # Every setting the operator documents is a chart value, except those for tests and the Pod's own.
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", SETTINGS_DOC or "", re.M))
    not_values = {"RECORDING_CLOCK_OFFSET_S", "HOSTNAME", "STORAGE_S3_ENDPOINT", "RECORDER_POD_DEFAULTS"}
    # Rendered only when their Secret or URL value is set (test_callback_receiver checks them).
    not_values |= {
        "CALLBACKS_PUBLIC_URL",
        "CALLBACKS_TLS_CERT_FILE",
        "REALTIMEKIT_WEBHOOK_ACCOUNT_ID",
        "CALLBACKS_AGORA_SECRETS_DIR",
        "CALLBACKS_REALTIMEKIT_PUBLIC_KEY_FILE",
    }
    assert documented - set(env) - not_values == set()


def test_chart_icon_is_the_projects_own() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (
        chart["icon"].endswith("/charts/recording-operator/icon.svg")
        and "kubernetes/kubernetes" not in chart["icon"]
    )
    assert (CHART / "icon.svg").read_text().startswith("<svg")


def test_view_does_not_aggregate_recordings_with_urls(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Source URLs, push URLs with stream keys and presigned links are not for the `view` role."""
    roles = {r["metadata"]["name"]: r for r in by_kind(rendered["defaults"], "ClusterRole")}
    labels = roles["rec-recording-operator-view"]["metadata"]["labels"]
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in labels
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    opted = {
        r["metadata"]["name"]: r for r in by_kind(objects({"rbac": {"aggregateToView": True}}), "ClusterRole")
    }
    assert opted["rec-recording-operator-view"]["metadata"]["labels"][
        "rbac.authorization.k8s.io/aggregate-to-view"
    ]


def test_private_destinations_are_refused_at_admission_unless_allowed() -> None:
    objs = objects({"watchNamespaces": ["media"]})
    (policy,) = by_kind(objs, "ValidatingAdmissionPolicy")
    (binding,) = by_kind(objs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "media"
    ]
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["localrecordings"]
    (rule,) = policy["spec"]["validations"]
    for needle in ("ip(h).isLoopback()", "ip(h).isLinkLocalUnicast()", "'10.0.0.0/8'", "'fc00::/7'", ".svc"):
        assert needle in rule["expression"], needle
    assert by_kind(objects({"policy": {"allowPrivateDestinations": True}}), "ValidatingAdmissionPolicy") == []


def test_a_shard_release_filters_by_label_and_peers_under_its_own_name() -> None:
    values = {
        "replicaCount": 2,
        "crds": {"install": False},
        "shard": {"labelSelector": "recording.mediaops.io/shard=a", "peeringName": "shard-a"},
    }
    objs = objects(values)
    container = _container(objs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SHARD_LABEL_SELECTOR"] == "recording.mediaops.io/shard=a"
    assert "--peering-name" in container["args"] and "shard-a" in container["args"]
    (peering,) = by_kind(objs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "shard-a"
    assert by_kind(objs, "CustomResourceDefinition") == []
    report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == [], report
