"""Test harness: a sandbox (Kubernetes API + Agora emulators on loopback) with the real operator as a process.

The emulators run on their own event loop in a background thread, so tests are plain synchronous
code talking real HTTP to them, exactly as kubectl and the operator do.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[2]
GROUP_PATH = "/apis/recording.mediaops.io/v1alpha1"
SAMPLE = yaml.safe_load((ROOT / "manifests/samples/cloudrecording-mix.yaml").read_text())
SECRETS = list(yaml.safe_load_all((ROOT / "manifests/samples/agora-credentials.yaml").read_text()))

#: Fast operator timings for tests (the operator reads them from its environment).
TEST_OPERATOR_ENV = {
    "CLOUDRECORDING_QUERY_INTERVAL": "1",
    "CLOUDRECORDING_TICK": "0.5",
    "RECORDING_NOT_FOUND_CONFIRM": "0.2",
    "RECORDING_NOT_FOUND_WINDOW": "1.5",
    "RECORDING_ADOPT_WAIT": "3",
    "AGORA_START_TIMEOUT": "5",
    "RECORDING_BACKOFF_BASE": "0.5",
    "RECORDING_BACKOFF_MAX": "2",
    "AGORA_RETRY_SCALE": "0.01",
    "RECORDING_SECRET_CACHE_TTL": "0",
    "METRICS_PORT": "0",
}


class SandboxThread:
    """Runs a `Sandbox` on an event loop in a daemon thread."""

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sandbox = Sandbox(state_dir, crd_dir=ROOT / "crds", **options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Sandbox:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sandbox.__aenter__(), self.loop).result(30)
        return self.sandbox

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sandbox.__aexit__(None, None, None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Cluster:
    """Enough of a Kubernetes client for the tests, over plain HTTP to the emulator."""

    def __init__(self, url: str, namespace: str = "default") -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.namespace = namespace

    @classmethod
    def of(cls, sandbox: Sandbox) -> Self:
        """A client of `sandbox`'s Kubernetes API, after applying the sample Secrets."""
        client = cls(sandbox.endpoints["kubernetes"])
        client.apply_secrets()
        return client

    def _crs(self, name: str = "") -> str:
        return f"{GROUP_PATH}/namespaces/{self.namespace}/cloudrecordings" + (f"/{name}" if name else "")

    def apply_secrets(self) -> None:
        for secret in SECRETS:
            response = self.http.post(f"/api/v1/namespaces/{self.namespace}/secrets", json=secret)
            assert response.status_code in (201, 409), response.text

    def create(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self._crs(), json=body)

    def get(self, name: str) -> dict[str, Any] | None:
        response = self.http.get(self._crs(name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def patch(self, name: str, patch: dict[str, Any]) -> httpx.Response:
        return self.http.patch(
            self._crs(name), json=patch, headers={"Content-Type": "application/merge-patch+json"}
        )

    def delete(self, name: str) -> httpx.Response:
        return self.http.delete(self._crs(name))

    def events(self, name: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"/api/v1/namespaces/{self.namespace}/events",
            params={"fieldSelector": f"involvedObject.name={name}"},
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


class Agora:
    """The Agora emulator's control API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    @classmethod
    def of(cls, sandbox: Sandbox) -> Self:
        """The control API of `sandbox`'s Agora emulator."""
        return cls(sandbox.endpoints["agora"])

    def tasks(self, cname: str | None = None) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.http.get("/_emulator/tasks").json()["tasks"]
        return [t for t in tasks if cname is None or t["cname"] == cname]

    def requests(self, cname: str | None = None) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.http.get("/_emulator/requests", params={"limit": 10000}).json()[
            "requests"
        ]
        return log

    def calls(self, endpoint: str, path_part: str) -> int:
        return sum(1 for r in self.requests() if r["endpoint"] == endpoint and path_part in r["path"])

    def set_users(self, app_id: str, cname: str, users: list[str]) -> None:
        self.http.put(f"/_emulator/channels/{app_id}/{cname}/users", json={"users": users}).raise_for_status()

    def fault(
        self, endpoint: str, count: int, status: int, code: int | None = None, message: str = ""
    ) -> None:
        body = {"endpoint": endpoint, "count": count, "status": status, "code": code, "message": message}
        self.http.post("/_emulator/faults", json=body).raise_for_status()

    def advance(self, seconds: float) -> None:
        self.http.post("/_emulator/clock", json={"advanceSeconds": seconds}).raise_for_status()


def with_spec_changes(body: dict[str, Any], spec_changes: dict[str, Any]) -> dict[str, Any]:
    """`body` with each `spec_changes` item set in its spec (`a__b=1` sets `spec.a.b`); returns `body`."""
    for dotted, value in spec_changes.items():
        node = body["spec"]
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return body


def recording(name: str | None = None, **spec_changes: Any) -> dict[str, Any]:
    """The mix sample with a unique name and channel (plus `spec_changes`, `__` for nesting)."""
    body = copy.deepcopy(SAMPLE)
    name = name or f"rec-{uuid.uuid4().hex[:8]}"
    body["metadata"] = {"name": name}
    body["spec"]["agora"]["channel"] = name
    return with_spec_changes(body, spec_changes)


# --- CloudTranscoder helpers ---------------------------------------------------------------------

TRANSCODER_SAMPLE = yaml.safe_load((ROOT / "manifests/samples/cloudtranscoder.yaml").read_text())

#: Fast transcoder timings for tests, on top of TEST_OPERATOR_ENV.
TRANSCODER_TEST_ENV = {
    **TEST_OPERATOR_ENV,
    "CLOUDTRANSCODER_QUERY_INTERVAL": "0.5",
    "CLOUDTRANSCODER_TICK": "0.5",
}


class TranscoderCluster(Cluster):
    """`Cluster` for cloudtranscoders."""

    def _crs(self, name: str = "") -> str:
        return f"{GROUP_PATH}/namespaces/{self.namespace}/cloudtranscoders" + (f"/{name}" if name else "")


class TranscoderAgora(Agora):
    """`Agora` plus the transcoder's control view."""

    def transcoder_tasks(self, channel: str | None = None) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.http.get("/_emulator/transcoder/tasks").json()["tasks"]
        return [t for t in tasks if channel is None or t["channel"] == channel]

    def live_transcoder_tasks(self, channel: str) -> list[dict[str, Any]]:
        return [t for t in self.transcoder_tasks(channel) if not t["stopped"]]

    def channel_calls(self, endpoint: str, channel: str) -> int:
        return sum(1 for r in self.requests() if r["endpoint"] == endpoint and r.get("cname") == channel)


def transcoder(name: str | None = None, **spec_changes: Any) -> dict[str, Any]:
    """The transcoder sample with a unique name and input channel (plus `spec_changes`, `__` nesting)."""
    body = copy.deepcopy(TRANSCODER_SAMPLE)
    name = name or f"tc-{uuid.uuid4().hex[:8]}"
    body["metadata"] = {"name": name}
    for key in ("audioInputs", "videoInputs"):
        for entry in body["spec"][key]:
            entry["rtc"]["rtcChannel"] = name
    body["spec"]["outputs"][0]["rtc"]["rtcChannel"] = f"{name}-out"
    return with_spec_changes(body, spec_changes)


# --- RecordedFile and storage helpers ------------------------------------------------------------

#: The sample's storage Secret keys (moto accepts any key unless its IAM auth is turned on).
S3_KEYS = {"aws_access_key_id": "sandbox-access-key", "aws_secret_access_key": "sandbox-secret-key"}


class Files(Cluster):
    """`Cluster` for recordedfiles, plus listing by recording."""

    def _crs(self, name: str = "") -> str:
        return f"{GROUP_PATH}/namespaces/{self.namespace}/recordedfiles" + (f"/{name}" if name else "")

    def of_recording(self, recording: str) -> list[dict[str, Any]]:
        response = self.http.get(
            self._crs(), params={"labelSelector": f"recording.mediaops.io/recording={recording}"}
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def s3_client(endpoint: str, **keys: str) -> Any:
    """A boto3 S3 client of the sandbox's S3 server (to check what really is stored)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **(keys or S3_KEYS))


def s3_keys(client: Any, bucket: str, prefix: str = "") -> set[str]:
    """Every object key in `bucket` under `prefix`."""
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update(o["Key"] for o in page.get("Contents") or [])
    return found


def recorded_file(name: str, key: str, **spec: Any) -> dict[str, Any]:
    """A RecordedFile manifest of `key` in the sandbox's `recordings` bucket (`spec` overrides)."""
    return {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "RecordedFile",
        "metadata": {"name": name},
        "spec": {
            "recordingRef": {"kind": "LocalRecording", "name": "manual"},
            "location": {"vendor": "s3", "bucket": "recordings", "key": key, "region": "us-east-1"},
            "credentialsSecretRef": {"name": "recordings-s3"},
            "format": key.rsplit(".", 1)[-1],
            **spec,
        },
    }
