"""Agora calls whose TCP connection is reset without an HTTP answer (the emulator's `drop` fault).

`after`: Agora processed the call (a start started a paid session) and the answer never came;
`before`: the call was refused unprocessed. The operator cannot tell them apart: a start is never
sent again (its sid comes from Agora's notice, adopted), idempotent calls (stop) are retried.
Queries are rare here (callbacks conftest), so an adoption can only come from the notice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import Agora, Cluster, recording
from tests.support.waiting import wait_for

APP_ID = recording()["spec"]["agora"]["appId"]
PENDING = "recording.mediaops.io/start-pending"


def drop_next(agora: Agora, endpoint: str, when: str) -> None:
    agora.http.post(
        "/_emulator/faults", json={"endpoint": endpoint, "count": 1, "drop": when}
    ).raise_for_status()


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def running(agora: Agora, name: str) -> list[dict[str, Any]]:
    return [t for t in agora.tasks(name) if not t["stopped"]]


def dropped(agora: Agora, endpoint: str, name: str) -> list[str]:
    return [
        r["dropped"]
        for r in agora.requests()
        if r["endpoint"] == endpoint and r.get("dropped") and r.get("cname") == name
    ]


def test_start_dropped_after_agora_started_it_is_adopted_once_and_stopped_on_delete(
    cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    drop_next(agora, "start", "after")
    assert cluster.create(body).status_code == 201
    [task] = wait_for(lambda: running(agora, name), what="the session the dropped start began")
    st = wait_for(lambda: (s := status(cluster, name)).get("sid") == task["sid"] and s, what="sid adopted")
    assert st["phase"] == "Recording" and st["resourceId"] == task["resourceId"]
    wait_for(
        lambda: PENDING not in (cluster.get(name) or {})["metadata"].get("annotations", {}), what="marker"
    )
    assert dropped(agora, "start", name) == ["after"]
    assert agora.calls("start", task["resourceId"]) == 1  # never sent again
    assert len(agora.tasks(name)) == 1
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
    assert running(agora, name) == []
    assert agora.calls("stop", task["sid"]) == 1


def test_start_dropped_before_agora_acted_is_not_repeated_and_delete_warns(
    cluster: Cluster, agora: Agora
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    drop_next(agora, "start", "before")
    assert cluster.create(body).status_code == 201
    wait_for(
        lambda: any(
            c["type"] == "Synced" and c["reason"] == "StartResultUnknown"
            for c in status(cluster, name).get("conditions") or []
        ),
        what="Synced=False StartResultUnknown",
    )
    assert agora.tasks(name) == []  # Agora never acted
    assert dropped(agora, "start", name) == ["before"]
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="released after the adoption wait")
    assert [e["type"] for e in cluster.events(name) if e["reason"] == "SessionMayBeRunning"] == ["Warning"]
    assert sum(1 for r in agora.requests() if r["endpoint"] == "start" and r.get("cname") == name) == 1
    assert agora.tasks(name) == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_dropped_stop_is_retried_and_the_session_ends(cluster: Cluster, agora: Agora, when: str) -> None:
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    assert cluster.create(body).status_code == 201
    sid = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "Recording" and s["sid"], what="Recording"
    )
    drop_next(agora, "stop", when)
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
    assert running(agora, name) == []
    assert dropped(agora, "stop", name) == [when]
    assert agora.calls("stop", sid) >= 2  # the dropped stop was sent again
