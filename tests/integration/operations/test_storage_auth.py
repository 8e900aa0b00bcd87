"""Storage credentials from Secrets only: a wrong key is a condition, one Event and a backoff (never
a crash loop, never the key in a log), and a partial failure is retried until it succeeds.

The sandbox's S3 server (moto) runs with IAM authentication on: only the key created here works.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import boto3
import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    Cluster,
    Files,
    recorded_file,
    s3_keys,
)
from tests.support.waiting import wait_for

BUCKET = "recordings"
WRONG_SECRET = "wrong-secret-key-value-1234567890"


@pytest.fixture(scope="module")
def keys(sandbox: Sandbox) -> dict[str, str]:
    """An IAM user allowed s3:*, then moto's authentication turned on for every later request."""
    endpoint = sandbox.endpoints["s3"]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    iam.create_user(UserName="recorder")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="recorder", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="recorder")["AccessKey"]
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    return {"accessKey": key["AccessKeyId"], "secretKey": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def s3(sandbox: Sandbox, keys: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=sandbox.endpoints["s3"],
        region_name="us-east-1",
        aws_access_key_id=keys["accessKey"],
        aws_secret_access_key=keys["secretKey"],
    )


@pytest.fixture(scope="module")
def files(sandbox: Sandbox) -> Files:
    return Files(sandbox.endpoints["kubernetes"])


def _put_secret(cluster: Cluster, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    path = f"/api/v1/namespaces/default/secrets/{name}"
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"recording.mediaops.io/use": "true"}},
        "data": encoded,
    }
    if cluster.http.get(path).status_code == 404:
        assert cluster.http.post("/api/v1/namespaces/default/secrets", json=body).status_code == 201
    else:
        assert cluster.http.put(path, json=body).status_code == 200


def _synced(files: Files, name: str) -> tuple[str, str] | None:
    obj = files.get(name) or {}
    cond = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Synced"), None)
    return (cond["status"], cond["reason"]) if cond else None


def _phase(files: Files, name: str) -> str | None:
    return ((files.get(name) or {}).get("status") or {}).get("phase")


def test_wrong_key_is_a_condition_an_event_and_a_backoff(
    sandbox: Sandbox, files: Files, keys: dict[str, str], s3: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    key = f"auth/{tag}/a.mp4"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1024)
    _put_secret(files, f"bad-{tag}", {"accessKey": keys["accessKey"], "secretKey": WRONG_SECRET})
    body = recorded_file(f"a-{tag}", key, credentialsSecretRef={"name": f"bad-{tag}"})
    assert files.create(body).status_code == 201
    wait_for(lambda: _synced(files, f"a-{tag}") == ("False", "StorageAuthFailed"), what="StorageAuthFailed")
    # Retried with backoff (RECORDING_BACKOFF_MAX=2 s here): one Event from recording-operator whose
    # count follows the retries (an event series, as kube-apiserver's clients record repeats).
    refused = f"StorageAuthFailed: stat {key}"
    wait_for(
        lambda: (sandbox.state_dir / "operator.log").read_text().count(refused) >= 3, what="three retries"
    )

    def auth_events() -> list[dict[str, Any]]:
        return [e for e in files.events(f"a-{tag}") if e["reason"] == "StorageAuthFailed"]

    wait_for(
        lambda: [e for e in auth_events() if (e.get("count") or 1) >= 3], what="the Event counted 3 times"
    )
    events = auth_events()
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert events[0]["source"]["component"] == "recording-operator"
    assert sandbox.operator is not None and sandbox.operator.poll() is None  # no crash

    _put_secret(files, f"bad-{tag}", keys)  # fixed: the next retry succeeds
    wait_for(lambda: _phase(files, f"a-{tag}") == "Available", timeout=30, what="Available after the fix")
    assert _synced(files, f"a-{tag}") == ("True", "ReconcileSuccess")
    files.delete(f"a-{tag}")
    wait_for(lambda: files.get(f"a-{tag}") is None, what="deleted")
    assert s3_keys(s3, BUCKET, f"auth/{tag}/") == set()
    log = (sandbox.state_dir / "operator.log").read_text()
    assert WRONG_SECRET not in log and keys["secretKey"] not in log


def test_partial_failure_is_retried_until_everything_is_deleted(
    sandbox: Sandbox, files: Files, keys: dict[str, str], s3: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    good, flaky = f"auth/{tag}/good.mp4", f"auth/{tag}/flaky.mp4"
    for key in (good, flaky):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1024)
    _put_secret(files, f"ok-{tag}", keys)
    _put_secret(files, f"rot-{tag}", keys)
    files.create(recorded_file(f"good-{tag}", good, credentialsSecretRef={"name": f"ok-{tag}"}))
    files.create(recorded_file(f"flaky-{tag}", flaky, credentialsSecretRef={"name": f"rot-{tag}"}))
    for name in (f"good-{tag}", f"flaky-{tag}"):
        wait_for(lambda name=name: _phase(files, name) == "Available", what=f"{name} Available")
    _put_secret(files, f"rot-{tag}", {"accessKey": keys["accessKey"], "secretKey": WRONG_SECRET})

    files.delete(f"good-{tag}")
    files.delete(f"flaky-{tag}")
    wait_for(lambda: files.get(f"good-{tag}") is None, what="the good file deleted")
    wait_for(lambda: _synced(files, f"flaky-{tag}") == ("False", "StorageAuthFailed"), what="the failure")
    assert _phase(files, f"flaky-{tag}") == "Failed"
    assert s3_keys(s3, BUCKET, f"auth/{tag}/") == {flaky}  # kept until it can really be deleted

    _put_secret(files, f"rot-{tag}", keys)
    wait_for(lambda: files.get(f"flaky-{tag}") is None, timeout=30, what="the retried delete")
    assert s3_keys(s3, BUCKET, f"auth/{tag}/") == set()
