"""Transcoder calls whose TCP connection is reset without an HTTP answer (the emulator's `drop`
fault): a create dropped after Agora created the task is resumed with the persisted builderToken
(one task, adopted, deleted on delete); a dropped delete is sent again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import TranscoderAgora, TranscoderCluster, transcoder
from tests.support.waiting import wait_for


def drop_next(agora: TranscoderAgora, endpoint: str, when: str) -> None:
    agora.http.post(
        "/_emulator/faults", json={"endpoint": endpoint, "count": 1, "drop": when}
    ).raise_for_status()


def status_of(cluster: TranscoderCluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def dropped(agora: TranscoderAgora, endpoint: str, name: str) -> list[str]:
    return [
        r["dropped"]
        for r in agora.requests()
        if r["endpoint"] == endpoint and r.get("dropped") and r.get("cname") == name
    ]


@pytest.mark.parametrize("when", ["before", "after"])
def test_dropped_create_leaves_one_task_adopted_and_deleted_on_delete(
    cluster: TranscoderCluster, agora: TranscoderAgora, when: str
) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    drop_next(agora, "createTask", when)
    cluster.create(body)
    task_id = wait_for(lambda: status_of(cluster, name).get("taskId"), timeout=30, what="the task adopted")
    [task] = agora.transcoder_tasks(name)
    assert task_id == task["taskId"] and not task["stopped"]
    assert dropped(agora, "createTask", name) == [when]
    assert agora.channel_calls("builderTokens", name) == 1  # resumed with the persisted token
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")
    assert agora.live_transcoder_tasks(name) == []
    assert len(agora.transcoder_tasks(name)) == 1


@pytest.mark.parametrize("when", ["before", "after"])
def test_dropped_delete_is_sent_again(cluster: TranscoderCluster, agora: TranscoderAgora, when: str) -> None:
    body = transcoder()
    name = body["metadata"]["name"]
    cluster.create(body)
    task_id = wait_for(lambda: status_of(cluster, name).get("taskId"), timeout=30, what="the task created")
    drop_next(agora, "deleteTask", when)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what=f"{name} deleted")
    assert agora.live_transcoder_tasks(name) == []
    log = [r for r in agora.requests() if r["endpoint"] == "deleteTask" and task_id in r["path"]]
    assert [r.get("dropped") for r in log][:1] == [when]
    assert len(log) >= 2  # the dropped delete was sent again
