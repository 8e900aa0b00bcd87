"""In-call retry schedule for Agora Cloud Recording calls.

Provider guidance, Cloud Recording (:class:`RetryPolicy`):

- [status codes]: code 65 ("request not completed"): retry after 3 s, then 6 s, with the same resourceId.
- [status codes]: 50x on ``start``: retry with the same parameters after 3 s, 6 s, 9 s; after that the caller
  re-acquires with another uid (the client never re-acquires by itself).
- [status codes]: ``query`` answering 404: retry after 5, 10, 15 s before concluding the task is gone. Off by
  default (``query_404=()``) because the controller polls anyway and a 404 is usually final.
- [status codes]: ``query`` answering 50x: retry after 5, 10, 15, 30 s.
- [best practices]: other failures (transport, other 5xx): 1 s, 3 s, 6 s, moving from the same domain to the
  other primary domain. A timeout or dropped connection on ``start`` (and the transcoder's ``create``) is
  never retried: the transport raises it at once, since the call may have started a paid session.
- [overview]: HTTP 429 (10 QPS per App ID): back off 1 s, 3 s, 6 s.

Sources (Agora Cloud Recording RESTful API; [name] in a docstring cites that page):
[overview] https://docs.agora.io/en/cloud-recording/rest-api/overview
[best practices] https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices
[stop] https://docs.agora.io/en/cloud-recording/rest-api/stop
[status codes] https://docs.agora.io/en/cloud-recording/rest-api/status-codes
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from recording_operator.providers.agora.errors import (
    CODE_REQUEST_NOT_COMPLETED,
    TRANSCODER_RETRYABLE_STATUSES,
    AgoraError,
)


def scheduled_delay(
    schedule: tuple[float, ...], retry_index: int, jitter: float, scale: float, rng: random.Random | None
) -> float | None:
    """Seconds before retry ``retry_index`` (0-based) of a schedule; ``None`` once it is spent.

    The schedule's delay is multiplied by ``scale`` and by a random factor in
    ``[1 - jitter, 1 + jitter]`` (no factor when ``jitter <= 0``); never negative.
    """
    if retry_index >= len(schedule):
        return None
    base = schedule[retry_index] * scale
    if jitter <= 0:
        return max(0.0, base)
    return max(0.0, base * (1.0 + (rng or random).uniform(-jitter, jitter)))


@dataclass(frozen=True)
class RetryPolicy:
    """Delays, in seconds, between in-call attempts; each tuple's length is the retry budget.

    Every delay is multiplied by ``scale`` (tests use e.g. ``0.01``) and by a random factor in
    ``[1 - jitter, 1 + jitter]``. Each failure kind has its own budget; a call gives up with the
    last :class:`AgoraError` once the budget of the failing kind is spent.

    Attributes:
        code65: after 206/65 on any endpoint ([status codes]: 3 s, 6 s).
        start_5xx: after a 5xx (incl. 500/62, 500/502) on ``start`` ([status codes]: 3 s, 6 s, 9 s).
        query_404: after 404 on ``query`` ([status codes] suggests 5, 10, 15 s; default: no retry).
        query_5xx: after a 5xx on ``query`` ([status codes]: 5, 10, 15, 30 s).
        other_5xx: after a 5xx elsewhere ([best practices]: 1, 3, 6 s).
        rate_limited: after HTTP 429 [overview].
        transport: after a connection failure or timeout ([best practices]: 1, 3, 6 s).
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

        ``stop`` never retries 400/49 or 404 ([stop]: the task is exiting or gone), and no endpoint
        retries a non-retryable error [status codes].
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
        return scheduled_delay(getattr(self, kind), retry_index, self.jitter, self.scale, rng)


@dataclass(frozen=True)
class TranscoderRetryPolicy:
    """Cloud Transcoder delays in seconds between in-call attempts (each tuple's length is the budget).

    Sources: https://docs.agora.io/en/cloud-transcoding/rest-api/create (206: retry after 3, 6, 9 s),
    https://docs.agora.io/en/cloud-transcoding/reference/status-codes and
    https://docs.agora.io/en/cloud-transcoding/best-practices/integration (backoff).

    Attributes:
        create_timeout: after 206 on ``createTask`` (create page: 3, 6, 9 s; the caller then acquires anew).
        server_error: after 500/502/503/504 (best practices: 5, 10, 15, 30 s).
        query_404: after 404 on ``queryTask`` (the status codes page suggests 5, 10, 15 s; default none: the
            controller confirms a 404 by itself on its next query).
        rate_limited: after 429 (status codes: "wait and retry"; 10 QPS per account).
        transport: after a connection failure or timeout (1, 3, 6 s as the Go SDK).
        jitter: fraction in ``[0, 1)`` applied to each delay.
        scale: multiplier on every delay (tests use a small one).
    """

    create_timeout: tuple[float, ...] = (3.0, 6.0, 9.0)
    server_error: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0)
    query_404: tuple[float, ...] = ()
    rate_limited: tuple[float, ...] = (1.0, 3.0, 6.0)
    transport: tuple[float, ...] = (1.0, 3.0, 6.0)
    jitter: float = 0.1
    scale: float = 1.0

    def kind_of(self, error: AgoraError) -> str | None:
        """The schedule that applies to ``error``, or ``None`` when it must not be retried (status codes)."""
        if error.http_status is None:
            return "transport"
        if error.http_status == 206:
            return "create_timeout"
        if error.http_status == 404 and error.endpoint == "queryTask":
            return "query_404"
        if error.http_status == 429:
            return "rate_limited"
        if error.http_status in TRANSCODER_RETRYABLE_STATUSES:
            return "server_error"
        return None

    def delay(self, kind: str, retry_index: int, rng: random.Random | None = None) -> float | None:
        """Seconds before retry ``retry_index`` (0-based) of ``kind``; ``None`` once the budget is spent."""
        return scheduled_delay(getattr(self, kind), retry_index, self.jitter, self.scale, rng)
