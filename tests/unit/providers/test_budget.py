"""The provider request budget: window bounds, priorities, Retry-After and backoff."""

from __future__ import annotations

import asyncio
import heapq
import random

import pytest
from prometheus_client import CollectorRegistry

from recording_operator.providers.budget import (
    ADMISSION_S,
    RECOVER_S,
    Budget,
    Limit,
    Priority,
    WindowLimiter,
    full_jitter,
    parse_retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("requests", [1, 2, 3, 10, 37, 250, 1000])
@pytest.mark.parametrize("window", [1.0, 10.0, 60.0])
@pytest.mark.parametrize("headroom", [0.8, 0.95, 1.0])
def test_a_greedy_caller_never_exceeds_the_documented_window(
    requests: int, window: float, headroom: float
) -> None:
    """Taking every slot as soon as it is free, even waking late, no window of the limit's length
    holds more than the limit; and a late wake loses no capacity."""
    clock = FakeClock()
    limit = Limit(requests, window, headroom)
    limiter = WindowLimiter(limit.allowance(), window, clock)
    sent: list[float] = []
    lateness = [0.0, 0.03, 0.0, 0.2, 0.01]
    for i in range(min(3 * requests, 3000)):
        clock.now += limiter.ready_in() + lateness[i % len(lateness)] * window / 10
        assert limiter.ready_in() == 0.0
        limiter.take()
        sent.append(clock.now)
    start = 0
    for end, t in enumerate(sent):
        while sent[start] <= t - window + 1e-9:
            start += 1
        assert end - start + 1 <= limit.allowance() <= requests
    # Sustained: the allowance per window, whatever the lateness.
    span = sent[-1] - sent[0]
    assert len(sent) - 1 <= limit.allowance() * (span / window + 1)


def test_documented_limits_become_allowances() -> None:
    assert Limit(10, 1.0).allowance() == 9
    assert Limit(250, 10.0).allowance() == 237
    assert Limit(1000, 60.0).allowance() == 950
    assert Limit(10, 1.0, headroom=1.0).rate == 10.0


async def test_a_stop_is_served_before_queued_queries() -> None:
    bucket = WindowLimiter(allowance=1, window_s=0.02)
    await bucket.acquire(Priority.QUERY)  # the window is full now
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await bucket.acquire(priority)
        order.append(name)
        bucket.release()

    queries = [asyncio.create_task(call(f"query{i}", Priority.QUERY)) for i in range(5)]
    await asyncio.sleep(0)
    stop = asyncio.create_task(call("stop", Priority.STOP))
    start = asyncio.create_task(call("start", Priority.START))
    bucket.release()  # the first call is answered
    await asyncio.gather(*queries, stop, start)
    assert order[:2] == ["stop", "start"]
    assert order[2:] == [f"query{i}" for i in range(5)]


async def test_a_cancelled_waiter_takes_no_token() -> None:
    bucket = WindowLimiter(allowance=1, window_s=0.05)
    await bucket.acquire(Priority.QUERY)
    waiter = asyncio.create_task(bucket.acquire(Priority.QUERY))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert bucket.queued == 0
    bucket.release()
    await bucket.acquire(Priority.QUERY)  # the slot the cancelled waiter left


@pytest.mark.parametrize("seed", range(5))
def test_the_provider_never_counts_more_than_the_allowance_however_slow_the_answers(seed: int) -> None:
    """The provider counts a call at some instant between its send and its answer (a late event
    loop on either side moves it anywhere in there): a call holds its slot over that whole span,
    so no 1 s window of the provider's instants holds more than the allowance."""
    clock = FakeClock()
    rng = random.Random(seed)
    limiter = WindowLimiter(10, 1.0, clock)
    began = clock.now
    answers: list[float] = []  # answer times of the calls in flight (a heap)
    counted: list[float] = []  # when the provider counted each call
    while len(counted) < 600:
        wait = limiter.ready_in()
        if answers and answers[0] <= clock.now + wait:
            clock.now = max(clock.now, heapq.heappop(answers))
            limiter.release()
            continue
        clock.now += wait
        limiter.begin()
        answer = clock.now + rng.choice([0.005, 0.02, 0.3, 0.9, 1.7])
        counted.append(rng.uniform(clock.now, answer))
        heapq.heappush(answers, answer)
    counted.sort()
    start = 0
    for end, t in enumerate(counted):
        while counted[start] <= t - 1.0:
            start += 1
        assert end - start + 1 <= 10
    # And it still sends: about 10 per (1 s + the mean latency).
    assert len(counted) / (clock.now - began) > 3


async def test_a_slot_freed_by_an_answer_wakes_the_next_waiter() -> None:
    bucket = WindowLimiter(allowance=1, window_s=0.01)
    await bucket.acquire(Priority.QUERY)
    waiter = asyncio.create_task(bucket.acquire(Priority.QUERY))
    await asyncio.sleep(0.05)
    assert not waiter.done()  # in flight: the slot is held past the window
    bucket.release()
    await asyncio.wait_for(waiter, 1.0)


async def test_a_call_cancelled_while_waiting_for_its_second_bucket_gives_back_the_first() -> None:
    budget = Budget({"a": [Limit(1, 60.0, 1.0)], "b": [Limit(1, 60.0, 1.0)]})
    await budget.acquire(("b",), "k", Priority.QUERY)  # b is busy
    call = asyncio.create_task(budget.acquire(("a", "b"), "k", Priority.QUERY))
    await asyncio.sleep(0.01)
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    (a,) = budget._buckets_of("a", "k")
    assert a.in_flight == 0


async def test_retry_after_pauses_every_caller_of_that_key() -> None:
    registry = CollectorRegistry()
    budget = Budget({"agora_recording": [Limit(1000, 1.0)]}, registry=registry)
    await budget.acquire(("agora_recording",), "app1", Priority.QUERY)
    assert budget.throttled(("agora_recording",), "app1", 0.2) == 0.2
    waited = await budget.acquire(("agora_recording",), "app1", Priority.STOP)
    assert waited >= 0.2
    other = await budget.acquire(("agora_recording",), "app2", Priority.QUERY)  # another App ID
    assert other < 0.2
    assert budget.rate_limited == {"agora_recording": 1}
    assert (
        registry.get_sample_value(
            "recording_operator_provider_rate_limited_total", {"scope": "agora_recording"}
        )
        == 1
    )
    count = registry.get_sample_value(
        "recording_operator_provider_budget_wait_seconds_count",
        {"scope": "agora_recording", "priority": "stop"},
    )
    assert count == 1


def test_without_retry_after_the_backoff_is_full_jitter_and_grows() -> None:
    rng = random.Random(7)
    delays = [full_jitter(n, 0.5, 30.0, rng) for n in range(8) for _ in range(50)]
    assert all(0 <= d <= 30.0 for d in delays)
    assert max(delays[:50]) <= 0.5 < max(delays[-50:])
    budget = Budget({"s": [Limit(10, 1.0)]}, backoff_base_s=1.0, backoff_cap_s=4.0, rng=random.Random(1))
    pauses = [budget.throttled(("s",), "k", None) for _ in range(6)]
    assert all(0 <= p <= 4.0 for p in pauses)


def test_unlimited_scopes_are_free() -> None:
    budget = Budget({})
    assert budget.rate("agora_recording") is None
    assert asyncio.run(budget.acquire(("agora_recording",), "app", Priority.QUERY)) < 0.1


async def test_new_sessions_beyond_two_seconds_of_the_rate_wait_at_the_gate_in_arrival_order() -> None:
    """1,000 CloudRecordings applied together on one App ID: 20 starts (2 s of 10 requests/s) work at
    once; the others wait at the gate, each let in when one ends, first come first served."""
    budget = Budget({"agora_recording": [Limit(10, 1.0, headroom=1.0)]})
    admitted: list[int] = []
    leave = asyncio.Event()

    async def start(n: int) -> None:
        async with budget.admission(("agora_recording", "app")):
            admitted.append(n)
            await leave.wait()

    starts = [asyncio.create_task(start(n)) for n in range(50)]
    await asyncio.sleep(0.01)
    assert admitted == list(range(int(ADMISSION_S * 10)))
    assert int(ADMISSION_S * 10) == 20
    leave.set()
    await asyncio.gather(*starts)
    assert admitted == list(range(50))


async def test_a_full_gate_holds_only_new_sessions_of_its_own_credential() -> None:
    budget = Budget({"agora_recording": [Limit(1, 1.0, headroom=1.0)]})  # a gate of 2 starts
    async with budget.admission(("agora_recording", "app-a")), budget.admission(("agora_recording", "app-a")):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_enter(budget.admission(("agora_recording", "app-a"))), 0.05)
        await asyncio.wait_for(_enter(budget.admission(("agora_recording", "app-b"))), 1)
        await asyncio.wait_for(_enter(budget.admission(("agora_transcoder", "ns/creds"))), 1)  # unlimited
        await asyncio.wait_for(_enter(budget.admission(None)), 1)
    await asyncio.wait_for(_enter(budget.admission(("agora_recording", "app-a"))), 1)


async def _enter(gate: object) -> None:
    async with gate:  # type: ignore[attr-defined]
        pass


@pytest.mark.parametrize(
    ("header", "seconds"), [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None), ("-1", None)]
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_a_429_narrows_the_window_until_the_provider_has_been_quiet() -> None:
    clock = FakeClock()
    budget = Budget({"s": [Limit(10, 1.0)]}, clock=clock, rng=random.Random(3))
    (limiter,) = budget._buckets_of("s", "k")
    assert limiter.current == 9
    budget.throttled(("s",), "k", 0.0)
    assert limiter.current == 8
    clock.now += 0.5
    budget.throttled(("s",), "k", 0.0)
    assert limiter.current == 7
    clock.now += RECOVER_S
    limiter.ready_in()
    assert limiter.current == 8
    clock.now += RECOVER_S
    limiter.ready_in()
    assert limiter.current == 9


def test_settings_default_to_the_documented_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from recording_operator.settings import Settings

    limits = Settings().budget_limits()
    assert [(lim.requests, lim.window_s) for lim in limits["agora_recording"]] == [(10.0, 1.0)]
    assert [(lim.requests, lim.window_s) for lim in limits["agora_transcoder"]] == [(10.0, 1.0)]
    assert [(lim.requests, lim.window_s) for lim in limits["realtimekit"]] == [(250.0, 10.0)]
    assert [(lim.requests, lim.window_s) for lim in limits["realtimekit_recordings"]] == [(1000.0, 60.0)]
    monkeypatch.setenv("AGORA_RECORDING_QPS", "0")
    assert "agora_recording" not in Settings.from_env().budget_limits()
