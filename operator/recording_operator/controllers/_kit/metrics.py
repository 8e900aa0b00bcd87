"""Prometheus metrics of the operator, served on `METRICS_PORT` (default 8080) at `/metrics`.

Everything is registered in this module's own registry (`REGISTRY`), so what the operator exports
is exactly what is listed here (plus `process_*` of the operator process):

| metric | type | labels | meaning |
|---|---|---|---|
| `recording_operator_reconciles_total` | counter | kind, handler, result | handler runs; result `success`, `retry` (kopf.TemporaryError), `failed` (kopf.PermanentError), `error` (anything else) |
| `recording_operator_reconcile_duration_seconds` | histogram | kind, handler | wall time of one handler run (s) |
| `recording_operator_provider_request_duration_seconds` | histogram | provider, endpoint, status | one HTTP attempt to a provider (s); status is the HTTP status (`200`, `503` …), `timeout` or `transport_error` |
| `recording_operator_active_sessions` | gauge | kind, phase | resources the operator sees in an active phase (`ACTIVE_PHASES` per kind) |
| `recording_operator_resources` | gauge | kind, phase | resources the operator sees, by phase (`""` before the first one) |
| `recording_operator_condition` | gauge | kind, namespace, name, type, status, reason | 1 per condition of every resource (kube-state-metrics style: alert on `status="False"`) |
| `recording_operator_build_info` | gauge | version, kopf_version, python_version | always 1: what runs |
| `recording_operator_recorder_bitrate_bits_per_second` | gauge | namespace, name | output bitrate of a LocalRecording's recorder (bit/s) |
| `recording_operator_recorder_fps` | gauge | namespace, name | frames per second the recorder writes |
| `recording_operator_recorder_speed_ratio` | gauge | namespace, name | processing speed relative to real time (1.0 = real time) |
| `recording_operator_recorder_last_update_timestamp_seconds` | gauge | namespace, name | Unix time (s) of the last recorder stats update |
| `recording_operator_callbacks_total` | counter | provider, result | provider callbacks (registered by `callbacks/receiver.py`): `applied`, `unchanged`, `duplicate`, `unmatched`, `unsigned`, `forged`, `malformed`, `oversized`, `replayed`, `rate_limited`, `error` |
| `recording_operator_callback_duration_seconds` | histogram | provider | time from receiving a callback to answering it (s) |
| `recording_operator_status_age_seconds` | gauge | kind, quantile | age (s) of the provider status of live sessions (time since each was last observed: query or callback), at quantiles 0.5, 0.99 and 1 (the oldest) over a kind's sessions |
| `recording_operator_provider_budget_queued_calls` | gauge | scope, priority | provider calls waiting for a token of their credential's budget (`providers/budget.py`) |
| `recording_operator_provider_budget_wait_seconds` | histogram | scope, priority | seconds a provider call waited for its token |
| `recording_operator_provider_rate_limited_total` | counter | scope | HTTP 429 answers received from a provider |

The resource gauges are fed by `track` for every kind from kopf's watch (`register_tracking`).
The recorder gauges are set by the LocalRecording controller with `set_recorder_stats` each time
it polls a recorder's agent, and removed with `forget_recorder` when the recording goes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

PREFIX = "recording_operator"

REGISTRY = CollectorRegistry(auto_describe=True)
"""The registry `/metrics` serves."""

ProcessCollector(registry=REGISTRY)

RECONCILES = Counter(
    f"{PREFIX}_reconciles",
    "Handler runs by kind, handler and result (success, retry, failed, error).",
    ["kind", "handler", "result"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    f"{PREFIX}_reconcile_duration_seconds",
    "Wall time of one handler run, in seconds.",
    ["kind", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
PROVIDER_REQUEST_DURATION = Histogram(
    f"{PREFIX}_provider_request_duration_seconds",
    "One HTTP attempt to a provider, in seconds, by provider, endpoint and HTTP status "
    "(or timeout / transport_error).",
    ["provider", "endpoint", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RECORDER_BITRATE = Gauge(
    f"{PREFIX}_recorder_bitrate_bits_per_second",
    "Output bitrate of a LocalRecording's recorder, in bits per second.",
    ["namespace", "name"],
    registry=REGISTRY,
)
RECORDER_FPS = Gauge(
    f"{PREFIX}_recorder_fps",
    "Frames per second a LocalRecording's recorder writes.",
    ["namespace", "name"],
    registry=REGISTRY,
)
RECORDER_SPEED = Gauge(
    f"{PREFIX}_recorder_speed_ratio",
    "Processing speed of a LocalRecording's recorder relative to real time (1.0 = real time).",
    ["namespace", "name"],
    registry=REGISTRY,
)
RECORDER_UPDATED = Gauge(
    f"{PREFIX}_recorder_last_update_timestamp_seconds",
    "Unix time of the last stats update of a LocalRecording's recorder, in seconds.",
    ["namespace", "name"],
    registry=REGISTRY,
)

#: Phases counted by `recording_operator_active_sessions`, per kind: something runs (and costs) at
#: the provider or in a recorder Pod. CloudTranscoder phases are Agora's task statuses
#: (https://docs.agora.io/en/cloud-transcoding/rest-api/query).
ACTIVE_PHASES_BY_KIND: dict[str, tuple[str, ...]] = {
    "CloudRecording": ("Recording", "Paused"),
    "CloudTranscoder": ("STARTING", "CREATED", "STARTED", "IN_PROGRESS"),
    "LocalRecording": ("Recording", "Reconnecting"),
}
#: The phases of kinds not in `ACTIVE_PHASES_BY_KIND`.
ACTIVE_PHASES = ("Recording", "Paused")


class SessionTracker(Collector):
    """The phase and conditions of every resource the operator has seen, exported as
    `..._active_sessions`, `..._resources` and `..._condition`.

    Thread-safe: kopf handlers call `observe` on the event loop while the metrics server collects
    from its own thread. Memory: one entry per live resource.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[tuple[str, str, str], str] = {}
        self._conditions: dict[tuple[str, str, str], tuple[tuple[str, str, str], ...]] = {}

    def observe(
        self,
        kind: str,
        namespace: str,
        name: str,
        phase: str | None,
        conditions: Iterable[tuple[str, str, str]] | None = None,
    ) -> None:
        """Record the phase and the `(type, status, reason)` conditions of `kind` `namespace/name`
        (`conditions=None` keeps those recorded before); `phase=None` forgets it (deleted)."""
        key = (kind, namespace, name)
        with self._lock:
            if phase is None:
                self._phases.pop(key, None)
                self._conditions.pop(key, None)
            else:
                self._phases[key] = phase
                if conditions is not None:
                    self._conditions[key] = tuple(conditions)

    def counts(self) -> dict[tuple[str, str], int]:
        """`{(kind, phase): number of resources}` for the active phases."""
        counts: dict[tuple[str, str], int] = {}
        for (kind, phase), n in self.phase_counts().items():
            if phase in ACTIVE_PHASES_BY_KIND.get(kind, ACTIVE_PHASES):
                counts[(kind, phase)] = n
        return counts

    def phase_counts(self) -> dict[tuple[str, str], int]:
        """`{(kind, phase): number of resources}` for every phase seen."""
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for (kind, _, _), phase in self._phases.items():
                counts[(kind, phase)] = counts.get((kind, phase), 0) + 1
        return counts

    def describe(self) -> Iterable[Metric]:
        """The metric families without samples (for the registry's name checks)."""
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        """The three families; active phases of seen kinds at 0 too."""
        sessions, resources, condition = self._families()
        counts = self.phase_counts()
        with self._lock:
            kinds = {kind for kind, _, _ in self._phases}
            conditions = dict(self._conditions)
        for kind in sorted(kinds):
            for phase in ACTIVE_PHASES_BY_KIND.get(kind, ACTIVE_PHASES):
                sessions.add_metric([kind, phase], counts.get((kind, phase), 0))
        for (kind, phase), n in sorted(counts.items()):
            resources.add_metric([kind, phase], n)
        for (kind, namespace, name), items in sorted(conditions.items()):
            for type_, status, reason in items:
                condition.add_metric([kind, namespace, name, type_, status, reason], 1)
        return [sessions, resources, condition]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                f"{PREFIX}_active_sessions",
                "Resources the operator sees in an active phase (a session or recorder runs), by kind and phase.",
                labels=["kind", "phase"],
            ),
            GaugeMetricFamily(
                f"{PREFIX}_resources",
                "Resources the operator sees, by kind and phase (empty before the first status).",
                labels=["kind", "phase"],
            ),
            GaugeMetricFamily(
                f"{PREFIX}_condition",
                "1 for each condition of each resource, with its type, status and reason.",
                labels=["kind", "namespace", "name", "type", "status", "reason"],
            ),
        )


SESSIONS = SessionTracker()
REGISTRY.register(SESSIONS)


class StatusAges(Collector):
    """When each live session's provider status was last observed (a query answer, a callback),
    exported as `recording_operator_status_age_seconds{kind, quantile}` at scrape time.

    Thread-safe like `SessionTracker`. Memory: one float per live session.
    """

    QUANTILES = (0.5, 0.99, 1.0)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._seen: dict[tuple[str, str, str], float] = {}

    def observed(self, kind: str, namespace: str, name: str) -> None:
        """The provider status of `kind` `namespace/name` was just observed."""
        with self._lock:
            self._seen[(kind, namespace, name)] = self._clock()

    def tracking(self, kind: str, namespace: str, name: str) -> None:
        """Count this live session from now on (its age grows from now) if it is not counted yet."""
        with self._lock:
            self._seen.setdefault((kind, namespace, name), self._clock())

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """The session ended or its object is gone."""
        with self._lock:
            self._seen.pop((kind, namespace, name), None)

    def ages(self, kind: str) -> list[float]:
        """Current ages (s) of `kind`'s sessions, ascending."""
        now = self._clock()
        with self._lock:
            return sorted(now - t for (k, _, _), t in self._seen.items() if k == kind)

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        with self._lock:
            kinds = sorted({k for k, _, _ in self._seen})
        for kind in kinds:
            ages = self.ages(kind)
            if not ages:
                continue
            for q in self.QUANTILES:
                family.add_metric([kind, str(q)], ages[min(len(ages) - 1, round(q * (len(ages) - 1)))])
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_status_age_seconds",
            "Seconds since the provider status of live sessions was last observed, by kind, at quantiles "
            "0.5, 0.99 and 1 (the oldest).",
            labels=["kind", "quantile"],
        )


STATUS_AGES = StatusAges()
REGISTRY.register(STATUS_AGES)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO = Gauge(
    f"{PREFIX}_build_info",
    "Always 1; the labels say which operator, kopf and Python versions run.",
    ["version", "kopf_version", "python_version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(_version("recording-operator"), _version("kopf"), platform.python_version()).set(1)


def track(kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
    """Feed `SESSIONS` from one watch event of a resource of `kind` (DELETED forgets it)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    if event_type == "DELETED":
        SESSIONS.observe(kind, meta.get("namespace", ""), meta.get("name", ""), None)
        return
    conditions = [
        (str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")))
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    ]
    SESSIONS.observe(
        kind, meta.get("namespace", ""), meta.get("name", ""), status.get("phase") or "", conditions
    )


def register_tracking(resources: Iterable[tuple[str, str, str, str]]) -> None:
    """Register a kopf watch handler per `(group, version, plural, kind)` that calls `track`."""
    import kopf

    from recording_operator.controllers._kit.shard import SHARD_LABELS

    for group, version, plural, kind in resources:

        async def on_event(type: str | None, body: kopf.Body, _kind: str = kind, **_: Any) -> None:
            track(_kind, type, body)

        kopf.on.event(group, version, plural, id=f"{plural}_metrics", labels=SHARD_LABELS)(on_event)


def observe_provider_request(provider: str, endpoint: str, status: str, seconds: float) -> None:
    """Record one HTTP attempt to a provider.

    Args:
        provider: e.g. `agora`.
        endpoint: the provider's endpoint name, e.g. `start`, `query`.
        status: HTTP status as text (`"200"`), or `timeout` / `transport_error`.
        seconds: wall time of the attempt.
    """
    PROVIDER_REQUEST_DURATION.labels(provider, endpoint, status).observe(seconds)


def provider_observer(provider: str) -> Callable[[str, str, float], None]:
    """A provider client's `on_response(endpoint, status, seconds)` callback for `provider`."""
    return functools.partial(observe_provider_request, provider)


def set_recorder_stats(
    namespace: str, name: str, *, bitrate_bps: float | None, fps: float | None, speed: float | None
) -> None:
    """Set the recorder gauges of LocalRecording `namespace/name` (values `None` are left unchanged).

    Args:
        bitrate_bps: output bitrate in bits per second (FFmpeg reports kbit/s: multiply by 1000).
        fps: frames per second written.
        speed: processing speed relative to real time (FFmpeg's `speed=1.0x` → 1.0).
    """
    if bitrate_bps is not None:
        RECORDER_BITRATE.labels(namespace, name).set(bitrate_bps)
    if fps is not None:
        RECORDER_FPS.labels(namespace, name).set(fps)
    if speed is not None:
        RECORDER_SPEED.labels(namespace, name).set(speed)
    RECORDER_UPDATED.labels(namespace, name).set(time.time())


def forget_recorder(namespace: str, name: str) -> None:
    """Remove the recorder series of LocalRecording `namespace/name` (it stopped or was deleted)."""
    for gauge in (RECORDER_BITRATE, RECORDER_FPS, RECORDER_SPEED, RECORDER_UPDATED):
        try:
            gauge.remove(namespace, name)
        except KeyError:
            pass


P = ParamSpec("P")
R = TypeVar("R")


def _result_of(exc: BaseException | None) -> str:
    if exc is None:
        return "success"
    import kopf

    if isinstance(exc, kopf.TemporaryError):
        return "retry"
    if isinstance(exc, kopf.PermanentError):
        return "failed"
    return "error"


def instrumented(kind: str, handler: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an async kopf handler to count its runs by result and time them.

    Place it *below* the kopf decorators; `functools.wraps` keeps the handler's qualified name,
    which kopf uses as the handler id (so progress annotations are unchanged). A cancelled run
    (operator shutdown) is not counted.
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.monotonic()
            try:
                result = await fn(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                _record(kind, handler, _result_of(exc), time.monotonic() - started)
                raise
            _record(kind, handler, "success", time.monotonic() - started)
            return result

        return wrapper

    return decorate


def _record(kind: str, handler: str, result: str, seconds: float) -> None:
    RECONCILES.labels(kind, handler, result).inc()
    RECONCILE_DURATION.labels(kind, handler).observe(seconds)


def exported_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every series name `registry` can expose, e.g. `..._reconciles_total`, `..._bucket`/`_count`/`_sum`."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "gauge": ("",),
        "info": ("_info",),
        "stateset": ("",),
        "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> Callable[[], None] | None:
    """Serve `REGISTRY` on `http://addr:port/metrics` from a daemon thread.

    Returns:
        a function that stops the server, or `None` when `port` is 0 (disabled) or cannot be
        bound (logged: the operator keeps working without metrics, e.g. a second local instance).
    """
    if port == 0:
        return None
    from prometheus_client import start_http_server

    try:
        server, thread = start_http_server(port, addr, registry=REGISTRY)
    except OSError as exc:
        log.error("metrics are not served: cannot listen on %s:%d (%s)", addr, port, exc)
        return None
    log.info("serving metrics on http://%s:%d/metrics", addr, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
