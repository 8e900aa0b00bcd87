"""A create whose answer is lost: resumed with the persisted builderToken, never a second task, and a
resource deleted while Creating deletes the task the lost create started."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import TRANSCODER_TEST_ENV, TranscoderAgora, TranscoderCluster, transcoder
from tests.support.waiting import wait_for

#: The emulator answers the create after this long; the operator gives up after AGORA_START_TIMEOUT.
LATE_MS = 4000


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {**TRANSCODER_TEST_ENV, "AGORA_START_TIMEOUT": "1.5"}


def status_of(cluster: TranscoderCluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def lose_next_create_answer(agora: TranscoderAgora) -> None:
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "createTask", "count": 1, "latencyMs": LATE_MS, "answerLate": True},
    ).raise_for_status()


def test_lost_create_answer_is_resumed_with_the_same_token(
    cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    lose_next_create_answer(agora)
    cluster.create(body)
    wait_for(lambda: status_of(cluster, name).get("taskId"), timeout=30, what="the task adopted")
    assert len(agora.transcoder_tasks(name)) == 1
    assert agora.channel_calls("builderTokens", name) == 1
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")
    assert agora.live_transcoder_tasks(name) == []


def test_delete_while_creating_deletes_the_task_the_lost_create_started(
    cluster: TranscoderCluster, agora: TranscoderAgora
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    lose_next_create_answer(agora)
    # The resumed creates fail for a while, so the resource stays Creating with no taskId.
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "createTask", "count": 25, "status": 503, "message": "busy"},
    ).raise_for_status()
    cluster.create(body)
    wait_for(lambda: len(agora.live_transcoder_tasks(name)) == 1, what="the task the lost create started")
    wait_for(
        lambda: (
            status_of(cluster, name).get("builderToken")
            and status_of(cluster, name).get("phase") == "Creating"
        ),
        what="Creating with a persisted builderToken",
    )
    assert not status_of(cluster, name).get("taskId")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=60, what=f"{name} deleted")
    assert agora.live_transcoder_tasks(name) == []  # not left running when the resource went
    assert len(agora.transcoder_tasks(name)) == 1  # and no second task was started for it
