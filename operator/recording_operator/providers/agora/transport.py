"""The HTTP transport both Agora clients share: Basic auth, base-URL failover, in-call retries
with the caller's policy, transport errors as `AgoraError`, per-endpoint attempt counts and an
optional observer (domains and their retry order: [best practices]).

Each client keeps its own answer interpretation (the two services' bodies differ) and passes it
as `interpret`.

Sources (Agora Cloud Recording RESTful API; [name] in a docstring cites that page):
[best practices] https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import httpx

from recording_operator.providers.agora.errors import AgoraError
from recording_operator.providers.budget import Budget, Priority, parse_retry_after

log = logging.getLogger(__name__)

T = TypeVar("T")

#: `interpret(endpoint, response, attempt)` → the result, or raises AgoraError.
Interpreter = Callable[[str, httpx.Response, int], T]

#: `route(endpoint, path)` → (budget scopes, budget key, priority) of one call.
BudgetRoute = Callable[[str, str], tuple[tuple[str, ...], str, Priority]]

#: HTTP 429 answers one call waits out through the budget before its error is raised.
MAX_RATE_LIMITED = 20


class RetryPlan(Protocol):
    """A retry policy: which kind of failure an error is, and the delay before retry `used` of that kind."""

    def kind_of(self, error: AgoraError) -> str | None:
        """The failure kind (e.g. `code65`, `5xx`), or None when the error is not retried."""

    def delay(self, kind: str, used: int, rng: random.Random) -> float | None:
        """Seconds before the next retry of `kind` after `used` retries; None when the budget is spent."""


def failover_index(attempt: int, n_urls: int) -> int:
    """Base URL for attempt number `attempt` (0-based), in the retry order of [best practices].

    Attempt 0 and the first retry use the primary domain ("the same domain again"); later retries
    move to the next configured domain, cycling.
    """
    if n_urls <= 1 or attempt <= 1:
        return 0
    return (attempt - 1) % n_urls


def never_sent(exc: httpx.TransportError) -> bool:
    """Whether a transport failure provably happened before the request was sent: the connection
    could not be opened (refused, unreachable, DNS, its connect timeout, or no pooled connection in time). Read, write and pool
    timeouts, and connections dropped later, may follow a request the server received."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class AgoraTransport:
    """One Agora REST connection pool with failover and retries.

    Args:
        auth: HTTP Basic auth from the Customer ID/Secret (never logged or put in errors).
        base_urls: in failover order, e.g. `https://api.agora.io`, `https://api.sd-rtn.com`.
        timeout_s: default per-request timeout in seconds.
        retry: the in-call retry policy.
        transport: an httpx transport instead of the network (tests).
        on_response: observer `(endpoint, http status | "timeout" | "transport_error", seconds)`.
        budget: the process's request budget: every attempt first takes a token of the call's
            credential (`route`), and a 429 pauses that credential (its `Retry-After`, else
            full-jitter backoff) and is retried through the budget up to `MAX_RATE_LIMITED` times
            instead of the policy's `rate_limited` schedule (a 429 means the provider did not act,
            so this holds for non-idempotent calls too).
        route: names a call's budget scopes, key and priority (required with `budget`).

    Attributes:
        calls: HTTP attempts per endpoint name, including transport failures.
    """

    def __init__(
        self,
        auth: httpx.Auth,
        *,
        base_urls: Sequence[str],
        timeout_s: float,
        retry: RetryPlan,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: Callable[[str, str, float], None] | None = None,
        budget: Budget | None = None,
        route: BudgetRoute | None = None,
    ) -> None:
        if not base_urls:
            raise ValueError("base_urls must name at least one URL")
        if budget is not None and route is None:
            raise ValueError("a budget needs a route")
        self._budget = budget
        self._route = route
        self.base_urls = tuple(u.rstrip("/") for u in base_urls)
        self.timeout_s = timeout_s
        self._auth = auth
        self._retry = retry
        self._rng = random.Random()
        self._on_response = on_response
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout_s,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            follow_redirects=False,
        )
        self.calls: collections.Counter[str] = collections.Counter()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        interpret: Interpreter[T],
        *,
        params: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        idempotent: bool = True,
    ) -> T:
        """One logical call: attempts with failover [best practices] and the policy's retries.

        Args:
            idempotent: ``False`` for a call that must not be repeated once it may have reached the
                provider (Cloud Recording ``start``, Cloud Transcoder ``create``): a timeout or a
                connection dropped after sending is raised at once (``AgoraError.outcome_unknown``)
                instead of being retried; a connection refused before sending is still retried.

        Raises:
            AgoraError: the last attempt's error once the policy gives up, or a non-retried error.
        """
        attempt = 0
        used: collections.Counter[str] = collections.Counter()
        route = self._route(endpoint, path) if self._route is not None else None
        rate_limited = 0
        while True:
            base = self.base_urls[failover_index(attempt - rate_limited, len(self.base_urls))]
            attempt += 1
            if self._budget is not None and route is not None:
                await self._budget.acquire(route[0], route[1], route[2])
            try:
                try:
                    return await self._attempt(
                        endpoint, method, base + path, interpret, params, body, timeout_s, attempt, route
                    )
                finally:
                    if self._budget is not None and route is not None:
                        self._budget.release(route[0], route[1])
            except AgoraError as error:
                if error.http_status == 429 and self._budget is not None and rate_limited < MAX_RATE_LIMITED:
                    rate_limited += 1
                    log.info("agora %s: HTTP 429; retried when the budget allows", endpoint)
                    continue
                if not idempotent and error.outcome_unknown:
                    log.info(
                        "agora %s: %s; not repeated (the provider may have acted)", endpoint, error.reason
                    )
                    raise
                kind = self._retry.kind_of(error)
                wait = None if kind is None else self._retry.delay(kind, used[kind], self._rng)
                if kind is None or wait is None:
                    raise
                used[kind] += 1
                what = (
                    error.reason
                    if error.http_status is None
                    else f"HTTP {error.http_status} code {error.code}"
                )
                log.info("agora %s attempt %d failed (%s); retrying in %.2fs", endpoint, attempt, what, wait)
                await asyncio.sleep(wait)

    async def _attempt(
        self,
        endpoint: str,
        method: str,
        url: str,
        interpret: Interpreter[T],
        params: Mapping[str, str] | None,
        body: dict[str, Any] | None,
        timeout_s: float | None,
        attempt: int,
        route: tuple[tuple[str, ...], str, Priority] | None = None,
    ) -> T:
        self.calls[endpoint] += 1
        started = time.monotonic()
        try:
            response = await self._http.request(
                method,
                url,
                params=dict(params) if params else None,
                json=body,
                auth=self._auth,
                timeout=timeout_s if timeout_s is not None else self.timeout_s,
            )
        except httpx.TransportError as exc:  # timeouts included (httpx.TimeoutException)
            what = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport error"
            self._observe(endpoint, what.replace(" ", "_"), started)
            raise AgoraError(
                endpoint=endpoint,
                http_status=None,
                code=None,
                reason=f"{what}: {type(exc).__name__}",
                attempts=attempt,
                maybe_delivered=not never_sent(exc),
            ) from None
        self._observe(endpoint, str(response.status_code), started)
        if response.status_code == 429 and self._budget is not None and route is not None:
            self._budget.throttled(route[0], route[1], parse_retry_after(response.headers.get("Retry-After")))
        return interpret(endpoint, response, attempt)

    def _observe(self, endpoint: str, status: str, started: float) -> None:
        """Report one attempt to the observer, if any (never fails the call)."""
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, status, time.monotonic() - started)
        except Exception:
            log.exception("agora on_response observer failed")
