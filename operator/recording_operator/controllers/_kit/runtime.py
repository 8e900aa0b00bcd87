"""Operator-wide wiring: kopf settings, login, and the shared clients every handler uses.

The `Runtime` lives in kopf's operator memo; kopf copies the memo shallowly per resource, so
every handler sees the same instance through `memo.runtime`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import httpx
import kopf

from recording_operator.api import GROUP, VERSION
from recording_operator.controllers._kit.events import COMPONENT, EventRecorder
from recording_operator.controllers._kit.kube import KubeClient, SecretNotFound
from recording_operator.controllers._kit.metrics import REGISTRY, provider_observer, register_tracking
from recording_operator.controllers._kit.pacing import QueryPlanner
from recording_operator.controllers._kit.recovery import RECOVERABLE, RecoveryDiffBaseStorage
from recording_operator.controllers._kit.shard import SHARD_FINALIZER
from recording_operator.providers.agora import AgoraCredentials, CloudRecordingClient, RetryPolicy
from recording_operator.providers.agora.transcoder import CloudTranscoderClient, TranscoderRetryPolicy
from recording_operator.providers.budget import Budget
from recording_operator.providers.realtimekit import RealtimeKitClient
from recording_operator.settings import Settings

#: Provider clients kept alive at once per provider (one per distinct credentials).
MAX_CLIENTS = 64

# `recording_operator_active_sessions`, `_resources` and `_condition` for every kind, from kopf's watch.
register_tracking(
    [(GROUP, VERSION, plural, kind) for plural, kind in (*RECOVERABLE, ("recordedfiles", "RecordedFile"))]
)


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=_Closeable)


class ClientCache(Generic[C]):
    """Provider clients shared across resources, one per distinct credentials (connection pooling).

    Keyed by a SHA-256 digest of the credentials, held only in memory; beyond `limit` clients the
    least recently used one is closed.
    """

    def __init__(self, limit: int = MAX_CLIENTS) -> None:
        self.limit = limit
        self._clients: OrderedDict[str, C] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, credentials: tuple[str, ...], factory: Callable[[], C]) -> C:
        """The client for these credentials, built by `factory` the first time."""
        key = hashlib.sha256("\0".join(credentials).encode()).hexdigest()
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = factory()
            while len(self._clients) > self.limit:
                _, dropped = self._clients.popitem(last=False)
                task = asyncio.get_running_loop().create_task(dropped.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._clients.move_to_end(key)
        return client

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


#: The process's provider request budget, built once (its metrics live in the one registry).
_BUDGET: Budget | None = None


def process_budget(settings: Settings) -> Budget:
    """The request budget every provider client of this process shares (`providers.budget`),
    sized from `settings.budget_limits()`; built on first use."""
    global _BUDGET
    if _BUDGET is None:
        _BUDGET = Budget(settings.budget_limits(), registry=REGISTRY)
    return _BUDGET


class Runtime:
    """Settings plus lazily built, shared clients (Kubernetes API, providers per credentials) and
    the provider request budget they all go through."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.budget = process_budget(settings)
        #: When each live session is next queried (`pacing`), shared by every kind.
        self.queries = QueryPlanner()
        self._agent_http: httpx.AsyncClient | None = None
        self._kube: KubeClient | None = None
        self._events: EventRecorder | None = None
        self._agora: ClientCache[CloudRecordingClient] = ClientCache()
        self._realtimekit: ClientCache[RealtimeKitClient] = ClientCache()
        self._transcoder: ClientCache[CloudTranscoderClient] = ClientCache()

    def agent_http(self) -> httpx.AsyncClient:
        """One pooled HTTP client for every recorder agent poll (keep-alive connections per Pod);
        callers pass their own per-request timeout."""
        if self._agent_http is None:
            self._agent_http = httpx.AsyncClient(
                timeout=5.0, limits=httpx.Limits(max_connections=200, max_keepalive_connections=100)
            )
        return self._agent_http

    @property
    def kube(self) -> KubeClient:
        """The Kubernetes client; available once kopf has logged in.

        Raises:
            RuntimeError: called before the login handler ran.
        """
        if self._kube is None:
            raise RuntimeError("the operator has not logged in to Kubernetes yet")
        return self._kube

    @property
    def events(self) -> EventRecorder:
        """The Event recorder (series-counted Events from `recording-operator`); available after login.

        Raises:
            RuntimeError: called before the login handler ran.
        """
        if self._events is None:
            raise RuntimeError("the operator has not logged in to Kubernetes yet")
        return self._events

    async def set_connection(self, conn: kopf.ConnectionInfo) -> None:
        """(Re)build the Kubernetes client (and the Event recorder on it) from kopf's login result."""
        kube = KubeClient(
            conn,
            secret_ttl_s=self.settings.secret_cache_ttl_s,
            secret_namespaces=self.settings.secret_namespaces,
        )
        old, self._kube = self._kube, kube
        old_events, self._events = self._events, EventRecorder(self._kube)
        if old_events is not None:
            await old_events.aclose()
        if old is not None:
            await old.aclose()

    def agora(self, credentials: AgoraCredentials) -> CloudRecordingClient:
        """The shared Agora Cloud Recording client for these credentials."""
        return self._agora.get(
            (credentials.customer_id, credentials.customer_secret),
            lambda: CloudRecordingClient(
                credentials,
                base_urls=self.settings.agora_base_urls,
                timeout_s=self.settings.agora_timeout_s,
                start_timeout_s=self.settings.agora_start_timeout_s,
                stop_timeout_s=3 * self.settings.agora_timeout_s,
                retry=RetryPolicy(scale=self.settings.agora_retry_scale),
                on_response=provider_observer("agora"),
                budget=self.budget,
            ),
        )

    async def agora_credentials(self, namespace: str, secret_name: str) -> AgoraCredentials:
        """Agora RESTful API credentials from the Secret's `customerId` and `customerSecret` keys.

        Raises:
            SecretNotFound: the Secret or one of the keys is missing (names only, never values).
            KubeApiError: the Secret could not be read.
        """
        secret = await self.kube.read_secret(namespace, secret_name)
        missing = [k for k in ("customerId", "customerSecret") if not secret.get(k)]
        if missing:
            raise SecretNotFound(f"Secret {namespace}/{secret_name} has no {' or '.join(missing)}")
        return AgoraCredentials(secret["customerId"], secret["customerSecret"])

    def transcoder(self, credentials: AgoraCredentials) -> CloudTranscoderClient:
        """The shared Agora Cloud Transcoder client for these credentials."""
        return self._transcoder.get(
            (credentials.customer_id, credentials.customer_secret),
            lambda: CloudTranscoderClient(
                credentials,
                base_urls=self.settings.agora_base_urls,
                timeout_s=self.settings.agora_timeout_s,
                start_timeout_s=self.settings.agora_start_timeout_s,
                retry=TranscoderRetryPolicy(scale=self.settings.agora_retry_scale),
                on_response=provider_observer("agora"),
                budget=self.budget,
            ),
        )

    def realtimekit(self, api_token: str) -> RealtimeKitClient:
        """The shared RealtimeKit client for this Cloudflare API token (`REALTIMEKIT_BASE_URL`)."""
        return self._realtimekit.get(
            (api_token,),
            lambda: RealtimeKitClient(
                api_token,
                base_url=self.settings.realtimekit_base_url,
                timeout_s=3 * self.settings.agora_timeout_s,
                start_timeout_s=self.settings.agora_start_timeout_s,
                budget=self.budget,
            ),
        )

    def query_due(
        self, session: tuple[str, str, str], scope: str, key: str, base_s: float, *, per_key: bool = True
    ) -> bool:
        """Whether the live session `session` (kind, namespace, name) should be queried now
        (`pacing.QueryPlanner.due`): its interval `base_s` spread and stretched to what `key`'s
        budget in `scope` leaves after its starts, updates and stops (of the whole scope when
        `per_key` is False: the key is then not the budget's own, e.g. a Secret for an account)."""
        return self.queries.due(
            (session[0], f"{session[1]}/{session[2]}"),
            f"{scope}/{key}",
            base_s,
            self.budget.rate(scope),
            self.budget.recent_rate(scope, key if per_key else None),
            time.monotonic(),
        )

    def query_made(
        self, session: tuple[str, str, str], scope: str, key: str, *, per_key: bool = True
    ) -> float:
        """Schedule the next query of `session` after one now; returns its interval in seconds."""
        return self.queries.queried(
            (session[0], f"{session[1]}/{session[2]}"),
            self.budget.rate(scope),
            self.budget.recent_rate(scope, key if per_key else None),
            time.monotonic(),
        )

    def query_forget(self, session: tuple[str, str, str]) -> None:
        """Stop pacing `session` (ended, or its object is gone)."""
        self.queries.forget((session[0], f"{session[1]}/{session[2]}"))

    async def aclose(self) -> None:
        """Close every client."""
        if self._agent_http is not None:
            await self._agent_http.aclose()
            self._agent_http = None
        await self._agora.aclose()
        await self._realtimekit.aclose()
        await self._transcoder.aclose()
        if self._events is not None:
            await self._events.aclose()
            self._events = None
        if self._kube is not None:
            await self._kube.aclose()
            self._kube = None


def runtime_of(memo: Any) -> Runtime:
    """The Runtime from a kopf memo (set up by `configure`)."""
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """kopf settings of this operator: our finalizer and annotation prefix, quiet Event posting.

    - finalizer `recording.mediaops.io/cleanup` (one per shard with `SHARD_LABEL_SELECTOR`, `shard.py`); progress and diff-base annotations under
      `recording.mediaops.io/`;
    - Events come from `recording-operator` (`events.EventRecorder`, series-counted); kopf's own
      Events (only those a handler asks for; log lines are not posted) carry the same component;
    - the diff-base storage honours `recording.mediaops.io/reconcile-requested-at` (`recovery`);
    - watch streams are restarted every 10 minutes as a guard against silently dead connections.
    """
    settings.persistence.finalizer = SHARD_FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = RecoveryDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.posting.loggers = False
    settings.posting.reporting_component = COMPONENT
    settings.watching.server_timeout = 600
    if not hasattr(memo, "runtime"):
        memo.runtime = Runtime(Settings.from_env())


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """Log in from the Pod's service account, else from the kubeconfig; share the connection."""
    conn = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if conn is not None:
        await runtime_of(memo).set_connection(conn)
    return conn


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    """Close the shared clients when the operator stops."""
    await runtime_of(memo).aclose()
