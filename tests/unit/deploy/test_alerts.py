"""The chart's PrometheusRule: every expression parses as PromQL, every metric it reads is one the
operator exports, and every alert has its runbook section in the README."""

from __future__ import annotations

import re
from typing import Any

import promql_parser
import pytest
from helm_python import Chart

import recording_operator.callbacks.receiver
import recording_operator.controllers  # noqa: F401  (registers every controller metric family)
from recording_operator.controllers._kit.metrics import REGISTRY, exported_names
from tests.unit.deploy.conftest import CHART, ROOT, documents

METRIC = re.compile(r"\b(recording_operator_[a-z0-9_]+)\b")


def rules(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = Chart.load(str(CHART))
    try:
        rendered = chart.render(values, name="rec", namespace="ops")
    finally:
        chart.close()
    objs = [o for path, text in rendered.items() if not path.endswith("NOTES.txt") for o in documents(text)]
    found = [o for o in objs if o["kind"] == "PrometheusRule"]
    return [rule for obj in found for group in obj["spec"]["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def alerts() -> list[dict[str, Any]]:
    return rules({"prometheusRule": {"enabled": True}})


def test_opt_in() -> None:
    assert rules({}) == []


def test_expressions_parse_and_read_only_exported_metrics(alerts: list[dict[str, Any]]) -> None:
    exported = exported_names(REGISTRY)
    assert len(alerts) >= 9
    for rule in alerts:
        promql_parser.parse(rule["expr"])  # raises on a syntax error
        names = set(METRIC.findall(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']} reads metrics nothing exports: {names - exported}"


def test_what_the_issue_asks_to_alert_on_is_covered(alerts: list[dict[str, Any]]) -> None:
    by_name = {rule["alert"]: rule for rule in alerts}
    assert 'reason="CreationResultUnknown"' in by_name["RecordingSessionMaybeOrphaned"]["expr"]
    assert 'phase="Failed"' in by_name["RecordingFailed"]["expr"]
    assert by_name["RecordingNotSynced"]["for"] == "10m"
    assert "recorder_speed_ratio" in by_name["RecorderSlowerThanRealTime"]["expr"]
    assert 'type="InputHealthy"' in by_name["RecorderInputUnhealthy"]["expr"]
    assert "429|5.." in by_name["ProviderErrors"]["expr"]
    assert "Missing|Failed" in by_name["RecordedFilesNotStored"]["expr"]
    assert "last_update_timestamp" in by_name["RecorderStatsStale"]["expr"]
    assert "forged" in by_name["CallbacksRejected"]["expr"]
    assert "replayed" in by_name["CallbacksRejected"]["expr"]
    tuned = {
        r["alert"]: r for r in rules({"prometheusRule": {"enabled": True, "for": {"syncedFalse": "30m"}}})
    }
    assert tuned["RecordingNotSynced"]["for"] == "30m"


def test_every_alert_has_a_runbook_section(alerts: list[dict[str, Any]]) -> None:
    readme = (ROOT / "README.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^#{2,5} (.+)$", readme, re.M)}
    for rule in alerts:
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"README has no section {rule['alert']}"
