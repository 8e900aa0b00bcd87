"""Agora Cloud Recording client against an in-memory httpx transport: parsing, errors, retries."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from recording_operator.providers.agora import (
    AgoraCredentials,
    AgoraError,
    CloudRecordingClient,
    RecordingFile,
    RetryPolicy,
    parse_query,
    parse_stop,
)

CREDS = AgoraCredentials("cust-id-123", "very-secret-value")
FAST = RetryPolicy(scale=0.001, jitter=0.0)


def _client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> CloudRecordingClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("base_urls", ("https://a.example",))
    return CloudRecordingClient(CREDS, transport=httpx.MockTransport(handler), **kw)


def _reply(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def _sequence(
    *responses: httpx.Response,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


async def test_acquire_sends_basic_auth_and_body() -> None:
    handler, seen = _sequence(_reply(200, {"cname": "c", "uid": "1", "resourceId": "RID"}))
    async with _client(handler) as client:
        result = await client.acquire("APP", "c", "1", {"scene": 0})
    assert result.resource_id == "RID"
    request = seen[0]
    assert request.url == "https://a.example/v1/apps/APP/cloud_recording/acquire"
    expected = base64.b64encode(b"cust-id-123:very-secret-value").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert json.loads(request.content) == {"cname": "c", "uid": "1", "clientRequest": {"scene": 0}}


async def test_acquire_tolerates_resource_id_only() -> None:
    handler, _ = _sequence(_reply(200, {"resourceId": "RID"}))
    async with _client(handler) as client:
        result = await client.acquire("APP", "c", "1", {})
    assert (result.resource_id, result.cname) == ("RID", None)


@pytest.mark.parametrize(
    ("status", "body", "code", "gateway", "retryable"),
    [
        (400, {"code": 2, "reason": "bad"}, 2, False, False),
        (401, {"message": "Invalid authentication credentials"}, None, True, False),
        (404, {"code": 404, "reason": "failed to find worker"}, 404, False, False),
        (400, {"code": 432, "reason": "x"}, 432, False, False),
        (400, {"code": 433, "reason": "x"}, 433, False, False),
        (400, {"code": 1001, "reason": "x"}, 1001, False, False),
        (400, {"code": 1003, "reason": "x"}, 1003, False, False),
        (400, {"code": 53, "reason": "task conflict"}, 53, False, False),
        (201, {"code": 7, "reason": "already started", "sid": ""}, 7, False, False),
        (206, {"code": 65, "reason": "request not completed"}, 65, False, True),
        (504, {"code": 62, "reason": "request timeout"}, 62, False, True),
        (429, {"message": "API rate limit exceeded"}, None, True, True),
        (502, "<html>bad gateway</html>", None, True, True),
    ],
)
async def test_error_classification(
    status: int, body: Any, code: int | None, gateway: bool, retryable: bool
) -> None:
    response = httpx.Response(status, text=body) if isinstance(body, str) else _reply(status, body)
    handler, _ = _sequence(response)
    async with _client(
        handler, retry=RetryPolicy(scale=0, code65=(), start_5xx=(), other_5xx=(), rate_limited=())
    ) as c:
        with pytest.raises(AgoraError) as info:
            await c.start("APP", "RID", "mix", "c", "1", {})
    err = info.value
    assert (err.http_status, err.code, err.gateway, err.retryable, err.endpoint) == (
        status,
        code,
        gateway,
        retryable,
        "start",
    )
    assert err.reason


async def test_start_retries_5xx_with_same_resource_then_succeeds() -> None:
    handler, seen = _sequence(
        _reply(500, {"code": 502, "reason": "Failed to allocate worker"}),
        _reply(206, {"code": 65, "reason": "request not completed"}),
        _reply(200, {"cname": "c", "uid": "1", "resourceId": "RID", "sid": "SID"}),
    )
    async with _client(handler) as client:
        result = await client.start("APP", "RID", "mix", "c", "1", {})
        assert result.sid == "SID"
        assert client.calls["start"] == 3
    assert {r.url.path for r in seen} == {"/v1/apps/APP/cloud_recording/resourceid/RID/mode/mix/start"}


async def test_retry_budget_is_per_kind_and_exhausts() -> None:
    handler, _ = _sequence(_reply(206, {"code": 65, "reason": "request not completed"}))
    async with _client(handler) as client:
        with pytest.raises(AgoraError) as info:
            await client.update("APP", "RID", "SID", "mix", "c", "1", {})
        assert client.calls["update"] == 3  # 1 + code65 (3 s, 6 s)
    assert info.value.attempts == 3 and info.value.code == 65


@pytest.mark.parametrize(("status", "code"), [(400, 49), (404, 404), (206, 435)])
async def test_stop_never_retries_49_404_435(status: int, code: int) -> None:
    handler, _ = _sequence(_reply(status, {"code": code, "reason": "x"}))
    async with _client(handler) as client:
        with pytest.raises(AgoraError) as info:
            await client.stop("APP", "RID", "SID", "mix", "c", "1")
        assert client.calls["stop"] == 1
    assert info.value.code == code


async def test_query_404_retries_only_when_configured() -> None:
    handler, _ = _sequence(_reply(404, {"code": 404, "reason": "failed to find worker"}))
    async with _client(handler, retry=RetryPolicy(scale=0.001, query_404=(5, 10, 15))) as client:
        with pytest.raises(AgoraError):
            await client.query("APP", "RID", "SID", "mix")
        assert client.calls["query"] == 4


async def test_failover_order_same_domain_then_next() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if len(hosts) < 4:
            raise httpx.ConnectError("refused", request=request)
        return _reply(200, {"resourceId": "RID"})

    async with _client(handler, base_urls=("https://one.example", "https://two.example")) as client:
        await client.acquire("APP", "c", "1", {})
    assert hosts == ["one.example", "one.example", "two.example", "one.example"]


async def test_transport_error_is_retryable_without_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with _client(handler, retry=RetryPolicy(scale=0, transport=(1,))) as client:
        with pytest.raises(AgoraError) as info:
            await client.query("APP", "RID", "SID", "mix")
    err = info.value
    assert (err.http_status, err.code, err.retryable, err.gateway, err.attempts) == (
        None,
        None,
        True,
        False,
        2,
    )


async def test_stop_uses_stop_timeout_unless_async() -> None:
    timeouts: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return _reply(200, {"serverResponse": {"uploadingStatus": "uploaded"}})

    async with _client(handler, timeout_s=3, stop_timeout_s=25) as client:
        await client.stop("APP", "RID", "SID", "mix", "c", "1")
        await client.stop("APP", "RID", "SID", "mix", "c", "1", async_stop=True)
        await client.query("APP", "RID", "SID", "mix")
    assert timeouts == [25, 3, 3]


async def test_mode_is_checked_before_sending() -> None:
    handler, seen = _sequence(_reply(200, {}))
    async with _client(handler) as client:
        with pytest.raises(ValueError):
            await client.query("APP", "RID", "SID", "composite")
    assert seen == []


def test_parse_query_string_json_and_web_forms() -> None:
    q = parse_query(
        {"serverResponse": {"status": 5, "fileListMode": "string", "fileList": "a.m3u8", "sliceStartTime": 1}}
    )
    assert q.files == [RecordingFile(file_name="a.m3u8")] and q.slice_start_time_ms == 1000
    q = parse_query(
        {
            "serverResponse": {
                "status": 5,
                "fileListMode": "json",
                "fileList": [
                    {
                        "fileName": "x.m3u8",
                        "trackType": "audio",
                        "uid": "7",
                        "mixedAllUser": "false",
                        "isPlayable": True,
                        "sliceStartTime": 1619172871089,
                    }
                ],
            }
        }
    )
    assert q.files == [RecordingFile("x.m3u8", "audio", "7", False, True, 1619172871089)]
    q = parse_query(
        {
            "serverResponse": {
                "status": 5,
                "extensionServiceState": [
                    {
                        "serviceName": "web_recorder_service",
                        "payload": {
                            "state": "inProgress",
                            "onhold": True,
                            "fileList": [{"filename": "w.m3u8", "sliceStartTime": 5}],
                        },
                    }
                ],
            }
        }
    )
    assert (q.onhold, q.files[0].file_name, q.file_list_mode) == (True, "w.m3u8", None)


def test_parse_stop_web_legacy_playload() -> None:
    s = parse_stop(
        {
            "serverResponse": {
                "extensionServiceState": [
                    {"serviceName": "upload_service", "playload": {"uploadingStatus": "backuped"}},
                    {
                        "serviceName": "web_recorder_service",
                        "playload": {"fileList": [{"filename": "w_0.mp4"}]},
                    },
                ]
            }
        }
    )
    assert s.uploading_status == "backuped" and [f.file_name for f in s.files] == ["w_0.mp4"]


async def test_secrets_never_in_repr_str_or_errors() -> None:
    handler, _ = _sequence(_reply(401, {"message": "Invalid authentication credentials"}))
    client = _client(handler)
    with pytest.raises(AgoraError) as info:
        await client.acquire("APP", "c", "1", {})
    await client.aclose()
    texts = [repr(CREDS), str(CREDS), repr(client), str(client), repr(info.value), str(info.value)]
    for text in texts:
        assert "very-secret-value" not in text
        assert "cust-id-123" not in text
        assert base64.b64encode(b"cust-id-123:very-secret-value").decode() not in text


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout]
)
async def test_start_is_not_repeated_after_it_may_have_reached_agora(failure: type[Exception]) -> None:
    """A start whose answer is lost may have started a paid session: one attempt, outcome unknown."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise failure("lost", request=request)

    async with _client(handler, retry=RetryPolicy(scale=0, transport=(1, 1, 1))) as client:
        with pytest.raises(AgoraError) as info:
            await client.start("APP", "RID", "mix", "c", "1", {"storageConfig": {}})
    assert len(seen) == 1
    assert info.value.outcome_unknown and info.value.attempts == 1


async def test_start_is_retried_when_the_connection_was_refused_before_sending() -> None:
    handler_calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        handler_calls.append(request)
        if len(handler_calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return _reply(200, {"sid": "SID", "resourceId": "RID"})

    async with _client(handler, retry=RetryPolicy(scale=0, transport=(1,))) as client:
        started = await client.start("APP", "RID", "mix", "c", "1", {"storageConfig": {}})
    assert started.sid == "SID" and len(handler_calls) == 2


async def test_start_waits_its_own_timeout() -> None:
    timeouts: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return _reply(200, {"sid": "SID", "resourceId": "RID"})

    async with _client(handler, timeout_s=3, start_timeout_s=40) as client:
        await client.start("APP", "RID", "mix", "c", "1", {"storageConfig": {}})
        await client.query("APP", "RID", "SID", "mix")
    assert timeouts == [40, 3]


async def test_transcoder_create_is_not_repeated_after_a_timeout() -> None:
    from recording_operator.providers.agora.transcoder import CloudTranscoderClient, TranscoderRetryPolicy

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("lost", request=request)

    client = CloudTranscoderClient(
        CREDS,
        base_urls=("https://a.example",),
        retry=TranscoderRetryPolicy(scale=0, transport=(1, 1, 1)),
        transport=httpx.MockTransport(handler),
        start_timeout_s=40,
    )
    async with client:
        with pytest.raises(AgoraError) as info:
            await client.create("APP", "TOKEN", {"audioInputs": []})
    assert len(seen) == 1 and info.value.outcome_unknown
    assert seen[0].extensions["timeout"]["read"] == 40
