"""Discovery endpoints and live CRD registration of the Kubernetes API emulator (real HTTP)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from recording_sandbox.kube import KubeEmulator

CRD = yaml.safe_load((Path(__file__).parents[2] / "fixtures" / "kube" / "widget-crd.yaml").read_text())


async def get(session: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with session.get(path) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def test_version_and_core_discovery(kube_http: aiohttp.ClientSession) -> None:
    assert (await get(kube_http, "/version"))["major"] == "1"
    assert (await get(kube_http, "/api"))["versions"] == ["v1"]
    core = await get(kube_http, "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert {"namespaces", "secrets", "configmaps", "events", "pods", "services", "serviceaccounts"} <= set(
        by_name
    )
    assert by_name["namespaces"]["namespaced"] is False
    assert "watch" in by_name["namespaces"]["verbs"] and "list" in by_name["namespaces"]["verbs"]
    assert by_name["configmaps"]["shortNames"] == ["cm"]


async def test_group_discovery_lists_custom_resources(kube_http: aiohttp.ClientSession) -> None:
    groups = {g["name"]: g for g in (await get(kube_http, "/apis"))["groups"]}
    assert {"apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io", "test.sandbox.io"} <= set(groups)
    assert groups["test.sandbox.io"]["preferredVersion"] == {
        "groupVersion": "test.sandbox.io/v1",
        "version": "v1",
    }
    assert (await get(kube_http, "/apis/test.sandbox.io"))["kind"] == "APIGroup"
    resources = {r["name"]: r for r in (await get(kube_http, "/apis/test.sandbox.io/v1"))["resources"]}
    assert resources["widgets"]["kind"] == "Widget" and resources["widgets"]["namespaced"] is True
    assert resources["widgets"]["shortNames"] == ["wg"] and resources["widgets"]["categories"] == ["sandbox"]
    assert resources["widgets/status"]["verbs"] == ["get", "patch", "update"]
    status = await get(kube_http, "/apis/nothing.example.com/v1", 404)
    assert status["kind"] == "Status" and status["reason"] == "NotFound"


async def test_posting_a_crd_registers_and_deleting_unregisters(
    kube_http: aiohttp.ClientSession, kube: KubeEmulator
) -> None:
    crd = copy.deepcopy(CRD)
    crd["metadata"]["name"] = "gadgets.test.sandbox.io"
    crd["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}
    async with kube_http.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
    ) as response:
        assert response.status == 201
        created = await response.json()
    assert {c["type"] for c in created["status"]["conditions"]} == {"Established", "NamesAccepted"}
    names = [r["name"] for r in (await get(kube_http, "/apis/test.sandbox.io/v1"))["resources"]]
    assert "gadgets" in names
    body = {"metadata": {"name": "g"}, "spec": {"channel": "c", "size": "small"}}
    async with kube_http.post("/apis/test.sandbox.io/v1/namespaces/default/gadgets", json=body) as response:
        assert response.status == 201
    assert kube.get_object("test.sandbox.io", "v1", "gadgets", "default", "g") is not None
    async with kube_http.delete(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.sandbox.io"
    ):
        pass
    names = [r["name"] for r in (await get(kube_http, "/apis/test.sandbox.io/v1"))["resources"]]
    assert "gadgets" not in names
    await get(kube_http, "/apis/test.sandbox.io/v1/namespaces/default/gadgets", 404)


async def test_malformed_crd_is_rejected(kube_http: aiohttp.ClientSession) -> None:
    crd = copy.deepcopy(CRD)
    crd["metadata"]["name"] = "wrong.name"
    async with kube_http.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
    ) as response:
        assert response.status == 422
        status = await response.json()
    assert status["details"]["causes"][0]["field"] == "metadata.name"


async def test_namespaces_are_objects(kube_http: aiohttp.ClientSession, kube: KubeEmulator) -> None:
    listed = await get(kube_http, "/api/v1/namespaces")
    assert listed["kind"] == "NamespaceList"
    assert [ns["metadata"]["name"] for ns in listed["items"]] == ["default", "other"]
    assert listed["items"][0]["status"] == {"phase": "Active"}
    async with kube_http.post(
        "/api/v1/namespaces/other/configmaps", json={"metadata": {"name": "c"}}
    ) as response:
        assert response.status == 201
    async with kube_http.delete("/api/v1/namespaces/other") as response:
        assert response.status == 200
    assert kube.list_objects("", "v1", "configmaps") == []
    async with kube_http.post(
        "/api/v1/namespaces/other/configmaps", json={"metadata": {"name": "c"}}
    ) as response:
        assert response.status == 404
        assert (await response.json())["message"] == 'namespaces "other" not found'
