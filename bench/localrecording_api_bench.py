"""`make bench`: the Kubernetes API cost of live LocalRecordings at steady state.

N LocalRecordings (default 20) pull an SRT test stream each (a small synthetic H.264 stream, one
ffmpeg publisher per recording) into the sandbox's recorder Pods (real agent + FFmpeg processes),
with the production poll interval (`LOCALRECORDING_POLL_INTERVAL` 5 s). Once every recording is
Recording and has stored a file, the sandbox Kubernetes API's request counters are reset and the
operator runs alone for `--window` seconds. Printed: requests per recording per minute, by verb and
resource, and a last JSON line `{count, window_s, requests_per_recording_per_min, by_request}`.

    .venv/bin/python bench/localrecording_api_bench.py --count 20 --window 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the LocalRecording body
from tests.support.localrecordings import S3_KEYS, recording  # noqa: E402

NS = "default"
OUTPUT = {"format": "mp4", "segmentDuration": "10s", "fileNameTemplate": "{recording}-{index}"}
LRECS = f"/apis/recording.mediaops.io/v1alpha1/namespaces/{NS}/localrecordings"
SOURCE = [
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=160x90:rate=10",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440",
]
ENCODE = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-g",
    "10",
    "-pix_fmt",
    "yuv420p",
]


class Publisher:
    """An ffmpeg SRT listener publishing the test stream, restarted whenever its caller goes away."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *SOURCE, "-t", "3600"]
            argv += [*ENCODE, "-c:a", "aac", "-b:a", "32k", "-f", "mpegts"]
            argv += [f"srt://127.0.0.1:{self.port}?mode=listener"]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def run(count: int, window_s: float, timeout_s: float) -> dict[str, Any]:
    publishers = [Publisher(free_port()) for _ in range(count)]
    env = {"LOCALRECORDING_POLL_INTERVAL": "5", "METRICS_PORT": "0"}
    try:
        with tempfile.TemporaryDirectory(prefix="localrecording-bench-") as tmp:
            async with Sandbox(
                Path(tmp), crd_dir=ROOT / "crds", with_operator=True, operator_env=env
            ) as sandbox:
                async with httpx.AsyncClient(base_url=sandbox.endpoints["kubernetes"], timeout=30) as kube:
                    secret = {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": "s3", "labels": {"recording.mediaops.io/use": "true"}},
                        "stringData": S3_KEYS,
                    }
                    await kube.post(f"/api/v1/namespaces/{NS}/secrets", json=secret)
                    for p in publishers:
                        p.ensure()
                    names = [f"bench-{i:03d}" for i in range(count)]
                    for name, p in zip(names, publishers, strict=True):
                        (
                            await kube.post(
                                LRECS, json=recording(name, sandbox.endpoints["s3"], p.port, output=OUTPUT)
                            )
                        ).raise_for_status()
                    deadline = time.monotonic() + timeout_s
                    while True:
                        for p in publishers:
                            p.ensure()
                        items = (await kube.get(LRECS)).json()["items"]
                        ready = [
                            o
                            for o in items
                            if (o.get("status") or {}).get("phase") == "Recording"
                            and ((o.get("status") or {}).get("files") or {}).get("count", 0) >= 1
                        ]
                        if len(ready) == count:
                            break
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"only {len(ready)}/{count} recording with a stored file")
                        await asyncio.sleep(2)
                    sandbox.kube.stats.reset()
                    started = time.monotonic()
                    while time.monotonic() - started < window_s:
                        for p in publishers:
                            p.ensure()
                        await asyncio.sleep(1)
                    elapsed = time.monotonic() - started
                    counts = sandbox.kube.stats.as_dict()
                    per = sum(counts.values()) / count / (elapsed / 60)
                    by = {request: round(n / count / (elapsed / 60), 2) for request, n in counts.items()}
                    return {
                        "count": count,
                        "window_s": round(elapsed, 1),
                        "requests_per_recording_per_min": round(per, 2),
                        "by_request": by,
                    }
    finally:
        for p in publishers:
            p.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.count, args.window, args.timeout))
    for request, n in result["by_request"].items():
        print(f"{request:50} {n:8.2f} per recording per minute")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
