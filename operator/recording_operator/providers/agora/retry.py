"""In-call retry schedule for Agora Cloud Recording calls.

Provider guidance (``/work/shared/reference/provider-contracts.md``):

- §1.9: code 65 ("request not completed"): retry after 3 s, then 6 s, with the same resourceId.
- §1.9: 50x on ``start``: retry with the same parameters after 3 s, 6 s, 9 s; after that the caller
  re-acquires with another uid (the client never re-acquires by itself).
- §1.9: ``query`` answering 404: retry after 5, 10, 15 s before concluding the task is gone. Off by
  default (``query_404=()``) because the controller polls anyway and a 404 is usually final.
- §1.9: ``query`` answering 50x: retry after 5, 10, 15, 30 s.
- §1.1: other failures (transport, other 5xx): 1 s, 3 s, 6 s, moving from the same domain to the
  other primary domain.
- §1.1: HTTP 429 (10 QPS per App ID): back off 1 s, 3 s, 6 s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from recording_operator.providers.agora.errors import CODE_REQUEST_NOT_COMPLETED, AgoraError


@dataclass(frozen=True)
class RetryPolicy:
    """Delays, in seconds, between in-call attempts; each tuple's length is the retry budget.

    Every delay is multiplied by ``scale`` (tests use e.g. ``0.01``) and by a random factor in
    ``[1 - jitter, 1 + jitter]``. Each failure kind has its own budget; a call gives up with the
    last :class:`AgoraError` once the budget of the failing kind is spent.

    Attributes:
        code65: after 206/65 on any endpoint (§1.9: 3 s, 6 s).
        start_5xx: after a 5xx (incl. 500/62, 500/502) on ``start`` (§1.9: 3 s, 6 s, 9 s).
        query_404: after 404 on ``query`` (§1.9 suggests 5, 10, 15 s; default: no retry).
        query_5xx: after a 5xx on ``query`` (§1.9: 5, 10, 15, 30 s).
        other_5xx: after a 5xx elsewhere (§1.1: 1, 3, 6 s).
        rate_limited: after HTTP 429 (§1.1).
        transport: after a connection failure or timeout (§1.1: 1, 3, 6 s).
        jitter: fraction in ``[0, 1)``.
        scale: multiplier applied to every delay.
    """

    code65: tuple[float, ...] = (3.0, 6.0)
    start_5xx: tuple[float, ...] = (3.0, 6.0, 9.0)
    query_404: tuple[float, ...] = ()
    query_5xx: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0)
    other_5xx: tuple[float, ...] = (1.0, 3.0, 6.0)
    rate_limited: tuple[float, ...] = (1.0, 3.0, 6.0)
    transport: tuple[float, ...] = (1.0, 3.0, 6.0)
    jitter: float = 0.1
    scale: float = 1.0

    def kind_of(self, error: AgoraError) -> str | None:
        """Name the schedule that applies to ``error``, or ``None`` when it must not be retried.

        ``stop`` never retries 400/49 or 404 (§1.8: the task is exiting or gone), and no endpoint
        retries a non-retryable error (§1.9).
        """
        if error.http_status is None:
            return "transport"
        if error.code == CODE_REQUEST_NOT_COMPLETED:
            return "code65"
        if error.endpoint == "query" and error.http_status == 404 and not error.gateway:
            return "query_404"
        if not error.retryable:
            return None
        if error.http_status == 429:
            return "rate_limited"
        if error.endpoint == "start":
            return "start_5xx"
        if error.endpoint == "query":
            return "query_5xx"
        return "other_5xx"

    def delay(self, kind: str, retry_index: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry number ``retry_index`` (0-based) of ``kind``.

        Returns ``None`` when that kind's budget is spent.
        """
        schedule: tuple[float, ...] = getattr(self, kind)
        if retry_index >= len(schedule):
            return None
        base = schedule[retry_index] * self.scale
        if self.jitter <= 0:
            return base
        factor = 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * factor)
