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


PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, *, node: str | None = None, finalizers: list[str] | None = None) -> dict[str, object]:
    spec: dict[str, object] = {
        "containers": [{"name": "c", "image": "i"}],
        "terminationGracePeriodSeconds": 20,
    }
    if node is not None:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "finalizers": finalizers or []}, "spec": spec}


async def test_a_bound_pod_stays_terminating_until_the_kubelet_confirms(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    """kube-apiserver's graceful deletion of Pods: a Pod on a node keeps existing, with
    deletionTimestamp and deletionGracePeriodSeconds, until a delete with gracePeriodSeconds 0 (the
    kubelet's, once the containers stopped); an unscheduled Pod goes at once."""
    for body in (pod("bound", node="sandbox"), pod("unscheduled")):
        async with kube_http.post(PODS, json=body) as response:
            assert response.status == 201
    async with kube_http.delete(f"{PODS}/unscheduled") as response:
        assert response.status == 200
    assert kube.get_object("", "v1", "pods", "default", "unscheduled") is None

    async with kube_http.delete(f"{PODS}/bound", json={"gracePeriodSeconds": 15}) as response:
        assert response.status == 200  # kube-apiserver answers 200 to a deletion still in progress
    terminating = kube.get_object("", "v1", "pods", "default", "bound")
    assert terminating is not None
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 15
    async with kube_http.delete(f"{PODS}/bound", json={"gracePeriodSeconds": 60}) as response:
        assert response.status == 200  # a longer grace does not lengthen the termination
    still = kube.get_object("", "v1", "pods", "default", "bound")
    assert still is not None and still["metadata"]["deletionGracePeriodSeconds"] == 15
    async with kube_http.delete(f"{PODS}/bound", json={"gracePeriodSeconds": 0}) as response:
        assert response.status == 200
    assert kube.get_object("", "v1", "pods", "default", "bound") is None


async def test_a_terminating_pod_outlives_its_last_finalizer_until_the_kubelet_confirms(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    async with kube_http.post(PODS, json=pod("held", node="sandbox", finalizers=["example.io/keep"])):
        pass
    async with kube_http.delete(f"{PODS}/held") as response:
        assert response.status == 200  # kube-apiserver answers 200 to a deletion still in progress
    patch = {"metadata": {"finalizers": None}}
    headers = {"Content-Type": "application/merge-patch+json"}
    async with kube_http.patch(f"{PODS}/held", json=patch, headers=headers) as response:
        assert response.status == 200
    assert kube.get_object("", "v1", "pods", "default", "held") is not None  # its containers may still run
    async with kube_http.delete(f"{PODS}/held", json={"gracePeriodSeconds": 0}) as response:
        assert response.status == 200
    assert kube.get_object("", "v1", "pods", "default", "held") is None
