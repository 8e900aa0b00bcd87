"""`make bench` (part 2): N CloudTranscoders created at once against the sandbox.

On a fresh sandbox with the real operator, this creates N CloudTranscoder resources concurrently
(each its own instanceId and input channel), follows a watch until every one has a `taskId` in
status (builderTokens + create answered and persisted), and prints: seconds until all have a task,
creations per second, create→taskId p50/p99, Kubernetes writes per CR, provider calls per CR and
the operator's peak RSS. The query timer is put after the measured window (production interval),
so the figures are those of the creation path alone.

    .venv/bin/python bench/cloudtranscoder_bench.py --count 200

With `--qps-limit Q` the Agora emulator, in a process of its own, enforces Q Cloud Transcoder
requests/s per account (Agora's documented limit is 10,
https://docs.agora.io/en/cloud-transcoding/overview/quota-limits), the operator's budget is set to
Q, and the run is compared with the rate floor: the provider calls made (builderTokens + create
per transcoder) at Q per second. The 429s answered are printed too.

    .venv/bin/python bench/cloudtranscoder_bench.py --count 1000 --qps-limit 10 --timeout 900
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
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
CTS = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/cloudtranscoders"
SAMPLE = yaml.safe_load((ROOT / "manifests/samples/cloudtranscoder.yaml").read_text())
SECRETS = list(yaml.safe_load_all((ROOT / "manifests/samples/agora-credentials.yaml").read_text()))
OPERATOR_ENV = {
    "CLOUDTRANSCODER_QUERY_INTERVAL": "120",
    "CLOUDTRANSCODER_TICK": "120",
    "AGORA_RETRY_SCALE": "1",
    # The emulator enforces no limit here: the operator's request budget is off too.
    "AGORA_TRANSCODER_QPS": "0",
}


def _body(i: int) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["metadata"] = {"name": f"bench-{i:05d}"}
    for key in ("audioInputs", "videoInputs"):
        for entry in body["spec"][key]:
            entry["rtc"]["rtcChannel"] = f"bench{i:05d}"
    return body


async def _watch(url: str, expected: int, seen: dict[str, float], done: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        async with client.stream("GET", CTS, params={"watch": "true", "resourceVersion": "0"}) as stream:
            async for line in stream.aiter_lines():
                if not line:
                    continue
                obj = json.loads(line).get("object", {})
                name = obj.get("metadata", {}).get("name", "")
                if obj.get("status", {}).get("taskId") and name not in seen:
                    seen[name] = time.monotonic()
                    if len(seen) >= expected:
                        done.set()
                        return


async def run(count: int, timeout_s: float, qps_limit: float | None = None) -> dict[str, Any]:
    env = dict(OPERATOR_ENV)
    if qps_limit is not None:
        env["AGORA_TRANSCODER_QPS"] = f"{qps_limit:g}"
    with tempfile.TemporaryDirectory(prefix="transcoder-bench-") as tmp:
        async with Sandbox(
            Path(tmp),
            crd_dir=ROOT / "crds",
            operator_env=env,
            agora_options={"transcoder_qps_limit": qps_limit} if qps_limit is not None else None,
            agora_process=qps_limit is not None,
        ) as sandbox:
            async with (
                httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=30) as kube,
                httpx.AsyncClient(base_url=sandbox.endpoints["agora"], timeout=30) as agora,
            ):
                for secret in SECRETS:
                    (await kube.post("/api/v1/namespaces/default/secrets", json=secret)).raise_for_status()
                operator = sandbox.start_operator()
                process = psutil.Process(operator.pid)
                await asyncio.sleep(2.0)  # start-up is not measured
                sandbox.kube.stats.reset()
                await agora.delete("/_emulator/requests")  # the log and the stats
                seen: dict[str, float] = {}
                done = asyncio.Event()
                watcher = asyncio.create_task(_watch(sandbox.endpoints["kubernetes"], count, seen, done))
                await asyncio.sleep(0.2)
                created: dict[str, float] = {}
                limit = asyncio.Semaphore(64)

                async def create(i: int) -> None:
                    async with limit:
                        body = _body(i)
                        created[body["metadata"]["name"]] = time.monotonic()
                        (await kube.post(CTS, json=body)).raise_for_status()

                start = time.monotonic()
                await asyncio.gather(*(create(i) for i in range(count)))
                peak = 0
                while not done.is_set() and time.monotonic() < start + timeout_s:
                    peak = max(peak, process.memory_info().rss)
                    await asyncio.sleep(0.1)
                elapsed = time.monotonic() - start
                await asyncio.sleep(1.0)  # trailing writes (diff-base) land before counting
                peak = max(peak, process.memory_info().rss)
                watcher.cancel()
                if len(seen) < count:
                    print(f"only {len(seen)}/{count} got a task within {timeout_s} s", file=sys.stderr)
                latencies = sorted(seen[n] - created[n] for n in seen)
                stats = sandbox.kube.stats
                tasks = (await agora.get("/_emulator/transcoder/tasks")).json()["tasks"]
                live = [t for t in tasks if not t["stopped"]]
                agora_stats = (await agora.get("/_emulator/stats")).json()
                result = {
                    "count": count,
                    "all_s": elapsed,
                    "rate": len(seen) / elapsed if elapsed else float("nan"),
                    "p50": statistics.median(latencies) if latencies else float("nan"),
                    "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                    if latencies
                    else float("nan"),
                    "patch": stats.count(
                        verb="patch", group="recording.mediaops.io", plural="cloudtranscoders"
                    )
                    / count,
                    "events": stats.count(verb="create", plural="events") / count,
                    "calls": {k: v / count for k, v in agora_stats["endpoints"].items()},
                    "http_429": agora_stats["httpStatus"].get("429", 0),
                    "floor_s": sum(agora_stats["endpoints"].values()) / qps_limit if qps_limit else None,
                    "tasks": len(live),
                    "rss_mb": peak / 2**20,
                }
                sandbox.stop_operator()
                return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--count", type=int, default=200, help="CloudTranscoders to create at once (default 200)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every task")
    parser.add_argument(
        "--qps-limit",
        type=float,
        default=None,
        help="Cloud Transcoder requests/s per account the emulator enforces",
    )
    args = parser.parse_args()
    r = await run(args.count, args.timeout, args.qps_limit)
    print("\nCloudTranscoder creation throughput (recording-operator against the sandbox)")
    rows = [
        ("CRs", f"{r['count']}"),
        ("all with a taskId (s)", f"{r['all_s']:.2f}"),
        ("creations per second", f"{r['rate']:.1f}"),
        ("create→taskId p50 (s)", f"{r['p50']:.2f}"),
        ("create→taskId p99 (s)", f"{r['p99']:.2f}"),
        ("CR PATCHes per CR", f"{r['patch']:.2f}"),
        ("Events per CR", f"{r['events']:.2f}"),
        ("provider calls per CR", ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["calls"].items())) or "none"),
        ("tasks live at Agora", f"{r['tasks']}"),
        ("operator peak RSS (MB)", f"{r['rss_mb']:.0f}"),
        ("HTTP 429 received", f"{r['http_429']}"),
    ]
    if r["floor_s"]:
        rows.append(("rate floor (s), ratio", f"{r['floor_s']:.1f}, {r['all_s'] / r['floor_s']:.3f}"))
    for name, cell in rows:
        print(f"{name:26}{cell:>40}")
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))


if __name__ == "__main__":
    asyncio.run(main())
