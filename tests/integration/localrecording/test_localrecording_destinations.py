"""SSRF: with the default destination policy (no private destinations) a recording cannot point the
recorder or the operator at the cloud metadata service, cluster Services or loopback.

The real operator runs against the sandbox with `RECORDING_ALLOW_PRIVATE_DESTINATIONS=false` (the
sandbox's S3 server is the operator's configured `STORAGE_S3_ENDPOINT`, so it stays allowed).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import recorded_file
from tests.support.localrecordings import (
    LRECS,
    OPERATOR_ENV,
    RFILES,
    events,
    get,
    recorder_pods,
    recording,
    status,
)
from tests.support.waiting import wait_for

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**OPERATOR_ENV, "RECORDING_ALLOW_PRIVATE_DESTINATIONS": "false"}


def synced(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return next((c for c in conditions if c["type"] == "Synced"), {})


def refused(kube: httpx.Client, name: str) -> dict[str, Any]:
    """Wait for the recording's PolicyViolation and return its Synced condition."""
    found = wait_for(
        lambda: (
            synced(status(kube, name).get("conditions") or []).get("reason") == "PolicyViolation"
            and synced(status(kube, name)["conditions"])
        ),
        timeout=30,
        what="Synced=False PolicyViolation",
    )
    assert status(kube, name)["phase"] == "Failed" and recorder_pods(kube, name) == []
    assert any(e["reason"] == "PolicyViolation" and e["type"] == "Warning" for e in events(kube, name))
    return dict(found)


@pytest.mark.parametrize(
    ("name", "change", "field", "words"),
    [
        ("metadata-input", {"input": {"url": METADATA}}, "input.url", "169.254.169.254 is a link-local address"),
        ("loopback-input", {"input": {"url": "srt://127.0.0.1:9000"}}, "input.url", "loopback"),
        ("svc-input", {"input": {"url": "rtmp://kube-dns.kube-system.svc:53/x"}}, "input.url", "cluster-internal"),
        ("metadata-overlay", {"overlay": {"imageUrl": METADATA}, "transcoding": {"video": {"codec": "h264"}}},
         "overlay.imageUrl", "link-local"),
    ],
)  # fmt: skip
def test_private_destinations_are_refused_before_any_pod(
    sandbox: Sandbox, kube: httpx.Client, name: str, change: dict[str, Any], field: str, words: str
) -> None:
    body = recording(name, sandbox.endpoints["s3"], 9000)
    body["spec"].update(change)
    if "input" not in change:
        body["spec"]["input"] = {"url": "srt://1.1.1.1:9000"}
    assert kube.post(LRECS, json=body).status_code == 201
    condition = refused(kube, name)
    assert condition["message"].startswith(f"{field}: ") and words in condition["message"]
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the recording to be deleted")


def test_a_storage_endpoint_on_the_metadata_service_is_refused(sandbox: Sandbox, kube: httpx.Client) -> None:
    name = "metadata-storage"
    body = recording(name, "http://169.254.169.254", 9000)
    body["spec"]["input"] = {"url": "srt://1.1.1.1:9000"}
    assert kube.post(LRECS, json=body).status_code == 201
    assert "storage endpoint: 169.254.169.254 is a link-local address" in refused(kube, name)["message"]
    assert kube.delete(f"{LRECS}/{name}").status_code == 200
    wait_for(lambda: get(kube, name) is None, timeout=60, what="the recording to be deleted")


def test_a_hand_written_recorded_file_cannot_send_the_operator_to_the_metadata_service(
    kube: httpx.Client,
) -> None:
    """The operator stats and deletes a RecordedFile's object with the named credentials: an endpoint
    on 169.254.169.254 would receive them. The file is refused (InvalidSpec) and its deletion touches nothing."""
    body = recorded_file("metadata-file", "latest/meta-data/x.mp4", credentialsSecretRef={"name": "s3"})
    body["spec"]["location"] = {"vendor": "s3-compatible", "bucket": "b", "key": "k.mp4",
                                "endpoint": "http://169.254.169.254"}  # fmt: skip
    assert kube.post(RFILES, json=body).status_code == 201

    def file_synced() -> dict[str, Any]:
        obj = kube.get(f"{RFILES}/metadata-file").json()
        return synced((obj.get("status") or {}).get("conditions") or [])

    condition = wait_for(lambda: file_synced().get("reason") == "InvalidSpec" and file_synced(), timeout=30,
                         what="the RecordedFile refused")  # fmt: skip
    assert "private destinations are not allowed" in condition["message"]
    assert kube.delete(f"{RFILES}/metadata-file").status_code == 200
    wait_for(lambda: kube.get(f"{RFILES}/metadata-file").status_code == 404, timeout=30,
             what="the RecordedFile to be deleted")  # fmt: skip
