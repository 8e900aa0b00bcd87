"""The Cloud Transcoder client against the Agora emulator over real HTTP: the https://docs.agora.io/en/cloud-transcoding/rest-api/create REST shape,
builder tokens, sequenceIds, the https://docs.agora.io/en/cloud-transcoding/reference/status-codes classification and the in-call retries."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from recording_operator.api.v1alpha1.cloudtranscoder import CloudTranscoderSpec
from recording_operator.controllers.cloudtranscoder.decide import transcoder_config
from recording_operator.providers.agora import AgoraCredentials, AgoraError
from recording_operator.providers.agora.transcoder import CloudTranscoderClient, TranscoderRetryPolicy
from recording_sandbox.agora import AgoraEmulator
from tests.support.harness import TRANSCODER_SAMPLE

APP = TRANSCODER_SAMPLE["spec"]["appId"]
CONFIG = transcoder_config(CloudTranscoderSpec.model_validate(TRANSCODER_SAMPLE["spec"]), {})


@pytest.fixture
async def emulator() -> AsyncIterator[AgoraEmulator]:
    emu = AgoraEmulator(status_step_s=0.0)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def client(emulator: AgoraEmulator) -> AsyncIterator[CloudTranscoderClient]:
    retry = TranscoderRetryPolicy(scale=0.001, jitter=0.0)
    async with CloudTranscoderClient(
        AgoraCredentials("sandbox-id", "sandbox-secret"), base_urls=(emulator.url,), retry=retry
    ) as c:
        yield c


async def test_lifecycle_over_the_rest_shape(emulator: AgoraEmulator, client: CloudTranscoderClient) -> None:
    token = await client.acquire(APP, "inst-1", CONFIG)
    assert token.instance_id == "inst-1" and token.token_name
    task = await client.create(APP, token.token_name, CONFIG)
    assert task.status == "IN_PROGRESS" and task.started and not task.already_running
    again = await client.create(APP, token.token_name, CONFIG)  # a lost answer, repeated
    assert again.already_running and again.task_id == task.task_id
    changed: dict[str, Any] = copy.deepcopy(CONFIG)
    changed["videoInputs"][0]["region"]["zOrder"] = 5
    await client.update(APP, task.task_id, token.token_name, 1, changed)
    await client.update(APP, task.task_id, token.token_name, 1, CONFIG)  # stale: ignored
    queried = await client.query(APP, task.task_id, token.token_name)
    assert queried.sequence_id == 1 and queried.service_status == "serviceInProgress"
    assert (
        queried.raw["services"]["cloudTranscoder"]["config"]["transcoder"]["videoInputs"][0]["region"][
            "zOrder"
        ]
        == 5
    )
    [view] = emulator.transcoder.state.snapshot()
    assert view["updates"] == [1, 1] and view["staleUpdates"] == 1
    deleted = await client.delete(APP, task.task_id, token.token_name)
    assert (
        deleted is not None and deleted.status == "STOPPED" and deleted.service_status == "serviceCompleted"
    )
    with pytest.raises(AgoraError) as gone:
        await client.query(APP, task.task_id, token.token_name)
    assert gone.value.http_status == 404 and not gone.value.retryable
    with pytest.raises(AgoraError) as gone_again:
        await client.delete(APP, task.task_id, token.token_name)
    assert gone_again.value.http_status == 404


async def test_one_task_per_instance_id(client: CloudTranscoderClient) -> None:
    first = await client.acquire(APP, "inst-2", CONFIG)
    await client.create(APP, first.token_name, CONFIG)
    second = await client.acquire(APP, "inst-2", CONFIG)
    with pytest.raises(AgoraError) as conflict:
        await client.create(APP, second.token_name, CONFIG)
    assert conflict.value.http_status == 409 and not conflict.value.retryable


async def test_expired_builder_token_and_invalid_config(
    emulator: AgoraEmulator, client: CloudTranscoderClient
) -> None:
    token = await client.acquire(APP, "inst-3", CONFIG)
    emulator.clock.advance(301)
    with pytest.raises(AgoraError) as expired:
        await client.create(APP, token.token_name, CONFIG)
    assert expired.value.http_status == 400 and "expired" in expired.value.reason
    bad = copy.deepcopy(CONFIG)
    bad["outputs"][0]["videoOption"]["fps"] = 60
    fresh = await client.acquire(APP, "inst-3", CONFIG)
    with pytest.raises(AgoraError) as invalid:
        await client.create(APP, fresh.token_name, bad)
    assert invalid.value.http_status == 400 and "fps" in invalid.value.reason


async def test_retryable_statuses_are_retried(emulator: AgoraEmulator, client: CloudTranscoderClient) -> None:
    emulator.add_fault("builderTokens", count=1, status=429)
    emulator.add_fault("createTask", count=2, status=206)
    emulator.add_fault("queryTask", count=3, status=503)
    token = await client.acquire(APP, "inst-4", CONFIG)
    task = await client.create(APP, token.token_name, CONFIG)
    assert (await client.query(APP, task.task_id, token.token_name)).task_id == task.task_id
    assert (
        client.calls["builderTokens"] == 2
        and client.calls["createTask"] == 3
        and client.calls["queryTask"] == 4
    )
    emulator.add_fault("queryTask", count=5, status=500)
    with pytest.raises(AgoraError) as spent:
        await client.query(APP, task.task_id, token.token_name)
    assert spent.value.retryable and spent.value.attempts == 5


async def test_auth_failure_is_terminal(emulator: AgoraEmulator) -> None:
    async with CloudTranscoderClient(AgoraCredentials("sandbox-id", "wrong"), base_urls=(emulator.url,)) as c:
        with pytest.raises(AgoraError) as denied:
            await c.acquire(APP, "inst-5", CONFIG)
    assert denied.value.http_status == 401 and not denied.value.retryable
    assert "wrong" not in repr(c) and "wrong" not in str(denied.value)
