"""The real Agora client against the real emulator over HTTP (https://docs.agora.io/en/cloud-recording/rest-api/overview)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from recording_operator.providers.agora import AgoraCredentials, AgoraError, CloudRecordingClient, RetryPolicy
from recording_sandbox.agora import AgoraEmulator, ManualClock
from recording_sandbox.agora.samples import sample_start_request
from recording_sandbox.ports import free_port

APP = "appid0001"
CREDS = AgoraCredentials("sandbox-id", "sandbox-secret")
FAST = RetryPolicy(scale=0.01, jitter=0.0)


@pytest.fixture
async def emulator() -> AsyncIterator[AgoraEmulator]:
    emu = AgoraEmulator(clock=ManualClock(), status_step_s=1.0, tick_s=0.05)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def client(emulator: AgoraEmulator) -> AsyncIterator[CloudRecordingClient]:
    async with CloudRecordingClient(CREDS, base_urls=(emulator.url,), retry=FAST, timeout_s=2.0) as c:
        yield c


@pytest.fixture
async def control(emulator: AgoraEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url + "/_emulator") as c:
        yield c


async def _advance(control: httpx.AsyncClient, seconds: float) -> None:
    response = await control.post("/clock", json={"advanceSeconds": seconds})
    assert response.status_code == 200


async def _users(control: httpx.AsyncClient, cname: str, users: list[str]) -> None:
    response = await control.put(f"/channels/{APP}/{cname}/users", json={"users": users})
    assert response.json() == {"users": sorted(users)}


async def _acquire_start(
    client: CloudRecordingClient, mode: str, cname: str = "room", uid: str = "527841", **kw: Any
) -> tuple[str, str]:
    acquired = await client.acquire(
        APP, cname, uid, {"scene": 1 if mode == "web" else 0, "resourceExpiredHour": 24}
    )
    started = await client.start(
        APP, acquired.resource_id, mode, cname, uid, sample_start_request(mode, **kw)
    )
    assert started.resource_id == acquired.resource_id
    return acquired.resource_id, started.sid


@pytest.mark.parametrize("mode", ["individual", "mix", "web"])
async def test_full_lifecycle(mode: str, client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    await _users(control, "room", ["1001"])
    rid, sid = await _acquire_start(client, mode)
    first = await client.query(APP, rid, sid, mode)
    assert first.status == 0 and first.files == []
    await _advance(control, 6)
    q = await client.query(APP, rid, sid, mode)
    assert q.status == 5
    assert q.files and all(f.file_name.startswith(f"rec/demo/{sid}_room") for f in q.files)
    if mode == "individual":
        assert q.file_list_mode == "json"
        assert {(f.uid, f.track_type) for f in q.files} == {("1001", "audio"), ("1001", "video")}
        await client.update(
            APP,
            rid,
            sid,
            mode,
            "room",
            "527841",
            {"streamSubscribe": {"audioUidList": {"subscribeAudioUids": ["1001"]}}},
        )
    elif mode == "mix":
        assert q.file_list_mode == "json"
        assert [f.file_name.rsplit("_", 1)[-1] for f in q.files] == ["room.m3u8", "0.mp4"]
        await client.update(
            APP,
            rid,
            sid,
            mode,
            "room",
            "527841",
            {"streamSubscribe": {"videoUidList": {"unsubscribeVideoUids": ["3"]}}},
        )
        await client.update_layout(
            APP, rid, sid, "room", "527841", {"mixedVideoLayout": 2, "maxResolutionUid": "1001"}
        )
    else:
        assert q.onhold is False and q.extension_service_state[0]["serviceName"] == "web_recorder_service"
        await client.update(APP, rid, sid, mode, "room", "527841", {"webRecordingConfig": {"onhold": True}})
        assert (await client.query(APP, rid, sid, mode)).onhold is True
        with pytest.raises(AgoraError) as info:
            await client.update_layout(APP, rid, sid, "room", "527841", {"mixedVideoLayout": 1})
        assert (info.value.http_status, info.value.code) == (400, 2)  # path says mix, task is web
    stopped = await client.stop(APP, rid, sid, mode, "room", "527841")
    # Nothing listens at the sample storage endpoint: the files wait in Agora's backup storage.
    assert stopped.uploading_status == "backuped"
    assert [f.file_name for f in stopped.files] == [f.file_name for f in q.files]
    with pytest.raises(AgoraError) as info:
        await client.query(APP, rid, sid, mode)
    assert (info.value.http_status, info.value.code, info.value.retryable) == (404, 404, False)
    tasks = (await control.get("/tasks")).json()["tasks"]
    assert tasks[-1]["sid"] == sid and tasks[-1]["stopped"] is True and tasks[-1]["stopReason"] == "stop"


async def test_service_error_codes(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    acquired = await client.acquire(APP, "room", "1", {})
    body = sample_start_request("mix")
    cases: list[tuple[Any, tuple[int, int]]] = [
        (client.start(APP, "nonsense", "mix", "room", "1", body), (400, 1001)),
        (client.start(APP, acquired.resource_id, "mix", "room", "2", body), (400, 432)),
        (client.start(APP, acquired.resource_id, "mix", "room", "1", {}), (400, 2)),
    ]
    for call, expected in cases:
        with pytest.raises(AgoraError) as info:
            await call
        assert (info.value.http_status, info.value.code) == expected
        assert info.value.retryable is False
    started = await client.start(APP, acquired.resource_id, "mix", "room", "1", body)
    with pytest.raises(AgoraError) as info:
        await client.start(APP, acquired.resource_id, "mix", "room", "1", body)
    assert (info.value.http_status, info.value.code, info.value.is_already_started) == (201, 7, True)
    assert info.value.body is not None and info.value.body["sid"] == ""
    second = await client.acquire(APP, "room", "1", {})
    with pytest.raises(AgoraError) as info:
        await client.start(APP, second.resource_id, "mix", "room", "1", body)
    assert (info.value.http_status, info.value.code) == (400, 53)
    with pytest.raises(AgoraError) as info:
        await client.query(APP, second.resource_id, started.sid, "mix")
    assert info.value.code == 1003
    with pytest.raises(AgoraError) as info:
        await client.stop(APP, acquired.resource_id, started.sid, "mix", "room", "1")
    assert (info.value.http_status, info.value.code, info.value.is_no_recorded_data) == (206, 435, True)
    with pytest.raises(AgoraError) as info:
        await client.stop(APP, acquired.resource_id, started.sid, "mix", "room", "1")
    assert (info.value.http_status, info.value.code, info.value.retryable) == (400, 49, False)
    assert client.calls["stop"] == 2


async def test_validation_reason_is_readable(client: CloudRecordingClient) -> None:
    acquired = await client.acquire(APP, "room", "1", {})
    body = sample_start_request("individual")
    body["recordingFileConfig"]["avFileType"] = ["mp4"]
    del body["recordingConfig"]["subscribeUidGroup"]
    with pytest.raises(AgoraError) as info:
        await client.start(APP, acquired.resource_id, "individual", "room", "1", body)
    assert "subscribeUidGroup is required in individual mode" in info.value.reason
    assert "['mp4'] alone" in info.value.reason
    with pytest.raises(AgoraError) as info:
        await client.acquire(APP, "room", "1", {"resourceExpiredHour": 0})
    assert info.value.reason == "Acquire: invalid resourceExpiredHour value!"


async def test_resource_expires_after_5_minutes(
    client: CloudRecordingClient, control: httpx.AsyncClient
) -> None:
    acquired = await client.acquire(APP, "room", "1", {})
    await _advance(control, 301)
    with pytest.raises(AgoraError) as info:
        await client.start(APP, acquired.resource_id, "mix", "room", "1", sample_start_request("mix"))
    assert (info.value.code, info.value.is_resource_expired, info.value.retryable) == (433, True, False)


async def test_idle_exit_via_clock_and_channel_users(
    client: CloudRecordingClient, control: httpx.AsyncClient
) -> None:
    await _users(control, "room", ["42"])
    rid, sid = await _acquire_start(client, "mix", max_idle_s=30)
    await _advance(control, 60)
    assert (await client.query(APP, rid, sid, "mix")).status == 5
    await _users(control, "room", [])
    await _advance(control, 30)
    assert (await client.query(APP, rid, sid, "mix")).status == 6
    with pytest.raises(AgoraError) as info:
        await client.stop(APP, rid, sid, "mix", "room", "527841")
    assert info.value.is_already_exiting
    await _advance(control, 3)
    with pytest.raises(AgoraError) as info:
        await client.query(APP, rid, sid, "mix")
    assert info.value.http_status == 404
    tasks = (await control.get("/tasks")).json()["tasks"]
    assert tasks[0]["stopReason"] == "idle"


async def test_faults_5xx_retried(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    acquired = await client.acquire(APP, "room", "1", {})
    await control.post(
        "/faults", json={"endpoint": "start", "count": 2, "status": 503, "code": None, "message": "down"}
    )
    started = await client.start(APP, acquired.resource_id, "mix", "room", "1", sample_start_request("mix"))
    assert started.sid and client.calls["start"] == 3


async def test_fault_of_one_channel_spares_the_others(
    client: CloudRecordingClient, control: httpx.AsyncClient
) -> None:
    await control.post(
        "/faults", json={"endpoint": "acquire", "count": 1, "status": 400, "code": 2, "cname": "room-b"}
    )
    await client.acquire(APP, "room-a", "1", {})
    with pytest.raises(AgoraError) as info:
        await client.acquire(APP, "room-b", "1", {})
    assert info.value.code == 2
    assert (await control.get("/faults")).json()["faults"] == []


async def test_fault_400_not_retried(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    await control.post(
        "/faults", json={"endpoint": "acquire", "count": 1, "status": 400, "code": 2, "message": "nope"}
    )
    with pytest.raises(AgoraError) as info:
        await client.acquire(APP, "room", "1", {})
    assert (info.value.code, info.value.reason, client.calls["acquire"]) == (2, "nope", 1)


async def test_fault_429_and_code65_retried(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    await control.post(
        "/faults", json={"endpoint": "*", "count": 1, "status": 429, "message": "API rate limit exceeded"}
    )
    await control.post(
        "/faults",
        json={
            "endpoint": "acquire",
            "count": 1,
            "status": 206,
            "code": 65,
            "message": "request not completed",
        },
    )
    await client.acquire(APP, "room", "1", {})
    assert client.calls["acquire"] == 3
    stats = (await control.get("/stats")).json()
    assert stats["httpStatus"] == {"200": 1, "206": 1, "429": 1} and stats["endpoints"] == {"acquire": 3}
    log = (await control.get("/requests", params={"limit": 2})).json()["requests"]
    assert [(e["httpStatus"], e["code"], e["endpoint"]) for e in log] == [
        (206, 65, "acquire"),
        (200, None, "acquire"),
    ]
    await control.delete("/requests")
    assert (await control.get("/requests")).json()["requests"] == []


async def test_latency_fault_beyond_timeout(emulator: AgoraEmulator) -> None:
    emulator.add_fault("query", count=5, latency_ms=1500)
    policy = RetryPolicy(scale=0.01, jitter=0.0, transport=(1,))
    async with CloudRecordingClient(CREDS, base_urls=(emulator.url,), retry=policy, timeout_s=0.3) as client:
        with pytest.raises(AgoraError) as info:
            await client.query(APP, "rid", "sid", "mix")
        assert client.calls["query"] == 2
    err = info.value
    assert (err.http_status, err.code, err.retryable) == (None, None, True)
    assert "timeout" in err.reason.lower()


async def test_base_url_failover(emulator: AgoraEmulator) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with CloudRecordingClient(CREDS, base_urls=(dead, emulator.url), retry=FAST) as client:
        acquired = await client.acquire(APP, "room", "1", {})
        assert acquired.resource_id
        assert client.calls["acquire"] == 3  # dead, dead again (same domain), then the next URL


async def test_gateway_errors(emulator: AgoraEmulator) -> None:
    async with CloudRecordingClient(
        AgoraCredentials("sandbox-id", "wrong"), base_urls=(emulator.url,), retry=FAST
    ) as c:
        with pytest.raises(AgoraError) as info:
            await c.acquire(APP, "room", "1", {})
    err = info.value
    assert (err.http_status, err.code, err.gateway, err.retryable) == (401, None, True, False)
    assert err.reason == "Invalid authentication credentials" and "wrong" not in str(err)
    async with httpx.AsyncClient(base_url=emulator.url) as raw:
        no_auth = await raw.post(f"/v1/apps/{APP}/cloud_recording/acquire", json={})
        assert (no_auth.status_code, no_auth.json()) == (401, {"message": "Unauthorized"})
        wrong_route = await raw.get(
            f"/v1/apps/{APP}/cloud_recording/acquire", auth=("sandbox-id", "sandbox-secret")
        )
        assert (wrong_route.status_code, wrong_route.json()) == (
            404,
            {"message": "no Route matched with those values"},
        )


async def test_qps_limit(emulator: AgoraEmulator) -> None:
    emulator.qps_limit = 3
    no_retry = RetryPolicy(rate_limited=())
    async with CloudRecordingClient(CREDS, base_urls=(emulator.url,), retry=no_retry) as client:
        for _ in range(3):
            await client.acquire(APP, "room", "1", {})
        with pytest.raises(AgoraError) as info:
            await client.acquire(APP, "room", "1", {})
        assert (info.value.http_status, info.value.reason, info.value.retryable) == (
            429,
            "API rate limit exceeded",
            True,
        )
        await client.acquire("other-app", "room", "1", {})  # limits are per App ID


async def test_reset_and_clock_endpoints(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    before = (await control.get("/clock")).json()["now"]
    after = (await control.post("/clock", json={"advanceSeconds": 10})).json()["now"]
    assert after == pytest.approx(before + 10)
    await _acquire_start(client, "mix")
    assert len((await control.get("/tasks")).json()["tasks"]) == 1
    await control.post("/reset")
    assert (await control.get("/tasks")).json()["tasks"] == []
    assert (await control.get("/stats")).json()["total"] == 0


async def test_real_time_status_walk_and_no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    emu = AgoraEmulator(status_step_s=0.02, tick_s=0.01)
    await emu.start()
    try:
        emu.state.set_channel_users(APP, "live", ["5"])
        emu.add_fault("query", count=1, status=504, code=62, message="request timeout")
        caplog.set_level("DEBUG")
        async with CloudRecordingClient(CREDS, base_urls=(emu.url,), retry=FAST) as client:
            rid, sid = await _acquire_start(client, "mix", cname="live")
            statuses = set()
            for _ in range(100):
                statuses.add((await client.query(APP, rid, sid, "mix")).status)
                if 5 in statuses:
                    break
            assert 5 in statuses
            assert client.calls["query"] >= 2  # the 504/62 fault was retried
    finally:
        await emu.stop()
    assert "sandbox-secret" not in caplog.text
    assert "c2FuZGJveC1pZDpzYW5kYm94LXNlY3JldA" not in caplog.text  # base64("sandbox-id:sandbox-secret")


@pytest.mark.parametrize("when", ["before", "after"])
async def test_dropped_start_is_not_repeated_and_says_it_may_have_acted(
    when: str, client: CloudRecordingClient, control: httpx.AsyncClient
) -> None:
    acquired = await client.acquire(APP, "room", "1", {})
    await control.post("/faults", json={"endpoint": "start", "count": 1, "drop": when})
    with pytest.raises(AgoraError) as info:
        await client.start(APP, acquired.resource_id, "mix", "room", "1", sample_start_request("mix"))
    err = info.value
    assert (err.http_status, err.outcome_unknown, client.calls["start"]) == (None, True, 1)
    tasks = (await control.get("/tasks")).json()["tasks"]
    assert len(tasks) == (1 if when == "after" else 0)  # the client cannot tell which
    log = (await control.get("/requests")).json()["requests"]
    assert [(e["endpoint"], e["httpStatus"], e.get("dropped")) for e in log][-1] == ("start", None, when)


async def test_dropped_query_is_retried(client: CloudRecordingClient, control: httpx.AsyncClient) -> None:
    rid, sid = await _acquire_start(client, "mix")
    await control.post("/faults", json={"endpoint": "query", "count": 2, "drop": "after"})
    state = await client.query(APP, rid, sid, "mix")
    assert state.status is not None and client.calls["query"] == 3


async def test_a_drop_point_must_be_known(control: httpx.AsyncClient) -> None:
    response = await control.post("/faults", json={"endpoint": "start", "drop": "sometimes"})
    assert response.status_code == 400 and "drop must be one of" in response.json()["message"]
