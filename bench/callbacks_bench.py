"""`make bench`: status freshness with provider callbacks on and off.

N CloudRecordings on one App ID, the Agora emulator enforcing 10 requests/s per App ID (Agora's
documented limit, https://docs.agora.io/en/cloud-recording/rest-api/overview), production query
timings (`CLOUDRECORDING_QUERY_INTERVAL` 60 s, tick 10 s). Once every recording is Recording, the
provider-side change: every channel empties and the emulator's clock passes `maxIdleTime`, so Agora
ends every session at the same instant (a burst of 3 notices per session), or, with `--spread S`, in
one batch a second over S seconds (sessions ending at a steady rate, e.g. 10/s with 1,000 over 100 s).
Printed per mode:

- freshness p50/p99/max: seconds from a session's end until its recording's status says Stopped;
- queries/s to Agora over the window, and HTTP 429 answers received;
- with callbacks: notices delivered (final answers, and attempts per notice: a resend means an
  answer other than 200 or none in time), and the operator process's CPU seconds per 1,000 notices
  (receiver and the status writes they cause): all of the window's CPU, and that CPU less what the
  operator spent at its rate of the 15 s before the change (timers and queries go on meanwhile);
- with callbacks, where the freshness went, p50/p99 per stage: `provider` (the session's end until
  the emulator queued the notice that ends it), `delivery` (queued until the operator answered 200:
  the receiver's queue, its reads and its status write) and `watch` (answered until the bench's
  watch saw Stopped);
- Kubernetes requests per session over the window, by verb and resource.

The Agora emulator runs in a process of its own (sandbox `agora_process`), so a busy bench loop
(the Kubernetes emulator serializing 1,000 objects) neither bunches its requests into false 429s
nor delays its notices.

    .venv/bin/python bench/callbacks_bench.py --count 100
    .venv/bin/python bench/callbacks_bench.py --count 1000 --modes on --py-spy /tmp/notices.svg
    .venv/bin/python bench/callbacks_bench.py --count 1000 --spread 100

`--py-spy OUT` records the operator with py-spy (`pip install py-spy`, not a project dependency)
over the window, per mode, into OUT with the mode in its name.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
CRS = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/cloudrecordings"
SAMPLE = yaml.safe_load((ROOT / "manifests/samples/cloudrecording-mix.yaml").read_text())
SECRETS = list(yaml.safe_load_all((ROOT / "manifests/samples/agora-credentials.yaml").read_text()))
APP_ID = SAMPLE["spec"]["agora"]["appId"]
OPERATOR_ENV = {
    "CLOUDRECORDING_QUERY_INTERVAL": "60",
    "CLOUDRECORDING_TICK": "10",
    "RECORDING_NOT_FOUND_CONFIRM": "5",
    "AGORA_RETRY_SCALE": "1",
    "METRICS_PORT": "0",
}


#: Seconds over which the operator's CPU rate is measured before the provider-side change.
BASELINE_S = 15.0
#: The sample's `maxIdleTime` (s): a recorder leaves an empty channel after it.
IDLE_S = SAMPLE["spec"]["agora"]["recordingConfig"]["maxIdleTime"]


def recording(i: int) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["metadata"] = {"name": f"bench-{i:05d}"}
    body["spec"]["agora"]["channel"] = f"bench-{i:05d}"
    return body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Phases:
    """Every recording's phase from one watch (a LIST of 1,000 objects twice a second would load
    the Kubernetes emulator the operator writes to), and when each was first seen Stopped."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.phase: dict[str, str] = {}
        self.stopped_at: dict[str, float] = {}
        self.sid: dict[str, str] = {}
        self.all_stopped = asyncio.Event()
        self._count = count
        self.task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=None) as client,
            client.stream("GET", CRS, params={"watch": "true", "resourceVersion": "0"}) as stream,
        ):
            async for line in stream.aiter_lines():
                if not line:
                    continue
                obj = json.loads(line).get("object", {})
                name = obj.get("metadata", {}).get("name", "")
                phase = (obj.get("status") or {}).get("phase", "")
                self.phase[name] = phase
                if (obj.get("status") or {}).get("sid"):
                    self.sid[name] = obj["status"]["sid"]
                if phase == "Stopped":
                    self.stopped_at.setdefault(name, time.monotonic())
                    if len(self.stopped_at) >= self._count:
                        self.all_stopped.set()

    def count(self, phase: str) -> int:
        return sum(p == phase for p in self.phase.values())


def _stages(
    log: list[dict[str, Any]], seen: dict[str, float], changed_wall: dict[str, float], sids: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Where each session's freshness went, as (p50, p99) seconds per stage: `provider` (the
    session's end until Agora's emulator queued the notice that ends it, 41 or 11), `delivery` (queued
    until the operator answered it 200: the receiver's queue and the status write) and `watch`
    (answered until the bench's watch saw Stopped)."""
    ending: dict[str, dict[str, Any]] = {}
    for d in log:
        if d["eventType"] in (41, 11) and d["httpStatus"] == 200 and d.get("sendts"):
            ending.setdefault(d["sid"], d)  # the first that ends it
    stages: dict[str, list[float]] = {"provider": [], "delivery": [], "watch": []}
    for name, fresh in seen.items():
        d = ending.get(sids.get(name, ""))
        if d is None:
            continue
        stages["provider"].append(d["sendts"] / 1000 - changed_wall[name])
        stages["delivery"].append((d["answeredMs"] - d["sendts"]) / 1000)
        stages["watch"].append(changed_wall[name] + fresh - d["answeredMs"] / 1000)
    return {k: (statistics.median(v), percentile(v, 0.99)) for k, v in stages.items() if v}


def _profiler(pid: int, out: str | None, mode: str) -> subprocess.Popen[bytes] | None:
    if not out:
        return None
    path = Path(out)
    target = path.with_name(f"{path.stem}-{mode}{path.suffix or '.svg'}")
    spy = Path(sys.executable).with_name("py-spy")
    fmt = ["--format", "raw"] if path.suffix == ".txt" else []  # collapsed stacks, for grep and sort
    return subprocess.Popen(
        [str(spy), "record", "--nonblocking", "-p", str(pid), "-o", str(target), *fmt],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(
    count: int, callbacks: bool, timeout_s: float, profile: str | None = None, spread_s: float = 0.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callbacks-bench-") as tmp:
        async with Sandbox(
            Path(tmp),
            crd_dir=ROOT / "crds",
            with_operator=True,
            operator_env=OPERATOR_ENV,
            agora_options={"qps_limit": 10},
            callbacks=callbacks,
            agora_process=True,
        ) as sandbox:
            assert sandbox.operator is not None
            operator = psutil.Process(sandbox.operator.pid)
            async with (
                httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=60) as kube,
                httpx.AsyncClient(base_url=sandbox.endpoints["agora"], timeout=60) as agora,
            ):
                for secret in SECRETS:
                    await kube.post("/api/v1/namespaces/default/secrets", json=secret)
                for i in range(count):
                    name = f"bench-{i:05d}"
                    await agora.put(f"/_emulator/channels/{APP_ID}/{name}/users", json={"users": ["1001"]})
                limit = asyncio.Semaphore(32)  # 1,000 at once exhaust the client's pool on a busy machine

                async def create(i: int) -> None:
                    async with limit:
                        (await kube.post(CRS, json=recording(i))).raise_for_status()

                watched = Phases(sandbox.endpoints["kubernetes"], count)
                await asyncio.gather(*(create(i) for i in range(count)))
                deadline = time.monotonic() + timeout_s
                while watched.count("Recording") < count:
                    if time.monotonic() > deadline:
                        raise TimeoutError("not every recording reached Recording")
                    await asyncio.sleep(1)
                # The operator's CPU rate before the change (timers, queries): subtracted from the window's
                # CPU to estimate what the notices cost.
                baseline_from = (time.monotonic(), sum(operator.cpu_times()[:2]))
                await asyncio.sleep(BASELINE_S)
                baseline_rate = (sum(operator.cpu_times()[:2]) - baseline_from[1]) / (
                    time.monotonic() - baseline_from[0]
                )
                await agora.delete("/_emulator/requests")
                notices_before = len((await agora.get("/_emulator/callbacks/log")).json()["deliveries"])
                spy = _profiler(operator.pid, profile, "on" if callbacks else "off")
                cpu_before = sum(operator.cpu_times()[:2])
                sandbox.kube.stats.reset()
                changed = time.monotonic()
                # The provider-side change: a channel empties, and Agora's recorder leaves it after
                # maxIdleTime (the emulator's clock passes it). All at once, or in one batch a second.
                batches = max(1, round(spread_s))
                names = [f"bench-{i:05d}" for i in range(count)]
                changed_at: dict[str, float] = {}
                changed_wall: dict[str, float] = {}

                async def change(batch: list[str]) -> None:
                    for name in batch:
                        await agora.put(f"/_emulator/channels/{APP_ID}/{name}/users", json={"users": []})
                    await agora.post("/_emulator/clock", json={"advanceSeconds": IDLE_S + 1})
                    now = time.monotonic()
                    changed_at.update(dict.fromkeys(batch, now))
                    changed_wall.update(dict.fromkeys(batch, time.time()))

                async def changes() -> None:
                    for b in range(batches):
                        await asyncio.sleep(max(0.0, changed + b * spread_s / batches - time.monotonic()))
                        await change(names[b * count // batches : (b + 1) * count // batches])

                changing = asyncio.create_task(changes())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watched.all_stopped.wait(), spread_s + timeout_s)
                await changing
                watched.task.cancel()
                seen = {
                    name: at - changed_at[name]
                    for name, at in watched.stopped_at.items()
                    if name in changed_at
                }
                window = time.monotonic() - changed
                cpu = sum(operator.cpu_times()[:2]) - cpu_before
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                    spy.wait(timeout=60)
                stats = (await agora.get("/_emulator/stats")).json()
                kube_requests = {
                    f"{verb} {plural}": round(n / count, 2)
                    for plural in ("cloudrecordings", "recordedfiles", "events")
                    for verb in ("get", "list", "create", "patch", "update", "delete")
                    if (n := sandbox.kube.stats.count(verb=verb, plural=plural))
                }
                # Notices of the window only (recorder_leave, uploaded, session_exit per session).
                log = (await agora.get("/_emulator/callbacks/log")).json()["deliveries"][notices_before:]
                fresh = list(seen.values())
                stages = _stages(log, seen, changed_wall, watched.sid) if callbacks else {}
                return {
                    "stages": stages,
                    "kube_requests_per_session": kube_requests,
                    "mode": "callbacks on" if callbacks else "callbacks off",
                    "stopped": len(fresh),
                    "p50": statistics.median(fresh) if fresh else None,
                    "p99": percentile(fresh, 0.99) if fresh else None,
                    "max": max(fresh) if fresh else None,
                    "queries_per_s": stats["endpoints"].get("query", 0) / window,
                    "http_429": stats["httpStatus"].get("429", 0),
                    "notices": len(log) if callbacks else 0,
                    "answers": dict(sorted(Counter(str(d["httpStatus"]) for d in log).items())),
                    "attempts": dict(sorted(Counter(d["attempts"] for d in log).items())),
                    "cpu_per_1000": (cpu / len(log) * 1000) if callbacks and log else None,
                    "cpu_s": cpu,
                    "baseline_cpu_s": baseline_rate * window,
                    "notice_cpu_per_1000": ((cpu - baseline_rate * window) / len(log) * 1000)
                    if callbacks and log
                    else None,
                }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait per phase")
    parser.add_argument(
        "--modes", choices=("both", "on", "off"), default="both", help="callbacks on, off or both"
    )
    parser.add_argument("--py-spy", dest="py_spy", default=None, help="record the operator over the window")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="seconds over which the sessions end (one batch a second; 0: all at the same instant)",
    )
    args = parser.parse_args()
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.modes]
    for callbacks in modes:
        r = asyncio.run(run(args.count, callbacks, args.timeout, args.py_spy, args.spread))
        cpu = f"{r['cpu_per_1000']:.2f} s CPU per 1,000 notices" if r["cpu_per_1000"] is not None else ""
        print(
            f"{r['mode']:>13}: {r['stopped']}/{args.count} Stopped; freshness p50 {r['p50']:.1f} s, "
            f"p99 {r['p99']:.1f} s, max {r['max']:.1f} s; {r['queries_per_s']:.2f} queries/s; "
            f"{r['http_429']} × 429; {r['notices']} notices (final answers {r['answers']}) {cpu}; "
            f"operator CPU over the window {r['cpu_s']:.1f} s (at the rate before the change "
            f"{r['baseline_cpu_s']:.1f} s"
            + (
                f"; the rest per 1,000 notices {r['notice_cpu_per_1000']:.2f} s)"
                if r["notice_cpu_per_1000"] is not None
                else ")"
            ),
            flush=True,
        )
        print(f"{'':>13}  Kubernetes requests per session over the window: {r['kube_requests_per_session']}")
        for stage, (p50, p99) in r["stages"].items():
            print(f"{'':>13}  {stage}: p50 {p50:.2f} s, p99 {p99:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
