"""The operator process: kopf with every kind's handlers (cluster-wide or in chosen namespaces), logging and
the metrics server. `recording-operator run` calls `run_operator`."""

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
    """
    import kopf

    from recording_operator import controllers  # noqa: F401  (registers the handlers)
    from recording_operator.controllers._kit.metrics import start_metrics_server

    stop_metrics = start_metrics_server(metrics_port)
    try:
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=standalone,
            priority=priority,
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()


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
