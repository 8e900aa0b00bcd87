"""Object lifecycle details over raw HTTP: collections, PUT on /status, orphaning, error shapes."""

from __future__ import annotations

import aiohttp

from recording_sandbox.kube import KubeEmulator

WIDGETS = "/apis/test.sandbox.io/v1/namespaces/default/widgets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def widget(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"channel": "c", "size": "small"}}


async def test_delete_collection_with_label_selector(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        async with kube_http.post(CONFIGMAPS, json={"metadata": {"name": name, "labels": {"team": team}}}):
            pass
    async with kube_http.delete(CONFIGMAPS, params={"labelSelector": "team=x"}) as response:
        assert response.status == 200
        assert [i["metadata"]["name"] for i in (await response.json())["items"]] == ["a", "b"]
    assert [o["metadata"]["name"] for o in kube.list_objects("", "v1", "configmaps")] == ["c"]
    assert kube.stats.count(verb="delete", plural="configmaps") == 1


async def test_put_status_changes_only_status(kube_http: aiohttp.ClientSession) -> None:
    async with kube_http.post(WIDGETS, json=widget("w")) as response:
        created = await response.json()
    body = {**created, "spec": {"channel": "other", "size": "large"}, "status": {"phase": "Running"}}
    async with kube_http.put(f"{WIDGETS}/w/status", json=body) as response:
        assert response.status == 200
        updated = await response.json()
    assert updated["status"] == {"phase": "Running"} and updated["spec"] == created["spec"]
    assert updated["metadata"]["generation"] == 1
    async with kube_http.put(f"{WIDGETS}/w/status", json=body) as response:
        assert response.status == 409  # the resourceVersion in the body is stale now.
    async with kube_http.get("/api/v1/namespaces/default/configmaps/x/status") as response:
        assert response.status == 404


async def test_orphan_propagation_keeps_dependents(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    async with kube_http.post(WIDGETS, json=widget("owner")) as response:
        uid = (await response.json())["metadata"]["uid"]
    reference = {"apiVersion": "test.sandbox.io/v1", "kind": "Widget", "name": "owner", "uid": uid}
    async with kube_http.post(CONFIGMAPS, json={"metadata": {"name": "dep", "ownerReferences": [reference]}}):
        pass
    async with kube_http.delete(f"{WIDGETS}/owner", json={"propagationPolicy": "Orphan"}) as response:
        assert response.status == 200
    dependent = kube.get_object("", "v1", "configmaps", "default", "dep")
    assert dependent is not None and "ownerReferences" not in dependent["metadata"]


async def test_error_shapes(kube_http: aiohttp.ClientSession) -> None:
    async with kube_http.get(f"{WIDGETS}/missing") as response:
        status = await response.json()
    assert response.status == 404
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'widgets.test.sandbox.io "missing" not found',
        "reason": "NotFound",
        "details": {"name": "missing", "group": "test.sandbox.io", "kind": "widgets"},
        "code": 404,
    }
    async with kube_http.patch(
        f"{WIDGETS}/missing", data="x: 1", headers={"Content-Type": "application/apply-patch+yaml"}
    ) as response:
        # kube-apiserver: an apply patch needs a fieldManager (PatchOptions validation).
        assert response.status == 422
        assert (await response.json())["details"]["causes"][0]["field"] == "fieldManager"
    async with kube_http.post(WIDGETS, data="x", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 415
        assert (await response.json())["reason"] == "UnsupportedMediaType"
    async with kube_http.post(
        WIDGETS, data="{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
    async with kube_http.post(WIDGETS, json={"metadata": {"name": "Bad_Name"}, "spec": {}}) as response:
        assert response.status == 422
        assert (await response.json())["details"]["causes"][0]["field"] == "metadata.name"
    async with kube_http.post("/apis/test.sandbox.io/v1/widgets", json=widget("nons")) as response:
        assert response.status == 404
