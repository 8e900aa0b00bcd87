"""Operating the operator: JSON log lines that name their object at meaningful levels, Events from
`recording-operator` counted as a series (seen through kubectl), and recovery from terminal failures
without a spec change (a fixed Secret; the `reconcile-requested-at` annotation)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording
from tests.support.kubectl import kubectl
from tests.support.waiting import wait_for

REQUESTED_AT = "recording.mediaops.io/reconcile-requested-at"
HANDLED_AT = "recording.mediaops.io/reconcile-handled-at"


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TEST_OPERATOR_ENV, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}


def printed_columns(table: str) -> dict[str, str]:
    """`kubectl get` output of one object as `{COLUMN: cell}` (cells cut at the header's offsets)."""
    header, row = table.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    bounds = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, bounds, strict=True)}


def condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    conditions = ((cluster.get(name) or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def phase(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name) or {}).get("status") or {}).get("phase")


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_a_retried_failure_is_one_counted_event_from_recording_operator(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 30, 503, message="service busy")
    cluster.create(body)

    def counted() -> list[dict[str, Any]]:
        warnings = [e for e in cluster.events(name) if e["type"] == "Warning"]
        return [e for e in warnings if (e.get("count") or 1) >= 3] and warnings

    warnings = wait_for(counted, timeout=60, what="a Warning Event counted three times")
    assert len(warnings) == 1, [(e["reason"], e["message"]) for e in warnings]
    event = warnings[0]
    assert event["source"]["component"] == "recording-operator"
    assert event["reportingComponent"] == "recording-operator"
    assert event["involvedObject"]["kind"] == "CloudRecording"
    assert event["lastTimestamp"] >= event["firstTimestamp"]
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=90, what="Recording after the 503s")
    # What a person sees: one row per cause with its repeat count.
    described = kubectl(sandbox, "describe", "cloudrecording", name)
    events_section = described.split("Events:", 1)[1]
    assert "recording-operator" in events_section
    assert f"(x{event['count']} over" in events_section or "(x" in events_section
    cleanup(cluster, name)


def test_kubectl_wait_on_ready_and_synced_from_the_first_reconcile(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 6, 503, message="service busy")
    cluster.create(body)
    # Before any session exists: Ready=False and Synced present, for the current generation.
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=Ready=false", "--timeout=30s")
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=Synced=false", "--timeout=30s")
    obj = cluster.get(name) or {}
    generation = obj["metadata"]["generation"]
    ready = condition(cluster, name, "Ready")
    assert ready["observedGeneration"] == generation and ready["reason"] in ("Reconciling", "Starting")
    # Once the provider answers.
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=Ready", "--timeout=60s")
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=Synced", "--timeout=30s")
    assert phase(cluster, name) == "Recording"
    # FilesStored: False while the session records, True once a stop reports every file uploaded.
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=FilesStored=false", "--timeout=60s")
    assert condition(cluster, name, "FilesStored")["reason"] == "Recording"
    kubectl(sandbox, "patch", f"cloudrecording/{name}", "--type=merge", "-p", '{"spec":{"state":"Stopped"}}')
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=FilesStored", "--timeout=60s")
    stored = condition(cluster, name, "FilesStored")
    assert stored["reason"] == "NoFiles" and phase(cluster, name) == "Stopped"  # nobody published
    # A session with publishers: its stop reports files uploaded.
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    kubectl(
        sandbox, "patch", f"cloudrecording/{name}", "--type=merge", "-p", '{"spec":{"state":"Recording"}}'
    )
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=FilesStored=false", "--timeout=60s")
    wait_for(lambda: (cluster.get(name) or {})["status"].get("files", {}).get("count"), what="files reported")
    kubectl(sandbox, "patch", f"cloudrecording/{name}", "--type=merge", "-p", '{"spec":{"state":"Stopped"}}')
    kubectl(sandbox, "wait", f"cloudrecording/{name}", "--for=condition=FilesStored", "--timeout=60s")
    stored = condition(cluster, name, "FilesStored")
    assert stored["reason"] == "Uploaded" and phase(cluster, name) == "Stopped"
    cleanup(cluster, name)


def test_fixing_the_secret_recovers_auth_failed_without_a_spec_change(cluster: Cluster) -> None:
    secret = "agora-rest-wrong"
    data = {"customerId": "sandbox-id", "customerSecret": "not-the-secret"}
    created = cluster.http.post(
        "/api/v1/namespaces/default/secrets",
        json={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "labels": {"recording.mediaops.io/use": "true"}},
            "stringData": data,
        },
    )
    assert created.status_code == 201, created.text
    body = recording(credentialsSecretRef={"name": secret})
    name = body["metadata"]["name"]
    cluster.create(body)
    wait_for(lambda: condition(cluster, name, "Synced").get("reason") == "AuthFailed", what="AuthFailed")
    generation = (cluster.get(name) or {})["metadata"]["generation"]

    fixed = base64.b64encode(b"sandbox-secret").decode()
    patched = cluster.http.patch(
        f"/api/v1/namespaces/default/secrets/{secret}",
        json={"data": {"customerSecret": fixed}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    wait_for(lambda: phase(cluster, name) == "Recording", timeout=30, what="Recording after the Secret fix")
    obj = cluster.get(name) or {}
    assert obj["metadata"]["generation"] == generation  # no spec change
    assert condition(cluster, name, "Synced")["status"] == "True"
    cleanup(cluster, name)


def test_reconcile_requested_at_retries_a_terminal_failure_once(
    sandbox: Sandbox, cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.fault("start", 1, 400, code=2, message="invalid mixedVideoLayout")
    cluster.create(body)
    wait_for(lambda: condition(cluster, name, "Synced").get("reason") == "InvalidSpec", what="InvalidSpec")
    assert phase(cluster, name) == "Failed"
    generation = (cluster.get(name) or {})["metadata"]["generation"]
    columns = printed_columns(kubectl(sandbox, "get", "cloudrecording", name))
    assert (columns["PHASE"], columns["READY"], columns["REASON"]) == ("Failed", "False", "InvalidSpec")

    cluster.patch(name, {"metadata": {"annotations": {REQUESTED_AT: "2026-11-25T22:00:00Z"}}})
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording after reconcile-requested-at")
    obj = wait_for(
        lambda: (o := cluster.get(name)) and o["metadata"]["annotations"].get(HANDLED_AT) and o,
        what="the request marked handled",
    )
    assert obj["metadata"]["annotations"][HANDLED_AT] == "2026-11-25T22:00:00Z"
    assert obj["metadata"]["generation"] == generation
    assert len(agora.tasks(name)) == 1
    cleanup(cluster, name)


def test_readyz_reports_started_watches_and_a_reachable_api(sandbox: Sandbox, cluster: Cluster) -> None:
    """The probes the chart points at: /healthz and a /readyz with its checks."""
    import sys

    import httpx

    from recording_sandbox.ports import free_port

    port = free_port()
    sandbox.stop_operator()
    command = [sys.executable, "-m", "recording_operator", "run", "--kubeconfig", str(sandbox.kubeconfig)]
    sandbox.start_operator(command=[*command, "--liveness", f"http://127.0.0.1:{port}/healthz"])

    def answer(path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        except httpx.TransportError:
            return None

    ready = wait_for(lambda: (r := answer("/readyz")) is not None and r.status_code == 200 and r, timeout=30)
    assert ready.json() == {"ready": True, "checks": {"started": "ok", "callbacks": "ok", "kubernetes": "ok"}}
    healthy = answer("/healthz")
    assert healthy is not None and healthy.status_code == 200
    # The restarted operator still works.
    body = recording()
    cluster.create(body)
    wait_for(lambda: phase(cluster, body["metadata"]["name"]) == "Recording", what="Recording")
    cleanup(cluster, body["metadata"]["name"])


def log_records(sandbox: Sandbox) -> list[dict[str, Any]]:
    records = []
    for line in (sandbox.state_dir / "operator.log").read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def test_log_lines_are_json_with_object_identity_and_meaningful_levels(sandbox: Sandbox) -> None:
    """Runs last in the module: reads the log the tests above produced."""
    records = log_records(sandbox)
    assert records, "the operator wrote no JSON log lines"
    assert {"time", "level", "logger", "message"} <= set(records[0])
    about_objects = [r for r in records if r["logger"].startswith("kopf.objects")]
    assert about_objects
    for record in about_objects:
        assert record.get("kind") and record.get("name"), record
        if record["kind"] != "Namespace":
            assert record.get("namespace") == "default", record
    assert any(r.get("kind") == "CloudRecording" for r in about_objects)
    routine = [r for r in records if r["message"].endswith("' succeeded.")]
    assert routine == [], routine[:3]  # routine successes are DEBUG, below LOG_LEVEL=INFO
    retried = [r for r in records if "failed temporarily" in r["message"]]
    assert retried, "the 503s of the first test were logged"
    assert {r["level"] for r in retried} <= {"WARNING", "INFO"}
    permanent = [r for r in records if "failed permanently" in r["message"]]
    assert permanent and {r["level"] for r in permanent} == {"ERROR"}
    text = (sandbox.state_dir / "operator.log").read_text()
    assert "sandbox-secret" not in text and "not-the-secret" not in text
