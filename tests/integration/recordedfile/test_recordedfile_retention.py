"""Retention on an injected clock: the operator runs one day in the future
(`RECORDING_CLOCK_OFFSET_S=86400`), so expiries are decided without waiting for them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    TEST_OPERATOR_ENV,
    Agora,
    Cluster,
    Files,
    recorded_file,
    recording,
    s3_keys,
)
from tests.support.waiting import wait_for

OFFSET_S = 86400
ENV = {**TEST_OPERATOR_ENV, "RECORDING_CLOCK_OFFSET_S": str(OFFSET_S)}
BUCKET = "recordings"
APP = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return ENV


def _at(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _phase(files: Files, name: str) -> str | None:
    return ((files.get(name) or {}).get("status") or {}).get("phase")


def test_expired_files_are_deleted_and_later_ones_kept(files: Files, s3: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    now = time.time()
    plan = {
        "past": now + 3600,  # an hour from now on the wall clock: already past for the operator
        "later": now + 2 * OFFSET_S,  # a day after the operator's now: kept
        "soon": now + OFFSET_S + 4,  # a few seconds after the operator's now: deleted then
    }
    for what, expires in plan.items():
        key = f"retention/{tag}/{what}.mp4"
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1024)
        assert files.create(recorded_file(f"{what}-{tag}", key, expiresAt=_at(expires))).status_code == 201

    wait_for(lambda: _phase(files, f"soon-{tag}") == "Available", what="the soon-expiring file registered")
    wait_for(lambda: files.get(f"past-{tag}") is None, what="the expired file deleted")
    wait_for(lambda: files.get(f"soon-{tag}") is None, what="the file expiring a few seconds later")
    assert files.get(f"later-{tag}") is not None and _phase(files, f"later-{tag}") == "Available"
    assert s3_keys(s3, BUCKET, f"retention/{tag}/") == {f"retention/{tag}/later.mp4"}
    files.delete(f"later-{tag}")
    wait_for(lambda: files.get(f"later-{tag}") is None, what="cleanup")


def test_recording_retention_expires_its_files(
    sandbox: Sandbox, cluster: Cluster, files: Files, s3: Any
) -> None:
    body = recording(retention={"deleteAfter": "3s"})
    name = body["metadata"]["name"]
    body["spec"]["storage"]["prefix"] = ["retained", name.replace("-", "")]
    Agora(sandbox.endpoints["agora"]).set_users(APP, name, ["1001"])
    assert cluster.create(body).status_code == 201
    first = wait_for(lambda: files.of_recording(name), timeout=30, what="RecordedFiles")
    assert all(f["spec"].get("expiresAt") for f in first)
    keys = {f["spec"]["location"]["key"] for f in first}
    wait_for(lambda: not files.of_recording(name), timeout=30, what="the files to expire")
    assert not keys & s3_keys(s3, BUCKET, f"retained/{name.replace('-', '')}/")
    assert cluster.get(name) is not None  # the recording itself stays
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
