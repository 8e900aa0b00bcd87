"""The operator process: kopf with every kind's handlers (cluster-wide or in chosen namespaces), logging,
the metrics server and the provider callback receiver (`CALLBACKS_PORT`). `recording-operator run`
calls `run_operator`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence


async def run_operator(
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    priority: int = 0,
    liveness_endpoint: str | None = None,
    metrics_port: int = 0,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run kopf until `stop_flag` is set or the process is signalled.

    Args:
        namespaces: watch only these namespaces (globs allowed); empty = the whole cluster.
        standalone: no peering (one replica). With peering, replicas need unique `priority`.
        liveness_endpoint: e.g. `http://0.0.0.0:8081/healthz` for kopf's liveness probe.
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
    memo = kopf.Memo()
    memo.runtime = Runtime(settings)
    receiver = build_receiver(memo.runtime) if settings.callbacks_port else None
    stop_metrics = start_metrics_server(metrics_port)
    target = webhook_target(settings) if receiver is not None else None
    keeper: asyncio.Task[None] | None = None
    try:
        if receiver is not None:
            await receiver.start()
        if target is not None:
            keeper = asyncio.create_task(keep_webhook(memo.runtime, target), name="realtimekit-webhook")
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=standalone,
            priority=priority,
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=memo,
        )
    finally:
        if keeper is not None:
            keeper.cancel()
        if receiver is not None:
            await receiver.stop()
        if stop_metrics is not None:
            stop_metrics()


def configure_logging(verbose: bool) -> None:
    """Plain logs on stderr; httpx request lines only when verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
