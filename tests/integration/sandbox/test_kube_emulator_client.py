"""The Kubernetes API emulator as seen by the official ``kubernetes`` python client (real HTTP)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from recording_sandbox.kube import KubeEmulator, ThreadedKubeEmulator

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kube"
GROUP, VERSION, PLURAL = "test.sandbox.io", "v1", "widgets"


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with ThreadedKubeEmulator(crd_paths=[FIXTURES], namespaces=["default", "other"], watch_window=50) as emu:
        yield emu


@pytest.fixture
def api_client(emulator: KubeEmulator, tmp_path: Path) -> Iterator[kubernetes.client.ApiClient]:
    path = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    yield client
    client.close()


@pytest.fixture
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def custom(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"channel": "ch", "size": "small", **spec},
    }


def create_widget(custom: kubernetes.client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    return result


def error_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def test_secret_lifecycle(core: kubernetes.client.CoreV1Api) -> None:
    created = core.create_namespaced_secret(
        "default", {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}}
    )
    assert created.type == "Opaque"
    assert base64.b64decode(created.data["token"]) == b"s3cret"
    assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.resource_version

    patched = core.patch_namespaced_secret("creds", "default", {"metadata": {"labels": {"app": "x"}}})
    assert patched.metadata.labels == {"app": "x"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    patched.string_data = {"other": "v"}
    replaced = core.replace_namespaced_secret("creds", "default", patched)
    assert set(replaced.data) == {"token", "other"}

    listed = core.list_namespaced_secret("default")
    assert [s.metadata.name for s in listed.items] == ["creds"]
    assert listed.metadata.resource_version

    core.delete_namespaced_secret("creds", "default")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_secret("creds", "default")
    assert info.value.status == 404
    assert error_body(info.value)["reason"] == "NotFound"


def test_create_conflicts_and_missing_namespace(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"a": "b"}})
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    assert info.value.status == 409 and error_body(info.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "cm"}})
    assert info.value.status == 404
    generated = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cm-"}})
    assert generated.metadata.name.startswith("cm-") and len(generated.metadata.name) == 8


def test_custom_object_crud_defaults_pruning_generation(custom: kubernetes.client.CustomObjectsApi) -> None:
    created = create_widget(custom, widget("w1", junk=1, extra={"free": {"form": True}}))
    meta = created["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"]
    assert created["spec"]["replicas"] == 1 and created["spec"]["mode"] == "auto"  # defaults
    assert "junk" not in created["spec"]  # pruned
    assert created["spec"]["extra"] == {"free": {"form": True}}  # preserved subtree

    fetched = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    assert fetched == created

    labelled = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    respecced = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"replicas": 3}}
    )
    assert respecced["metadata"]["generation"] == 2

    respecced["spec"]["size"] = "large"
    replaced = custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", respecced)
    assert replaced["spec"]["size"] == "large" and replaced["metadata"]["generation"] == 3

    stale = dict(respecced, metadata={**respecced["metadata"], "resourceVersion": meta["resourceVersion"]})
    with pytest.raises(ApiException) as info:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", stale)
    assert info.value.status == 409 and error_body(info.value)["reason"] == "Conflict"

    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["kind"] == "WidgetList" and listed["apiVersion"] == f"{GROUP}/{VERSION}"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
    everywhere = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert len(everywhere["items"]) == 1

    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"] == []


def test_schema_violations_answer_422_with_causes(custom: kubernetes.client.CustomObjectsApi) -> None:
    bad = widget("bad", size="huge", replicas=11, tags=["a", "b", "c", "d"], port=[1])
    del bad["spec"]["channel"]
    with pytest.raises(ApiException) as info:
        create_widget(custom, bad)
    assert info.value.status == 422
    status = error_body(info.value)
    assert status["reason"] == "Invalid" and status["kind"] == "Status" and status["code"] == 422
    causes = [(cause["field"], cause["reason"], cause["message"]) for cause in status["details"]["causes"]]
    fields = {(field, reason) for field, reason, _ in causes}
    assert ("spec.channel", "FieldValueRequired") in fields
    assert ("spec.size", "FieldValueNotSupported") in fields
    assert ("spec.tags", "FieldValueTooMany") in fields
    assert ("spec.port", "FieldValueTypeInvalid") in fields
    messages = {field: message for field, _, message in causes if field != "spec.replicas"}
    assert messages["spec.size"] == 'Unsupported value: "huge": supported values: "small", "medium", "large"'
    replicas = [message for field, _, message in causes if field == "spec.replicas"]
    assert "Invalid value: 11: spec.replicas in body should be less than or equal to 10" in replicas
    assert 'Invalid value: "object": replicas 11 need size large' in replicas  # the CEL rule, too.
    assert status["message"].startswith('Widget.test.sandbox.io "bad" is invalid: [')
    assert status["details"]["name"] == "bad"


def test_cel_rules_transition_and_message_expression(custom: kubernetes.client.CustomObjectsApi) -> None:
    create_widget(custom, widget("w", port="http"))
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "w", {"spec": {"channel": "x"}}
        )
    status = error_body(info.value)
    assert info.value.status == 422
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "string": channel is immutable',
            "field": "spec.channel",
        }
    ]
    assert status["message"] == (
        'Widget.test.sandbox.io "w" is invalid: spec.channel: Invalid value: "string": channel is immutable'
    )
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "w", {"spec": {"replicas": 6}}
        )
    (cause,) = error_body(info.value)["details"]["causes"]
    assert cause["field"] == "spec.replicas"
    assert cause["message"] == 'Invalid value: "object": replicas 6 need size large'
    ok = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"spec": {"replicas": 6, "size": "large"}}
    )
    assert ok["spec"]["replicas"] == 6


def test_status_subresource_isolation(custom: kubernetes.client.CustomObjectsApi) -> None:
    created = create_widget(custom, dict(widget("s"), status={"phase": "Ignored"}))
    assert "status" not in created
    main = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "s", {"spec": {"size": "medium"}, "status": {"phase": "Nope"}}
    )
    assert "status" not in main and main["spec"]["size"] == "medium"
    status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "s", {"spec": {"size": "large"}, "status": {"phase": "Running"}}
    )
    assert status["status"] == {"phase": "Running"} and status["spec"]["size"] == "medium"
    assert status["metadata"]["generation"] == main["metadata"]["generation"] == 2
    assert int(status["metadata"]["resourceVersion"]) > int(main["metadata"]["resourceVersion"])


def test_json_patch_test_on_resource_version(
    api_client: kubernetes.client.ApiClient, custom: kubernetes.client.CustomObjectsApi
) -> None:
    created = create_widget(custom, widget("j"))
    rv = created["metadata"]["resourceVersion"]
    path = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/j"

    def json_patch(ops: list[dict[str, Any]]) -> Any:
        return api_client.call_api(
            path,
            "PATCH",
            header_params={"Content-Type": "application/json-patch+json", "Accept": "application/json"},
            body=ops,
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )

    add = {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"]}
    patched = json_patch([{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, add])
    assert patched["metadata"]["finalizers"] == ["example.com/f"]
    with pytest.raises(ApiException) as info:
        json_patch([{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, add])
    assert info.value.status == 422  # what kopf expects from the real API server.
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "j",
            {"metadata": {"resourceVersion": rv, "labels": {"x": "y"}}},
        )
    assert info.value.status == 409


def test_finalizers_delay_removal(custom: kubernetes.client.CustomObjectsApi) -> None:
    body = widget("f")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    create_widget(custom, body)
    deleting = custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "f")
    assert deleting["metadata"]["deletionTimestamp"]
    still = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "f")
    assert still["metadata"]["deletionTimestamp"] and still["metadata"]["finalizers"] == ["example.com/keep"]
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "f", {"metadata": {"finalizers": ["example.com/keep", "new"]}}
        )
    assert info.value.status == 422
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "f", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(ApiException) as info:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "f")
    assert info.value.status == 404


def test_owner_cascade(core: kubernetes.client.CoreV1Api, custom: kubernetes.client.CustomObjectsApi) -> None:
    owner = create_widget(custom, widget("owner"))
    reference = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    core.create_namespaced_secret("default", {"metadata": {"name": "plain", "ownerReferences": [reference]}})
    core.create_namespaced_secret(
        "default",
        {"metadata": {"name": "held", "ownerReferences": [reference], "finalizers": ["example.com/x"]}},
    )
    core.create_namespaced_secret("default", {"metadata": {"name": "unrelated"}})
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner")
    names = {s.metadata.name: s for s in core.list_namespaced_secret("default").items}
    assert set(names) == {"held", "unrelated"}
    assert names["held"].metadata.deletion_timestamp is not None


def test_label_selectors(core: kubernetes.client.CoreV1Api) -> None:
    for name, labels in (("a", {"app": "a", "tier": "web"}), ("b", {"app": "b"}), ("c", {})):
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return [
            cm.metadata.name
            for cm in core.list_namespaced_config_map("default", label_selector=selector).items
        ]

    assert names("app=a") == ["a"]
    assert names("app==b") == ["b"]
    assert names("app!=a") == ["b", "c"]
    assert names("app in (a,b)") == ["a", "b"]
    assert names("app notin (a)") == ["b", "c"]
    assert names("app") == ["a", "b"]
    assert names("!app") == ["c"]
    assert names("app,tier=web") == ["a"]
    fields = core.list_namespaced_config_map("default", field_selector="metadata.name=b").items
    assert [cm.metadata.name for cm in fields] == ["b"]


def test_watch_from_resource_version_in_order(custom: kubernetes.client.CustomObjectsApi) -> None:
    rv = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["metadata"][
        "resourceVersion"
    ]
    create_widget(custom, widget("w1"))
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": "large"}}
    )
    create_widget(custom, widget("w2"))
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    stream = kubernetes.watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        resource_version=rv,
        timeout_seconds=1,
    )
    seen = [(event["type"], event["object"]["metadata"]["name"]) for event in stream]
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]


def test_watch_too_old_resource_version_is_gone(custom: kubernetes.client.CustomObjectsApi) -> None:
    first = create_widget(custom, widget("old"))
    for replicas in range(1, 6):
        for size in ("medium", "small") * 6:
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, "old", {"spec": {"size": size, "replicas": replicas}}
            )
    stream = kubernetes.watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        resource_version=first["metadata"]["resourceVersion"],
        timeout_seconds=1,
    )
    with pytest.raises(ApiException) as info:
        list(stream)
    assert info.value.status == 410


def test_label_selected_watch(core: kubernetes.client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "x", "labels": {"app": "a"}}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "y", "labels": {"app": "b"}}})
    core.patch_namespaced_config_map("x", "default", {"metadata": {"labels": {"app": "c"}}})
    stream = kubernetes.watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="app=a",
        resource_version=rv,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in stream] == [("ADDED", "x"), ("DELETED", "x")]


def test_watches_cut_over_http_end_the_stream(emulator: KubeEmulator) -> None:
    import threading

    import httpx

    cut: list[int] = []

    def cut_when_watched() -> None:
        with httpx.Client(base_url=emulator.url) as control:
            while not cut or cut[-1] == 0:
                cut.append(control.delete("/_emulator/watches").json()["cut"])

    with httpx.Client(base_url=emulator.url, timeout=120) as client:
        with client.stream(
            "GET", "/api/v1/namespaces/default/configmaps", params={"watch": "true", "timeoutSeconds": "600"}
        ) as stream:
            cutter = threading.Thread(target=cut_when_watched, daemon=True)
            cutter.start()
            lines = list(stream.iter_lines())
    cutter.join(timeout=30)  # the stream can end before the DELETE's answer is read
    assert cut[-1] == 1 and lines == []


def test_request_stats_and_direct_access(
    emulator: KubeEmulator, custom: kubernetes.client.CustomObjectsApi
) -> None:
    emulator.stats.reset()
    create_widget(custom, widget("st"))
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "st", {"spec": {"size": "large"}}
    )
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "st", {"status": {"phase": "X"}}
    )
    assert emulator.stats.count(verb="create", group=GROUP, plural=PLURAL) == 1
    assert emulator.stats.count(verb="patch", plural=PLURAL) == 2
    assert emulator.stats.count(verb="patch", subresource="status") == 1
    obj = emulator.get_object(GROUP, VERSION, PLURAL, "default", "st")
    assert obj is not None and obj["status"] == {"phase": "X"}
    assert [o["metadata"]["name"] for o in emulator.list_objects(GROUP, VERSION, PLURAL)] == ["st"]
    assert emulator.get_object(GROUP, VERSION, PLURAL, "default", "nope") is None


def _pod(name: str, grace: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "finalizers": ["x.io/keep"]},
        "spec": spec,
    }


def _left(pod: Any) -> float:
    """Seconds from now to the Pod's deletionTimestamp."""
    import datetime

    stamp = pod.metadata.deletion_timestamp
    return float((stamp - datetime.datetime.now(datetime.UTC)).total_seconds())


def test_a_pod_delete_takes_its_grace_from_delete_options_and_may_only_shorten_it(
    core: kubernetes.client.CoreV1Api,
) -> None:
    core.create_namespaced_pod("default", _pod("g", grace=600))
    core.delete_namespaced_pod("g", "default", grace_period_seconds=120)
    pod = core.read_namespaced_pod("g", "default")
    assert pod.metadata.deletion_grace_period_seconds == 120 and 115 < _left(pod) <= 121
    core.delete_namespaced_pod("g", "default", grace_period_seconds=300)  # longer: ignored
    pod = core.read_namespaced_pod("g", "default")
    assert pod.metadata.deletion_grace_period_seconds == 120 and 115 < _left(pod) <= 121
    core.delete_namespaced_pod("g", "default", grace_period_seconds=10)  # shorter: deadline moves earlier
    pod = core.read_namespaced_pod("g", "default")
    assert pod.metadata.deletion_grace_period_seconds == 10 and 5 < _left(pod) <= 11

    core.create_namespaced_pod("default", _pod("d", grace=45))
    core.delete_namespaced_pod("d", "default")  # no DeleteOptions: the Pod's terminationGracePeriodSeconds
    assert core.read_namespaced_pod("d", "default").metadata.deletion_grace_period_seconds == 45
