"""The callback receiver over real HTTP: what is accepted, refused, deduplicated, and what is logged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from recording_operator.callbacks.receiver import CALLBACKS, Receiver, ReceiverConfig
from recording_operator.callbacks.verify import agora_signature
from recording_operator.providers.agora.ncs import Notice

SECRET = b"ncs-secret-value"


class Sink:
    """Records the notices handed over; fails the first `failures` calls."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.failures = 0
        self.calls = 0
        self.called = asyncio.Event()

    async def called_times(self, calls: int) -> None:
        """Wait until the sink was called `calls` times (20 s at most)."""
        async with asyncio.timeout(20):
            while self.calls < calls:
                self.called.clear()
                await self.called.wait()

    async def __call__(self, notice: Notice) -> str:
        self.calls += 1
        self.called.set()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the API server is away")
        self.notices.append(notice)
        return "applied"


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def receiver(sink: Sink) -> AsyncIterator[Receiver]:
    config = ReceiverConfig(
        host="127.0.0.1",
        port=0,
        agora_secrets={"app1": SECRET},
        max_body_bytes=4096,
        rate=0,
        replay_window_s=60,
    )
    rx = Receiver(config, agora_recording=sink)
    await rx.start()
    yield rx
    await rx.stop()


def envelope(notice_id: str = "n-1", notify_ms: int | None = None, **payload: Any) -> bytes:
    body = {
        "noticeId": notice_id,
        "productId": 3,
        "eventType": 40,
        "notifyMs": notify_ms if notify_ms is not None else int(time.time() * 1000),
        "payload": {"cname": "c", "uid": "7", "sid": "s1", "sequence": 0, "sendts": 1, **payload},
    }
    return json.dumps(body).encode()


async def post(rx: Receiver, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    if headers is None:
        headers = {"Agora-Signature-V2": agora_signature(SECRET, body)}
    async with httpx.AsyncClient(base_url=rx.url) as client:
        return await client.post(
            "/callbacks/agora/recording",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )


def count(result: str) -> float:
    return CALLBACKS.labels("agora-recording", result)._value.get()


async def test_signed_notice_reaches_the_sink_once(receiver: Receiver, sink: Sink) -> None:
    body = envelope()
    response = await post(receiver, body)
    assert response.status_code == 200 and response.json() == {"ok": True, "result": "applied"}
    [notice] = sink.notices
    assert (notice.app_id, notice.sid, notice.event_type, notice.sequence) == ("app1", "s1", 40, 0)
    # A resend (same noticeId, new notifyMs) is answered 200 and changes nothing.
    resend = envelope(notify_ms=json.loads(body)["notifyMs"] + 1)
    response = await post(receiver, resend)
    assert response.status_code == 200 and response.json()["result"] == "duplicate"
    assert len(sink.notices) == 1
    # The very same delivery again is a replay.
    before = count("replayed")
    response = await post(receiver, body)
    assert response.status_code == 401 and response.json()["error"] == "replayed"
    assert count("replayed") == before + 1
    assert len(sink.notices) == 1


async def test_sha1_signature_is_accepted(receiver: Receiver, sink: Sink) -> None:
    body = envelope("n-sha1")
    response = await post(receiver, body, {"Agora-Signature": agora_signature(SECRET, body, v2=False)})
    assert response.status_code == 200
    assert len(sink.notices) == 1


@pytest.mark.parametrize(
    ("headers", "result"),
    [
        ({}, "unsigned"),
        ({"Agora-Signature-V2": "0" * 64}, "forged"),
        ({"Agora-Signature": "0" * 40}, "forged"),
    ],
)
async def test_unauthentic_notices_are_refused(
    receiver: Receiver, sink: Sink, headers: dict[str, str], result: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = count(result)
    response = await post(receiver, envelope(), headers)
    assert response.status_code == 401 and response.json() == {"ok": False, "error": result}
    assert count(result) == before + 1
    assert sink.notices == []
    assert "noticeId" not in caplog.text and SECRET.decode() not in caplog.text and "0000" not in caplog.text


async def test_stale_notify_ms_is_a_replay(receiver: Receiver, sink: Sink) -> None:
    response = await post(receiver, envelope(notify_ms=int(time.time() * 1000) - 3_600_000))
    assert response.status_code == 401 and response.json()["error"] == "replayed"
    assert sink.notices == []


async def test_malformed_and_oversized(receiver: Receiver, sink: Sink) -> None:
    for body in (b"not json", b"[1, 2]", json.dumps({"noticeId": "x", "eventType": 40}).encode()):
        response = await post(receiver, body)
        assert response.status_code == 400 and response.json()["error"] == "malformed"
    big = envelope(filler="x" * 5000)
    response = await post(receiver, big)
    assert response.status_code == 413 and response.json()["error"] == "oversized"
    assert sink.notices == []


async def test_failed_sink_answers_503_and_the_resend_applies(receiver: Receiver, sink: Sink) -> None:
    sink.failures = 1
    body = envelope("n-retry")
    assert (await post(receiver, body)).status_code == 503
    resend = envelope("n-retry", notify_ms=json.loads(body)["notifyMs"] + 5)
    response = await post(receiver, resend)
    assert response.status_code == 200 and response.json()["result"] == "applied"
    assert len(sink.notices) == 1


async def test_a_failed_notice_is_applied_later_without_a_resend(receiver: Receiver, sink: Sink) -> None:
    """Agora resends a notice only three times: an API outage can outlast them all, so the receiver
    applies the notice again itself, once."""
    sink.failures = 1
    before = count("redelivered_applied")
    assert (await post(receiver, envelope("n-outage"))).status_code == 503
    assert sink.notices == []
    await sink.called_times(2)
    await asyncio.sleep(0.1)  # the redelivery's bookkeeping after the sink returned
    assert [n.notice_id for n in sink.notices] == ["n-outage"]
    assert count("redelivered_applied") == before + 1
    await asyncio.sleep(2.5)  # no second application after it succeeded
    assert len(sink.notices) == 1


async def test_redelivery_gives_up_after_its_window(sink: Sink) -> None:
    config = ReceiverConfig(
        host="127.0.0.1", port=0, agora_secrets={"a": SECRET}, rate=0, redeliver_window_s=3
    )
    rx = Receiver(config, agora_recording=sink)
    await rx.start()
    sink.failures = 100
    before = count("redelivery_expired")
    try:
        assert (await post(rx, envelope("n-gone"))).status_code == 503
        await sink.called_times(2)
        await asyncio.sleep(0.1)  # the next try would fall outside the window: it gives up at once
    finally:
        await rx.stop()
    assert count("redelivery_expired") == before + 1
    assert sink.failures == 98  # the notice, then one redelivery inside 3 s (2 s, then 4 s would pass it)


async def test_rate_limit_per_source(sink: Sink) -> None:
    config = ReceiverConfig(host="127.0.0.1", port=0, agora_secrets={"a": SECRET}, rate=0.001, burst=2)
    rx = Receiver(config, agora_recording=sink)
    await rx.start()
    try:
        statuses = [(await post(rx, envelope(f"n-{i}"))).status_code for i in range(4)]
    finally:
        await rx.stop()
    assert statuses == [200, 200, 429, 429]
    assert len(sink.notices) == 2


async def test_healthz_follows_readiness(sink: Sink) -> None:
    ready = False
    rx = Receiver(ReceiverConfig(host="127.0.0.1", port=0), agora_recording=sink, ready=lambda: ready)
    await rx.start()
    try:
        async with httpx.AsyncClient(base_url=rx.url) as client:
            assert (await client.get("/healthz")).status_code == 503
            ready = True
            assert (await client.get("/healthz")).status_code == 200
            # No sink configured for the transcoder path in this receiver.
            assert (await client.post("/callbacks/agora/transcoder", content=b"{}")).status_code == 404
    finally:
        await rx.stop()
