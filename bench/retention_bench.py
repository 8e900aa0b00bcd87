"""Retention at scale: the API calls the retention schedule makes per hour for N RecordedFiles.

Starts the sandbox with the operator, creates N RecordedFiles (default 10,000) with `expiresAt`
spread over the next 30 days (provider-URL locations: no storage calls), waits until the operator
has registered them all, then:

1. steady state: counts every Kubernetes API request the operator makes on recordedfiles during a
   window (default 60 s) in which nothing is due, and extrapolates it to an hour;
2. due files: makes `--due` more files expire at once and counts the requests per expired file
   (the schedule's DELETE, then the finalizer's own writes) and how long the paced deletion took.

Prints one JSON object. `make bench` runs it with N=10000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
PATH = "/apis/recording.mediaops.io/v1alpha1/namespaces/default/recordedfiles"
OPERATOR_ENV = {"RECORDEDFILE_AUDIT_INTERVAL": "3600", "METRICS_PORT": "0"}


def _at(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(name: str, expires: float) -> dict[str, Any]:
    return {
        "apiVersion": "recording.mediaops.io/v1alpha1",
        "kind": "RecordedFile",
        "metadata": {"name": name, "labels": {"recording.mediaops.io/recording": "bench"}},
        "spec": {
            "recordingRef": {"kind": "CloudRecording", "name": "bench"},
            "location": {"url": f"https://files.example/{name}.mp4"},
            "format": "mp4",
            "expiresAt": _at(expires),
        },
    }


async def _create(client: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int = 32) -> None:
    queue = list(bodies)

    async def worker() -> None:
        while queue:
            body = queue.pop()
            response = await client.post(PATH, json=body)
            if response.status_code != 201:
                raise RuntimeError(
                    f"create {body['metadata']['name']}: {response.status_code} {response.text}"
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _until(check: Callable[[], Awaitable[bool]], interval_s: float) -> None:
    """Poll `check` every `interval_s` until it is true."""
    while True:
        if await check():
            return
        await asyncio.sleep(interval_s)


async def _count(client: httpx.AsyncClient, *, phase: str | None = None) -> int:
    items = (await client.get(PATH)).json()["items"]
    return sum(1 for i in items if phase is None or (i.get("status") or {}).get("phase") == phase)


async def _at_least(client: httpx.AsyncClient, n: int, phase: str) -> bool:
    return await _count(client, phase=phase) >= n


async def _at_most(client: httpx.AsyncClient, n: int) -> bool:
    return await _count(client) <= n


def _calls(sandbox: Sandbox) -> dict[str, int]:
    stats = sandbox.kube.stats
    return {
        verb: stats.count(verb=verb, group="recording.mediaops.io", plural="recordedfiles")
        for verb in ("get", "list", "watch", "create", "patch", "update", "delete")
    } | {"events": stats.count(verb="create", plural="events")}


async def run(count: int, window_s: float, due: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="retention-bench-") as tmp:
        async with Sandbox(
            Path(tmp), crd_dir=ROOT / "crds", operator_env=OPERATOR_ENV, with_operator=True, with_s3=False
        ) as sandbox:
            async with httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=30) as client:
                now = time.time()
                started = time.monotonic()
                bodies = [
                    _body(f"f{i:05d}", now + 3600 + random.uniform(0, 30 * 86400)) for i in range(count)
                ]
                await _create(client, bodies)
                created_s = time.monotonic() - started
                await _until(lambda: _at_least(client, count, "Available"), 2.0)
                registered_s = time.monotonic() - started
                await asyncio.sleep(2)

                sandbox.kube.stats.reset()
                await asyncio.sleep(window_s)
                steady = _calls(sandbox)
                steady_total = sum(steady.values())

                sandbox.kube.stats.reset()
                soon = time.time() + 5
                await _create(client, [_body(f"due{i:05d}", soon) for i in range(due)])
                await _until(lambda: _at_least(client, count + due, "Available"), 0.5)
                registering = _calls(sandbox)
                sandbox.kube.stats.reset()
                wait_start = time.monotonic()
                await _until(lambda: _at_most(client, count), 0.5)
                expired_s = time.monotonic() - wait_start
                expiring = _calls(sandbox)
                # Our own polling LISTs are not the operator's: count only what the operator did.
                per_file = (expiring["delete"] + expiring["patch"] + expiring["events"]) / due
                return {
                    "files": count,
                    "create_s": round(created_s, 1),
                    "all_registered_s": round(registered_s, 1),
                    "steady_window_s": window_s,
                    "steady_requests": steady,
                    "steady_requests_per_hour": round(steady_total * 3600 / window_s, 1),
                    "due_files": due,
                    "due_registration_requests": registering,
                    "expiry_requests": expiring,
                    "operator_requests_per_expired_file": round(per_file, 2),
                    "due_deleted_within_s": round(expired_s, 1),
                    "requests_per_hour_if_all_files_expired_within_that_hour": round(
                        steady_total * 3600 / window_s + per_file * count
                    ),
                }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="steady-state window (s)")
    parser.add_argument("--due", type=int, default=200, help="files made to expire at once")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.count, args.window, args.due)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
