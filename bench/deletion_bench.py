"""Deleting a recording with N recorded files (default 1,000) against the local S3 server.

Starts the sandbox (moto S3 server as its own process) with the operator, uploads N small objects,
creates a CloudRecording (state Stopped: no provider session) and N RecordedFiles owned by it,
waits until all are Available, then deletes the recording and measures the time until it is gone
(its finalizer deletes the RecordedFiles and waits for theirs, which delete the objects), the
Kubernetes requests the operator made, and checks that exactly the N objects were deleted (a
neighbour object under the same prefix survives). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import yaml

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
GROUP = "/apis/recording.mediaops.io/v1alpha1/namespaces/default"
SAMPLE = yaml.safe_load((ROOT / "manifests/samples/cloudrecording-mix.yaml").read_text())
SECRETS = list(yaml.safe_load_all((ROOT / "manifests/samples/agora-credentials.yaml").read_text()))
OPERATOR_ENV = {"METRICS_PORT": "0", "RECORDING_BACKOFF_BASE": "1", "RECORDING_BACKOFF_MAX": "10"}


async def _until(check: Callable[[], Awaitable[bool]], interval_s: float, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("bench step timed out")
        await asyncio.sleep(interval_s)


async def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="deletion-bench-") as tmp:
        async with Sandbox(
            Path(tmp), crd_dir=ROOT / "crds", operator_env=OPERATOR_ENV, with_operator=True
        ) as sb:
            s3 = boto3.client(
                "s3",
                endpoint_url=sb.endpoints["s3"],
                region_name="us-east-1",
                aws_access_key_id="sandbox-access-key",
                aws_secret_access_key="sandbox-secret-key",
            )
            prefix = "bench/big/"
            keys = [f"{prefix}f{i:05d}.mp4" for i in range(count)]
            for key in keys:
                s3.put_object(Bucket="recordings", Key=key, Body=b"x" * 4096)
            s3.put_object(Bucket="recordings", Key=f"{prefix}neighbour.mp4", Body=b"keep")
            async with httpx.AsyncClient(base_url=sb.endpoints["kubernetes"], timeout=30) as kube:
                for secret in SECRETS:
                    await kube.post("/api/v1/namespaces/default/secrets", json=secret)
                body = copy.deepcopy(SAMPLE)
                body["metadata"] = {"name": "big"}
                body["spec"]["state"] = "Stopped"
                body["spec"]["storage"]["prefix"] = ["bench", "big"]
                created = (await kube.post(f"{GROUP}/cloudrecordings", json=body)).json()
                owner = {
                    "apiVersion": "recording.mediaops.io/v1alpha1",
                    "kind": "CloudRecording",
                    "name": "big",
                    "uid": created["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
                queue = list(enumerate(keys))

                async def create() -> None:
                    while queue:
                        i, key = queue.pop()
                        file = {
                            "apiVersion": "recording.mediaops.io/v1alpha1",
                            "kind": "RecordedFile",
                            "metadata": {
                                "name": f"big-{i:05d}",
                                "labels": {"recording.mediaops.io/recording": "big"},
                                "finalizers": ["recording.mediaops.io/cleanup"],
                                "ownerReferences": [owner],
                            },
                            "spec": {
                                "recordingRef": {"kind": "CloudRecording", "name": "big"},
                                "location": {"vendor": "s3", "bucket": "recordings", "key": key},
                                "credentialsSecretRef": {"name": "recordings-s3"},
                                "format": "mp4",
                            },
                        }
                        response = await kube.post(f"{GROUP}/recordedfiles", json=file)
                        if response.status_code != 201:
                            raise RuntimeError(response.text)

                await asyncio.gather(*(create() for _ in range(16)))

                async def all_available() -> bool:
                    items = (await kube.get(f"{GROUP}/recordedfiles")).json()["items"]
                    return (
                        sum(1 for i in items if (i.get("status") or {}).get("phase") == "Available") >= count
                    )

                await _until(all_available, 1.0, 600)
                await asyncio.sleep(2)
                sb.kube.stats.reset()
                started = time.monotonic()
                await kube.delete(f"{GROUP}/cloudrecordings/big")

                async def gone() -> bool:
                    return (await kube.get(f"{GROUP}/cloudrecordings/big")).status_code == 404

                await _until(gone, 0.2, 900)
                elapsed = time.monotonic() - started
                stats = sb.kube.stats
                left = {
                    o["Key"]
                    for o in s3.list_objects_v2(Bucket="recordings", Prefix=prefix).get("Contents", [])
                }
                return {
                    "files": count,
                    "delete_to_gone_s": round(elapsed, 1),
                    "files_per_s": round(count / elapsed, 1),
                    "requests": {
                        "recordedfiles": {
                            verb: stats.count(verb=verb, plural="recordedfiles")
                            for verb in ("list", "delete", "patch")
                        },
                        "cloudrecordings": {
                            verb: stats.count(verb=verb, plural="cloudrecordings")
                            for verb in ("get", "patch")
                        },
                        "events": stats.count(verb="create", plural="events"),
                    },
                    "objects_left_under_prefix": sorted(left),
                    "only_listed_objects_deleted": left == {f"{prefix}neighbour.mp4"},
                }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures as JSON (exit 1 if anything but the listed objects went)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.count))
    print(json.dumps(result, indent=2))
    return 0 if result["only_listed_objects_deleted"] else 1


if __name__ == "__main__":
    sys.exit(main())
