"""The RealtimeKit client (official SDK) against the RealtimeKit emulator over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from recording_operator.providers.realtimekit import RealtimeKitClient, RealtimeKitError
from recording_sandbox.realtimekit import RealtimeKitEmulator

ACC, APP = "account1", "app1"


@pytest.fixture
async def emulator() -> AsyncIterator[RealtimeKitEmulator]:
    emu = RealtimeKitEmulator(start_delay_s=0.1, upload_delay_s=0.1, tick_s=0.05)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def client(emulator: RealtimeKitEmulator) -> AsyncIterator[RealtimeKitClient]:
    c = RealtimeKitClient("sandbox-token", base_url=emulator.api_base_url)
    yield c
    await c.aclose()


async def control(
    emulator: RealtimeKitEmulator, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    async with httpx.AsyncClient(base_url=emulator.url) as h:
        response = await h.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()


async def meeting(emulator: RealtimeKitEmulator, *users: str) -> str:
    meeting_id = str(uuid.uuid4())
    await control(emulator, "PUT", f"meetings/{meeting_id}/participants", {"participants": list(users)})
    return meeting_id


async def wait_status(client: RealtimeKitClient, rid: str, status: str) -> Any:
    for _ in range(100):
        state = await client.get(ACC, APP, rid)
        if state.status == status:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rid} never reached {status}; last {state.status}")


async def test_composite_lifecycle_with_pause(
    emulator: RealtimeKitEmulator, client: RealtimeKitClient
) -> None:
    m = await meeting(emulator, "alice", "bob")
    started = await client.start_composite(ACC, APP, m, {"file_name_prefix": "standup", "max_seconds": 3600})
    assert started.status == "INVOKED" and started.output_file_name.startswith("standup_")  # type: ignore[union-attr]
    await wait_status(client, started.id, "RECORDING")
    assert (await client.active(ACC, APP, m)).id == started.id  # type: ignore[union-attr]
    assert (await client.action(ACC, APP, started.id, "pause")).status == "PAUSED"
    with pytest.raises(RealtimeKitError) as twice:
        await client.action(ACC, APP, started.id, "pause")
    assert twice.value.http_status == 400 and not twice.value.retryable
    assert (await client.action(ACC, APP, started.id, "resume")).status == "RECORDING"
    await control(emulator, "POST", "clock", {"advanceSeconds": 30})
    stopped = await client.action(ACC, APP, started.id, "stop")
    assert stopped.status == "UPLOADING" and stopped.stop_reason == "API_CALL"
    done = await wait_status(client, started.id, "UPLOADED")
    assert done.duration_s and done.duration_s >= 30
    [file] = done.files
    assert file.download_url and file.expires_at and file.size_bytes
    assert await client.active(ACC, APP, m) is None


async def test_second_start_conflicts_and_is_not_retried(
    emulator: RealtimeKitEmulator, client: RealtimeKitClient
) -> None:
    m = await meeting(emulator, "alice")
    await client.start_composite(ACC, APP, m, {})
    with pytest.raises(RealtimeKitError) as conflict:
        await client.start_composite(ACC, APP, m, {})
    assert conflict.value.http_status == 409
    assert emulator.endpoint_counts["start"] == 2  # the SDK's own 409 retry is off for starts
    allowed = await client.start_composite(ACC, APP, m, {"allow_multiple_recordings": True})
    assert allowed.status == "INVOKED"


async def test_start_5xx_is_retryable_but_sent_once(
    emulator: RealtimeKitEmulator, client: RealtimeKitClient
) -> None:
    m = await meeting(emulator, "alice")
    await control(emulator, "POST", "faults", {"endpoint": "start", "count": 1, "status": 503})
    with pytest.raises(RealtimeKitError) as failure:
        await client.start_composite(ACC, APP, m, {})
    assert failure.value.retryable and failure.value.http_status == 503
    assert emulator.endpoint_counts["start"] == 1


async def test_late_start_acts_though_its_answer_is_lost(emulator: RealtimeKitEmulator) -> None:
    m = await meeting(emulator, "alice")
    await control(emulator, "POST", "faults", {"endpoint": "start", "count": 1, "latencyMs": 1000})
    impatient = RealtimeKitClient("sandbox-token", base_url=emulator.api_base_url, timeout_s=0.2)
    try:
        with pytest.raises(RealtimeKitError) as failure:
            await impatient.start_composite(ACC, APP, m, {})
        assert failure.value.http_status is None
    finally:
        await impatient.aclose()
    for _ in range(100):
        if emulator.state.recordings:
            break
        await asyncio.sleep(0.05)
    assert [r.meeting_id for r in emulator.state.recordings.values()] == [m]


async def test_reads_are_retried_by_the_sdk(emulator: RealtimeKitEmulator, client: RealtimeKitClient) -> None:
    m = await meeting(emulator, "alice")
    started = await client.start_composite(ACC, APP, m, {})
    await control(emulator, "POST", "faults", {"endpoint": "get", "count": 1, "status": 503})
    assert (await client.get(ACC, APP, started.id)).id == started.id
    assert emulator.endpoint_counts["get"] == 2


async def test_empty_meeting_auto_stops(emulator: RealtimeKitEmulator, client: RealtimeKitClient) -> None:
    m = await meeting(emulator, "alice")
    started = await client.start_composite(ACC, APP, m, {})
    await wait_status(client, started.id, "RECORDING")
    await control(emulator, "POST", "clock", {"advanceSeconds": 10})
    await control(emulator, "PUT", f"meetings/{m}/participants", {"participants": []})
    await control(emulator, "POST", "clock", {"advanceSeconds": 61})
    state = await client.get(ACC, APP, started.id)
    assert state.status in ("UPLOADING", "UPLOADED") and state.stop_reason == "ALL_PEERS_LEFT"


async def test_max_seconds_auto_stops(emulator: RealtimeKitEmulator, client: RealtimeKitClient) -> None:
    m = await meeting(emulator, "alice")
    started = await client.start_composite(ACC, APP, m, {"max_seconds": 60})
    await wait_status(client, started.id, "RECORDING")
    await control(emulator, "POST", "clock", {"advanceSeconds": 61})
    assert (await client.get(ACC, APP, started.id)).stop_reason == "MAX_SECONDS_REACHED"


async def test_track_recording_needs_a_session_and_lists_files_per_peer(
    emulator: RealtimeKitEmulator, client: RealtimeKitClient
) -> None:
    empty = await meeting(emulator)
    with pytest.raises(RealtimeKitError) as no_session:
        await client.start_track(ACC, APP, empty)
    assert no_session.value.http_status == 422
    m = await meeting(emulator, "alice", "bob", "carol")
    started = await client.start_track(
        ACC, APP, m, layers={"voices": {"file_name_prefix": "vox"}}, user_ids=["alice", "bob"]
    )
    await wait_status(client, started.id, "RECORDING")
    await control(emulator, "POST", "clock", {"advanceSeconds": 20})
    await client.action(ACC, APP, started.id, "stop")
    done = await wait_status(client, started.id, "UPLOADED")
    names = sorted(f.file_name for f in done.files)
    assert len(names) == 2 and all(n.startswith("vox_") and n.endswith(".webm") for n in names)
    assert {f.layer for f in done.files} == {"voices"}


async def test_bad_token_and_bad_bodies(emulator: RealtimeKitEmulator) -> None:
    bad = RealtimeKitClient("wrong-token", base_url=emulator.api_base_url)
    with pytest.raises(RealtimeKitError) as auth:
        await bad.active(ACC, APP, str(uuid.uuid4()))
    assert (
        auth.value.http_status == 401
        and "wrong-token" not in str(auth.value)
        and "wrong-token" not in repr(bad)
    )
    await bad.aclose()
    good = RealtimeKitClient("sandbox-token", base_url=emulator.api_base_url)
    m = await meeting(emulator, "alice")
    with pytest.raises(RealtimeKitError) as storage:
        await good.start_composite(ACC, APP, m, {"storage_config": {"type": "aws", "bucket": "b"}})
    assert storage.value.http_status == 400 and "access_key" in storage.value.message
    with pytest.raises(RealtimeKitError):
        await good.start_composite(ACC, APP, m, {"max_seconds": 10})
    await good.aclose()


async def test_storage_secrets_are_never_echoed(
    emulator: RealtimeKitEmulator, client: RealtimeKitClient
) -> None:
    m = await meeting(emulator, "alice")
    storage = {
        "type": "aws",
        "bucket": "b",
        "region": "us-east-1",
        "access_key": "AKIDSECRET",
        "secret": "s3cr3t",
    }
    started = await client.start_composite(ACC, APP, m, {"storage_config": storage})
    echoed = (await client.get(ACC, APP, started.id)).raw["storage_config"]
    assert echoed == {"type": "aws", "bucket": "b", "region": "us-east-1"}
