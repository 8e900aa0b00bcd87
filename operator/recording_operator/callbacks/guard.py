"""Bookkeeping the receiver needs before a callback may change anything: deliveries already seen
(replays and duplicates), and a per-source rate limit. Memory is bounded; nothing does I/O."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class SeenSet:
    """Keys seen in the last `ttl_s` seconds, at most `limit` of them (oldest forgotten first).

    Args:
        ttl_s: seconds a key is remembered.
        limit: keys kept at most.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self, ttl_s: float, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._clock = clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.ttl_s and len(self._seen) <= self.limit:
                break
            del self._seen[key]

    def __contains__(self, key: Hashable) -> bool:
        self._expire(self._clock())
        return key in self._seen

    def add(self, key: Hashable) -> bool:
        """Remember `key`; True when it was not already remembered."""
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def discard(self, key: Hashable) -> None:
        """Forget `key` (a delivery that failed must be accepted again when resent)."""
        self._seen.pop(key, None)


class RateLimiter:
    """A token bucket per source: `rate` callbacks per second on average, bursts up to `burst`.

    At most `max_sources` buckets are kept (least recently used dropped), so a spoofed flood of
    sources cannot grow memory. `rate` 0 = unlimited.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str) -> bool:
        """Take one token from `source`'s bucket; False when it is empty."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, at = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed
