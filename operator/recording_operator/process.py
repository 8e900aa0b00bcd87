"""The operator process: kopf with every kind's handlers (cluster-wide or in chosen namespaces), logging,
the metrics server, the health endpoints and the provider callback receiver (`CALLBACKS_PORT`).
`recording-operator run` calls `run_operator`."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a successful API server check counts for /readyz (probes every few seconds cost one GET).
API_CHECK_TTL_S = 5.0


async def run_operator(
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    priority: int = 0,
    peering_name: str = "default",
    liveness_endpoint: str | None = None,
    metrics_port: int = 0,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run kopf until `stop_flag` is set or the process is signalled.

    Args:
        namespaces: watch only these namespaces (globs allowed); empty = the whole cluster.
        standalone: no peering (one replica). With peering, replicas need unique `priority`.
        peering_name: the kopf peering object the replicas share; one per shard when several
            operator Deployments each own a shard (`controllers/_kit/shard.py`).
        liveness_endpoint: e.g. `http://0.0.0.0:8081/healthz`: serves `/healthz` (the event loop
            answers) and `/readyz` (`readiness`) on that address.
        metrics_port: serve Prometheus metrics on this port at `/metrics` (0: not served).

    Raises:
        OSError: the callback receiver's port cannot be bound or its secrets/key files read.
    """
    import kopf

    from recording_operator import controllers  # noqa: F401  (registers the handlers)
    from recording_operator.callbacks.registration import keep_webhook
    from recording_operator.callbacks.wiring import build_receiver, webhook_target
    from recording_operator.controllers._kit.metrics import start_metrics_server
    from recording_operator.controllers._kit.runtime import Runtime
    from recording_operator.settings import Settings

    settings = Settings.from_env()
    # The receiver and the handlers share one Runtime (Kubernetes and provider clients) via kopf's memo.
    runtime = Runtime(settings)
    receiver = build_receiver(runtime) if settings.callbacks_port else None
    started = ready_flag or asyncio.Event()
    stop_health = (
        await serve_health(liveness_endpoint, started, runtime, receiver) if liveness_endpoint else None
    )
    stop_metrics = start_metrics_server(metrics_port)
    target = webhook_target(settings) if receiver is not None else None
    keeper: asyncio.Task[None] | None = None
    try:
        if receiver is not None:
            await receiver.start()
        if target is not None:
            keeper = asyncio.create_task(keep_webhook(runtime, target), name="realtimekit-webhook")
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=standalone,
            priority=priority,
            # kopf makes peering mandatory once a name is given: only with peering.
            peering_name=None if standalone else peering_name,
            stop_flag=stop_flag,
            ready_flag=started,
            memo=kopf.Memo(runtime=runtime),
        )
    finally:
        if keeper is not None:
            keeper.cancel()
        if receiver is not None:
            await receiver.stop()
        if stop_metrics is not None:
            stop_metrics()
        if stop_health is not None:
            await stop_health()


async def readiness(
    started: asyncio.Event, runtime: Any, cache: dict[str, float], receiver: Any = None
) -> tuple[bool, dict[str, str]]:
    """Whether the operator can do its work: `(ready, {check: "ok" | why not})`.

    Checks: `started` — kopf ran the startup handlers and launched its watches; `kubernetes` — the
    API server answered `GET /version` within the last `API_CHECK_TTL_S` seconds (`cache` keeps the
    time of the last success).
    """
    checks: dict[str, str] = {"started": "ok" if started.is_set() else "kopf has not started its watches yet"}
    if receiver is not None:
        checks["callbacks"] = "ok" if receiver.listening else "the callback receiver is not listening"
    if time.monotonic() - cache.get("api_ok", -1e9) <= API_CHECK_TTL_S:
        checks["kubernetes"] = "ok"
    else:
        try:
            version = await runtime.kube.get_object("/version")
        except Exception as exc:  # not logged in yet, or any API failure: not ready, with the reason
            checks["kubernetes"] = f"{type(exc).__name__}: {exc}"
        else:
            if version is None:
                checks["kubernetes"] = "GET /version answered 404"
            else:
                cache["api_ok"] = time.monotonic()
                checks["kubernetes"] = "ok"
    return all(v == "ok" for v in checks.values()), checks


async def serve_health(
    endpoint: str, started: asyncio.Event, runtime: Any, receiver: Any = None
) -> Callable[[], Awaitable[None]]:
    """Serve `/healthz` (200 while the event loop runs) and `/readyz` (200 when `readiness` passes,
    else 503; the body lists each check) on the host and port of `endpoint`.

    Returns a coroutine function that stops the server.

    Raises:
        OSError: the address cannot be bound.
    """
    from aiohttp import web

    parts = urllib.parse.urlsplit(endpoint)
    cache: dict[str, float] = {}

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready, checks = await readiness(started, runtime, cache, receiver)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, parts.hostname or "0.0.0.0", parts.port or 8081)
    await site.start()
    log.info("serving /healthz and /readyz on %s:%s", parts.hostname or "0.0.0.0", parts.port or 8081)
    return runner.cleanup


def configure_logging(verbose: bool) -> None:
    """Logs on stderr in `LOG_FORMAT` (text | json) at `LOG_LEVEL` (default INFO; `--verbose`: DEBUG),
    every line about an object naming its kind, namespace and name (`controllers._kit.logging`).

    Raises:
        ValueError: `LOG_FORMAT` or `LOG_LEVEL` has an unknown value.
    """
    import os

    from recording_operator.controllers._kit import logging as oplogging

    level = logging.DEBUG if verbose else oplogging.parse_level(os.environ.get("LOG_LEVEL"))
    oplogging.configure(level=level, fmt=oplogging.parse_format(os.environ.get("LOG_FORMAT")))
