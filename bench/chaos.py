"""`make chaos`: a seeded fault campaign against the real operator process on the sandbox.

Starts the sandbox (Kubernetes, Agora, RealtimeKit and S3 emulators, the Pod runner) in this
process and the operator as a separate process, then runs LIFECYCLES full lifecycles per kind:

- ``agora``: a CloudRecording on Agora (mix mode into the sandbox's S3): create, edit the layout,
  stop, record again, delete;
- ``realtimekit``: a CloudRecording on RealtimeKit: create, pause, resume, stop, delete;
- ``transcoder``: a CloudTranscoder: create, edit the canvas, delete;
- ``local``: a LocalRecording pulling a live ffmpeg test source over SRT, default output settings:
  create, edit the retention, stop, record again, stop, measure, delete. Its RecordedFiles (and
  their deletion with ``deletionPolicy: Delete``) are the RecordedFile part of the campaign.

Before every step, with probability FAULT_RATE, a seeded RNG picks one fault of :data:`CATALOGUE`
that applies to the kind (a new fault is one :class:`FaultSpec` entry there). Each lifecycle has its
own RNG, seeded with ``f"{seed}/{kind}/{index}"``, so a failing lifecycle names the seed and its
index and is replayed with the same ``SEED`` and ``LIFECYCLES``; timing is real, so a replay meets
the same faults at the same steps, not necessarily at the same instant. ``ONLY=82,105`` (``--only``)
runs just those indices: each meets its own faults, not the shared ones (API down, watch cut,
operator kill, S3 down) the other lifecycles would have injected meanwhile.

Invariants, printed as a table and, on the last line, as one JSON object:
``leaked`` sessions/tasks still running at an emulator once their CR is gone (after a settle
period), ``duplicate`` (the most sessions running at once for one CR minus 1, summed; sampled every
0.2 s from the emulators' state), ``gone_while_running`` (CRs observed gone while their session still
ran), ``lost_media_s_max``/``lost_media_s_median`` (LocalRecording: seconds the source sent minus
seconds stored, per ffprobe of the objects listed as RecordedFiles; ``lost_to_stop_s_*`` count only what
was sent before each stop request, leaving out what the source sent while a stop was carried out),
``unpublished`` (objects left in
S3 under a deleted recording's prefix), ``secrets`` (values of the Secrets created here found in the
operator log, a status or an Event), ``tracebacks`` (in the operator log), ``stuck`` (steps whose
expected phase was not reached in time: reported, not an invariant of the promise).

    .venv/bin/python bench/chaos.py --lifecycles 20 --seed 1 --kinds agora,local --fault-rate 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import yaml
from rich.console import Console
from rich.table import Table

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
NS = "default"
GROUP = "/apis/recording.mediaops.io/v1alpha1/namespaces/default"
PLURALS = {
    "agora": "cloudrecordings",
    "realtimekit": "cloudrecordings",
    "transcoder": "cloudtranscoders",
    "local": "localrecordings",
}
KINDS = tuple(PLURALS)
BUCKET = "recordings"
#: Seconds per Agora request in the operator; latency faults exceed it.
AGORA_TIMEOUT_S = 3.0
OPERATOR_ENV = {
    "CLOUDRECORDING_QUERY_INTERVAL": "1",
    "CLOUDRECORDING_TICK": "0.5",
    "CLOUDTRANSCODER_QUERY_INTERVAL": "2",
    "CLOUDTRANSCODER_TICK": "1",
    "RECORDING_NOT_FOUND_CONFIRM": "1",
    "RECORDING_BACKOFF_BASE": "0.5",
    "RECORDING_BACKOFF_MAX": "4",
    "AGORA_RETRY_SCALE": "0.05",
    "AGORA_TIMEOUT": str(AGORA_TIMEOUT_S),
    "RECORDING_SECRET_CACHE_TTL": "0",
    "LOCALRECORDING_POLL_INTERVAL": "0.5",
    "METRICS_PORT": "0",
}
#: Phases a step waits for, per kind and step.
RUNNING_TRANSCODER = {"IDLE", "PREPARED", "STARTING", "CREATED", "STARTED", "IN_PROGRESS"}
TRACEBACK = "Traceback (most recent call last)"
#: Media seconds a LocalRecording may lose to a recorder crash (the issue's target); more is printed.
LOST_MEDIA_TARGET_S = 10.0


def _secret(rng: random.Random, label: str) -> str:
    """A secret value unique to this campaign (long enough never to appear by chance)."""
    return f"{label}-{rng.getrandbits(96):024x}"


# --- the campaign's state --------------------------------------------------------------------------


@dataclass
class Lifecycle:
    """One lifecycle of one kind: its names, what it saw and what went wrong."""

    kind: str
    index: int
    rng: random.Random
    name: str
    #: The emulator key of its sessions: Agora channel, transcoder input channel, RealtimeKit meeting.
    key: str
    s3_secret: str
    steps: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gone: bool = False
    gone_while_running: int = 0
    sent_s: float = 0.0
    #: Media seconds sent while the recording was asked to record (up to each stop request); None
    #: when the lifecycle did not reach its final stop.
    sent_to_stop_s: float | None = None
    stored_s: float | None = None
    recorder_killed: bool = False
    unpublished: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.kind}#{self.index}"


@dataclass
class Campaign:
    """Everything the lifecycles share: the sandbox, clients, secrets and the figures."""

    sandbox: Sandbox
    kube: httpx.AsyncClient
    s3: Any
    seed: int
    fault_rate: float
    step_timeout_s: float
    api_down_s: float
    secrets: list[str]
    agora_secret: str
    rtk_token: str
    console: Console
    max_running: dict[str, int] = field(default_factory=dict)
    lifecycles: list[Lifecycle] = field(default_factory=list)
    #: Where a secret value was seen: "status of <name>" (statuses are scanned as they are read).
    secret_hits: set[tuple[str, str]] = field(default_factory=set)
    operator_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    background: set[asyncio.Task[None]] = field(default_factory=set)

    # -- sessions at the emulators ----------------------------------------------------------------

    def running(self) -> dict[str, int]:
        """Sessions running now, per emulator key (Agora channel, transcoder input channel, meeting)."""
        counts: dict[str, int] = {}
        agora = self.sandbox.agora
        for task in agora.state.tasks.values():
            if task.exit_at is None:
                counts[task.cname] = counts.get(task.cname, 0) + 1
        for ttask in agora.transcoder.state.tasks.values():
            channel = ttask.rtc_inputs()[0]
            if ttask.ended_at is None and channel:
                counts[channel] = counts.get(channel, 0) + 1
        for rec in self.sandbox.realtimekit.state.recordings.values():
            if rec.active:
                counts[rec.meeting_id] = counts.get(rec.meeting_id, 0) + 1
        return counts

    async def sample_forever(self) -> None:
        """Track the most sessions ever running at once per key."""
        while True:
            for key, n in self.running().items():
                if n > self.max_running.get(key, 0):
                    self.max_running[key] = n
            await asyncio.sleep(0.2)

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # -- Kubernetes --------------------------------------------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One Kubernetes API call, retried while the API is down or conflicting (the campaign's own
        writes must land; the faults are for the operator). None after 60 s of failures."""
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await self.kube.request(method, path, **kwargs)
                if response.status_code < 500 and response.status_code not in (409, 429):
                    return response
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.5)

    async def get(self, lc: Lifecycle) -> dict[str, Any] | None:
        response = await self.request("GET", f"{GROUP}/{PLURALS[lc.kind]}/{lc.name}")
        if response is None or response.status_code == 404:
            return None
        body: dict[str, Any] = response.json()
        text = json.dumps(body.get("status") or {})
        self.secret_hits.update((s, f"status of {lc.name}") for s in self.secrets if s in text)
        return body

    async def patch_spec(self, lc: Lifecycle, spec: dict[str, Any]) -> None:
        response = await self.request(
            "PATCH",
            f"{GROUP}/{PLURALS[lc.kind]}/{lc.name}",
            json={"spec": spec},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if response is None or response.status_code >= 300:
            lc.notes.append(f"patch {spec}: {response.status_code if response else 'no answer'}")

    async def wait_phase(self, lc: Lifecycle, step: str, accept: Callable[[str | None], bool]) -> bool:
        """Poll until the CR's phase is accepted; record a stuck step after `step_timeout_s`."""
        deadline = time.monotonic() + self.step_timeout_s
        phase: str | None = None
        while time.monotonic() < deadline:
            body = await self.get(lc)
            phase = ((body or {}).get("status") or {}).get("phase")
            if accept(phase):
                return True
            await asyncio.sleep(0.5)
        conditions = ((body or {}).get("status") or {}).get("conditions") or []
        why = "; ".join(
            f"{x.get('type')}={x.get('status')} {x.get('reason')}: {x.get('message')}"
            for x in conditions
            if x.get("status") == "True" and x.get("type") != "Ready"
        )
        lc.stuck.append(f"{step} (phase {phase}{': ' + why if why else ''})")
        return False

    async def wait_gone(self, lc: Lifecycle, step: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = await self.request("GET", f"{GROUP}/{PLURALS[lc.kind]}/{lc.name}")
            if response is not None and response.status_code == 404:
                lc.gone = True
                if self.running().get(lc.key, 0) > 0:
                    lc.gone_while_running += 1
                return
            await asyncio.sleep(0.5)
        lc.stuck.append(f"{step} (not gone after {timeout_s:.0f} s)")

    # -- operator ----------------------------------------------------------------------------------

    async def restart_operator(self, *, kill: bool) -> None:
        async with self.operator_lock:
            await asyncio.to_thread(self.sandbox.stop_operator, kill=kill)
            self.sandbox.start_operator()

    def operator_log(self) -> str:
        path = self.sandbox.state_dir / "operator.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- S3 (moto does not check signatures: plain HTTP) -----------------------------------------------

    async def s3_keys(self, prefix: str) -> list[str]:
        """Every object key under `prefix` in the bucket."""

        def listing() -> list[str]:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents") or []]

        return await asyncio.to_thread(listing)

    async def s3_get(self, key: str, path: Path) -> bool:
        """Download `key` to `path`; False when it is not there."""

        def download() -> bool:
            try:
                self.s3.download_file(BUCKET, key, str(path))
            except Exception:  # botocore's ClientError: 404/403
                return False
            return True

        return await asyncio.to_thread(download)


# --- faults ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSpec:
    """One entry of the catalogue: a name, the kinds and steps it applies to (None: every step), and
    how to inject it (armed just before the step's own action)."""

    name: str
    kinds: frozenset[str]
    inject: Callable[[Campaign, Lifecycle], Awaitable[None]]
    steps: frozenset[str] | None = None
    #: Armed right after the step's action instead of before it.
    after_action: bool = False


def _agora(endpoint: str, **fault: Any) -> Callable[[Campaign, Lifecycle], Awaitable[None]]:
    async def inject(c: Campaign, lc: Lifecycle) -> None:
        c.sandbox.agora.add_fault(endpoint, cname=lc.key, **fault)

    return inject


def _agora_late(endpoint: str) -> Callable[[Campaign, Lifecycle], Awaitable[None]]:
    """Latency beyond the operator's timeout; the emulator then processes the request (aiohttp does
    not cancel a handler whose client went away): the provider acted, the answer is lost."""
    return _agora(endpoint, latency_ms=int((AGORA_TIMEOUT_S + 1.5) * 1000))


def _rtk(
    endpoint: str, *, status: int | None = None, latency_ms: int = 0, count: int = 1, drop: str | None = None
) -> Any:
    from recording_sandbox.realtimekit.server import Fault as RtkFault

    async def inject(c: Campaign, lc: Lifecycle) -> None:
        fault = RtkFault(endpoint, count, status, "injected fault", latency_ms, drop=drop)
        c.sandbox.realtimekit.faults.append(fault)

    return inject


def _kube(method: str, resource: str, code: int, count: int = 1) -> Any:
    async def inject(c: Campaign, lc: Lifecycle) -> None:
        body = {"method": method, "resource": resource or PLURALS[lc.kind], "code": code, "count": count}
        await c.kube.post("/_emulator/faults", json=body)

    return inject


async def _watch_cut(c: Campaign, lc: Lifecycle) -> None:
    await c.kube.delete("/_emulator/watches")


async def _api_down(c: Campaign, lc: Lifecycle) -> None:
    body = {"method": "*", "resource": "*", "code": 503, "count": 1_000_000}
    await c.kube.post("/_emulator/faults", json=body)

    async def back() -> None:
        await asyncio.sleep(c.api_down_s)
        await c.kube.delete("/_emulator/faults")

    c.spawn(back())


async def _operator_kill(c: Campaign, lc: Lifecycle) -> None:
    async def later() -> None:
        await asyncio.sleep(lc.rng.uniform(0.0, 2.0))
        await c.restart_operator(kill=True)

    c.spawn(later())


def _recorder_pid(c: Campaign, lc: Lifecycle) -> int | None:
    for pod in c.sandbox.kube.list_objects("", "v1", "pods", NS):
        labels = pod["metadata"].get("labels") or {}
        if (
            labels.get("recording.mediaops.io/recording") == lc.name
            and "deletionTimestamp" not in pod["metadata"]
        ):
            pid = c.sandbox.pods.pid_of(NS, pod["metadata"]["name"])
            if pid is not None:
                return pid
    return None


def _kill_recorder(ffmpeg_only: bool) -> Any:
    async def inject(c: Campaign, lc: Lifecycle) -> None:
        async def later() -> None:
            await asyncio.sleep(lc.rng.uniform(2.0, 5.0))
            pid = _recorder_pid(c, lc)
            if pid is None:
                return
            with contextlib.suppress(psutil.Error):
                agent = psutil.Process(pid)
                children = agent.children(recursive=True)
                # a container whose main process dies takes its other processes with it
                targets = [p for p in children if "ffmpeg" in p.name()] if ffmpeg_only else [agent, *children]
                for proc in targets:
                    proc.kill()
                    # it counts for lost media when it came before the media was measured
                    lc.recorder_killed |= lc.stored_s is None

        c.spawn(later())

    return inject


async def _pod_delete_now(c: Campaign, lc: Lifecycle) -> None:
    """`kubectl delete pod --grace-period=0 --force`: the containers are killed at once (the sandbox's
    Pod runner would send SIGTERM first, so the campaign SIGKILLs the processes itself), then the Pod
    object is deleted."""

    async def later() -> None:
        await asyncio.sleep(lc.rng.uniform(2.0, 5.0))
        for pod in c.sandbox.kube.list_objects("", "v1", "pods", NS):
            labels = pod["metadata"].get("labels") or {}
            if labels.get("recording.mediaops.io/recording") == lc.name:
                pid = c.sandbox.pods.pid_of(NS, pod["metadata"]["name"])
                with contextlib.suppress(psutil.Error):
                    if pid is not None:
                        agent = psutil.Process(pid)
                        for proc in [agent, *agent.children(recursive=True)]:
                            proc.kill()
                await c.kube.delete(
                    f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}",
                    params={"gracePeriodSeconds": 0},
                )
                lc.recorder_killed |= lc.stored_s is None

    c.spawn(later())


async def _s3_down(c: Campaign, lc: Lifecycle) -> None:
    """The S3 server frozen (SIGSTOP) for 10 s: connections hang as behind a dead load balancer."""
    process = c.sandbox.s3._process if c.sandbox.s3 is not None else None
    if process is None:
        return
    process.send_signal(signal.SIGSTOP)

    async def back() -> None:
        await asyncio.sleep(10)
        process.send_signal(signal.SIGCONT)

    c.spawn(back())


_CR = frozenset({"agora", "realtimekit", "transcoder", "local"})
_STARTS = frozenset({"create", "resume"})
_STOPS = frozenset({"stop", "final stop", "delete"})
_AGORA = frozenset({"agora"})
_TRANSCODER = frozenset({"transcoder"})
_RTK = frozenset({"realtimekit"})
_LOCAL = frozenset({"local"})
CATALOGUE: tuple[FaultSpec, ...] = (
    # provider faults (Agora's are armed for the lifecycle's own channel)
    FaultSpec("agora start answer lost (late)", _AGORA, _agora_late("start"), _STARTS),
    FaultSpec("agora stop answer lost (late)", _AGORA, _agora_late("stop"), _STOPS),
    FaultSpec(
        "agora updateLayout answer lost (late)", _AGORA, _agora_late("updateLayout"), frozenset({"edit"})
    ),
    FaultSpec("agora acquire 503 x2", _AGORA, _agora("acquire", status=503, count=2), _STARTS),
    FaultSpec("agora start 429", _AGORA, _agora("start", status=429), _STARTS),
    FaultSpec("agora start 500 code 65", _AGORA, _agora("start", status=500, code=65), _STARTS),
    FaultSpec("agora query 404 x3 (HA migration)", _AGORA, _agora("query", status=404, code=404, count=3)),
    FaultSpec("agora stop 404 (HA migration)", _AGORA, _agora("stop", status=404, code=404), _STOPS),
    # dropped connections: reset without an answer, after the provider acted or before
    FaultSpec("agora start dropped after acting", _AGORA, _agora("start", drop="after"), _STARTS),
    FaultSpec("agora stop dropped after acting", _AGORA, _agora("stop", drop="after"), _STOPS),
    FaultSpec("agora stop dropped before acting", _AGORA, _agora("stop", drop="before"), _STOPS),
    FaultSpec("agora acquire dropped", _AGORA, _agora("acquire", drop="before"), _STARTS),
    FaultSpec("agora query dropped", _AGORA, _agora("query", drop="after")),
    FaultSpec(
        "agora update dropped after acting", _AGORA, _agora("update", drop="after"), frozenset({"edit"})
    ),
    FaultSpec(
        "transcoder create dropped after acting", _TRANSCODER, _agora("createTask", drop="after"), _STARTS
    ),
    FaultSpec(
        "transcoder create dropped before acting", _TRANSCODER, _agora("createTask", drop="before"), _STARTS
    ),
    FaultSpec(
        "transcoder update dropped after acting",
        _TRANSCODER,
        _agora("updateTask", drop="after"),
        frozenset({"edit"}),
    ),
    FaultSpec(
        "transcoder delete dropped after acting", _TRANSCODER, _agora("deleteTask", drop="after"), _STOPS
    ),
    FaultSpec("realtimekit start dropped after acting", _RTK, _rtk("start", drop="after"), _STARTS),
    FaultSpec("realtimekit action dropped after acting", _RTK, _rtk("action", drop="after")),
    FaultSpec("realtimekit action dropped before acting", _RTK, _rtk("action", drop="before")),
    FaultSpec(
        "transcoder create answer lost (late)", _TRANSCODER, _agora_late("createTask"), frozenset({"create"})
    ),
    FaultSpec("transcoder create 429", _TRANSCODER, _agora("createTask", status=429), frozenset({"create"})),
    FaultSpec("transcoder update 503", _TRANSCODER, _agora("updateTask", status=503), frozenset({"edit"})),
    FaultSpec("transcoder delete answer lost (late)", _TRANSCODER, _agora_late("deleteTask"), _STOPS),
    FaultSpec("realtimekit start answer lost (late)", _RTK, _rtk("start", latency_ms=10_000), _STARTS),
    FaultSpec("realtimekit start 503", _RTK, _rtk("start", status=503), _STARTS),
    FaultSpec("realtimekit action answer lost (late)", _RTK, _rtk("action", latency_ms=10_000)),
    FaultSpec("realtimekit action 429", _RTK, _rtk("action", status=429)),
    # Kubernetes faults
    FaultSpec("kube PATCH refused (500)", _CR, _kube("PATCH", "", 500), after_action=True),
    # No injected 409 on PATCH: kube-apiserver retries a merge patch that carries no resourceVersion
    # (kopf's and the operator's patches) internally and never answers it 409 Conflict; an injected
    # one is a fault the real server cannot produce (it killed kopf timers in a way no cluster would).
    FaultSpec("kube watch streams cut", _CR, _watch_cut),
    FaultSpec("kube API down", _CR, _api_down),
    # process faults
    FaultSpec("operator SIGKILL + restart", _CR, _operator_kill),
    FaultSpec("recorder agent kill -9", _LOCAL, _kill_recorder(ffmpeg_only=False)),
    FaultSpec("recorder ffmpeg kill -9", _LOCAL, _kill_recorder(ffmpeg_only=True)),
    FaultSpec("recorder Pod deleted without grace", _LOCAL, _pod_delete_now),
    FaultSpec("S3 down 10 s", frozenset({"agora", "local"}), _s3_down, _STOPS),
)


@contextlib.asynccontextmanager
async def step(c: Campaign, lc: Lifecycle, name: str) -> AsyncIterator[None]:
    """One step of a lifecycle around its action (the campaign's own API write): with probability
    fault_rate, one fault of the catalogue that applies to the kind and step is injected before the
    action or, for faults of the operator's own Kubernetes writes, right after it (the campaign's
    write must not consume them)."""
    lc.steps.append(name)
    fault: FaultSpec | None = None
    if lc.rng.random() < c.fault_rate:
        choices = [f for f in CATALOGUE if lc.kind in f.kinds and (f.steps is None or name in f.steps)]
        fault = lc.rng.choice(choices)
        lc.faults.append(f"{name}: {fault.name}")
    if fault is not None and not fault.after_action:
        await fault.inject(c, lc)
    yield
    if fault is not None and fault.after_action:
        await fault.inject(c, lc)


# --- the lifecycles ----------------------------------------------------------------------------------


def _agora_body(lc: Lifecycle) -> dict[str, Any]:
    body = copy.deepcopy(yaml.safe_load((ROOT / "manifests/samples/cloudrecording-mix.yaml").read_text()))
    body["metadata"] = {"name": lc.name}
    spec = body["spec"]
    spec["credentialsSecretRef"] = {"name": "chaos-agora"}
    spec["storage"]["credentialsSecretRef"] = {"name": f"{lc.name}-s3"}
    spec["storage"]["prefix"] = ["chaos", lc.name.replace("-", "")]
    spec["agora"]["channel"] = lc.key
    return body


def _rtk_body(lc: Lifecycle) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "manifests/samples/cloudrecording-realtimekit.yaml").read_text()))
    body = copy.deepcopy(docs[1])
    body["metadata"] = {"name": lc.name}
    body["spec"]["credentialsSecretRef"] = {"name": "chaos-rtk"}
    body["spec"]["realtimeKit"]["meetingId"] = lc.key
    return body


def _transcoder_body(lc: Lifecycle) -> dict[str, Any]:
    body = copy.deepcopy(yaml.safe_load((ROOT / "manifests/samples/cloudtranscoder.yaml").read_text()))
    body["metadata"] = {"name": lc.name}
    spec = body["spec"]
    spec["credentialsSecretRef"] = {"name": "chaos-agora"}
    for entry in [*spec["audioInputs"], *spec["videoInputs"]]:
        entry["rtc"]["rtcChannel"] = lc.key
    spec["outputs"][0]["rtc"]["rtcChannel"] = f"{lc.key}m"
    return body


def _local_body(lc: Lifecycle, port: int, endpoint: str) -> dict[str, Any]:
    return {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "LocalRecording",
        "metadata": {"name": lc.name},
        "spec": {
            "active": True,
            "input": {"url": f"srt://127.0.0.1:{port}"},
            "output": {"format": "mp4"},
            "storage": {
                "vendor": "s3-compatible",
                "bucket": BUCKET,
                "endpoint": endpoint,
                "prefix": ["chaos", lc.name.replace("-", "")],
                "credentialsSecretRef": {"name": f"{lc.name}-s3"},
            },
            "retention": {"deleteAfter": "24h"},
            "deletionPolicy": "Delete",
        },
    }


async def _create(c: Campaign, lc: Lifecycle, body: dict[str, Any]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{lc.name}-s3", "labels": {"recording.mediaops.io/use": "true"}},
        "stringData": {"accessKey": f"AKID{lc.index:06d}", "secretKey": lc.s3_secret},
    }
    await c.request("POST", f"/api/v1/namespaces/{NS}/secrets", json=secret)
    response = await c.request("POST", f"{GROUP}/{PLURALS[lc.kind]}", json=body)
    if response is None or response.status_code >= 300:
        lc.notes.append(
            f"create: {response.status_code if response else 'no answer'} {response.text[:200] if response else ''}"
        )


async def _delete(c: Campaign, lc: Lifecycle) -> None:
    async with step(c, lc, "delete"):
        await c.request("DELETE", f"{GROUP}/{PLURALS[lc.kind]}/{lc.name}")
    await c.wait_gone(lc, "delete", max(90.0, 2 * c.step_timeout_s))


def _is(*phases: str) -> Callable[[str | None], bool]:
    return lambda phase: phase in phases


async def run_agora(c: Campaign, lc: Lifecycle) -> None:
    users = ["1001", "1002"]
    c.sandbox.agora.state.set_channel_users("0123456789abcdef0123456789abcdef", lc.key, users)
    async with step(c, lc, "create"):
        await _create(c, lc, _agora_body(lc))
    await c.wait_phase(lc, "create", _is("Recording"))
    async with step(c, lc, "edit"):
        await c.patch_spec(lc, {"agora": {"recordingConfig": {"transcodingConfig": {"mixedVideoLayout": 0}}}})
    await asyncio.sleep(2)
    async with step(c, lc, "stop"):
        await c.patch_spec(lc, {"state": "Stopped"})
    await c.wait_phase(lc, "stop", _is("Stopped"))
    async with step(c, lc, "resume"):
        await c.patch_spec(lc, {"state": "Recording"})
    await c.wait_phase(lc, "resume", _is("Recording"))
    await asyncio.sleep(1)
    await _delete(c, lc)


async def run_realtimekit(c: Campaign, lc: Lifecycle) -> None:
    c.sandbox.realtimekit.state.set_participants(lc.key, ["user-1"])
    async with step(c, lc, "create"):
        await _create(c, lc, _rtk_body(lc))
    await c.wait_phase(lc, "create", _is("Recording"))
    # RealtimeKit ends a recording stopped within 5 s of its start ERRORED (no file)
    await asyncio.sleep(4)
    async with step(c, lc, "pause"):
        await c.patch_spec(lc, {"state": "Paused"})
    await c.wait_phase(lc, "pause", _is("Paused"))
    async with step(c, lc, "resume"):
        await c.patch_spec(lc, {"state": "Recording"})
    await c.wait_phase(lc, "resume", _is("Recording"))
    await asyncio.sleep(3)
    async with step(c, lc, "stop"):
        await c.patch_spec(lc, {"state": "Stopped"})
    await c.wait_phase(lc, "stop", _is("Stopped"))
    await _delete(c, lc)


async def run_transcoder(c: Campaign, lc: Lifecycle) -> None:
    c.sandbox.agora.state.set_channel_users("0123456789abcdef0123456789abcdef", lc.key, ["1001", "1002"])
    async with step(c, lc, "create"):
        await _create(c, lc, _transcoder_body(lc))
    await c.wait_phase(lc, "create", lambda p: p in RUNNING_TRANSCODER)
    async with step(c, lc, "edit"):
        await c.patch_spec(lc, {"canvas": {"color": 255}})
    await asyncio.sleep(3)
    await _delete(c, lc)


#: Seconds a test source gets to exit after SIGTERM before it is killed.
CLOSE_GRACE_S = 5.0


class Source:
    """A live ffmpeg test source (25 fps H.264 + AAC, real time) listening for the recorder's SRT
    caller, started again whenever its caller goes away. `sent_s` sums, over its runs, the media
    seconds ffmpeg reported sending (`-progress` `out_time_us`)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.sent_s = 0.0
        self._runs = 0
        self._counted = True  # the current run's seconds are in sent_s already
        self._stop = False
        self._proc: asyncio.subprocess.Process | None = None
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while not self._stop:
            self._runs += 1
            self._counted = False
            progress = self.workdir / f"source-{self._runs}.progress"
            argv = [
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
                "-c:a", "aac", "-b:a", "64k", "-progress", str(progress), "-f", "mpegts",
                f"srt://127.0.0.1:{self.port}?mode=listener",
            ]  # fmt: skip
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            await self._proc.wait()
            self.sent_s += _progress_s(progress)
            self._counted = True
            await asyncio.sleep(0.2)

    def sent_now(self) -> float:
        """Media seconds sent so far, the running ffmpeg's included (its `-progress` file, written about
        every 0.5 s)."""
        if self._counted:
            return self.sent_s
        return self.sent_s + _progress_s(self.workdir / f"source-{self._runs}.progress")

    async def close(self) -> float:
        """Stop the source (SIGTERM, then SIGKILL after `CLOSE_GRACE_S`: an ffmpeg SRT listener still
        waiting for a caller can ignore SIGTERM for good) and return the media seconds it sent. The
        loop may be starting a new run while this is called (its caller has just gone), so every run
        started until the loop sees `_stop` is stopped too."""
        self._stop = True
        while not self._task.done():
            proc = self._proc
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), CLOSE_GRACE_S)
                except TimeoutError:
                    proc.kill()
            await asyncio.wait({self._task}, timeout=0.5)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.sent_s

    def kill(self) -> None:
        """SIGKILL the running ffmpeg at once and end the loop (a lifecycle given up on)."""
        self._stop = True
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()


def _progress_s(path: Path) -> float:
    if not path.exists():
        return 0.0
    values = re.findall(r"^out_time_us=(\d+)$", path.read_text(errors="replace"), re.M)
    return int(values[-1]) / 1e6 if values else 0.0


async def _stored_seconds(c: Campaign, lc: Lifecycle, workdir: Path) -> float:
    """Seconds of media stored and listed as RecordedFiles (ffprobe of each listed object)."""
    response = await c.request(
        "GET",
        f"{GROUP}/recordedfiles",
        params={"labelSelector": f"recording.mediaops.io/recording={lc.name}"},
    )
    total = 0.0
    for item in response.json()["items"] if response is not None else []:
        key = (item.get("spec") or {}).get("key") or ((item.get("spec") or {}).get("location") or {}).get(
            "key"
        )
        if not key:
            continue
        path = workdir / hashlib.sha1(key.encode()).hexdigest()
        if not await c.s3_get(key, path):
            lc.notes.append(f"RecordedFile {item['metadata']['name']}: object {key} not readable")
            continue
        probe = await asyncio.create_subprocess_exec(
            "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await probe.communicate()
        with contextlib.suppress(ValueError):
            total += float(out.decode().strip() or "0")
        path.unlink()
    return total


async def run_local(c: Campaign, lc: Lifecycle) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"{lc.name}-", dir=c.sandbox.state_dir))
    port = free_port()
    source = Source(port, workdir)
    try:
        async with step(c, lc, "create"):
            await _create(c, lc, _local_body(lc, port, c.sandbox.endpoints["s3"]))
        await c.wait_phase(lc, "create", _is("Recording"))
        await asyncio.sleep(4)
        async with step(c, lc, "edit"):
            await c.patch_spec(lc, {"retention": {"deleteAfter": "48h"}})
        await asyncio.sleep(4)
        async with step(c, lc, "stop"):
            first_stop = source.sent_now()
            await c.patch_spec(lc, {"active": False})
        await c.wait_phase(lc, "stop", _is("Stopped"))
        async with step(c, lc, "resume"):
            resumed = source.sent_now()
            await c.patch_spec(lc, {"active": True})
        await c.wait_phase(lc, "resume", _is("Recording"))
        await asyncio.sleep(6)
        async with step(c, lc, "final stop"):
            lc.sent_to_stop_s = first_stop + source.sent_now() - resumed
            await c.patch_spec(lc, {"active": False})
        await c.wait_phase(lc, "final stop", _is("Stopped"))
        await asyncio.sleep(2)
    except asyncio.CancelledError:
        source.kill()
        raise
    finally:
        lc.sent_s = await source.close()
    lc.stored_s = await _stored_seconds(c, lc, workdir)
    await _delete(c, lc)


RUNNERS: dict[str, Callable[[Campaign, Lifecycle], Awaitable[None]]] = {
    "agora": run_agora,
    "realtimekit": run_realtimekit,
    "transcoder": run_transcoder,
    "local": run_local,
}


async def _check_unpublished(c: Campaign, lc: Lifecycle) -> None:
    """Objects left under the prefix of a recording that is gone (`deletionPolicy: Delete`); the
    stores of RealtimeKit's own bucket and of the transcoder (none) are not S3."""
    prefix = f"chaos/{lc.name.replace('-', '')}/"
    deadline = time.monotonic() + 20
    while True:
        lc.unpublished = await c.s3_keys(prefix)
        if not lc.unpublished or time.monotonic() > deadline:
            return
        await asyncio.sleep(1)


#: Seconds one lifecycle may take before the campaign gives up on it and reports it stuck (its steps
#: are bounded one by one; this bounds what they do not, so one hang cannot hold the whole campaign).
LIFECYCLE_LIMIT_S = 900.0


async def run_lifecycle(c: Campaign, lc: Lifecycle) -> None:
    try:
        try:
            await asyncio.wait_for(RUNNERS[lc.kind](c, lc), LIFECYCLE_LIMIT_S)
        except TimeoutError:
            lc.stuck.append(f"lifecycle (not ended after {LIFECYCLE_LIMIT_S:.0f} s, after steps {lc.steps})")
        if lc.kind in ("agora", "local") and lc.gone:
            await _check_unpublished(c, lc)
    except Exception as error:  # the campaign reports a broken lifecycle and goes on
        lc.notes.append(f"campaign error: {type(error).__name__}: {error}")
    c.console.print(
        f"[dim]{lc.where} done: faults={lc.faults or '-'} stuck={lc.stuck or '-'}"
        + (f" sent={lc.sent_s:.1f}s stored={lc.stored_s:.1f}s" if lc.stored_s is not None else "")
        + "[/dim]"
    )


# --- figures ----------------------------------------------------------------------------------------


def _lost_to_stop(lc: Lifecycle) -> float | None:
    """Media seconds sent while recording was asked for (up to each stop request) and not stored."""
    if lc.kind != "local" or lc.stored_s is None or lc.sent_to_stop_s is None:
        return None
    return max(0.0, lc.sent_to_stop_s - lc.stored_s)


def figures(
    c: Campaign, wall_s: float, log: str, events_text: str, leaked_keys: dict[str, int]
) -> dict[str, Any]:
    lcs = c.lifecycles
    duplicate = sum(max(0, c.max_running.get(lc.key, 0) - 1) for lc in lcs)
    lost = [max(0.0, lc.sent_s - lc.stored_s) for lc in lcs if lc.kind == "local" and lc.stored_s is not None]
    lost_killed = [
        max(0.0, lc.sent_s - lc.stored_s)
        for lc in lcs
        if lc.kind == "local" and lc.stored_s is not None and lc.recorder_killed
    ]
    lost_to_stop = [v for lc in lcs if (v := _lost_to_stop(lc)) is not None]
    killed_to_stop = [v for lc in lcs if lc.recorder_killed and (v := _lost_to_stop(lc)) is not None]
    hits = set(c.secret_hits)
    hits.update((s, "operator log") for s in c.secrets if s in log)
    hits.update((s, "Events") for s in c.secrets if s in events_text)
    c.secret_hits = hits
    secrets = len(hits)
    return {
        "lifecycles": len(lcs),
        "leaked": sum(leaked_keys.values()),
        "duplicate": duplicate,
        "gone_while_running": sum(lc.gone_while_running for lc in lcs),
        "lost_media_s_max": round(max(lost), 2) if lost else 0.0,
        "lost_media_s_median": round(statistics.median(lost), 2) if lost else 0.0,
        "lost_media_s_max_after_recorder_kill": round(max(lost_killed), 2) if lost_killed else 0.0,
        "lost_to_stop_s_max": round(max(lost_to_stop), 2) if lost_to_stop else 0.0,
        "lost_to_stop_s_median": round(statistics.median(lost_to_stop), 2) if lost_to_stop else 0.0,
        "lost_to_stop_s_max_after_recorder_kill": round(max(killed_to_stop), 2) if killed_to_stop else 0.0,
        "recorder_kills": len(lost_killed),
        "unpublished": sum(len(lc.unpublished) for lc in lcs),
        "secrets": secrets,
        "tracebacks": log.count(TRACEBACK),
        "stuck": sum(len(lc.stuck) for lc in lcs),
        "faults": sum(len(lc.faults) for lc in lcs),
        "seed": c.seed,
        "fault_rate": c.fault_rate,
        "wall_s": round(wall_s, 1),
    }


def report(c: Campaign, result: dict[str, Any], leaked_keys: dict[str, int], replay: str) -> None:
    table = Table(title=f"fault campaign, seed {c.seed}, fault rate {c.fault_rate}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("promise", justify="right")
    promises = {
        "leaked": 0,
        "duplicate": 0,
        "gone_while_running": 0,
        "unpublished": 0,
        "secrets": 0,
        "tracebacks": 0,
    }
    for key, value in result.items():
        promise = promises.get(key)
        style = "red" if promise is not None and value != promise else ""
        table.add_row(
            key,
            f"[{style}]{value}[/{style}]" if style else str(value),
            "" if promise is None else str(promise),
        )
    c.console.print(table)
    by_key = {lc.key: lc for lc in c.lifecycles}
    for lc in c.lifecycles:
        problems = []
        if leaked_keys.get(lc.key):
            problems.append(f"leaked {leaked_keys[lc.key]} session(s)")
        if c.max_running.get(lc.key, 0) > 1:
            problems.append(f"{c.max_running[lc.key]} sessions at once")
        if lc.gone_while_running:
            problems.append("gone while its session ran")
        if lc.unpublished:
            problems.append(f"{len(lc.unpublished)} object(s) left after Delete")
        lost = _lost_to_stop(lc)
        if lost is None and lc.stored_s is not None:
            lost = lc.sent_s - lc.stored_s
        if lost is not None and lost > LOST_MEDIA_TARGET_S:
            problems.append(
                f"lost {lost:.1f} media s (sent {lc.sent_s:.1f}, {lc.sent_to_stop_s or lc.sent_s:.1f} of them "
                f"before the stop requests, stored {lc.stored_s:.1f})"
            )
        if lc.stuck:
            problems.append(f"stuck: {'; '.join(lc.stuck)}")
        if lc.notes:
            problems.append(f"notes: {'; '.join(lc.notes)}")
        if problems:
            c.console.print(
                f"[red]{lc.where}[/red] ({lc.name}): {', '.join(problems)}; faults: {lc.faults or 'none'}; "
                f"replay: {replay}"
            )
    for value, place in sorted(c.secret_hits):
        # the value itself is never printed: its label (agora, rtk, s3) says which Secret it is
        c.console.print(f"[red]a {value.split('-')[0]} secret value appears in {place}[/red]")
    orphans = {k: n for k, n in leaked_keys.items() if k not in by_key}
    if orphans:
        c.console.print(f"[red]sessions of unknown keys still running: {orphans}[/red]")


async def campaign(args: argparse.Namespace) -> dict[str, Any]:
    console = Console(stderr=True)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    only = {int(i) for i in args.only.split(",") if i.strip()} if args.only else None
    secret_rng = random.Random(f"{args.seed}/secrets")
    agora_secret = _secret(secret_rng, "agora")
    rtk_token = _secret(secret_rng, "rtk")
    state = Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="recording-chaos-"))
    state.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    sandbox = Sandbox(
        state, crd_dir=ROOT / "crds", operator_env=OPERATOR_ENV,
        agora_options={"customer_id": "chaos-id", "customer_secret": agora_secret},
    )  # fmt: skip
    sandbox.realtimekit.api_token = rtk_token
    async with sandbox:
        kube = httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=20)
        s3 = boto3.client(
            "s3", endpoint_url=sandbox.endpoints["s3"], region_name="us-east-1",
            aws_access_key_id="chaos", aws_secret_access_key="chaos",
        )  # fmt: skip
        c = Campaign(
            sandbox, kube, s3, args.seed, args.fault_rate, args.step_timeout, args.api_down,
            [agora_secret, rtk_token], agora_secret, rtk_token, console,
        )  # fmt: skip
        for name, data in (
            ("chaos-agora", {"customerId": "chaos-id", "customerSecret": agora_secret}),
            ("chaos-rtk", {"apiToken": rtk_token}),
        ):
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "labels": {"recording.mediaops.io/use": "true"}},
                "stringData": data,
            }
            (await kube.post(f"/api/v1/namespaces/{NS}/secrets", json=body)).raise_for_status()
        for kind in kinds:
            for i in range(args.lifecycles):
                rng = random.Random(f"{args.seed}/{kind}/{i}")
                tag = f"{kind[:3]}{i:04d}"
                key = f"chaos{tag}" if kind != "realtimekit" else str(_uuid(rng))
                lc = Lifecycle(kind, i, rng, f"chaos-{tag}", key, _secret(rng, "s3"))
                c.secrets.append(lc.s3_secret)
                if only is None or i in only:
                    c.lifecycles.append(lc)
        sandbox.start_operator()
        sampler = asyncio.ensure_future(c.sample_forever())
        limit = asyncio.Semaphore(args.concurrency)

        skipped: list[Lifecycle] = []

        async def bounded(lc: Lifecycle) -> None:
            async with limit:
                if args.max_wall and time.monotonic() - started > args.max_wall:
                    skipped.append(lc)
                    return
                await run_lifecycle(c, lc)

        # interleave kinds so that concurrent lifecycles mix them
        order = sorted(c.lifecycles, key=lambda lc: (lc.index, kinds.index(lc.kind)))
        await asyncio.gather(*(bounded(lc) for lc in order))
        if skipped:
            console.print(
                f"[yellow]{len(skipped)} lifecycles not started: MAX_WALL={args.max_wall} s reached[/yellow]"
            )
            c.lifecycles = [lc for lc in c.lifecycles if lc not in skipped]
        for task in list(c.background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 30)
        await kube.delete("/_emulator/faults")
        if sandbox.s3 is not None and sandbox.s3._process is not None:
            sandbox.s3._process.send_signal(signal.SIGCONT)
        # settle: the operator gets some seconds to stop what it still holds
        deadline = time.monotonic() + args.settle
        # A CR that went after its delete step stopped waiting (a finalizer's bounded wait can outlast
        # the step) is gone too: its sessions count as leaked like any other.
        for lc in c.lifecycles:
            if not lc.gone:
                response = await c.request("GET", f"{GROUP}/{PLURALS[lc.kind]}/{lc.name}")
                lc.gone = response is not None and response.status_code == 404
        gone = {lc.key for lc in c.lifecycles if lc.gone}
        while True:
            leaked_keys = {k: n for k, n in c.running().items() if k in gone}
            if not leaked_keys or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        sampler.cancel()
        log = c.operator_log()
        response = await c.request("GET", f"/api/v1/namespaces/{NS}/events")
        events_text = response.text if response is not None else ""
        sandbox.stop_operator()
        await kube.aclose()
    wall = time.monotonic() - started
    result = figures(c, wall, log, events_text, leaked_keys)
    replay = f"make chaos SEED={args.seed} LIFECYCLES={args.lifecycles} KINDS={','.join(kinds)} FAULT_RATE={args.fault_rate}"
    if only is not None:
        replay += f" ONLY={args.only}"
    report(c, result, leaked_keys, replay)
    console.print(f"operator log and sandbox state: {state}")
    return result


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lifecycles", type=int, default=int(os.environ.get("LIFECYCLES", "5")), help="per kind"
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "1")))
    parser.add_argument("--kinds", default=os.environ.get("KINDS") or ",".join(KINDS))
    parser.add_argument("--fault-rate", type=float, default=float(os.environ.get("FAULT_RATE", "0.2")))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CONCURRENCY", "4")))
    parser.add_argument("--step-timeout", type=float, default=45.0, help="seconds a step waits for its phase")
    parser.add_argument(
        "--api-down", type=float, default=10.0, help="seconds the 'kube API down' fault lasts"
    )
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds granted at the end before counting leaks"
    )
    parser.add_argument(
        "--max-wall",
        type=float,
        default=float(os.environ.get("MAX_WALL", "0")),
        help="seconds after which no new lifecycle starts (0: none); the figures say how many ran",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("ONLY", ""),
        help="comma-separated lifecycle indices to run alone (e.g. 82,105); each keeps its own faults, "
        "but not the shared ones (API down, operator kill...) that other lifecycles inject",
    )
    parser.add_argument("--state-dir", default="", help="sandbox state directory (default: a temporary one)")
    args = parser.parse_args(argv)
    result = asyncio.run(campaign(args))
    sys.stdout.write(json.dumps(result) + "\n")
    failing = [
        k
        for k in ("leaked", "duplicate", "gone_while_running", "unpublished", "secrets", "tracebacks")
        if result[k]
    ]
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
