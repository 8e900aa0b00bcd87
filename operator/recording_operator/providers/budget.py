"""One request budget per provider credential, shared by every caller in the process.

Providers limit request rates per credential and answer HTTP 429 past them:

- Agora Cloud Recording: 10 requests/s per App ID ("API rate limit exceeded",
  https://docs.agora.io/en/cloud-recording/rest-api/overview);
- Agora Cloud Transcoder: 10 requests/s per account
  (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits);
- Cloudflare RealtimeKit: 250 requests per 10 s for all RealtimeKit APIs and 1,000 per 60 s for the
  Recordings APIs ("Limits and Quotas", https://developers.cloudflare.com/realtime/realtimekit/rate-limits/).

`Budget` keeps one limiter per (scope, key), e.g. (`agora_recording`, App ID). A caller
`acquire`s a slot before each HTTP attempt and `release`s it once answered (or failed); when none is free, callers wait in priority order
(`Priority`: stop before start before update before query, first come first served within one
priority), so a stop never waits behind queued queries. A 429 received anyway (another client on
the same credential, a provider limit lower than configured) is reported with `throttled`: the
limiter pauses for the answer's `Retry-After` seconds when it names one, else for a full-jitter
exponential backoff (a random delay in [0, min(cap, base × 2^n)] after the n-th 429 in a row,
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), and every caller of
that credential waits it out; the limiter then lets one call fewer go per window, and one more
again after each `RECOVER_S` seconds without a 429.

A limiter lets a call go while fewer than `headroom` × L calls (`Limit.allowance`, for a
documented limit of L requests per W seconds) are in flight or were answered in the last W
seconds (a sliding window, the way the providers count). A call holds its slot from the moment it
is let go until W seconds after its answer (`release`): the provider counts it at some instant
between the two, which this process cannot see, so counting it over the whole span keeps every
W-second window of the provider's instants within the allowance, however late this process's
event loop sends a request or the provider's gateway gets to it (a loaded machine bunches both).
It is a token bucket whose tokens come back W seconds after the answer: a busy event loop that
wakes late loses no capacity (a bucket refilling at a rate with a burst of one would). What it
costs is the answer's latency per call: at most `allowance` / (W + latency) calls per second.

A burst of new sessions on one credential (1,000 CloudRecordings applied together on one App ID)
spends the budget at its rate however many wait for it; `admission` keeps the ones beyond a few
seconds of that rate from starting their work at all, so they wait holding nothing but their place
in line instead of each holding its spec, context and request in the queue.

Metrics (registered on the `registry` given to `Budget`):

| metric | type | labels | meaning |
|---|---|---|---|
| `recording_operator_provider_budget_queued_calls` | gauge | scope, priority | calls waiting for a token |
| `recording_operator_provider_budget_wait_seconds` | histogram | scope, priority | time a call waited for its token (s) |
| `recording_operator_provider_rate_limited_total` | counter | scope | HTTP 429 answers received |

No Kubernetes; no I/O besides `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Seconds without a 429 after which a narrowed limiter allows one more call per window.
RECOVER_S = 20.0

#: Seconds over which `Budget.recent_rate` counts non-query calls.
RECENT_S = 30.0

#: Seconds of a key's rate that `Budget.admission` lets new sessions start at once.
ADMISSION_S = 2.0


class Priority(IntEnum):
    """Order in which waiting calls get tokens (lower first)."""

    STOP = 0
    START = 1
    UPDATE = 2
    QUERY = 3


@dataclass(frozen=True)
class Limit:
    """A documented limit: `requests` per `window_s` seconds.

    Attributes:
        requests: requests allowed per window (> 0).
        window_s: window length in seconds (> 0).
        headroom: fraction of the limit the bucket uses, in (0, 1].
    """

    requests: float
    window_s: float
    headroom: float = 0.95

    def allowance(self) -> int:
        """Calls let go per `window_s`: `headroom × requests`, rounded down, at least 1 (e.g. 10
        per 1 s → 9; 250 per 10 s → 237; 1,000 per 60 s → 950).

        Raises:
            ValueError: a non-positive limit or window, or headroom outside (0, 1].
        """
        if self.requests <= 0 or self.window_s <= 0 or not 0 < self.headroom <= 1:
            raise ValueError(f"invalid limit {self}")
        return max(1, math.floor(self.headroom * self.requests + 1e-9))

    @property
    def rate(self) -> float:
        """The sustained rate the allowance gives, in calls per second."""
        return self.allowance() / self.window_s


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class WindowLimiter:
    """At most `allowance` grants in any `window_s` seconds, at least `min_gap_s` apart; waiters
    are served in priority order.

    Args:
        allowance: grants per window (≥ 1).
        window_s: window length in seconds (> 0).
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, allowance: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowance = max(1, allowance)
        #: The allowance in force: one less after each 429 (down to 1), one more again after every
        #: `RECOVER_S` seconds without one (additive decrease and increase: the provider's counter
        #: sees calls bunched by the network, so a 429 says the margin was too thin).
        self.current = self.allowance
        self._last_429 = -math.inf
        self.window_s = window_s
        #: Calls are at least this far apart (half the mean gap): a full allowance is not sent in
        #: one instant, whose spread on the way could crowd the provider's next window.
        self.min_gap_s = window_s / self.allowance / 2
        self._clock = clock
        #: Answer times of the calls of the last window (ascending: appended when answered).
        self._sent: collections.deque[float] = collections.deque()
        #: Calls let go and not answered yet.
        self.in_flight = 0
        self._last_grant = -math.inf
        self._released = asyncio.Event()
        self._paused_until = 0.0
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._drainer: asyncio.Task[None] | None = None
        #: HTTP 429 answers in a row (reset by a grant after the pause).
        self.throttled_in_row = 0

    @property
    def paused_until(self) -> float:
        """Clock time before which nothing is let go (after a 429)."""
        return self._paused_until

    @property
    def queued(self) -> int:
        """Calls waiting for a slot."""
        return sum(1 for w in self._waiters if not w.future.done())

    def ready_in(self) -> float:
        """Seconds until a call can go (0 when now)."""
        now = self._clock()
        if self.current < self.allowance and now - self._last_429 >= RECOVER_S:
            self.current += 1
            self._last_429 = now
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        pause = max(0.0, self._paused_until - now)
        # Slots still to come back before one is free; an in-flight call comes back only when answered.
        over = len(self._sent) + self.in_flight - self.current
        if over < 0:
            full = 0.0
        elif over < len(self._sent):
            full = self._sent[over] + self.window_s - now
        else:
            full = math.inf
        gap = self._last_grant + self.min_gap_s - now
        return max(pause, full, gap, 0.0)

    def take(self) -> None:
        """Count one call as sent and answered now (the caller checked `ready_in() == 0`)."""
        self._last_grant = self._clock()
        self._sent.append(self._last_grant)

    def begin(self) -> None:
        """Count one call as let go now, in flight until `release` (the caller checked `ready_in() == 0`)."""
        self._last_grant = self._clock()
        self.in_flight += 1

    def release(self) -> None:
        """The call let go by `begin` was answered (or failed) now: its slot comes back `window_s` later."""
        self.in_flight = max(0, self.in_flight - 1)
        self._sent.append(self._clock())
        self._released.set()

    async def acquire(self, priority: int) -> None:
        """Wait for a slot, held until `release`; waiters of a lower `priority` value are served first.

        Raises:
            asyncio.CancelledError: cancelled while waiting (no slot is taken).
        """
        if not self._waiters and self.ready_in() == 0.0:
            self.begin()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, _Waiter(int(priority), next(self._seq), future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._waiters:
            while self._waiters and self._waiters[0].future.done():
                heapq.heappop(self._waiters)  # cancelled while waiting
            if not self._waiters:
                return
            wait = self.ready_in()
            if wait > 0:
                # Until a slot comes back by the clock, or sooner when an in-flight call is answered.
                self._released.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), None if math.isinf(wait) else wait)
                continue
            waiter = heapq.heappop(self._waiters)
            if waiter.future.done():
                continue
            self.begin()
            waiter.future.set_result(None)

    def pause(self, seconds: float) -> None:
        """Let nothing go for `seconds` from now."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def narrow(self) -> None:
        """A 429 arrived: one call fewer per window from now on (at least 1), for `RECOVER_S` s."""
        self.current = max(1, self.current - 1)
        self._last_429 = self._clock()


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """A random delay in [0, min(cap_s, base_s × 2^attempt)] seconds ("full jitter")."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** max(0, attempt))))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds named by a `Retry-After` header (delta-seconds form, RFC 9110 §10.2.3), or None
    when absent, negative or not a number (the HTTP-date form is not used by these providers)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 and math.isfinite(seconds) else None


class Budget:
    """Limiters per (scope, key), shared by every client of the process.

    Args:
        limits: the limits per scope (one or more per scope, all of which must allow a call),
            e.g. ``{"agora_recording": [Limit(10, 1)]}``.
        backoff_base_s: base of the full-jitter backoff after a 429 without `Retry-After` (s).
        backoff_cap_s: cap of that backoff (s).
        registry: where the metrics are registered (none: no metrics).
        rng: random source of the backoff.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        limits: dict[str, list[Limit]],
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._buckets: dict[tuple[str, str, int], WindowLimiter] = {}
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng or random.Random()
        self._clock = clock
        #: HTTP 429 answers received per scope (also exported as a metric).
        self.rate_limited: dict[str, int] = {}
        #: Times (clock) of the recent non-query calls per (scope, key), for `recent_rate`.
        self._others: dict[tuple[str, str], collections.deque[float]] = {}
        self._gates: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._queued: Gauge | None = None
        self._wait: Histogram | None = None
        self._429: Counter | None = None
        if registry is not None:
            self._queued = Gauge(
                "recording_operator_provider_budget_queued_calls",
                "Provider calls waiting for a token of their credential's budget.",
                ["scope", "priority"],
                registry=registry,
            )
            self._wait = Histogram(
                "recording_operator_provider_budget_wait_seconds",
                "Seconds a provider call waited for a token of its credential's budget.",
                ["scope", "priority"],
                buckets=(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                registry=registry,
            )
            self._429 = Counter(
                "recording_operator_provider_rate_limited",
                "HTTP 429 answers received from a provider.",
                ["scope"],
                registry=registry,
            )

    def limits(self, scope: str) -> list[Limit]:
        """The limits configured for `scope` (empty: unlimited)."""
        return list(self._limits.get(scope, ()))

    def rate(self, scope: str) -> float | None:
        """Calls per second one key of `scope` may make (the smallest bucket rate), None if unlimited."""
        rates = [limit.rate for limit in self._limits.get(scope, ())]
        return min(rates) if rates else None

    def admission(self, route: tuple[str, str] | None) -> contextlib.AbstractAsyncContextManager[object]:
        """The gate a new session's whole start goes through, entered before any of its work:
        at most ⌈`ADMISSION_S` × rate⌉ (at least 1) starts of one (scope, key) at once, the others
        waiting first come first served. The calls still go at the budget's rate, as they would
        anyway; what changes is what a start waiting for its turn holds — nothing here, against
        its spec, context and request when it waits in the queue (`make bench`: the operator's
        peak RSS while 1,000 CloudRecordings start on one App ID at 10 requests/s).

        Args:
            route: (scope, key) of the start's calls, e.g. (`agora_recording`, App ID); None, or a
                scope without a limit: no gate.
        """
        rate = self.rate(route[0]) if route is not None else None
        if route is None or rate is None:
            return contextlib.nullcontext()
        gate = self._gates.get(route)
        if gate is None:
            gate = self._gates[route] = asyncio.Semaphore(max(1, math.ceil(ADMISSION_S * rate)))
        return gate

    def _buckets_of(self, scope: str, key: str) -> list[WindowLimiter]:
        buckets = []
        for i, limit in enumerate(self._limits.get(scope, ())):
            bucket = self._buckets.get((scope, key, i))
            if bucket is None:
                bucket = self._buckets[(scope, key, i)] = WindowLimiter(
                    limit.allowance(), limit.window_s, self._clock
                )
            buckets.append(bucket)
        return buckets

    async def acquire(self, scopes: Iterable[str], key: str, priority: Priority) -> float:
        """Wait until every bucket of `key` in each of `scopes` gives a slot; the caller must
        `release` them (same scopes and key) once the call is answered or failed.

        Returns:
            Seconds waited.

        Raises:
            asyncio.CancelledError: cancelled while waiting (the slots already given are released).
        """
        started = self._clock()
        scopes = list(scopes)
        granted: list[WindowLimiter] = []
        try:
            for scope in scopes:
                buckets = self._buckets_of(scope, key)
                if not buckets:
                    continue
                if self._queued is not None:
                    self._queued.labels(scope, priority.name.lower()).inc()
                try:
                    for bucket in buckets:
                        await bucket.acquire(priority)
                        granted.append(bucket)
                finally:
                    if self._queued is not None:
                        self._queued.labels(scope, priority.name.lower()).dec()
                for bucket in buckets:
                    bucket.throttled_in_row = 0
        except BaseException:
            for bucket in granted:
                bucket.release()
            raise
        waited = self._clock() - started
        if priority is not Priority.QUERY:
            for scope in scopes:
                others = self._others.setdefault((scope, key), collections.deque())
                others.append(self._clock())
                self._trim(others)
        if self._wait is not None:
            for scope in scopes:
                if self._limits.get(scope):
                    self._wait.labels(scope, priority.name.lower()).observe(waited)
        return waited

    def release(self, scopes: Iterable[str], key: str) -> None:
        """The call `acquire` let go for `key` in `scopes` was answered (or failed) now."""
        for scope in scopes:
            for bucket in self._buckets_of(scope, key):
                bucket.release()

    def throttled(self, scopes: Iterable[str], key: str, retry_after_s: float | None) -> float:
        """Record a 429 for `key`: pause its buckets for `retry_after_s`, or for a full-jitter
        backoff growing with the 429s received in a row (429s answering requests sent before a
        running pause began extend nothing: a burst of them is one step).

        Returns:
            The pause applied, in seconds.
        """
        pause = 0.0
        for scope in scopes:
            self.rate_limited[scope] = self.rate_limited.get(scope, 0) + 1
            if self._429 is not None:
                self._429.labels(scope).inc()
            for bucket in self._buckets_of(scope, key):
                if bucket.paused_until <= self._clock():
                    bucket.narrow()
                if retry_after_s is None and bucket.paused_until > self._clock():
                    # Answers to requests sent before the pause began: one backoff step per pause.
                    pause = max(pause, bucket.paused_until - self._clock())
                    continue
                if retry_after_s is not None:
                    delay = retry_after_s
                else:
                    delay = full_jitter(
                        bucket.throttled_in_row, self.backoff_base_s, self.backoff_cap_s, self._rng
                    )
                bucket.throttled_in_row += 1
                bucket.pause(delay)
                pause = max(pause, delay)
        return pause

    def _trim(self, times: collections.deque[float]) -> None:
        horizon = self._clock() - RECENT_S
        while times and times[0] < horizon:
            times.popleft()

    def recent_rate(self, scope: str, key: str | None = None) -> float:
        """Non-query calls (stop, start, update) per second over the last `RECENT_S` seconds, of
        `key` in `scope`, or of every key of `scope` when `key` is None."""
        total = 0
        for (s, k), times in self._others.items():
            if s == scope and (key is None or k == key):
                self._trim(times)
                total += len(times)
        return total / RECENT_S

    def queued(self, scope: str, key: str) -> int:
        """Calls of `key` waiting in `scope`'s buckets."""
        return sum(b.queued for b in self._buckets_of(scope, key))
