"""Provider clients through the shared request budget, against emulators enforcing the documented
limits over real HTTP: no 429 reaches the caller, stops go before queued calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from recording_operator.providers.agora import AgoraCredentials, AgoraError, CloudRecordingClient, RetryPolicy
from recording_operator.providers.agora.transcoder import CloudTranscoderClient
from recording_operator.providers.budget import Budget, Limit
from recording_operator.providers.realtimekit import RealtimeKitClient, RealtimeKitError
from recording_sandbox.agora import AgoraEmulator
from recording_sandbox.agora.samples import sample_start_request
from recording_sandbox.realtimekit import RealtimeKitEmulator

APP = "appid0001"
CREDS = AgoraCredentials("sandbox-id", "sandbox-secret")
FAST = RetryPolicy(scale=0.01, jitter=0.0)
ACC, RTK_APP = "account1", "app1"


@pytest.fixture
async def emulator() -> AsyncIterator[AgoraEmulator]:
    emu = AgoraEmulator(qps_limit=3, transcoder_qps_limit=3)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


def agora_budget(qps: float) -> Budget:
    return Budget({"agora_recording": [Limit(qps, 1.0)], "agora_transcoder": [Limit(qps, 1.0)]})


async def test_a_burst_of_calls_stays_inside_the_app_id_limit(emulator: AgoraEmulator) -> None:
    async with CloudRecordingClient(
        CREDS, base_urls=(emulator.url,), retry=FAST, budget=agora_budget(3)
    ) as client:
        results = await asyncio.gather(*(client.acquire(APP, f"room{i}", "1", {}) for i in range(12)))
    assert len({r.resource_id for r in results}) == 12
    assert emulator.status_counts[429] == 0


async def test_a_429_is_waited_out_not_raised(emulator: AgoraEmulator) -> None:
    """The budget allows more than the provider (another client on the same App ID, a lower
    contract): the 429s are retried through the budget and every call succeeds."""
    budget = agora_budget(50)
    async with CloudRecordingClient(CREDS, base_urls=(emulator.url,), retry=FAST, budget=budget) as client:
        results = await asyncio.gather(*(client.acquire(APP, f"room{i}", "1", {}) for i in range(10)))
    assert len(results) == 10
    assert emulator.status_counts[429] > 0
    assert budget.rate_limited["agora_recording"] == emulator.status_counts[429]


async def test_a_stop_overtakes_queued_starts(emulator: AgoraEmulator) -> None:
    async with CloudRecordingClient(
        CREDS, base_urls=(emulator.url,), retry=FAST, budget=agora_budget(3)
    ) as client:
        acquired = await client.acquire(APP, "live", "527841", {"scene": 0, "resourceExpiredHour": 24})
        started = await client.start(
            APP, acquired.resource_id, "mix", "live", "527841", sample_start_request("mix")
        )
        queued = [asyncio.create_task(client.acquire(APP, f"room{i}", "1", {})) for i in range(12)]
        await asyncio.sleep(0.05)
        with pytest.raises(AgoraError) as nobody:  # nobody sent a stream: 206/435, an answer all the same
            await client.stop(APP, acquired.resource_id, started.sid, "mix", "live", "527841")
        assert nobody.value.code == 435
        await asyncio.gather(*queued)
    endpoints = [r["endpoint"] for r in emulator.request_log]
    # The stop was asked for after 12 acquires queued; it went out before most of them.
    assert endpoints.index("stop") < len(endpoints) - 6
    assert emulator.status_counts[429] == 0


async def test_transcoder_calls_count_against_the_account_not_the_app_id(emulator: AgoraEmulator) -> None:
    no_retry = RetryPolicy(rate_limited=())
    async with (
        CloudRecordingClient(CREDS, base_urls=(emulator.url,), retry=no_retry) as recording,
        CloudTranscoderClient(CREDS, base_urls=(emulator.url,)) as transcoder,
    ):
        for i in range(3):
            await recording.acquire(APP, f"room{i}", "1", {})
        with pytest.raises(AgoraError) as info:
            await recording.acquire(APP, "room", "1", {})
        assert info.value.http_status == 429
        # The same second, on the other service: its own 10/s per account, here 3.
        emulator.transcoder_qps_limit = 3
        statuses = []
        async with httpx.AsyncClient(base_url=emulator.url, auth=("sandbox-id", "sandbox-secret")) as raw:
            for i in range(4):
                response = await raw.post(
                    f"/v1/projects/{APP}/rtsc/cloud-transcoder/builderTokens", json={"instanceId": f"t{i}"}
                )
                statuses.append(response.status_code)
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3] == 429 and response.json() == {"message": "API rate limit exceeded"}
        del transcoder


@pytest.fixture
async def realtimekit() -> AsyncIterator[RealtimeKitEmulator]:
    emu = RealtimeKitEmulator(start_delay_s=0.1, upload_delay_s=0.1, tick_s=0.05, rate_limits=True)
    emu.ALL_LIMIT = (20, 1.0)  # the documented 250 per 10 s, scaled down for a short test
    await emu.start()
    yield emu
    await emu.stop()


async def test_realtimekit_limits_are_enforced_and_kept(realtimekit: RealtimeKitEmulator) -> None:
    async with httpx.AsyncClient(base_url=realtimekit.url) as h:
        meeting = str(uuid.uuid4())
        await h.put(f"/_emulator/meetings/{meeting}/participants", json={"participants": ["alice"]})
    unpaced = RealtimeKitClient("sandbox-token", base_url=realtimekit.api_base_url, read_retries=0)
    try:
        answers = await asyncio.gather(
            *(unpaced.active(ACC, RTK_APP, meeting) for _ in range(25)), return_exceptions=True
        )
    finally:
        await unpaced.aclose()
    refused = [a for a in answers if isinstance(a, RealtimeKitError)]
    assert refused and all(a.http_status == 429 and a.retryable for a in refused)
    await asyncio.sleep(1.1)
    budget = Budget({"realtimekit": [Limit(20, 1.0)], "realtimekit_recordings": [Limit(1000, 60.0)]})
    before = realtimekit.endpoint_counts.copy()
    paced = RealtimeKitClient("sandbox-token", base_url=realtimekit.api_base_url, budget=budget)
    try:
        answers = await asyncio.gather(*(paced.active(ACC, RTK_APP, meeting) for _ in range(40)))
    finally:
        await paced.aclose()
    assert answers == [None] * 40
    assert realtimekit.endpoint_counts["active"] - before["active"] == 40  # none refused, none repeated
    assert budget.rate_limited == {}
