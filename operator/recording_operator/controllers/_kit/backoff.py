"""Retry delays for retryable failures: exponential with ±20 % jitter, capped."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): base·2^attempt capped at max, ±20 % jitter.

    Jitter spreads retries of many resources that failed together (e.g. a provider outage),
    the "exponential backoff with jitter" Agora and Kubernetes controllers recommend.
    """
    rand = rng or random
    delay = min(max_s, base_s * (2 ** max(0, attempt)))
    return max(0.0, delay * rand.uniform(0.8, 1.2))
