"""`make bench`: N CloudRecordings created at once against the sandbox, beside a no-op kopf floor.

For the real operator and for a no-op kopf operator (bench/noop_operator.py) on a fresh sandbox
each, this creates N CRs concurrently, follows a watch until every one reports phase Recording,
and prints: seconds until all are Recording, create→Recording p50/p99, Kubernetes writes per CR
(by kind), provider calls per CR, and the operator's peak RSS.

    .venv/bin/python bench/cloudrecording_bench.py --count 200
    .venv/bin/python bench/cloudrecording_bench.py --count 1000 --skip-floor

With `--qps-limit Q` the Agora emulator enforces Q requests/s per App ID (Agora's documented
limit is 10, https://docs.agora.io/en/cloud-recording/rest-api/overview), the operator runs with
its production timer (tick 10 s, query interval 60 s) and its budget set to Q, and the floor is the
rate floor 2·N/Q (acquire + start per recording) instead of the no-op kopf operator. `--steady S`
then keeps measuring for S seconds once all are Recording: provider queries/s, CloudRecording
writes per minute and the operator's `recording_operator_status_age_seconds` p99.

With `--qps-limit` the Agora emulator runs in a process of its own (`--agora-in-process` puts it
back in the bench's event loop, beside the Kubernetes emulator: a stall of that loop then stamps
requests that arrived over a second within one instant, and the emulator answers 429s the
operator's pacing did not cause).

`--image-like` runs the operator as in the operator image (images/operator/Dockerfile): without the
test-only `kubernetes` client on its path (the image installs the wheel alone; kopf imports that
client whenever it is installed, which costs the test venv's operator about 40 MB of RSS) and with
the image's `MALLOC_ARENA_MAX` (`IMAGE_ENV`).

`--restart` then SIGKILLs the operator and starts it again: seconds until every session was queried
again (the emulator's request log), the peak Agora requests in any 1 s meanwhile (≤ the limit),
and the 429s answered (`restart_*` in the JSON line).

The last line printed is one JSON object: count, qps_limit, all_recording_s, floor_s, ratio,
http_429, rss_mb, and with `--steady` steady_s, steady_provider_qps, steady_kube_writes_per_min,
status_age_p99_s.

    .venv/bin/python bench/cloudrecording_bench.py --count 1000 --qps-limit 10 --steady 60
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
#: What images/operator/Dockerfile sets for the operator process besides its PATH (`--image-like`).
IMAGE_ENV = {"MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


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
    http_429: int = 0
    steady: dict[str, float | None] | None = None


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


async def _create(kube: httpx.AsyncClient, body: dict[str, Any], attempts: int = 5) -> None:
    """POST `body`; a connection the emulator dropped or did not accept in time (a loaded machine) is
    tried again, and 409 then means an earlier attempt created it."""
    for attempt in range(attempts):
        try:
            response = await kube.post(CRS, json=body)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1.0 + attempt)
            continue
        if response.status_code == 409 and attempt > 0:
            return
        response.raise_for_status()
        return


def _without_test_packages() -> Path:
    """A directory whose `kubernetes` package raises ImportError (put first on the operator's path)."""
    stub = Path(tempfile.mkdtemp(prefix="image-like-")) / "kubernetes"
    stub.mkdir()
    (stub / "__init__.py").write_text('raise ImportError("not in the operator image")\n')
    return stub.parent


def _cr_writes(stats: Any) -> int:
    """CloudRecording writes (create, update, patch, delete; status included) the kube emulator served."""
    return sum(
        stats.count(verb=verb, group="recording.mediaops.io", plural="cloudrecordings")
        for verb in ("create", "update", "patch", "delete")
    )


async def _status_age_p99(metrics_url: str | None) -> float | None:
    if not metrics_url:
        return None
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(metrics_url)).text
    for line in text.splitlines():
        if line.startswith('recording_operator_status_age_seconds{kind="CloudRecording",quantile="0.99"}'):
            return float(line.rsplit(" ", 1)[1])
    return None


async def run_one(
    label: str,
    count: int,
    command: list[str] | None,
    timeout_s: float,
    qps_limit: float | None = None,
    steady_s: float = 0.0,
    image_like: bool = False,
    agora_in_process: bool = False,
    restart: bool = False,
) -> Result:
    # Without a provider limit the operator's budget is off too (the no-op kopf floor has none).
    env = {**OPERATOR_ENV, "AGORA_RECORDING_QPS": "0"}
    if image_like:
        env.update({**IMAGE_ENV, "PYTHONPATH": str(_without_test_packages())})
    if qps_limit is not None:
        env.update({"CLOUDRECORDING_TICK": "10", "AGORA_RECORDING_QPS": f"{qps_limit:g}"})
    agora_options = {"qps_limit": qps_limit} if qps_limit is not None else {}
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        async with Sandbox(
            Path(tmp),
            crd_dir=ROOT / "crds",
            operator_env=env,
            agora_options=agora_options,
            agora_process=qps_limit is not None and not agora_in_process,
        ) as sandbox:
            async with (
                httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=30) as kube,
                httpx.AsyncClient(base_url=sandbox.endpoints["agora"], timeout=30) as agora,
            ):

                async def agora_stats() -> tuple[dict[str, int], dict[int, int]]:
                    stats = (await agora.get("/_emulator/stats")).json()
                    return stats["endpoints"], {int(k): v for k, v in stats["httpStatus"].items()}

                for secret in SECRETS:
                    (await kube.post("/api/v1/namespaces/default/secrets", json=secret)).raise_for_status()
                operator = sandbox.start_operator(command=command)
                process = psutil.Process(operator.pid)
                await asyncio.sleep(2.0)  # operator start-up (imports, login, initial list) is not measured
                sandbox.kube.stats.reset()
                await agora.delete("/_emulator/requests")  # the log and the stats
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
                        await _create(kube, body)

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
                endpoints, statuses = await agora_stats()
                calls = {k: v / count for k, v in endpoints.items()}
                http_429 = statuses.get(429, 0)
                steady = None
                if steady_s > 0:
                    queries_before = endpoints.get("query", 0)
                    total_before = sum(endpoints.values())
                    writes_before = _cr_writes(stats)
                    await asyncio.sleep(steady_s)
                    peak_rss = max(peak_rss, process.memory_info().rss)
                    writes_after = _cr_writes(stats)
                    endpoints, statuses = await agora_stats()
                    steady = {
                        "steady_s": steady_s,
                        "steady_provider_qps": (sum(endpoints.values()) - total_before) / steady_s,
                        "steady_queries_per_s": (endpoints.get("query", 0) - queries_before) / steady_s,
                        "steady_kube_writes_per_min": (writes_after - writes_before) * 60 / steady_s,
                        "status_age_p99_s": await _status_age_p99(
                            f"http://{sandbox.host}:{sandbox.operator_environment()['METRICS_PORT']}/metrics"
                        ),
                    }
                    http_429 = statuses.get(429, 0)
                if restart:
                    steady = {**(steady or {}), **await _restart(sandbox, agora, count, timeout_s)}
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
                    http_429,
                    steady,
                )


def _peak_per_second(times_ms: list[int]) -> int:
    """The most requests in any 1 s span (sliding) of these instants."""
    times_ms = sorted(times_ms)
    peak = start = 0
    for end, t in enumerate(times_ms):
        while times_ms[start] <= t - 1000:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


async def _restart(
    sandbox: Sandbox, agora: httpx.AsyncClient, count: int, timeout_s: float
) -> dict[str, float | None]:
    """SIGKILL the operator and start it again: seconds until every session was queried again
    (from the emulator's request log), the peak requests in any 1 s to Agora meanwhile, and the
    429s answered."""
    await agora.delete("/_emulator/requests")
    killed_ms = time.time() * 1000
    started = time.monotonic()
    sandbox.stop_operator(kill=True)
    sandbox.start_operator(log_name="operator-restarted.log")
    requests: list[dict[str, Any]] = []
    observed: set[str] = set()
    while len(observed) < count and time.monotonic() - started < timeout_s:
        await asyncio.sleep(1.0)
        requests = (await agora.get("/_emulator/requests", params={"limit": 100_000})).json()["requests"]
        observed = {
            r["cname"] for r in requests if r["endpoint"] == "query" and r["httpStatus"] == 200 and r["cname"]
        }
    elapsed = time.monotonic() - started
    after = [r for r in requests if r["time"] >= killed_ms]
    return {
        "restart_all_observed_s": elapsed if len(observed) >= count else None,
        "restart_observed": float(len(observed)),
        "restart_peak_provider_qps": float(_peak_per_second([r["time"] for r in after])),
        "restart_http_429": float(sum(1 for r in after if r["httpStatus"] == 429)),
    }


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
        ("HTTP 429 received", lambda r: f"{r.http_429}"),
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
    parser.add_argument(
        "--qps-limit", type=float, default=None, help="requests/s per App ID the Agora emulator enforces"
    )
    parser.add_argument(
        "--steady", type=float, default=0.0, help="seconds measured after all are Recording (steady state)"
    )
    parser.add_argument(
        "--image-like",
        action="store_true",
        help="operator without the test-only kubernetes client (as shipped)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="with --qps-limit: then SIGKILL and restart the operator; time until every session is queried again",
    )
    parser.add_argument(
        "--agora-in-process",
        action="store_true",
        help="with --qps-limit: the Agora emulator in the bench's event loop, not in its own process",
    )
    args = parser.parse_args()
    results = []
    if args.qps_limit is not None:
        floor = 2 * args.count / args.qps_limit
        timeout = max(args.timeout, 3 * floor)
        r = await run_one(
            "recording-operator",
            args.count,
            None,
            timeout,
            args.qps_limit,
            args.steady,
            args.image_like,
            args.agora_in_process,
            args.restart,
        )
        _print([r])
        line = {
            "count": r.count,
            "qps_limit": args.qps_limit,
            "image_like": args.image_like,
            "agora_process": not args.agora_in_process,
            "all_recording_s": round(r.all_recording_s, 2),
            "floor_s": round(floor, 2),
            "ratio": round(r.all_recording_s / floor, 3),
            "http_429": r.http_429,
            "rss_mb": round(r.rss_mb, 1),
            **({k: (round(v, 3) if isinstance(v, float) else v) for k, v in (r.steady or {}).items()}),
        }
        print(json.dumps(line))
        return
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
    results.append(
        await run_one("recording-operator", args.count, None, args.timeout, image_like=args.image_like)
    )
    _print(results)
    ours, floor_result = results[-1], results[0] if len(results) > 1 else None
    print(
        json.dumps(
            {
                "count": ours.count,
                "qps_limit": None,
                "image_like": args.image_like,
                "all_recording_s": round(ours.all_recording_s, 2),
                "floor_s": round(floor_result.all_recording_s, 2) if floor_result else None,
                "http_429": ours.http_429,
                "rss_mb": round(ours.rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
