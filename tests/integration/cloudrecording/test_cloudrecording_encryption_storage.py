"""Encrypted channels, storage extensionParams and rotated STS credentials, through the real operator
to the Agora emulator (which checks each rule of https://docs.agora.io/en/cloud-recording/rest-api/start)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from tests.support.harness import Agora, Cluster, recording
from tests.support.waiting import wait_for

SALT = base64.b64encode(bytes(range(32))).decode()
CHANNEL_KEY = "channel-key-not-to-be-seen"


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def secret(cluster: Cluster, data: dict[str, str]) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    # Labelled: the operator uses only Secrets that opt in (README "Security model").
    metadata = {"name": name, "labels": {"recording.mediaops.io/use": "true"}}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": data}
    response = cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=body)
    assert response.status_code == 201, response.text
    return name


def task_of(agora: Agora, cname: str) -> dict[str, Any]:
    [task] = [t for t in agora.tasks(cname) if not t["stopped"]]
    return task


def cleanup(cluster: Cluster, name: str) -> None:
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")


def test_encrypted_channel_is_recorded_with_key_and_salt_from_secrets(cluster: Cluster, agora: Agora) -> None:
    keys = secret(cluster, {"key": CHANNEL_KEY, "salt": SALT})
    body = recording(
        agora__recordingConfig__decryptionMode=8,
        agora__encryption={
            "secretRef": {"name": keys, "key": "key"},
            "saltRef": {"name": keys, "key": "salt"},
        },
    )
    name = body["metadata"]["name"]
    cluster.create(body).raise_for_status()
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    task = task_of(agora, name)
    assert task["decryptionMode"] == 8
    assert task["channelKeys"] == ["salt", "secret"]
    seen = json.dumps([cluster.get(name), cluster.events(name)])
    assert CHANNEL_KEY not in seen and SALT not in seen
    cleanup(cluster, name)


def test_salt_that_is_not_32_bytes_is_an_invalid_spec_before_any_call(cluster: Cluster, agora: Agora) -> None:
    keys = secret(cluster, {"key": CHANNEL_KEY, "salt": base64.b64encode(b"short").decode()})
    body = recording(
        agora__recordingConfig__decryptionMode=7,
        agora__encryption={
            "secretRef": {"name": keys, "key": "key"},
            "saltRef": {"name": keys, "key": "salt"},
        },
    )
    name = body["metadata"]["name"]
    cluster.create(body).raise_for_status()
    synced = wait_for(
        lambda: next(
            (
                c
                for c in status(cluster, name).get("conditions") or []
                if c["type"] == "Synced" and c["status"] == "False"
            ),
            None,
        ),
        what="Synced=False",
    )
    assert synced["reason"] == "InvalidSpec"
    assert "base64 of 32 bytes" in synced["message"]
    assert agora.tasks(name) == []
    assert not any(r["endpoint"] == "start" for r in agora.requests() if r.get("cname") == name)
    cleanup(cluster, name)


def test_sse_and_tag_reach_agora_as_extension_params(cluster: Cluster, agora: Agora) -> None:
    body = recording(storage__sse="kms", storage__tag="team=a")
    name = body["metadata"]["name"]
    cluster.create(body).raise_for_status()
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    assert task_of(agora, name)["storage"]["extensionParams"] == {"sse": "kms", "tag": "team=a"}
    cleanup(cluster, name)


def test_rotated_sts_credentials_are_sent_with_update_without_a_spec_change(
    cluster: Cluster, agora: Agora
) -> None:
    creds = secret(
        cluster,
        {"accessKey": "ak", "secretKey": "sk", "stsToken": "token-1", "stsExpiration": "1900000000"},
    )
    body = recording(storage__credentialsSecretRef={"name": creds})
    name = body["metadata"]["name"]
    cluster.create(body).raise_for_status()
    wait_for(lambda: status(cluster, name).get("phase") == "Recording", what="Recording")
    generation = cluster.get(name)["metadata"]["generation"]  # type: ignore[index]
    assert task_of(agora, name)["storage"]["stsExpiration"] == 1900000000
    response = cluster.http.patch(
        f"/api/v1/namespaces/{cluster.namespace}/secrets/{creds}",
        json={"stringData": {"stsToken": "token-2", "stsExpiration": "1900003600"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()
    task = wait_for(
        lambda: (t := task_of(agora, name))["storageUpdates"] == 1 and t, what="storageConfig update"
    )
    assert task["storage"]["stsExpiration"] == 1900003600
    assert cluster.get(name)["metadata"]["generation"] == generation  # type: ignore[index]
    # Events are posted apart from the handler's work (a loaded machine delays them).
    wait_for(
        lambda: "StorageCredentialsUpdated" in {e["reason"] for e in cluster.events(name)},
        what="the StorageCredentialsUpdated Event",
    )
    assert "token-2" not in json.dumps(cluster.get(name))
    cleanup(cluster, name)
