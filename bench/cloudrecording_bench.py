"""`make bench`: N CloudRecordings created at once against the sandbox, beside a no-op kopf floor.

For the real operator and for a no-op kopf operator (bench/noop_operator.py) on a fresh sandbox
each, this creates N CRs concurrently, follows a watch until every one reports phase Recording,
and prints: seconds until all are Recording, create→Recording p50/p99, Kubernetes writes per CR
(by kind), provider calls per CR, and the operator's peak RSS.

    .venv/bin/python bench/cloudrecording_bench.py --count 200
    .venv/bin/python bench/cloudrecording_bench.py --count 1000 --skip-floor
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
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
#: Production query interval; the first timer tick (which queries each session once and writes
#: providerStatus/files when they changed) is put after the measured window, so the figures are
#: those of the creation path alone.
OPERATOR_ENV = {"CLOUDRECORDING_QUERY_INTERVAL": "60", "CLOUDRECORDING_TICK": "120", "AGORA_RETRY_SCALE": "1"}


@dataclass
class Result:
    label: str
    count: int
    all_recording_s: float
    p50_s: float
    p99_s: float
    writes: dict[str, float]
    provider_calls: dict[str, float]
    rss_mb: float


def _body(i: int) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["metadata"] = {"name": f"bench-{i:05d}"}
    body["spec"]["agora"]["channel"] = f"bench{i:05d}"
    return body


async def _watch_recording(url: str, expected: int, seen: dict[str, float], done: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        async with client.stream("GET", CRS, params={"watch": "true", "resourceVersion": "0"}) as stream:
            async for line in stream.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object", {})
                name = obj.get("metadata", {}).get("name", "")
                if obj.get("status", {}).get("phase") == "Recording" and name not in seen:
                    seen[name] = time.monotonic()
                    if len(seen) >= expected:
                        done.set()
                        return


async def run_one(label: str, count: int, command: list[str] | None, timeout_s: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        async with Sandbox(Path(tmp), crd_dir=ROOT / "crds", operator_env=OPERATOR_ENV) as sandbox:
            async with httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=30) as kube:
                for secret in SECRETS:
                    (await kube.post("/api/v1/namespaces/default/secrets", json=secret)).raise_for_status()
                operator = sandbox.start_operator(command=command)
                process = psutil.Process(operator.pid)
                await asyncio.sleep(2.0)  # operator start-up (imports, login, initial list) is not measured
                sandbox.kube.stats.reset()
                sandbox.agora.endpoint_counts.clear()
                seen: dict[str, float] = {}
                done = asyncio.Event()
                watcher = asyncio.create_task(
                    _watch_recording(sandbox.endpoints["kubernetes"], count, seen, done)
                )
                await asyncio.sleep(0.2)
                created: dict[str, float] = {}
                limit = asyncio.Semaphore(64)

                async def create(i: int) -> None:
                    async with limit:
                        body = _body(i)
                        created[body["metadata"]["name"]] = time.monotonic()
                        (await kube.post(CRS, json=body)).raise_for_status()

                start = time.monotonic()
                await asyncio.gather(*(create(i) for i in range(count)))
                peak_rss = 0
                deadline = start + timeout_s
                while not done.is_set() and time.monotonic() < deadline:
                    peak_rss = max(peak_rss, process.memory_info().rss)
                    await asyncio.sleep(0.1)
                elapsed = time.monotonic() - start
                await asyncio.sleep(1.0)  # let trailing writes (diff-base) land before counting
                peak_rss = max(peak_rss, process.memory_info().rss)
                watcher.cancel()
                if len(seen) < count:
                    print(
                        f"{label}: only {len(seen)}/{count} reached Recording within {timeout_s} s",
                        file=sys.stderr,
                    )
                latencies = sorted(seen[n] - created[n] for n in seen)
                stats = sandbox.kube.stats
                writes = {
                    verb: stats.count(verb=verb, group="recording.mediaops.io", plural="cloudrecordings")
                    / count
                    for verb in ("patch", "update")
                }
                writes["events"] = stats.count(verb="create", plural="events") / count
                calls = {k: v / count for k, v in sandbox.agora.endpoint_counts.items()}
                sandbox.stop_operator()
                return Result(
                    label,
                    count,
                    elapsed,
                    statistics.median(latencies) if latencies else float("nan"),
                    latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                    if latencies
                    else float("nan"),
                    writes,
                    calls,
                    peak_rss / 2**20,
                )


def _print(results: list[Result]) -> None:
    print(f"\n{'':26}" + "".join(f"{r.label:>34}" for r in results))
    rows = [
        ("CRs", lambda r: f"{r.count}"),
        ("all Recording (s)", lambda r: f"{r.all_recording_s:.2f}"),
        ("create→Recording p50 (s)", lambda r: f"{r.p50_s:.2f}"),
        ("create→Recording p99 (s)", lambda r: f"{r.p99_s:.2f}"),
        ("CR PATCHes per CR", lambda r: f"{r.writes.get('patch', 0):.2f}"),
        ("CR PUTs per CR", lambda r: f"{r.writes.get('update', 0):.2f}"),
        ("Events per CR", lambda r: f"{r.writes.get('events', 0):.2f}"),
        (
            "provider calls per CR",
            lambda r: ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.provider_calls.items())) or "none",
        ),
        ("operator peak RSS (MB)", lambda r: f"{r.rss_mb:.0f}"),
    ]
    for name, cell in rows:
        print(f"{name:26}" + "".join(f"{cell(r):>34}" for r in results))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--count", type=int, default=200, help="CloudRecordings to create at once (default 200)"
    )
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the no-op kopf floor")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for all to be Recording"
    )
    args = parser.parse_args()
    results = []
    if not args.skip_floor:
        kopf = [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "-A",
            str(ROOT / "bench/noop_operator.py"),
        ]
        results.append(await run_one("no-op kopf floor", args.count, kopf, args.timeout))
    results.append(await run_one("recording-operator", args.count, None, args.timeout))
    _print(results)


if __name__ == "__main__":
    asyncio.run(main())
