"""Server-side Table rendering: the pure helper and the HTTP content negotiation."""

from __future__ import annotations

import datetime
from pathlib import Path

import aiohttp
import yaml

from recording_sandbox.kube import render_table
from recording_sandbox.kube.tables import human_duration, jsonpath

CRD = yaml.safe_load((Path(__file__).parents[2] / "fixtures" / "kube" / "widget-crd.yaml").read_text())
NOW = datetime.datetime(2026, 1, 1, 0, 10, tzinfo=datetime.UTC)
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def widget(name: str, **status: object) -> dict[str, object]:
    return {
        "apiVersion": "test.sandbox.io/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"channel": "c", "size": "large", "replicas": 3},
        "status": status,
    }


def test_jsonpath_subset() -> None:
    obj = {
        "a": {"b": [{"c": 1}, {"c": 2}]},
        "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
    }
    assert jsonpath(obj, ".a.b[1].c") == [2]
    assert jsonpath(obj, "{.a.b[0].c}") == [1]
    assert jsonpath(obj, '.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath(obj, ".conditions[?(@.type=='Synced')].status") == ["False"]
    assert jsonpath(obj, ".a.b[*].c") == [1, 2]
    assert jsonpath(obj, ".missing.x") == []


def test_human_durations() -> None:
    assert [human_duration(s) for s in (5, 119, 200, 3600, 30 * 3600, 3 * 86400, 400 * 86400)] == [
        "5s",
        "119s",
        "3m20s",
        "60m",
        "30h",
        "3d",
        "400d",
    ]


def test_render_table_for_custom_resources() -> None:
    table = render_table(
        CRD,
        [widget("w1", conditions=[{"type": "Ready", "status": "True"}], phase="Up"), widget("w2")],
        now=NOW,
    )
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", "string", 0),
        ("Size", "string", 0),
        ("Replicas", "integer", 0),
        ("Ready", "string", 0),
        ("Phase", "string", 1),
        ("Age", "date", 0),
    ]
    assert table["rows"][0]["cells"] == ["w1", "large", 3, "True", "Up", "10m"]
    assert table["rows"][1]["cells"] == ["w2", "large", 3, None, None, "10m"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == "w1"
    assert "object" not in render_table(CRD, [widget("x")], include_object="None")["rows"][0]


def test_render_table_for_builtins() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "type": "Opaque",
    }
    table = render_table(None, [secret], now=NOW)
    # kube-apiserver's secret printer: NAME TYPE DATA AGE.
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"] == ["s", "Opaque", 0, "10m"]
    event = {
        "kind": "Event",
        "metadata": {"name": "e"},
        "type": "Warning",
        "reason": "Failed",
        "message": "boom",
        "involvedObject": {"kind": "Widget", "name": "w1"},
        "lastTimestamp": "2026-01-01T00:09:00Z",
    }
    table = render_table(None, [event], now=NOW)
    # kube-apiserver's event printer: LAST SEEN TYPE REASON OBJECT MESSAGE (+ wide columns, NAME last).
    shown = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert shown == ["Last Seen", "Type", "Reason", "Object", "Message"]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["60s", "Warning", "Failed", "widget/w1"] and cells[6] == "boom" and cells[-1] == "e"


async def test_table_over_http(kube_http: aiohttp.ClientSession) -> None:
    body = {"metadata": {"name": "w"}, "spec": {"channel": "c", "size": "small"}}
    async with kube_http.post("/apis/test.sandbox.io/v1/namespaces/default/widgets", json=body) as response:
        assert response.status == 201
    headers = {"Accept": TABLE_ACCEPT}
    async with kube_http.get(
        "/apis/test.sandbox.io/v1/namespaces/default/widgets", headers=headers
    ) as response:
        table = await response.json()
    assert table["kind"] == "Table" and table["metadata"]["resourceVersion"]
    assert table["rows"][0]["cells"][:3] == ["w", "small", 1]
    async with kube_http.get(
        "/apis/test.sandbox.io/v1/namespaces/default/widgets/w?includeObject=Object", headers=headers
    ) as response:
        single = await response.json()
    assert single["rows"][0]["object"]["spec"]["channel"] == "c"
