"""LocalRecording with `input.tls.caConfigMapRef` end to end: the real operator, the sandbox's Pod
runner running the real recorder agent, an https source whose certificate a test CA signed, moto's S3.

While the ConfigMap is missing the recording waits (Pending, Synced=False ConfigMapNotFound, one
Warning Event) and no Pod is created; once the ConfigMap holds the CA, the recorder Pod mounts that
key and FFmpeg verifies the source against it and records.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    LRECS,
    NS,
    events,
    files_of,
    objects,
    patch_spec,
    recorder_pods,
    recording,
    status,
)
from tests.support.recorder import H264, SOURCE, CertAuthority, ca_signed_cert, serve_directory
from tests.support.waiting import wait_for

CONFIG_MAPS = f"/api/v1/namespaces/{NS}/configmaps"


@pytest.fixture(scope="module")
def https_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CertAuthority]]:
    """A 6 s MPEG-TS file served over https with a certificate the test CA signed: (url, CA)."""
    ca = ca_signed_cert(tmp_path_factory.mktemp("ca"))
    site = tmp_path_factory.mktemp("site")
    encode = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE[1:], "-t", "6", *H264,
              "-c:a", "aac", "-f", "mpegts", str(site / "live.ts")]  # fmt: skip
    subprocess.run(encode, check=True)
    with serve_directory(site, tls=ca.server) as base:
        yield f"{base}/live.ts", ca


def synced(kube: httpx.Client, name: str) -> dict[str, Any]:
    conditions = status(kube, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Synced"), {})


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://cdn.example/live/Index.m3u8?token=t", "HLS/DASH playlist"),
        ("rtsps://cam.example/live", "rtsps"),
    ],
)
def test_the_api_rejects_tls_verification_ffmpeg_cannot_do(
    sandbox: Sandbox, kube: httpx.Client, url: str, why: str
) -> None:
    body = recording("tls-unverifiable", sandbox.endpoints["s3"], 0, input={"url": url})
    response = kube.post(LRECS, json=body)
    assert response.status_code == 422 and why in response.text, response.text
    body["spec"]["input"]["tls"] = {"insecureSkipVerify": True}
    assert kube.post(LRECS, json=body).status_code == 201
    assert kube.delete(f"{LRECS}/tls-unverifiable").status_code in (200, 202)
    wait_for(lambda: kube.get(f"{LRECS}/tls-unverifiable").status_code == 404, timeout=30, what="deletion")


def test_a_private_ca_from_a_config_map_verifies_the_source(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, https_source: tuple[str, CertAuthority]
) -> None:
    name = "tls-ca"
    url, ca = https_source
    tls = {"caConfigMapRef": {"name": "source-ca", "key": "root.pem"}}
    body = recording(name, sandbox.endpoints["s3"], 0, input={"url": url, "tls": tls})
    response = kube.post(LRECS, json=body)
    assert response.status_code == 201, response.text

    # No ConfigMap yet: the recording waits, says why (names only), and starts no Pod.
    waiting = wait_for(lambda: synced(kube, name).get("reason") == "ConfigMapNotFound" and synced(kube, name),
                       what="Synced=False ConfigMapNotFound")  # fmt: skip
    assert waiting["status"] == "False" and "default/source-ca" in waiting["message"]
    assert status(kube, name).get("phase") == "Pending"
    assert recorder_pods(kube, name) == []
    warnings = [e for e in events(kube, name) if e["reason"] == "ConfigMapNotFound"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"

    # The CA arrives: the Pod mounts that key and the source is verified against it.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "source-ca"},
                  "data": {"root.pem": ca.ca.read_text()}}  # fmt: skip
    assert kube.post(CONFIG_MAPS, json=config_map).status_code == 201
    files = wait_for(lambda: files_of(kube, name), timeout=30, what="a RecordedFile")
    (pod,) = recorder_pods(kube, name)
    volumes = [v for v in pod["spec"]["volumes"] if v.get("configMap", {}).get("name") == "source-ca"]
    assert volumes and volumes[0]["configMap"]["items"] == [{"key": "root.pem", "path": "ca.crt"}]
    stored = objects(s3, name)
    assert files[0]["spec"]["location"]["key"] in stored and files[0]["spec"]["sizeBytes"] > 0

    patch_spec(kube, name, {"active": False})
    wait_for(lambda: status(kube, name).get("phase") == "Stopped", timeout=60, what="phase Stopped")
    assert "certificate" not in (status(kube, name).get("lastError") or "")
