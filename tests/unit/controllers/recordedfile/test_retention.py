"""The retention schedule's heap."""

from __future__ import annotations

import asyncio

from recording_operator.controllers.recordedfile.retention import RetentionSchedule


def test_schedule_takes_due_keys_in_order_and_ignores_stale_offers() -> None:
    async def scenario() -> None:
        schedule = RetentionSchedule()
        schedule.offer(("ns", "b"), 200.0)
        schedule.offer(("ns", "a"), 100.0)
        schedule.offer(("ns", "a"), 100.0)  # repeated watch events do not grow the heap
        schedule.offer(("ns", "c"), 150.0)
        schedule.offer(("ns", "c"), 300.0)  # re-planned later: the old time is stale
        schedule.offer(("ns", "d"), 120.0)
        schedule.offer(("ns", "d"), None)  # withdrawn (being deleted)
        assert len(schedule) == 3 and schedule.next_at() == 100.0
        assert schedule.due(99.0) == []
        assert schedule.due(250.0) == [("ns", "a"), ("ns", "b")]
        assert schedule.next_at() == 300.0 and schedule.due(300.0) == [("ns", "c")]
        assert schedule.next_at() is None

    asyncio.run(scenario())
