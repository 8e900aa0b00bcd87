"""Query pacing: first queries spread over the interval, intervals stretched to fit the budget."""

from __future__ import annotations

import random

import pytest

from recording_operator.controllers._kit.metrics import StatusAges
from recording_operator.controllers._kit.pacing import QUERY_SHARE, QueryPlanner


def test_after_a_restart_first_queries_spread_over_the_interval() -> None:
    planner = QueryPlanner(random.Random(3))
    now = 100.0
    sessions = [("default", f"rec-{i}") for i in range(1000)]
    due_first_tick = [s for s in sessions if planner.due(s, "app", 60.0, None, 0.0, now)]
    assert len(due_first_tick) < 50  # not the herd of 1,000 in one tick
    # Ticking every 10 s for one interval, every session becomes due exactly once.
    seen: set[tuple[str, str]] = set(due_first_tick)
    for s in due_first_tick:
        planner.queried(s, None, 0.0, now)
    per_tick = []
    for tick in range(1, 7):
        t = now + 10.0 * tick
        due = [s for s in sessions if s not in seen and planner.due(s, "app", 60.0, None, 0.0, t)]
        per_tick.append(len(due))
        seen.update(due)
    assert len(seen) == 1000
    assert max(per_tick) < 250  # about a sixth per tick


def test_the_interval_stretches_when_sessions_outgrow_the_budget() -> None:
    planner = QueryPlanner(random.Random(1))
    for i in range(1000):
        planner.due(("ns", f"r{i}"), "app", 60.0, 9.5, 0.0, 0.0)
    interval = planner.interval("app", 60.0, 9.5, 0.0, 0.0)
    # 1,000 sessions at one query a minute need 16.7/s; a 9.5/s App ID leaves 0.8 × 9.5 for them.
    assert 1000 / interval == pytest.approx(QUERY_SHARE * 9.5)
    # Starts and stops in progress take their share first.
    busier = planner.interval("app", 60.0, 9.5, 5.0, 0.0)
    assert 1000 / busier < 1000 / interval
    # Another App ID's sessions are not counted, and a small fleet keeps its interval.
    planner.due(("ns", "other"), "app2", 60.0, 9.5, 0.0, 0.0)
    assert planner.interval("app2", 60.0, 9.5, 0.0, 0.0) == 60.0


def test_forgotten_and_stale_sessions_do_not_count() -> None:
    planner = QueryPlanner(random.Random(1))
    for i in range(1000):
        planner.due(("ns", f"r{i}"), "app", 60.0, 9.5, 0.0, 0.0)
    for i in range(500):
        planner.forget(("ns", f"r{i}"))
    assert planner.sessions("app") == 500
    assert planner.interval("app", 60.0, 9.5, 0.0, 1000.0) == 60.0  # none seen for 1,000 s


def test_a_queried_session_is_next_due_about_one_interval_later() -> None:
    planner = QueryPlanner(random.Random(2))
    s = ("ns", "r")
    planner.due(s, "app", 60.0, None, 0.0, 0.0)
    assert planner.queried(s, None, 0.0, 10.0) == 60.0
    assert not planner.due(s, "app", 60.0, None, 0.0, 10.0 + 53.0)
    assert planner.due(s, "app", 60.0, None, 0.0, 10.0 + 67.0)


def test_status_age_quantiles() -> None:
    now = [0.0]
    ages = StatusAges(clock=lambda: now[0])
    for i in range(100):
        now[0] = float(i)
        ages.observed("CloudRecording", "ns", f"r{i}")
    now[0] = 100.0
    ages.tracking("CloudRecording", "ns", "r5")  # already tracked: its age is kept
    ages.forget("CloudRecording", "ns", "r0")
    samples = {s.labels["quantile"]: s.value for f in ages.collect() for s in f.samples}
    assert samples["1.0"] == 99.0  # r1, observed at 1 s
    assert samples["0.5"] == 50.0
    assert ages.ages("CloudTranscoder") == []
