"""The Grafana dashboard queries only metrics the operator exports (metrics.py's registry)."""

from __future__ import annotations

import json
import re
from typing import Any

from recording_operator.controllers._kit.metrics import REGISTRY, exported_names
from tests.unit.deploy.conftest import ROOT

DASHBOARD = ROOT / "manifests" / "grafana" / "recording-operator.json"
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels, strings and ranges removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\boffset\s+\S+", "", expr)
    expr = re.sub(r"(?<![A-Za-z_:])\d[\w.]*", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def queries(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query["query"]))
    return found


def test_every_query_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names(REGISTRY)
    used: set[str] = set()
    for expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} names metrics the operator does not export: {names - exported}"
        used |= names
    # The panels the issue asks for: recorder bitrate, fps, speed; provider errors.
    for name in (
        "recording_operator_recorder_bitrate_bits_per_second",
        "recording_operator_recorder_fps",
        "recording_operator_recorder_speed_ratio",
        "recording_operator_provider_request_duration_seconds_count",
    ):
        assert name in used, name


def test_the_parser_sees_metric_names() -> None:
    expr = 'sum by (a, le) (rate(foo_total{x=~"a|b", le!="1"}[5m])) / on(a) bar_count offset 5m'
    assert metric_names(expr) == {"foo_total", "bar_count"}


def test_exported_names_include_histogram_and_counter_series() -> None:
    exported = exported_names(REGISTRY)
    for suffix in ("_bucket", "_count", "_sum"):
        assert "recording_operator_provider_request_duration_seconds" + suffix in exported
    assert "recording_operator_reconciles_total" in exported
    assert "recording_operator_active_sessions" in exported
    assert "recording_operator_recorder_bitrate_bits_per_second" in exported
