"""The Agora emulator's NCS sender: signed envelopes, resends after no 200, and its fault switches."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from recording_sandbox.agora.notify import NcsSender

SECRET = "ncs"


class Target:
    """A receiver that records deliveries and answers the statuses in `answers` (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert (
            request.headers["Agora-Signature-V2"]
            == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        assert request.headers["Agora-Signature"] == hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        self.received.append(json.loads(body))
        return web.json_response({}, status=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    app = web.Application()
    app.router.add_post("/ncs", t.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    t.url = f"http://127.0.0.1:{runner.addresses[0][1]}/ncs"
    yield t
    await runner.cleanup()


@pytest.fixture
async def sender(target: Target) -> AsyncIterator[NcsSender]:
    s = NcsSender()
    s.configure({"url": target.url, "secret": SECRET, "retryIntervalMs": 1})
    s.start()
    yield s
    await s.stop()


async def settled(sender: NcsSender, deliveries: int) -> None:
    for _ in range(500):
        if len(sender.log) >= deliveries:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(sender.log)} deliveries")


async def test_envelope_and_sequence(sender: NcsSender, target: Target) -> None:
    sender.emit(
        40, {"sid": "s", "cname": "c", "uid": "1", "details": {"msgName": "recorder_started"}}, session="s"
    )
    sender.emit(
        11, {"sid": "s", "cname": "c", "uid": "1", "details": {"msgName": "session_exit"}}, session="s"
    )
    await settled(sender, 2)
    first, second = target.received
    assert {"noticeId", "productId", "eventType", "notifyMs", "payload"} <= first.keys()
    assert first["productId"] == 3 and first["eventType"] == 40
    assert (first["payload"]["sequence"], second["payload"]["sequence"]) == (0, 1)


async def test_resends_three_times_without_a_200(sender: NcsSender, target: Target) -> None:
    target.answers = [500, 503, 401, 500]
    sender.emit(40, {"sid": "s"}, session="s")
    await settled(sender, 1)
    assert len(target.received) == 4  # the first attempt and 3 retries
    assert len({r["noticeId"] for r in target.received}) == 1
    assert len({r["notifyMs"] for r in target.received}) == 4  # notifyMs changes on every resend
    assert sender.log[-1]["httpStatus"] == 500 and sender.log[-1]["attempts"] == 4


async def test_drop_and_duplicate(sender: NcsSender, target: Target) -> None:
    sender.configure({"drop": 1, "duplicate": True})
    sender.emit(40, {"sid": "s"}, session="s")
    sender.emit(41, {"sid": "s"}, session="s")
    await settled(sender, 2)
    assert [r["eventType"] for r in target.received] == [41, 41]
    assert target.received[0]["noticeId"] == target.received[1]["noticeId"]
    assert sender.view()["stats"] == {"dropped": 1, "delivered": 2}


async def test_reorder_swaps_pairs(sender: NcsSender, target: Target) -> None:
    sender.configure({"reorder": True})
    for event in (40, 30):
        sender.emit(event, {"sid": "s"}, session="s")
    await settled(sender, 2)
    assert [r["eventType"] for r in target.received] == [30, 40]


def test_configure_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError):
        NcsSender().configure({"loss": 1})
    with pytest.raises(ValueError):
        NcsSender().configure({"drop": -1})
