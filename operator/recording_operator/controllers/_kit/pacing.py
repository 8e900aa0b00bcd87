"""When each live session is next queried: spread over the interval, within the provider budget.

Every kind with a periodic provider `query` (CloudRecording, CloudTranscoder) asks a
`QueryPlanner` on each timer tick whether its session is due. The planner

- spreads first queries: a session it has not seen yet is first due at a uniformly random point
  of its interval (after an operator restart the sessions do not all query in the same tick);
- re-spreads later ones: each next query is due after the interval times a random factor in
  [0.9, 1.1], so sessions created together drift apart;
- adapts the interval to the budget: the sessions of one credential key (an App ID, an account)
  ask for Σ 1/interval queries per second; when that exceeds what the key's budget leaves after
  its starts, updates and stops (`share` of its rate minus their recent rate), every interval of
  that key is stretched by the same factor, so queries fit and never crowd out a stop.

Pure: no kopf, no I/O; time comes in as arguments (monotonic seconds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Fraction of a key's budget queries may use at most (the rest is kept for starts and stops).
QUERY_SHARE = 0.8
#: Fraction of a key's budget queries keep however busy starts and stops are.
QUERY_FLOOR = 0.1
#: A session not seen for this many of its intervals (or at least `STALE_MIN_S`) no longer counts.
STALE_INTERVALS = 3.0
STALE_MIN_S = 60.0


@dataclass
class _Session:
    key: str
    base_s: float
    due: float
    seen: float


class QueryPlanner:
    """Per-session next query times and per-key adaptive intervals.

    Args:
        rng: random source of the spread (tests pass a seeded one).
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._sessions: dict[tuple[str, str], _Session] = {}

    def interval(
        self, key: str, base_s: float, rate_per_s: float | None, other_per_s: float, now: float
    ) -> float:
        """Seconds between queries of one session of `key` whose own interval is `base_s`.

        Args:
            rate_per_s: the key's budget (calls/s), None when unpaced (then `base_s`).
            other_per_s: the key's recent rate of non-query calls (starts, updates, stops), calls/s.
        """
        if not rate_per_s or base_s <= 0:
            return base_s
        demand = 0.0
        for s in self._sessions.values():
            if s.key == key and now - s.seen <= max(STALE_MIN_S, STALE_INTERVALS * s.base_s):
                demand += 1.0 / s.base_s if s.base_s > 0 else 0.0
        available = max(QUERY_SHARE * rate_per_s - other_per_s, QUERY_FLOOR * rate_per_s)
        return base_s * max(1.0, demand / available)

    def due(
        self,
        session: tuple[str, str],
        key: str,
        base_s: float,
        rate_per_s: float | None,
        other_per_s: float,
        now: float,
    ) -> bool:
        """Record one tick of `session` (e.g. `(namespace, name)`) and say whether to query now.

        A session seen for the first time is due at a random point of its interval; once due,
        call `queried` after the query (success or not) to schedule the next one.
        """
        record = self._sessions.get(session)
        if record is None or record.key != key:
            record = self._sessions[session] = _Session(key, base_s, now, now)
            record.due = now + self._rng.uniform(
                0.0, self.interval(key, base_s, rate_per_s, other_per_s, now)
            )
        elif record.base_s != base_s:
            record.base_s = base_s
            record.due = min(record.due, now + self.interval(key, base_s, rate_per_s, other_per_s, now))
        record.seen = now
        return now >= record.due

    def queried(
        self, session: tuple[str, str], rate_per_s: float | None, other_per_s: float, now: float
    ) -> float:
        """Schedule the next query of `session` after one was made at `now`; returns its interval (s)."""
        record = self._sessions.get(session)
        if record is None:
            return 0.0
        interval = self.interval(record.key, record.base_s, rate_per_s, other_per_s, now)
        record.due = now + interval * self._rng.uniform(0.9, 1.1)
        return interval

    def forget(self, session: tuple[str, str]) -> None:
        """Stop counting `session` (it ended or its object is gone)."""
        self._sessions.pop(session, None)

    def sessions(self, key: str) -> int:
        """Sessions of `key` the planner counts."""
        return sum(1 for s in self._sessions.values() if s.key == key)
