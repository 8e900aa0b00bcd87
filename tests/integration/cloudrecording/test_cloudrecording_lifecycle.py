"""The real operator records (sandboxed) Agora channels: lifecycle, deletion policies, schema."""

from __future__ import annotations

from typing import Any

from tests.support.harness import GROUP_PATH, SECRETS, Agora, Cluster, recording
from tests.support.waiting import wait_for

APP_ID = recording()["spec"]["agora"]["appId"]


def phase(cluster: Cluster, name: str) -> str | None:
    obj = cluster.get(name)
    return (obj or {}).get("status", {}).get("phase")


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def running(agora: Agora, cname: str) -> list[dict[str, Any]]:
    return [t for t in agora.tasks(cname) if not t["stopped"]]


def test_full_lifecycle(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001", "1002"])
    assert cluster.create(body).status_code == 201

    obj = wait_for(lambda: phase(cluster, name) == "Recording" and cluster.get(name), what="Recording")
    status = obj["status"]
    assert status["sid"] and status["resourceId"]
    assert cond(obj, "Ready")["status"] == "True"
    assert cond(obj, "Synced")["status"] == "True"
    assert cond(obj, "Recording")["status"] == "True"
    assert "recording.mediaops.io/cleanup" in obj["metadata"]["finalizers"]
    assert "recording.mediaops.io/start-pending" not in obj["metadata"].get("annotations", {})
    [task] = running(agora, name)
    assert task["sid"] == status["sid"] and task["mode"] == "mix"

    # The query timer reports the provider's status and the files.
    obj = wait_for(
        lambda: (
            (o := cluster.get(name))
            and o["status"].get("providerStatus") == 5
            and o["status"]["files"]["count"]
            and o
        ),
        what="providerStatus 5 with files",
    )
    assert obj["status"]["files"]["latest"].startswith("teamA/standup/") or obj["status"]["files"]["latest"]

    # A layout edit becomes exactly one updateLayout on the same session.
    cluster.patch(
        name, {"spec": {"agora": {"recordingConfig": {"transcodingConfig": {"mixedVideoLayout": 0}}}}}
    )
    wait_for(lambda: agora.calls("updateLayout", status["sid"]) == 1, what="updateLayout")
    wait_for(
        lambda: (
            (o := cluster.get(name)) and o["status"].get("observedGeneration") == o["metadata"]["generation"]
        ),
        what="observedGeneration",
    )
    assert agora.calls("update", status["sid"]) == 0

    # state: Stopped stops the session and keeps the resource and its file list.
    cluster.patch(name, {"spec": {"state": "Stopped"}})
    obj = wait_for(lambda: phase(cluster, name) == "Stopped" and cluster.get(name), what="Stopped")
    assert obj["status"]["stopReason"] == "Requested"
    assert obj["status"]["files"]["count"] >= 1
    assert obj["status"]["sessions"][-1]["sid"] == status["sid"]
    assert cond(obj, "Recording")["status"] == "False"
    assert running(agora, name) == []
    assert agora.calls("stop", status["sid"]) == 1

    # Back to Recording: a new session with a new acquire.
    cluster.patch(name, {"spec": {"state": "Recording"}})
    obj = wait_for(
        lambda: (
            (o := cluster.get(name))
            and o["status"].get("phase") == "Recording"
            and o["status"]["sid"] != status["sid"]
            and o
        ),
        what="second session",
    )
    second = obj["status"]["sid"]
    assert len(running(agora, name)) == 1

    # Deletion stops the session, then releases the finalizer.
    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    assert running(agora, name) == []
    assert agora.calls("stop", second) == 1
    reasons = {e["reason"] for e in cluster.events(name)}
    assert "Stopped" in reasons


def test_orphan_leaves_the_session_running(cluster: Cluster, agora: Agora) -> None:
    body = recording(deletionPolicy="Orphan")
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    obj = wait_for(lambda: phase(cluster, name) == "Recording" and cluster.get(name), what="Recording")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    [task] = running(agora, name)
    assert task["sid"] == obj["status"]["sid"]
    assert agora.calls("stop", obj["status"]["sid"]) == 0


def test_provider_idle_exit_is_reported(cluster: Cluster, agora: Agora) -> None:
    body = recording(agora__recordingConfig__maxIdleTime=5)
    name = body["metadata"]["name"]
    cluster.create(body)  # nobody in the channel: Agora leaves after maxIdleTime
    wait_for(lambda: phase(cluster, name) == "Recording", what="Recording")
    agora.advance(30)
    obj = wait_for(lambda: phase(cluster, name) == "Stopped" and cluster.get(name), what="idle exit")
    assert obj["status"]["stopReason"] == "ProviderEnded"
    assert cond(obj, "Recording")["reason"] == "ProviderEnded"
    # spec.state still says Recording: the desired state is not met.
    assert (cond(obj, "Ready")["status"], cond(obj, "Ready")["reason"]) == ("False", "ProviderEnded")
    # Not restarted by itself while the spec is unchanged.
    assert phase(cluster, name) == "Stopped"
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_max_duration_stops_the_session(cluster: Cluster, agora: Agora) -> None:
    body = recording(maxDuration="2s")
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    cluster.create(body)
    obj = wait_for(
        lambda: phase(cluster, name) == "Stopped" and cluster.get(name), timeout=30, what="maxDuration"
    )
    assert obj["status"]["stopReason"] == "MaxDurationReached"
    assert running(agora, name) == []


def test_schema_rejects_bad_specs(cluster: Cluster) -> None:
    bad = recording(agora__recordingFileConfig={"avFileType": ["mp4"]})
    response = cluster.create(bad)
    assert response.status_code == 422
    assert "avFileType must include hls" in response.text

    paused_mix = recording(state="Paused")
    assert cluster.create(paused_mix).status_code == 422

    out_of_range = recording(agora__resourceExpiredHour=721)
    assert cluster.create(out_of_range).status_code == 422

    body = recording(state="Stopped")
    name = body["metadata"]["name"]
    assert cluster.create(body).status_code == 201
    response = cluster.patch(name, {"spec": {"agora": {"channel": "elsewhere"}}})
    assert response.status_code == 422
    assert "channel is immutable" in response.text
    cluster.delete(name)


def test_missing_credentials_then_created(cluster: Cluster, agora: Agora) -> None:
    body = recording(credentialsSecretRef={"name": "late-secret"})
    name = body["metadata"]["name"]
    cluster.create(body)
    obj = wait_for(
        lambda: (
            (o := cluster.get(name))
            and any(
                c["type"] == "Synced" and c["reason"] == "CredentialsNotFound"
                for c in o.get("status", {}).get("conditions", [])
            )
            and o
        ),
        what="CredentialsNotFound",
    )
    assert "late-secret" in cond(obj, "Synced")["message"]
    assert agora.tasks(name) == []
    warnings = wait_for(
        lambda: [e for e in cluster.events(name) if e["type"] == "Warning"], what="a Warning Event"
    )
    assert [e["reason"] for e in warnings] == ["CredentialsNotFound"]  # once, not once per retry
    assert "late-secret" in warnings[0]["message"]
    cluster.http.post(
        f"/api/v1/namespaces/{cluster.namespace}/secrets",
        json={
            "metadata": {"name": "late-secret", "labels": {"recording.mediaops.io/use": "true"}},
            "stringData": {"customerId": "sandbox-id", "customerSecret": "sandbox-secret"},
        },
    ).raise_for_status()
    wait_for(
        lambda: phase(cluster, name) == "Recording", timeout=30, what="Recording after the Secret appeared"
    )
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")


def test_no_secret_value_reaches_logs_events_or_status(sandbox: Any, cluster: Cluster, agora: Agora) -> None:
    body = recording(maxDuration="1s")
    name = body["metadata"]["name"]
    agora.fault("start", 1, 401, message="Invalid authentication credentials")
    cluster.create(body)
    wait_for(lambda: phase(cluster, name) == "Failed", what="AuthFailed")
    cluster.patch(name, {"spec": {"maxDuration": "2s"}})
    wait_for(lambda: phase(cluster, name) == "Stopped", timeout=30, what="Stopped by maxDuration")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deletion")
    secret_values = [v for s in SECRETS for v in s["stringData"].values() if "secret" in v or "key" in v]
    assert secret_values
    texts = [
        (sandbox.state_dir / "operator.log").read_text(),
        str(cluster.events(name)),
        str(cluster.http.get(f"{GROUP_PATH}/cloudrecordings").json()),
    ]
    for value in secret_values:
        for text in texts:
            assert value not in text
