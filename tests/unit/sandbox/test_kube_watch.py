"""Watch streams over raw HTTP: initial events, bookmarks, timeouts, field selectors, slow watchers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from recording_sandbox.kube import KubeEmulator
from recording_sandbox.kube.watching import Watcher

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


async def read_events(session: aiohttp.ClientSession, path: str) -> list[dict[str, Any]]:
    async with session.get(path) as response:
        assert response.status == 200
        return [json.loads(line) async for line in response.content if line.strip()]


async def test_watch_without_version_starts_with_current_objects(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    for name in ("a", "b"):
        async with kube_http.post(CONFIGMAPS, json={"metadata": {"name": name}}):
            pass
    events = await read_events(kube_http, f"{CONFIGMAPS}?watch=true&timeoutSeconds=0.3")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]
    initial = await read_events(
        kube_http,
        f"{CONFIGMAPS}?watch=true&timeoutSeconds=0.3&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
    )
    assert [e["type"] for e in initial] == ["ADDED", "ADDED", "BOOKMARK"]
    assert initial[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert initial[-1]["object"]["metadata"]["resourceVersion"] == str(kube.store.resource_version)


async def test_bookmarks_are_periodic(kube_http: aiohttp.ClientSession, kube: KubeEmulator) -> None:
    kube.bookmark_interval = 0.1
    await kube.stop()
    await kube.start()
    async with aiohttp.ClientSession(base_url=kube.url) as session:
        events = await read_events(
            session, f"{CONFIGMAPS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=0.35&resourceVersion=1"
        )
    assert len(events) >= 2 and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["kind"] == "ConfigMap"


async def test_event_field_selectors(kube_http: aiohttp.ClientSession) -> None:
    for name, target in (("e1", "w1"), ("e2", "w2")):
        event = {
            "metadata": {"name": name},
            "involvedObject": {"kind": "Widget", "name": target, "uid": f"u-{target}"},
            "reason": "Tested",
            "message": "m",
            "type": "Normal",
        }
        async with kube_http.post("/api/v1/namespaces/default/events", json=event) as response:
            assert response.status == 201
    selector = "involvedObject.name=w1,involvedObject.kind=Widget,involvedObject.uid=u-w1"
    async with kube_http.get(
        "/api/v1/namespaces/default/events", params={"fieldSelector": selector}
    ) as response:
        assert [e["metadata"]["name"] for e in (await response.json())["items"]] == ["e1"]
    async with kube_http.get(
        "/api/v1/events", params={"fieldSelector": "involvedObject.name!=w1"}
    ) as response:
        assert [e["metadata"]["name"] for e in (await response.json())["items"]] == ["e2"]
    async with kube_http.get(CONFIGMAPS, params={"fieldSelector": "involvedObject.name=x"}) as response:
        assert response.status == 400
    async with kube_http.get(CONFIGMAPS, params={"labelSelector": "a in b"}) as response:
        assert response.status == 400 and (await response.json())["reason"] == "BadRequest"


async def test_list_pagination(kube_http: aiohttp.ClientSession) -> None:
    for index in range(5):
        async with kube_http.post(CONFIGMAPS, json={"metadata": {"name": f"cm{index}"}}):
            pass
    names: list[str] = []
    token = ""
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        async with kube_http.get(CONFIGMAPS, params=params) as response:
            page = await response.json()
        names.extend(item["metadata"]["name"] for item in page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"cm{index}" for index in range(5)]


async def test_slow_watcher_is_dropped_with_410() -> None:
    watcher = Watcher(
        key=("", "configmaps"), namespace=None, api_version="v1", kind="ConfigMap", queue_limit=3
    )
    for index in range(5):
        watcher.put(f"line{index}\n".encode())
    lines = []
    while not watcher.queue.empty():
        lines.append(watcher.queue.get_nowait())
    assert len(lines) == 2 and lines[-1] is None  # pending lines are dropped, the stream ends.
    error = json.loads(lines[0] or b"")
    assert error["type"] == "ERROR" and error["object"]["code"] == 410
    assert watcher.closed
