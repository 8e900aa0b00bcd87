"""The agent's HTTP endpoints (aiohttp): `GET /status`, `GET /metrics`, `GET /healthz`."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web

from recording_operator.api.agent import (
    AUTHORIZATION_SCHEME,
    HEALTH_PATH,
    METRICS_PATH,
    STATUS_PATH,
)
from recording_operator.recorder.metrics import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from recording_operator.recorder.agent import Recorder


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an `Authorization` header value carries `token` (`Bearer <token>`, compared in
    constant time); always True without a token."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme == AUTHORIZATION_SCHEME and hmac.compare_digest(given.encode(), token.encode())


def make_app(recorder: Recorder, *, token: str | None = None) -> web.Application:
    """The aiohttp application serving `recorder`'s state.

    - `GET /status[?sinceIndex=N]`: RecorderStatus JSON (files with index ≥ N only; 400 if N is bad);
      401 without `Authorization: Bearer <token>` when `token` is set (`ENV_AGENT_TOKEN`).
    - `GET /metrics`: Prometheus text format.
    - `GET /healthz`: 200 `ok`, or 503 when the agent has failed.
    """

    async def status(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), token):
            return web.json_response({"error": "unauthorized"}, status=401)
        raw = request.query.get("sinceIndex")
        since = 0
        if raw is not None:
            if not raw.isdigit():
                return web.json_response({"error": "sinceIndex must be a non-negative integer"}, status=400)
            since = int(raw)
        return web.Response(text=recorder.status_json(since_index=since), content_type="application/json")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=recorder.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        if recorder.status.phase == "Failed":
            return web.Response(text="failed", status=503)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get(STATUS_PATH, status)
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(HEALTH_PATH, healthz)
    return app


async def start_http(recorder: Recorder, host: str, port: int, *, token: str | None = None) -> web.AppRunner:
    """Serve `make_app(recorder, token=token)` on host:port; call `runner.cleanup()` to stop.

    Raises:
        OSError: the port cannot be bound.
    """
    runner = web.AppRunner(make_app(recorder, token=token), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
