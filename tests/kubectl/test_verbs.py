"""kubectl verbs against the sandbox, each checked against what kube-apiserver answers.

Expected outputs are kubectl's documented messages (https://kubernetes.io/docs/reference/kubectl/)
and kube-apiserver's documented answers (https://kubernetes.io/docs/reference/using-api/api-concepts/).
"""

from __future__ import annotations

import base64
import datetime
import json
import queue
import re
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from recording_sandbox.runner import Sandbox

from .conftest import ROOT, Kubectl

SAMPLES = ROOT / "manifests" / "samples"
CR = "cloudrecording.recording.mediaops.io"


def new_namespace(kubectl: Kubectl, name: str) -> str:
    """``kubectl create namespace`` (a protobuf POST), answered ``namespace/<name> created``."""
    assert kubectl("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
    return name


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def next_line(lines: queue.Queue[str | None], timeout: float = 15.0) -> str | None:
    return lines.get(timeout=timeout)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# -- create (protobuf request bodies) -----------------------------------------------------------


def test_create_secret_configmap_namespace(any_kubectl: Kubectl, tmp_path: Path) -> None:
    """`kubectl create secret|configmap|namespace` POST protobuf bodies; the answers are a real server's."""
    kubectl = any_kubectl
    ns = new_namespace(kubectl, f"create-{kubectl.label}")
    created = kubectl(
        "create", "secret", "generic", "x", "-n", ns, "--from-literal=a=b", "--from-literal=c=d"
    )
    assert created.stdout.strip() == "secret/x created"
    secret = kubectl.json("get", "secret", "x", "-n", ns)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"a": base64.b64encode(b"b").decode(), "c": base64.b64encode(b"d").decode()}

    cert, key = self_signed(tmp_path)
    assert kubectl(
        "create", "secret", "tls", "t", "-n", ns, f"--cert={cert}", f"--key={key}"
    ).stdout.strip() == ("secret/t created")
    tls = kubectl.json("get", "secret", "t", "-n", ns)
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]) == cert.read_bytes()

    registry = kubectl(
        "create", "secret", "docker-registry", "pull", "-n", ns,
        "--docker-server=registry.example", "--docker-username=u", "--docker-password=p",
    )  # fmt: skip
    assert registry.stdout.strip() == "secret/pull created"
    pull = kubectl.json("get", "secret", "pull", "-n", ns)
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))["auths"]
    assert auths["registry.example"]["username"] == "u"

    assert kubectl("create", "configmap", "c", "-n", ns, "--from-literal=k=v").stdout.strip() == (
        "configmap/c created"
    )
    assert kubectl.json("get", "configmap", "c", "-n", ns)["data"] == {"k": "v"}

    again = kubectl("create", "secret", "generic", "x", "-n", ns, "--from-literal=a=b", check=False)
    assert again.returncode == 1
    # kubectl's typed create: "error: failed to create secret <the server's AlreadyExists message>".
    assert again.stderr.strip() == 'error: failed to create secret secrets "x" already exists'


def test_create_typed_kinds_and_undecodable_bodies(kubectl: Kubectl, sandbox: Sandbox) -> None:
    """Service, ServiceAccount and Job arrive as protobuf too; a body no server could decode gets
    kube-apiserver's 400/415 Status, never a Python exception text."""
    ns = new_namespace(kubectl, "typed")
    assert (
        kubectl("create", "serviceaccount", "robot", "-n", ns).stdout.strip()
        == "serviceaccount/robot created"
    )
    assert kubectl("create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080").stdout.strip() == (
        "service/web created"
    )
    service = kubectl.json("get", "service", "web", "-n", ns)
    assert service["spec"]["ports"] == [
        {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}
    ]
    assert service["spec"]["selector"] == {"app": "web"}
    created = kubectl("create", "job", "once", "-n", ns, "--image=busybox", "--", "echo", "hi")
    assert created.stdout.strip() == "job.batch/once created"
    job = kubectl.json("get", "job", "once", "-n", ns)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert (
        container["command"] == ["echo", "hi"] and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    )

    url = f"{sandbox.endpoints['kubernetes']}/api/v1/namespaces/{ns}/configmaps"
    garbage = httpx.post(
        url, content=b"k8s\x00\x0a\xff", headers={"Content-Type": "application/vnd.kubernetes.protobuf"}
    )
    assert garbage.status_code == 400 and garbage.json()["reason"] == "BadRequest"
    assert garbage.json()["message"].startswith(
        "the object provided is unrecognized (must be of type ConfigMap)"
    )
    not_json = httpx.post(url, content=b"{oops", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert (
        "invalid character 'o' looking for beginning of object key string" not in not_json.text
    )  # Go wording
    assert "Expecting" not in not_json.text and "line 1 column" not in not_json.text  # no Python text
    # kubectl accepts "application/vnd.kubernetes.protobuf,application/json" and gets JSON; a client
    # accepting only protobuf gets 406 NotAcceptable rather than a body it cannot read.
    listed = httpx.get(url, headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert listed.status_code == 200 and listed.headers["Content-Type"] == "application/json"
    only_protobuf = httpx.get(url, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert only_protobuf.status_code == 406 and only_protobuf.json()["reason"] == "NotAcceptable"
    unknown = httpx.post(url, content=b"x", headers={"Content-Type": "text/csv"})
    assert unknown.status_code == 415 and unknown.json()["reason"] == "UnsupportedMediaType"
    assert "accepted media types include: application/json, application/yaml" in unknown.json()["message"]


# -- apply, validation, explain, dry run, diff ---------------------------------------------------


def test_apply_with_default_validation(kubectl: Kubectl, tmp_path: Path) -> None:
    """Default client validation (`--validate=strict`) asks the server for fieldValidation=Strict
    (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation): unknown fields
    fail with 400 BadRequest naming them; `--validate=warn` gets `Warning:` lines instead."""
    ns = new_namespace(kubectl, "validate")
    applied = kubectl("apply", "-n", ns, "-f", str(SAMPLES / "cloudtranscoder.yaml"))
    assert "cloudtranscoder.recording.mediaops.io/" in applied.stdout and "created" in applied.stdout
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(
        (SAMPLES / "cloudtranscoder.yaml").read_text().replace('"y"', "y").replace("name: ", "name: u", 1)
    )
    refused = kubectl("apply", "-n", ns, "-f", str(unquoted), check=False)
    assert refused.returncode == 1
    assert "Error from server (BadRequest)" in refused.stderr
    assert 'strict decoding error: unknown field "spec.videoInputs[0].region.true"' in refused.stderr
    warned = kubectl("apply", "-n", ns, "--validate=warn", "-f", str(unquoted), check=False)
    assert 'Warning: unknown field "spec.videoInputs[0].region.true"' in warned.stderr
    # The pruned object then lacks the required `y`: 422 Invalid, as on a real cluster.
    assert warned.returncode == 1 and "Required value" in warned.stderr
    ignored = kubectl("apply", "-n", ns, "--validate=false", "-f", str(unquoted), check=False)
    assert "Warning" not in ignored.stderr and "unknown field" not in ignored.stderr


def test_explain(kubectl: Kubectl) -> None:
    """`kubectl explain` reads the OpenAPI v3 document of the group-version."""
    output = kubectl("explain", "localrecording.spec.output").stdout
    assert "KIND:       LocalRecording" in output and "VERSION:    v1alpha1" in output
    assert "FIELD: output <Object>" in output and "fileNameTemplate\t<string>" in output
    recursive = kubectl("explain", "cloudrecording.spec", "--recursive").stdout
    assert re.search(r"^  agora\t<Object>$", recursive, re.M)
    assert re.search(r"^    channel\t<string> -required-$", recursive, re.M)  # one level down, required
    assert re.search(
        r"^      channelType\t<integer>$", recursive, re.M
    )  # spec.agora.recordingConfig.channelType
    transcoder = kubectl("explain", "cloudtranscoder.spec.videoInputs.region.y").stdout
    assert "YAML 1.1" in transcoder and '"y": 0' in transcoder
    missing = kubectl("explain", "cloudrecording.spec.nope", check=False)
    assert missing.returncode == 1 and 'field "nope" does not exist' in missing.stderr


def test_dry_run_and_diff(kubectl: Kubectl, sandbox: Sandbox, tmp_path: Path) -> None:
    """dryRun=All (https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run): answered as
    a write, nothing stored, no resourceVersion consumed; `kubectl diff` changes nothing."""
    ns = new_namespace(kubectl, "dryrun")
    rv_before = kubectl.json("get", "namespaces")["metadata"]["resourceVersion"]
    sample = SAMPLES / "localrecording-srt.yaml"
    dry = kubectl("apply", "-n", ns, "--dry-run=server", "-f", str(sample))
    assert "localrecording.recording.mediaops.io/camera1 created (server dry run)" in dry.stdout
    assert "secret/camera1-s3 created (server dry run)" in dry.stdout
    gone = kubectl("get", "localrecording", "camera1", "-n", ns, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    assert kubectl.json("get", "namespaces")["metadata"]["resourceVersion"] == rv_before

    kubectl("create", "secret", "generic", "keep", "-n", ns, "--from-literal=a=b")
    deleted = kubectl("delete", "secret", "keep", "-n", ns, "--dry-run=server")
    assert re.search(r'secret "keep" deleted.*\(server dry run\)', deleted.stdout)
    assert kubectl.json("get", "secret", "keep", "-n", ns)["data"] == {"a": "Yg=="}

    manifest = tmp_path / "standup.yaml"
    manifest.write_text(
        (SAMPLES / "cloudrecording-mix.yaml").read_text().replace("name: standup", "name: diffed")
    )
    kubectl("apply", "-n", ns, "--validate=false", "-f", str(manifest))
    assert kubectl("diff", "-n", ns, "-f", str(manifest)).stdout == ""  # exit 0: no differences
    manifest.write_text(manifest.read_text().replace("maxDuration: 2h", "maxDuration: 3h"))
    diff = kubectl("diff", "-n", ns, "-f", str(manifest), check=False)
    assert diff.returncode == 1  # kubectl diff: 1 means differences were found
    assert "-  maxDuration: 2h" in diff.stdout and "+  maxDuration: 3h" in diff.stdout
    live = kubectl.json("get", "cloudrecording", "diffed", "-n", ns)
    assert live["spec"]["maxDuration"] == "2h" and live["metadata"]["generation"] == 1

    refused = httpx.post(
        f"{sandbox.endpoints['kubernetes']}/api/v1/namespaces/{ns}/configmaps",
        params={"dryRun": "Some"},
        json={"metadata": {"name": "x"}},
    )
    assert refused.status_code == 422 and 'supported values: "All"' in refused.json()["message"]


def test_server_side_apply(kubectl: Kubectl, sandbox: Sandbox, tmp_path: Path) -> None:
    """Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/):
    managed fields per manager, 409 conflicts with FieldManagerConflict causes, --force-conflicts."""
    ns = new_namespace(kubectl, "ssa")
    sample = str(SAMPLES / "cloudrecording-mix.yaml")
    first = kubectl("apply", "--server-side", "-n", ns, "-f", sample)
    assert first.stdout.strip() == f"{CR}/standup serverside-applied"
    live = kubectl.json("get", "cloudrecording", "standup", "-n", ns, "--show-managed-fields")
    entries = {(e["manager"], e["operation"]): e for e in live["metadata"]["managedFields"]}
    assert entries[("kubectl", "Apply")]["fieldsV1"]["f:spec"]["f:maxDuration"] == {}

    patched = kubectl(
        "patch", "cloudrecording", "standup", "-n", ns, "--type=merge", "-p", '{"spec":{"maxDuration":"3h"}}'
    )
    assert patched.stdout.strip() == f"{CR}/standup patched"
    conflict = kubectl("apply", "--server-side", "-n", ns, "-f", sample, check=False)
    assert conflict.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl-patch"' in conflict.stderr
    assert ".spec.maxDuration" in conflict.stderr

    body = yaml.safe_load(Path(sample).read_text())
    status = httpx.patch(
        f"{sandbox.endpoints['kubernetes']}/apis/recording.mediaops.io/v1alpha1/namespaces/{ns}/cloudrecordings/standup",
        params={"fieldManager": "kubectl"},
        content=json.dumps(body),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert status.status_code == 409 and status.json()["reason"] == "Conflict"
    assert status.json()["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-patch" using recording.mediaops.io/v1alpha1',
            "field": ".spec.maxDuration",
        }
    ]

    forced = kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", sample)
    assert forced.stdout.strip() == f"{CR}/standup serverside-applied"
    live = kubectl.json("get", "cloudrecording", "standup", "-n", ns, "--show-managed-fields")
    assert live["spec"]["maxDuration"] == "2h"
    owners = {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}
    assert "f:maxDuration" not in owners.get("kubectl-patch", {}).get("f:spec", {})

    # A field the applier stops applying is removed (nobody else owns it).
    reduced = tmp_path / "reduced.yaml"
    reduced.write_text(Path(sample).read_text().replace("  maxDuration: 2h\n", ""))
    kubectl("apply", "--server-side", "-n", ns, "-f", str(reduced))
    assert "maxDuration" not in kubectl.json("get", "cloudrecording", "standup", "-n", ns)["spec"]


def test_server_side_apply_kustomization_merges_into_existing_configmap(kubectl: Kubectl) -> None:
    """README: `kubectl apply --server-side --field-manager=recording-operator -k manifests/argocd`
    adds the health checks to argocd-cm and leaves its other keys alone."""
    new_namespace(kubectl, "argocd")
    kubectl("create", "configmap", "argocd-cm", "-n", "argocd", "--from-literal=url=https://argo.example")
    applied = kubectl(
        "apply", "--server-side", "--field-manager=recording-operator", "-k", "manifests/argocd"
    )
    assert applied.stdout.strip() == "configmap/argocd-cm serverside-applied"
    data = kubectl.json("get", "configmap", "argocd-cm", "-n", "argocd")["data"]
    assert data["url"] == "https://argo.example"
    assert "resource.customizations.health.recording.mediaops.io_CloudRecording" in data


def test_apply_kustomize_and_prune(kubectl: Kubectl, tmp_path: Path) -> None:
    """`apply -k` builds the kustomization; `--prune -l` deletes labelled objects not in the set."""
    ns = new_namespace(kubectl, "prune")
    kustomization = tmp_path / "kustomize"
    kustomization.mkdir()
    (kustomization / "kustomization.yaml").write_text(
        f"namespace: {ns}\nlabels:\n- pairs: {{app: demo}}\nresources: [a.yaml, b.yaml]\n"
    )
    for name in ("a", "b"):
        (kustomization / f"{name}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n"
        )
    applied = kubectl("apply", "-k", str(kustomization))
    assert applied.stdout.splitlines() == ["configmap/a created", "configmap/b created"]
    (kustomization / "kustomization.yaml").write_text(
        f"namespace: {ns}\nlabels:\n- pairs: {{app: demo}}\nresources: [a.yaml]\n"
    )
    # --prune-allowlist: the default allowlist names kinds (Deployment, Endpoints...) the sandbox does not serve.
    pruned = kubectl(
        "apply", "-k", str(kustomization), "--prune", "-l", "app=demo", "--prune-allowlist=core/v1/ConfigMap"
    )  # fmt: skip
    assert pruned.stdout.splitlines() == ["configmap/a unchanged", "configmap/b pruned"]
    assert [
        item["metadata"]["name"]
        for item in kubectl.json("get", "configmaps", "-n", ns, "-l", "app=demo")["items"]
    ] == ["a"]


# -- get, describe, events, wait ------------------------------------------------------------------


def test_get_output_formats_and_selectors(kubectl: Kubectl) -> None:
    """`kubectl get`: server-side Table columns (printer columns; -o wide adds priority 1),
    short names and categories, -o name|jsonpath|custom-columns|yaml, -l, --field-selector, -A, --sort-by."""
    ns = new_namespace(kubectl, "getting")
    for name in ("b-rec", "a-rec"):
        body = (SAMPLES / "cloudrecording-mix.yaml").read_text().replace("name: standup", f"name: {name}")
        kubectl("apply", "-n", ns, "-f", "-", stdin=body)
    kubectl("label", "cloudrecording", "a-rec", "-n", ns, "tier=gold")
    table = kubectl("get", "crec", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "PROVIDER", "PHASE", "FILES", "READY", "SYNCED", "REASON", "AGE"]
    assert [line.split()[0] for line in table[1:]] == ["a-rec", "b-rec"]
    wide = kubectl("get", "crec", "-n", ns, "-o", "wide").stdout.splitlines()[0].split()
    assert wide == [
        "NAME",
        "PROVIDER",
        "PHASE",
        "SID",
        "FILES",
        "READY",
        "SYNCED",
        "REASON",
        "SYNCED-REASON",
        "AGE",
    ]
    names = kubectl("get", "recordings", "-n", ns, "-o", "name").stdout.split()
    assert f"{CR}/a-rec" in names and f"{CR}/b-rec" in names
    assert (
        kubectl("get", "crec", "a-rec", "-n", ns, "-o", "jsonpath={.spec.agora.channel}").stdout == "standup"
    )
    columns = kubectl(
        "get", "crec", "-n", ns, "-o", "custom-columns=N:.metadata.name,C:.spec.maxDuration"
    ).stdout
    assert columns.splitlines() == ["N       C", "a-rec   2h", "b-rec   2h"]
    assert (
        yaml.safe_load(kubectl("get", "crec", "b-rec", "-n", ns, "-o", "yaml").stdout)["kind"]
        == "CloudRecording"
    )
    assert kubectl("get", "crec", "-n", ns, "-l", "tier=gold", "-o", "name").stdout.split() == [f"{CR}/a-rec"]
    selected = kubectl("get", "crec", "-n", ns, "--field-selector", "metadata.name=b-rec", "-o", "name")
    assert selected.stdout.split() == [f"{CR}/b-rec"]
    everywhere = kubectl("get", "crec", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [ns, "a-rec"] for line in everywhere)
    by_name = kubectl("get", "crec", "-n", ns, "--sort-by=.metadata.name", "--no-headers").stdout.splitlines()
    assert [line.split()[0] for line in by_name] == ["a-rec", "b-rec"]
    nothing = kubectl("get", "crec", "-n", ns, "-l", "tier=none")
    assert nothing.stdout == "" and nothing.stderr.strip() == f"No resources found in {ns} namespace."
    secrets = kubectl("get", "secrets", "-n", ns).stdout.splitlines()
    assert secrets == [] or secrets[0].split() == ["NAME", "TYPE", "DATA", "AGE"]


def test_get_watch(kubectl: Kubectl) -> None:
    """`kubectl get -w` prints the list, then a row per change (a watch from the list's resourceVersion)."""
    ns = new_namespace(kubectl, "watching")
    process, lines = kubectl.stream("get", "configmaps", "-n", ns, "-w", "--output-watch-events")
    try:
        kubectl("create", "configmap", "seen", "-n", ns, "--from-literal=k=v")
        rows = []
        while not any("seen" in row for row in rows):
            line = next_line(lines)
            assert line is not None, "kubectl get -w ended"
            rows.append(line)
        row = next(r for r in rows if "seen" in r).split()
        assert row[:3] == ["ADDED", "seen", "1"]  # EVENT NAME DATA
        kubectl("delete", "configmap", "seen", "-n", ns)
        deleted = next_line(lines)
        assert deleted is not None and deleted.split()[:2] == ["DELETED", "seen"]
    finally:
        process.terminate()
        process.wait(10)


def test_describe_events_and_wait(kubectl: Kubectl) -> None:
    """`describe` ends with the object's Events; `kubectl events --for`; `wait --for=condition=Ready`
    and `--for=jsonpath=...` print `condition met`."""
    ns = new_namespace(kubectl, "waiting")
    kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        str(SAMPLES / "agora-credentials.yaml"),
        "-f",
        str(SAMPLES / "cloudrecording-mix.yaml"),
    )
    ready = kubectl("wait", "-n", ns, "--for=condition=Ready", "cloudrecording/standup", "--timeout=60s")
    assert ready.stdout.strip() == f"{CR}/standup condition met"
    phase = kubectl(
        "wait", "-n", ns, "--for=jsonpath={.status.phase}=Recording", "crec/standup", "--timeout=60s"
    )
    assert phase.stdout.strip() == f"{CR}/standup condition met"
    timeout = kubectl(
        "wait", "-n", ns, "--for=jsonpath={.status.phase}=Nope", "crec/standup", "--timeout=1s", check=False
    )
    assert timeout.returncode == 1 and "timed out waiting for the condition" in timeout.stderr

    broken = (SAMPLES / "cloudrecording-mix.yaml").read_text().replace("name: standup", "name: nocreds")
    kubectl("apply", "-n", ns, "-f", "-", stdin=broken.replace("name: agora-rest", "name: missing-creds"))
    described = wait_until(
        lambda: (
            (out := kubectl("describe", "crec", "nocreds", "-n", ns).stdout)
            and "CredentialsNotFound" in out
            and out
        ),
        what="the CredentialsNotFound event",
    )
    assert re.search(r"Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message", described)
    assert re.search(
        r"Warning\s+CredentialsNotFound\s+\S+\s+\S+\s+Secret .*missing-creds not found", described
    )
    events = kubectl("events", "-n", ns, "--for", "cloudrecording/nocreds").stdout.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("CredentialsNotFound" in line and "CloudRecording/nocreds" in line for line in events[1:])
    table = kubectl("get", "events", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("cloudrecording/nocreds" in line for line in table[1:])


# -- edit, patch, label, annotate, delete ---------------------------------------------------------


def test_edit_patch_label_annotate(kubectl: Kubectl) -> None:
    ns = new_namespace(kubectl, "editing")
    body = (SAMPLES / "cloudrecording-mix.yaml").read_text()
    kubectl("apply", "-n", ns, "-f", "-", stdin=body)
    edited = kubectl(
        "edit", "cloudrecording", "standup", "-n", ns,
        env={"KUBE_EDITOR": "sed -i -e 's/maxDuration: 2h/maxDuration: 90m/'"},
    )  # fmt: skip
    assert edited.stdout.strip() == f"{CR}/standup edited"
    assert kubectl.json("get", "crec", "standup", "-n", ns)["spec"]["maxDuration"] == "90m"
    invalid = kubectl(
        "edit",
        "cloudrecording",
        "standup",
        "-n",
        ns,
        env={"KUBE_EDITOR": "sed -i -e 's/provider: agora/provider: nope/'"},
        check=False,
    )
    # kubectl writes the server's causes into the kept copy of the edit and prints the summary.
    assert invalid.returncode == 1
    assert 'error: cloudrecordings.recording.mediaops.io "standup" is invalid' in invalid.stderr
    kept = re.search(r'A copy of your changes has been stored to "([^"]+)"', invalid.stderr)
    assert kept is not None and 'Unsupported value: "nope"' in Path(kept.group(1)).read_text()

    kubectl("create", "configmap", "c", "-n", ns, "--from-literal=a=1")
    assert (
        kubectl("patch", "configmap", "c", "-n", ns, "-p", '{"data":{"b":"2"}}').stdout.strip()
        == "configmap/c patched"
    )
    assert kubectl(
        "patch", "configmap", "c", "-n", ns, "--type=merge", "-p", '{"data":{"a":null}}'
    ).stdout.strip() == ("configmap/c patched")
    json_patch = '[{"op":"replace","path":"/data/b","value":"3"}]'
    assert (
        kubectl("patch", "configmap", "c", "-n", ns, "--type=json", "-p", json_patch).stdout.strip()
        == "configmap/c patched"
    )
    assert kubectl.json("get", "configmap", "c", "-n", ns)["data"] == {"b": "3"}
    failed = kubectl(
        "patch",
        "configmap",
        "c",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"test","path":"/data/b","value":"9"}]',
        check=False,
    )
    # 422 with the JSON-patch library's wording (kubectl prints a 422 without causes as "The request is invalid").
    assert failed.returncode == 1 and failed.stderr.startswith("The request is invalid")
    assert "testing value /data/b failed: test failed" in failed.stderr and "class" not in failed.stderr
    same = kubectl("patch", "configmap", "c", "-n", ns, "-p", '{"data":{"b":"3"}}')
    assert same.stdout.strip() == "configmap/c patched (no change)"

    assert kubectl("label", "configmap", "c", "-n", ns, "team=media").stdout.strip() == "configmap/c labeled"
    clash = kubectl("label", "configmap", "c", "-n", ns, "team=other", check=False)
    assert (
        clash.returncode == 1
        and "'team' already has a value (media), and --overwrite is false" in clash.stderr
    )
    assert kubectl("label", "configmap", "c", "-n", ns, "team-").stdout.strip() == "configmap/c unlabeled"
    assert (
        kubectl("annotate", "configmap", "c", "-n", ns, "note=hi").stdout.strip() == "configmap/c annotated"
    )
    assert kubectl.json("get", "configmap", "c", "-n", ns)["metadata"]["annotations"] == {"note": "hi"}


def test_delete_wait_and_cascade(kubectl: Kubectl) -> None:
    """`delete` waits for the object to be gone by default; --wait=false returns at once;
    --cascade=orphan keeps dependents (ownerReferences removed), foreground deletes them."""
    ns = new_namespace(kubectl, "deleting")

    def owned(owner: str, dependent: str) -> None:
        uid = kubectl.json("get", "configmap", owner, "-n", ns)["metadata"]["uid"]
        reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": dependent, "ownerReferences": [reference]},
        }
        kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(body))

    for name in ("o1", "o2", "plain"):
        kubectl("create", "configmap", name, "-n", ns)
    owned("o1", "d1")
    owned("o2", "d2")
    orphaned = kubectl("delete", "configmap", "o1", "-n", ns, "--cascade=orphan")
    assert re.match(r'configmap "o1" deleted', orphaned.stdout)
    assert "ownerReferences" not in kubectl.json("get", "configmap", "d1", "-n", ns)["metadata"]
    foreground = kubectl("delete", "configmap", "o2", "-n", ns, "--cascade=foreground")
    assert re.match(r'configmap "o2" deleted', foreground.stdout)
    wait_until(
        lambda: kubectl("get", "configmap", "d2", "-n", ns, check=False).returncode == 1, what="d2 collected"
    )
    quick = kubectl("delete", "configmap", "plain", "-n", ns, "--wait=false")
    assert re.match(r'configmap "plain" deleted', quick.stdout)
    missing = kubectl("delete", "configmap", "plain", "-n", ns, check=False)
    assert (
        missing.returncode == 1
        and 'Error from server (NotFound): configmaps "plain" not found' in missing.stderr
    )


# -- logs, api-resources, auth ---------------------------------------------------------------------


def test_logs_of_a_recorder_pod(kubectl: Kubectl, sandbox: Sandbox) -> None:
    """`kubectl logs` of the Pod a LocalRecording runs (the sandbox Pod runner's container output),
    `--tail`, and `-f` streaming until the container ends."""
    ns = new_namespace(kubectl, "logging")
    kubectl(
        "create",
        "secret",
        "generic",
        "s3",
        "-n",
        ns,
        "--from-literal=accessKey=a",
        "--from-literal=secretKey=b",
    )
    # Recordings use only Secrets their owner opted in (README "Security model").
    kubectl("label", "secret", "s3", "-n", ns, "recording.mediaops.io/use=true")
    recording = {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "LocalRecording",
        "metadata": {"name": "cam"},
        "spec": {
            "input": {"url": "srt://127.0.0.1:9"},
            "output": {"format": "mp4", "segmentDuration": "2s", "fileNameTemplate": "{recording}-{index}"},
            "storage": {
                "vendor": "s3-compatible",
                "endpoint": sandbox.endpoints["s3"],
                "bucket": "recordings",
                "prefix": ["kubectl", "cam"],
                "credentialsSecretRef": {"name": "s3"},
            },
        },
    }
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(recording))
    pod = wait_until(
        lambda: next(
            (p["metadata"]["name"] for p in kubectl.json("get", "pods", "-n", ns)["items"]
             if (p.get("status") or {}).get("phase") == "Running"),
            None,
        ),
        timeout=60,
        what="a running recorder Pod",
    )  # fmt: skip
    table = kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == [pod, "1/1", "Running", "0"]
    output = wait_until(lambda: kubectl("logs", pod, "-n", ns).stdout, timeout=30, what="recorder output")
    assert (
        kubectl("logs", pod, "-n", ns, "--tail=1").stdout.strip()
        == kubectl("logs", pod, "-n", ns).stdout.splitlines()[-1].strip()
    )
    wrong = kubectl("logs", pod, "-n", ns, "-c", "nope", check=False)
    assert wrong.returncode == 1 and "container nope is not valid for pod" in wrong.stderr
    process, lines = kubectl.stream("logs", "-f", pod, "-n", ns)
    try:
        first = next_line(lines)
        assert first is not None and first.strip() == output.splitlines()[0].strip()
        kubectl("patch", "localrecording", "cam", "-n", ns, "--type=merge", "-p", '{"spec":{"active":false}}')
        assert process.wait(60) == 0  # -f ends when the container ends
    finally:
        if process.poll() is None:
            process.kill()
    absent = kubectl("logs", "no-such-pod", "-n", ns, check=False)
    assert absent.returncode == 1 and 'pods "no-such-pod" not found' in absent.stderr


def test_api_resources_and_auth(kubectl: Kubectl) -> None:
    resources = kubectl("api-resources").stdout.splitlines()
    assert resources[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {line.split()[0]: line.split() for line in resources[1:]}
    assert rows["cloudrecordings"] == [
        "cloudrecordings",
        "crec",
        "recording.mediaops.io/v1alpha1",
        "true",
        "CloudRecording",
    ]
    assert rows["secrets"] == ["secrets", "v1", "true", "Secret"]
    assert rows["selfsubjectaccessreviews"] == [
        "selfsubjectaccessreviews",
        "authorization.k8s.io/v1",
        "false",
        "SelfSubjectAccessReview",
    ]
    category = kubectl("api-resources", "--categories=recordings", "-o", "name").stdout.split()
    assert sorted(category) == [
        "cloudrecordings.recording.mediaops.io",
        "localrecordings.recording.mediaops.io",
        "recordedfiles.recording.mediaops.io",
    ]
    allowed = kubectl("auth", "can-i", "create", "cloudrecordings")
    assert allowed.returncode == 0 and allowed.stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "secrets", "-n", "kube-system").stdout.strip() == "yes"
    whoami = kubectl("auth", "whoami").stdout.splitlines()
    assert whoami[0].split() == ["ATTRIBUTE", "VALUE"] and whoami[1].split() == ["Username", "sandbox-admin"]


def test_no_python_exception_text_in_answers(sandbox: Sandbox) -> None:
    """Malformed requests get kube-apiserver's Status shapes, never Python's error wording."""
    base = sandbox.endpoints["kubernetes"]
    answers = [
        httpx.post(
            f"{base}/api/v1/namespaces/default/secrets",
            content=b"\xff\xfe",
            headers={"Content-Type": "application/json"},
        ),
        httpx.post(
            f"{base}/api/v1/namespaces/default/secrets",
            content=b"a: [",
            headers={"Content-Type": "application/yaml"},
        ),
        httpx.post(
            f"{base}/api/v1/namespaces/default/secrets",
            content=b"k8s\x00",
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        ),
        httpx.patch(
            f"{base}/api/v1/namespaces/default/secrets/x",
            content=b"[1",
            headers={"Content-Type": "application/json-patch+json"},
        ),
        httpx.get(f"{base}/api/v1/namespaces/default/pods/x/log"),
        httpx.get(f"{base}/api/v1/namespaces/default/configmaps", params={"limit": "x"}),
    ]
    for answer in answers:
        status = answer.json()
        assert status["kind"] == "Status" and status["status"] == "Failure", answer.text
        for python in (
            "Traceback",
            "Expecting value",
            "codec can't decode",
            "line 1 column",
            "Error(",
            "'utf-8'",
        ):
            assert python not in status["message"], status["message"]


def test_strategic_merge_patch(kubectl: Kubectl) -> None:
    """`kubectl patch` defaults to a strategic merge patch: a built-in's containers merge by name
    (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/);
    custom resources refuse it with 415, which kubectl reports as not supported."""
    ns = new_namespace(kubectl, "strategic")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "two"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "a:1"}, {"name": "side", "image": "b:1"}],
        },
    }
    kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(pod))
    patched = kubectl(
        "patch", "pod", "two", "-n", ns, "-p", '{"spec":{"containers":[{"name":"main","image":"a:2"}]}}'
    )
    assert patched.stdout.strip() == "pod/two patched"
    containers = kubectl.json("get", "pod", "two", "-n", ns)["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("main", "a:2"), ("side", "b:1")]
    removal = '{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}'
    kubectl("patch", "pod", "two", "-n", ns, "-p", removal)
    assert [c["name"] for c in kubectl.json("get", "pod", "two", "-n", ns)["spec"]["containers"]] == ["main"]
    merge = kubectl(
        "patch",
        "pod",
        "two",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"containers":[{"name":"x","image":"x:1"}]}}',
    )
    assert merge.stdout.strip() == "pod/two patched"  # a merge patch replaces the whole list
    assert [c["name"] for c in kubectl.json("get", "pod", "two", "-n", ns)["spec"]["containers"]] == ["x"]

    kubectl("apply", "-n", ns, "-f", str(SAMPLES / "cloudrecording-mix.yaml"))
    refused = kubectl(
        "patch", "crec", "standup", "-n", ns, "-p", '{"spec":{"maxDuration":"1h"}}', check=False
    )
    assert refused.returncode == 1
    assert "application/strategic-merge-patch+json is not supported by" in refused.stderr
    assert (
        "accepted media types include: application/json-patch+json, application/merge-patch+json"
        in refused.stderr
    )
