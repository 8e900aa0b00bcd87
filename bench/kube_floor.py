"""Perf floor of the Kubernetes API emulator: a no-op kopf operator handling N custom resources.

The emulator and the operator run in one process (one event loop). The operator has a create
handler that returns a status patch and a delete handler (so kopf adds its finalizer); the script
creates N objects over HTTP, waits until all of them carry the handler's status, and prints the
elapsed time, PATCH requests per object and RSS.

    .venv/bin/python bench/kube_floor.py --count 1000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import psutil

from recording_sandbox.kube import KubeEmulator

GROUP, VERSION, PLURAL = "bench.sandbox.io", "v1", "floors"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "floor", "kind": "Floor"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"value": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def build_registry() -> kopf.OperatorRegistry:
    """A registry with a no-op create handler returning a status patch, and a no-op delete handler."""
    registry = kopf.OperatorRegistry()

    @kopf.on.create(GROUP, VERSION, PLURAL, id="created", registry=registry)
    async def created(**_: Any) -> dict[str, Any]:
        return {"handled": True}

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="deleted", registry=registry)
    async def deleted(**_: Any) -> None:
        """Makes kopf keep its finalizer on every object (one JSON-patch with a ``test`` op)."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 600
        settings.persistence.finalizer = "bench.sandbox.io/finalizer"

    return registry


async def create_objects(url: str, count: int, concurrency: int = 32) -> None:
    """POST ``count`` objects with bounded concurrency."""
    path = f"{url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(index: int) -> None:
            async with semaphore:
                body = {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Floor",
                    "metadata": {"name": f"floor-{index:05d}"},
                    "spec": {"value": index},
                }
                async with session.post(path, json=body) as response:
                    response.raise_for_status()

        await asyncio.gather(*(one(index) for index in range(count)))


def handled(emulator: KubeEmulator) -> int:
    """How many objects carry the create handler's status (read in place, without copies)."""
    resource_type = emulator.registry.lookup(GROUP, VERSION, PLURAL)
    assert resource_type is not None
    items, _, _ = emulator.store.select(resource_type, "default")
    return sum(1 for obj in items if (obj.get("status") or {}).get("created", {}).get("handled"))


async def run(count: int, timeout: float) -> dict[str, float]:
    """Run the benchmark once; return the figures."""
    emulator = KubeEmulator()
    emulator.register_crd(CRD)
    url = await emulator.start()
    kubeconfig = emulator.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    logging.basicConfig(level=getattr(logging, os.environ.get("BENCH_LOG", "WARNING")))
    stop_flag: asyncio.Event = asyncio.Event()
    ready_flag: asyncio.Event = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(),
            clusterwide=True,
            standalone=True,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    )
    try:
        await asyncio.wait_for(ready_flag.wait(), 30)
        await asyncio.sleep(0.5)  # let the watch streams start.
        emulator.stats.reset()
        started = time.monotonic()
        await create_objects(url, count)
        deadline = started + timeout
        while handled(emulator) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {handled(emulator)} of {count} handled in {timeout} s")
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        patches = emulator.stats.count(verb="patch", group=GROUP, plural=PLURAL)
    finally:
        stop_flag.set()
        await asyncio.wait_for(operator, 30)
        await emulator.stop()
    rss = psutil.Process().memory_info().rss / 2**20
    return {"count": count, "seconds": elapsed, "patches_per_object": patches / count, "rss_mb": rss}


def main() -> None:
    """Parse arguments, run once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="number of custom resources (default 1000)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args()
    figures = asyncio.run(run(args.count, args.timeout))
    print(
        f"objects={figures['count']:.0f} seconds={figures['seconds']:.2f} "
        f"patches_per_object={figures['patches_per_object']:.2f} rss_mb={figures['rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
