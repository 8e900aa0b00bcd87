"""LocalRecording test helpers: the sandbox namespace's paths, a looping ffmpeg publisher, the
recording body the tests start from, and small readers of what the operator wrote. The fixtures
built on them (`kube`, `source`) are in conftest.py; S3 is the conftest's `s3`."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox
from tests.support.harness import GROUP_PATH, TEST_OPERATOR_ENV
from tests.support.recorder import publisher

NS = "default"
LRECS = f"{GROUP_PATH}/namespaces/{NS}/localrecordings"
RFILES = f"{GROUP_PATH}/namespaces/{NS}/recordedfiles"
PODS = f"/api/v1/namespaces/{NS}/pods"
BUCKET = "recordings"
S3_KEYS = {"accessKey": "AKIDSANDBOX", "secretKey": "sandbox-secret-key"}
OPERATOR_ENV = {**TEST_OPERATOR_ENV, "LOCALRECORDING_POLL_INTERVAL": "0.5", "RECORDING_BACKOFF_BASE": "1"}


class LoopingPublisher:
    """An ffmpeg publisher of a test pattern to `url`, started again whenever it exits (its peer
    went away, or was not listening yet)."""

    def __init__(self, url: str, fmt: str = "mpegts") -> None:
        self.url = url
        self.fmt = fmt
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = publisher(self.url, seconds=120, fmt=self.fmt)
            self._proc.wait()
            self._stop.wait(0.2)

    def close(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._thread.join(10)


class SrtSource(LoopingPublisher):
    """An ffmpeg SRT listener the recorder pulls from, restarted whenever its caller goes away."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(f"srt://127.0.0.1:{port}?mode=listener")


def kube_client(sandbox: Sandbox) -> httpx.Client:
    """An HTTP client of the sandbox's Kubernetes API, with the `s3` Secret recordings use."""
    client = httpx.Client(base_url=sandbox.endpoints["kubernetes"], timeout=10)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3", "labels": {"recording.mediaops.io/use": "true"}},
        "stringData": S3_KEYS,
    }
    response = client.post(f"/api/v1/namespaces/{NS}/secrets", json=secret)
    assert response.status_code in (201, 409), response.text
    return client


def recording(name: str, endpoint: str, port: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "LocalRecording",
        "metadata": {"name": name},
        "spec": {
            "input": {"url": f"srt://127.0.0.1:{port}"},
            "output": {"format": "mp4", "segmentDuration": "2s", "fileNameTemplate": "{recording}-{index}"},
            "storage": {
                "vendor": "s3-compatible",
                "bucket": BUCKET,
                "endpoint": endpoint,
                "prefix": ["sandbox", name.replace("-", "")],
                "credentialsSecretRef": {"name": "s3"},
            },
            "retention": {"deleteAfter": "24h"},
            **spec,
        },
    }


def get(kube: httpx.Client, name: str) -> dict[str, Any] | None:
    response = kube.get(f"{LRECS}/{name}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def status(kube: httpx.Client, name: str) -> dict[str, Any]:
    return (get(kube, name) or {}).get("status") or {}


def patch_spec(kube: httpx.Client, name: str, spec: dict[str, Any]) -> None:
    response = kube.patch(
        f"{LRECS}/{name}", json={"spec": spec}, headers={"Content-Type": "application/merge-patch+json"}
    )
    response.raise_for_status()


def files_of(kube: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = kube.get(RFILES, params={"labelSelector": f"recording.mediaops.io/recording={name}"})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda f: f["metadata"]["name"])


def objects(bucket: Any, name: str) -> dict[str, int]:
    listing = bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"sandbox/{name.replace('-', '')}/")
    return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}


def events(kube: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = kube.get(
        f"/api/v1/namespaces/{NS}/events", params={"fieldSelector": f"involvedObject.name={name}"}
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def recorder_pods(kube: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = kube.get(PODS, params={"labelSelector": f"recording.mediaops.io/recording={name}"})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def index_of(file: dict[str, Any]) -> int:
    return int(file["metadata"]["labels"]["recording.mediaops.io/file-index"])
