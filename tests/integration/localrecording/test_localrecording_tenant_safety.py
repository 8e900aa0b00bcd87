"""A recording's author cannot reach through the operator what they could not reach themselves.

The real operator runs against the sandbox (Pod runner running the real recorder agent, a real
ffmpeg SRT publisher, moto's S3). The forged agent is what a namespace user can build with the rights
to create Pods and ConfigMaps: the real agent, in a Pod that claims to be the recording's recorder
(its owner reference, labels and spec hash), with a config that writes and reports other keys.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    BUCKET,
    LRECS,
    NS,
    PODS,
    SrtSource,
    events,
    files_of,
    get,
    recorder_pods,
    recording,
    status,
)
from tests.support.waiting import wait_for

FOREIGN_PREFIX = "teamB/"


@pytest.fixture
def second_source() -> Iterator[SrtSource]:
    """The forged agent's own SRT stream (an ffmpeg listener takes one caller)."""
    src = SrtSource(free_port())
    yield src
    src.close()


def forged_pod(pod: dict[str, Any], config_map: str) -> dict[str, Any]:
    """The operator's recorder Pod, copied as a namespace user could: same owner, labels and spec
    hash (so the controller takes it for the recording's recorder), its config from `config_map`,
    without the agent token (the forger does not have it), named so that it is listed first."""
    forged = copy.deepcopy(pod)
    meta = forged["metadata"]
    forged["metadata"] = {
        "name": "a-forged-recorder",
        "namespace": NS,
        "labels": meta["labels"],
        "annotations": meta["annotations"],
        "ownerReferences": meta["ownerReferences"],
        "finalizers": meta.get("finalizers", []),
    }
    forged.pop("status", None)
    container = forged["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != "RECORDER_AGENT_TOKEN"]
    for volume in forged["spec"]["volumes"]:
        if volume["name"] == "config":
            volume["configMap"] = {"name": config_map}
        if volume["name"] == "work":
            volume.clear()
            volume.update({"name": "work", "emptyDir": {}})
    for mount in container["volumeMounts"]:
        mount.pop("subPath", None)
    return forged


def test_a_forged_agent_reporting_foreign_keys_gets_no_recorded_file_and_nothing_is_deleted(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, source: SrtSource, second_source: SrtSource
) -> None:
    name = "forged"
    response = kube.post(LRECS, json=recording(name, sandbox.endpoints["s3"], source.port))
    assert response.status_code == 201, response.text
    first = wait_for(lambda: status(kube, name).get("phase") == "Recording" and status(kube, name), timeout=40,
                     what="phase Recording")  # fmt: skip
    pod = kube.get(f"{PODS}/{first['podName']}").json()

    # The forger's config: the recording's, writing `teamB/board-meeting-<index>.mp4` from its own source.
    config_map = kube.get(f"/api/v1/namespaces/{NS}/configmaps/{name}-recorder").json()
    config = json.loads(config_map["data"]["config.json"])
    config["spec"]["input"]["url"] = f"srt://127.0.0.1:{second_source.port}"
    config["spec"]["storage"]["prefix"] = ["teamB"]
    config["spec"]["output"]["fileNameTemplate"] = "board-meeting-{index}"
    forged_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "forged-agent"},
                 "data": {"config.json": json.dumps(config)}}  # fmt: skip
    assert kube.post(f"/api/v1/namespaces/{NS}/configmaps", json=forged_cm).status_code == 201
    response = kube.post(PODS, json=forged_pod(pod, "forged-agent"))
    assert response.status_code == 201, response.text

    def foreign_objects() -> list[str]:
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=FOREIGN_PREFIX)
        return [o["Key"] for o in listing.get("Contents", [])]

    # The forged agent stores and reports its files; the controller refuses every one of them.
    wait_for(foreign_objects, timeout=60, what="the forged agent to store a file under teamB/")

    def rejected() -> list[dict[str, Any]]:
        return [e for e in events(kube, name) if e["reason"] == "ForeignFileKey"]

    def foreign_files() -> list[dict[str, Any]]:
        return [f for f in files_of(kube, name) if f["spec"]["location"]["key"].startswith(FOREIGN_PREFIX)]

    wait_for(lambda: rejected() or foreign_files(), timeout=30, what="the controller's answer to the report")
    assert foreign_files() == []
    event = rejected()[0]
    assert event["type"] == "Warning" and "teamB/board-meeting-" in event["message"]

    # Deleting the recording (deletionPolicy Delete) deletes its own files, never the forged ones.
    stored = foreign_objects()
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=90, what="the recording to be deleted")
    assert not files_of(kube, name)
    assert set(stored) <= set(foreign_objects())


def test_a_secret_is_used_only_once_its_owner_opted_it_in(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    """`input.passphraseSecretRef: {name: prod-db, key: password}` would map any Secret of the namespace
    into a Pod: without the opt-in label nothing is read or mapped, the recording says which label to add."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prod-db"},
              "stringData": {"password": "hunter2-hunter2"}}  # fmt: skip
    assert kube.post(f"/api/v1/namespaces/{NS}/secrets", json=secret).status_code == 201
    name = "confused-deputy"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["input"]["passphraseSecretRef"] = {"name": "prod-db", "key": "password"}
    assert kube.post(LRECS, json=body).status_code == 201

    def synced() -> dict[str, Any]:
        conditions = status(kube, name).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Synced"), {})

    refused = wait_for(lambda: synced().get("reason") == "SecretNotOptedIn" and synced(), timeout=30,
                       what="Synced=False SecretNotOptedIn")  # fmt: skip
    assert refused["status"] == "False"
    assert "prod-db" in refused["message"] and "recording.mediaops.io/use=true" in refused["message"]
    warning = next(e for e in events(kube, name) if e["reason"] == "SecretNotOptedIn")
    assert warning["type"] == "Warning" and "hunter2" not in json.dumps(events(kube, name))
    assert recorder_pods(kube, name) == []
    assert "hunter2" not in json.dumps(get(kube, name))

    # The Secret's owner opts in: the recorder starts without a spec change.
    labelled = kube.patch(
        f"/api/v1/namespaces/{NS}/secrets/prod-db",
        json={"metadata": {"labels": {"recording.mediaops.io/use": "true"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert labelled.status_code == 200, labelled.text
    wait_for(lambda: recorder_pods(kube, name), timeout=30, what="a recorder Pod after the opt-in")
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=90, what="the recording to be deleted")


def test_a_recorder_image_outside_the_policy_is_refused(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    """`spec.pod.image` would run the user's image with the recording's Secrets in its environment."""
    name = "own-image"
    body = recording(name, sandbox.endpoints["s3"], source.port)
    body["spec"]["pod"] = {"image": "registry.example/attacker/recorder:1"}
    assert kube.post(LRECS, json=body).status_code == 201
    refused = wait_for(lambda: status(kube, name).get("phase") == "Failed" and status(kube, name), timeout=30,
                       what="phase Failed")  # fmt: skip
    synced = next(c for c in refused["conditions"] if c["type"] == "Synced")
    assert (
        synced["reason"] == "PolicyViolation" and "registry.example/attacker/recorder:1" in synced["message"]
    )
    assert recorder_pods(kube, name) == []
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the recording to be deleted")


def test_the_agent_answers_only_the_operators_token(
    sandbox: Sandbox, kube: httpx.Client, source: SrtSource
) -> None:
    """Another Pod cannot read a recorder's `/status` (its files, its errors): the operator created a
    token Secret owned by the recording and mapped it into the Pod; the operator itself still polls."""
    name = "token"
    assert kube.post(LRECS, json=recording(name, sandbox.endpoints["s3"], source.port)).status_code == 201
    first = wait_for(lambda: status(kube, name).get("phase") == "Recording" and status(kube, name), timeout=40,
                     what="phase Recording (the operator's polls answered)")  # fmt: skip
    pod = kube.get(f"{PODS}/{first['podName']}").json()
    agent = f"http://{pod['status']['podIP']}:8090/status"
    assert httpx.get(agent, timeout=5).status_code == 401
    assert httpx.get(agent, headers={"Authorization": "Bearer guessed"}, timeout=5).status_code == 401
    secret = kube.get(f"/api/v1/namespaces/{NS}/secrets/{name}-agent-token").json()
    assert secret["metadata"]["ownerReferences"][0]["name"] == name
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) >= 32
    assert httpx.get(agent, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    assert token not in json.dumps(pod) and token not in json.dumps(get(kube, name))
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=90, what="the recording to be deleted")
