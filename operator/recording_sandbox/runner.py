"""The sandbox: a Kubernetes API emulator and an Agora emulator on loopback, optionally with the
operator running against them as a separate process (so it can be restarted and measured).
A Pod runner (`pods.py`) runs the emulator's recorder Pods as local processes; a Job controller
(`jobs.py`) turns the emulator's batch/v1 Jobs into such Pods.

`Sandbox` is an async context manager used by `python -m recording_sandbox sandbox`, `make demo`, the
integration tests and `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from recording_sandbox.agora import AgoraEmulator
from recording_sandbox.agora.process import AgoraProcess
from recording_sandbox.jobs import JobController
from recording_sandbox.kube import KubeEmulator
from recording_sandbox.pods import PodRunner
from recording_sandbox.ports import free_port
from recording_sandbox.realtimekit import RealtimeKitEmulator
from recording_sandbox.s3 import S3Server

#: The RealtimeKit app of the samples (manifests/samples/cloudrecording-realtimekit.yaml): its webhook is registered.
REALTIMEKIT_ACCOUNT = "sandbox-account"
REALTIMEKIT_APP = "sandbox-app"

#: Operator settings the sandbox uses unless the environment already sets them: quick enough to
#: watch a recording's status move in a demo (production defaults: 60 s query, 10 s tick).
SANDBOX_OPERATOR_ENV = {
    "CLOUDRECORDING_QUERY_INTERVAL": "5",
    "CLOUDRECORDING_TICK": "1",
    "RECORDING_NOT_FOUND_CONFIRM": "1",
    "RECORDING_BACKOFF_BASE": "1",
    "RECORDING_BACKOFF_MAX": "30",
    "AGORA_RETRY_SCALE": "0.1",
    "LOCALRECORDING_POLL_INTERVAL": "1",
    # Everything in the sandbox is on loopback (sources, S3, emulators): a cluster keeps the default
    # (false); tests of the destination policy set it to false themselves.
    "RECORDING_ALLOW_PRIVATE_DESTINATIONS": "true",
}


class Sandbox:
    """Emulators (+ optionally the operator process) for one state directory.

    Writes `state_dir/kubeconfig` and `state_dir/endpoints.json`
    (`{"kubernetes": url, "agora": url, "realtimekit": url}`, plus `"s3"` with `with_s3`: moto's
    S3 server with the `buckets` created, and `"metrics"`: the operator's `/metrics` on a free port,
    unless `operator_env` sets `METRICS_PORT`, `0` turning it off) once everything is ready.

    With `callbacks` (the default), the operator's callback receiver listens on a free port:
    - the Agora emulator sends its NCS notices (Cloud Recording and Cloud Transcoder) there, signed
      with a fresh NCS secret the operator reads from `state_dir/ncs-secrets/default`
      (`CALLBACKS_AGORA_SECRETS_DIR`);
    - the operator trusts the RealtimeKit emulator's webhook key and registers its webhook for the
      samples' app (`REALTIMEKIT_WEBHOOK_*`), so RealtimeKit status updates arrive as signed webhooks.
    `endpoints.json` then has `"callbacks": {"url": the receiver's base URL, "agoraRecording",
    "agoraTranscoder", "realtimekit": the emulators' targets, "signing": how each provider signs and
    where the operator's secret/key is}`.

    With S3 (the default), the sandbox's S3 server stands in for Amazon S3: the operator gets
    `STORAGE_S3_ENDPOINT` pointing at it (so `vendor: s3` RecordedFiles are checked and deleted
    there), and the Agora and RealtimeKit emulators write the files they report for S3 storage
    into it (`sandbox/agora/uploads.py`). Without S3, `vendor: s3` means the real AWS.

    With `agora_process`, the Agora emulator runs in a process of its own (`agora/process.py`), so
    that its rate limiter sees requests when they arrive, not when a busy shared event loop gets to
    them (benches at 10 QPS); `agora` is then unavailable (its state lives in the child) and the
    emulator is inspected and controlled through its `/_emulator/` HTTP API.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        crd_dir: Path,
        with_operator: bool = False,
        host: str = "127.0.0.1",
        operator_env: dict[str, str] | None = None,
        agora_options: dict[str, Any] | None = None,
        realtimekit_options: dict[str, Any] | None = None,
        with_s3: bool = True,
        buckets: tuple[str, ...] = ("recordings",),
        callbacks: bool = True,
        agora_process: bool = False,
    ) -> None:
        # Pods run in working directories of their own: every path they are given must be absolute
        # (`make sandbox` passes `--state-dir .sandbox`).
        state_dir = state_dir.resolve()
        self.state_dir = state_dir
        self.crd_dir = crd_dir
        self.with_operator = with_operator
        self.host = host
        self.operator_env = operator_env or {}
        self.kube = KubeEmulator(crd_paths=[crd_dir])
        self._agora = None if agora_process else AgoraEmulator(**(agora_options or {}))
        self.agora_process = (
            AgoraProcess(agora_options or {}, state_dir / "agora.log") if agora_process else None
        )
        self.realtimekit = RealtimeKitEmulator(**(realtimekit_options or {}))
        self.s3 = S3Server(state_dir / "s3.log", host) if with_s3 else None
        self.pods = PodRunner(self.kube, state_dir, host=host)
        self.jobs = JobController(self.kube)
        self.buckets = buckets
        self.operator: subprocess.Popen[bytes] | None = None
        self.kubeconfig = state_dir / "kubeconfig"
        self.endpoints: dict[str, Any] = {}
        self.callbacks = callbacks
        self.callbacks_port = free_port(host=host) if callbacks else 0
        self.ncs_secret = secrets.token_urlsafe(24)
        self.ncs_secrets_dir = state_dir / "ncs-secrets"
        self._callback_env: dict[str, str] = {}
        self._metrics_port: int | None = None

    async def __aenter__(self) -> Sandbox:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        kube_url = await self.kube.start(self.host, 0)
        self._default_storage_class()
        await self.pods.start()
        await self.jobs.start()
        realtimekit_url = await self.realtimekit.start(self.host, 0)
        self.kube.write_kubeconfig(self.kubeconfig)
        self.endpoints = {"kubernetes": kube_url, "realtimekit": realtimekit_url}
        if self.s3 is not None:
            self.endpoints["s3"] = await self.s3.start()
            for bucket in self.buckets:
                await self.s3.create_bucket(bucket)
            self.realtimekit.uploads.s3_endpoint = self.endpoints["s3"]
        if self.callbacks:
            self._wire_callbacks()
        self.endpoints["agora"] = await self._start_agora()
        if self.with_operator:
            self.start_operator()
            port = self.operator_environment().get("METRICS_PORT", "0")
            if port != "0":
                self.endpoints["metrics"] = f"http://{self.host}:{port}/metrics"
        (self.state_dir / "endpoints.json").write_text(json.dumps(self.endpoints, indent=2) + "\n")
        return self

    def _default_storage_class(self) -> None:
        """The cluster's default StorageClass `standard` (what an unset `storageClassName` binds to)."""
        storage_class = self.kube.registry.get(("storage.k8s.io", "storageclasses"))
        assert storage_class is not None
        if self.kube.store.find(storage_class, None, "standard") is None:
            self.kube.store.create(
                storage_class,
                None,
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {
                        "name": "standard",
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                    },
                    "provisioner": "sandbox.local/hostpath",
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": "Immediate",
                },
            )

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_operator()
        await self.jobs.stop()
        await self.pods.stop()
        if self.s3 is not None:
            self.s3.stop()
        await self.realtimekit.stop()
        if self.agora_process is not None:
            await self.agora_process.stop()
        else:
            await self.agora.stop()
        await self.kube.stop()

    @property
    def agora(self) -> AgoraEmulator:
        """The in-process Agora emulator.

        Raises:
            RuntimeError: it runs in a process of its own (`agora_process`).
        """
        if self._agora is None:
            raise RuntimeError("the Agora emulator runs in its own process: use its /_emulator/ HTTP API")
        return self._agora

    async def _start_agora(self) -> str:
        """Start the Agora emulator (in process or as a child) with the S3 endpoint; returns its URL."""
        s3 = self.endpoints.get("s3")
        if self.agora_process is not None:
            self.agora_process.s3_endpoint = s3
            return await self.agora_process.start(self.host)
        self.agora.uploads.s3_endpoint = s3
        return await self.agora.start(self.host, 0)

    def _wire_callbacks(self) -> None:
        """The NCS secret where the operator reads it, and the emulator's notices aimed at its receiver."""
        self.ncs_secrets_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.ncs_secrets_dir / "default"
        secret_file.write_text(self.ncs_secret)
        secret_file.chmod(0o600)
        base = f"http://{self.host}:{self.callbacks_port}"
        recording = {"url": f"{base}/callbacks/agora/recording", "secret": self.ncs_secret}
        transcoder = {"url": f"{base}/callbacks/agora/transcoder", "secret": self.ncs_secret}
        if self.agora_process is not None:
            self.agora_process.ncs, self.agora_process.transcoder_ncs = recording, transcoder
        else:
            self.agora.ncs.configure(recording)
            self.agora.transcoder.ncs.configure(transcoder)
        # RealtimeKit: the operator trusts the emulator's webhook key and registers its webhook for the
        # sample's account and app with the emulator's API token.
        key_file = self.state_dir / "realtimekit-webhook.pem"
        key_file.write_text(self.realtimekit.webhooks.public_pem)
        token_file = self.state_dir / "realtimekit-token"
        token_file.write_text(self.realtimekit.api_token)
        token_file.chmod(0o600)
        self._callback_env = {
            "CALLBACKS_PORT": str(self.callbacks_port),
            "CALLBACKS_AGORA_SECRETS_DIR": str(self.ncs_secrets_dir),
            "CALLBACKS_REALTIMEKIT_PUBLIC_KEY_FILE": str(key_file),
            "CALLBACKS_PUBLIC_URL": base,
            "REALTIMEKIT_WEBHOOK_ACCOUNT_ID": REALTIMEKIT_ACCOUNT,
            "REALTIMEKIT_WEBHOOK_APP_ID": REALTIMEKIT_APP,
            "REALTIMEKIT_WEBHOOK_TOKEN_FILE": str(token_file),
        }
        self.endpoints["callbacks"] = {
            "url": base,
            "agoraRecording": f"{base}/callbacks/agora/recording",
            "agoraTranscoder": f"{base}/callbacks/agora/transcoder",
            "signing": {
                "agora": "HMAC-SHA256 Agora-Signature-V2 and HMAC-SHA1 Agora-Signature over the raw body",
                "agoraSecretFile": str(secret_file),
                "realtimekit": "RSA-SHA256 PKCS#1 v1.5 rtk-signature; the operator registers its webhook",
                "realtimekitPublicKey": f"{self.realtimekit.url}/.well-known/webhooks.json",
            },
            "realtimekit": f"{base}/callbacks/realtimekit",
        }

    def operator_environment(self) -> dict[str, str]:
        """Environment of the operator process: the sandbox's URLs and quick intervals."""
        env = dict(os.environ)
        for key, value in SANDBOX_OPERATOR_ENV.items():
            env.setdefault(key, value)
        env.update(self.operator_env)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["AGORA_BASE_URL"] = self.endpoints["agora"]
        env["REALTIMEKIT_BASE_URL"] = self.realtimekit.api_base_url
        # No fixed port on a developer's machine: one free port, chosen once, named in endpoints.json.
        if "METRICS_PORT" not in self.operator_env:
            self._metrics_port = self._metrics_port or free_port(host=self.host)
            env["METRICS_PORT"] = str(self._metrics_port)
        if "s3" in self.endpoints:
            env.setdefault("STORAGE_S3_ENDPOINT", self.endpoints["s3"])
        # What the Pod's emptyDir is on a cluster: outlives an operator restart, not the sandbox.
        env.setdefault("OPERATOR_STATE_DIR", str(self.state_dir / "operator-state"))
        if self.callbacks:
            env.update(self._callback_env)
        return env

    def start_operator(
        self, *, log_name: str = "operator.log", command: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `recording-operator run` (or `command`) against the sandbox; log in `state_dir/<log_name>`."""
        log = open(self.state_dir / log_name, "ab")
        self.operator = subprocess.Popen(
            command
            or [sys.executable, "-m", "recording_operator", "run", "--kubeconfig", str(self.kubeconfig)],
            env=self.operator_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self.operator

    def stop_operator(self, *, kill: bool = False) -> None:
        """Stop the operator process: SIGTERM and wait (or SIGKILL, to test crash recovery)."""
        if self.operator is None or self.operator.poll() is not None:
            self.operator = None
            return
        self.operator.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.operator.kill()
            self.operator.wait()
        self.operator = None


async def run_sandbox(
    *, state_dir: Path, with_operator: bool, crd_dir: Path, host: str, with_s3: bool = True
) -> None:
    """`python -m recording_sandbox sandbox`: start everything, print the endpoints, run until interrupted."""
    async with Sandbox(
        state_dir, crd_dir=crd_dir, with_operator=with_operator, host=host, with_s3=with_s3
    ) as sandbox:
        print(json.dumps(sandbox.endpoints), flush=True)
        print(f"export KUBECONFIG={sandbox.kubeconfig}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


async def wait_http(url: str, *, timeout_s: float = 20.0) -> None:
    """Wait until `url` answers any HTTP status.

    Raises:
        TimeoutError: it did not answer in time.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{url} did not answer within {timeout_s} s") from None
                await asyncio.sleep(0.1)
