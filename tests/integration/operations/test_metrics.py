"""The real operator serves Prometheus metrics that follow what it does (METRICS_PORT)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox
from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, SandboxThread, recording
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def metrics_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str]]:
    port = free_port()
    env = {**TEST_OPERATOR_ENV, "METRICS_PORT": str(port)}
    with SandboxThread(tmp_path_factory.mktemp("metrics"), with_operator=True, operator_env=env) as sb:
        yield sb, f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """`{(sample name, labels): value}` of one scrape; {} while the endpoint is not up yet."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.TransportError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sample `name{labels}` (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_follow_a_recording(metrics_sandbox: tuple[Sandbox, str]) -> None:
    sandbox, url = metrics_sandbox
    cluster = Cluster(sandbox.endpoints["kubernetes"])
    cluster.apply_secrets()
    agora = Agora(sandbox.endpoints["agora"])
    wait_for(lambda: scrape(url), what="the metrics endpoint")
    before = scrape(url)
    assert value(before, "recording_operator_active_sessions", kind="CloudRecording", phase="Recording") == 0

    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    assert cluster.create(body).status_code == 201
    wait_for(
        lambda: (cluster.get(name) or {}).get("status", {}).get("phase") == "Recording", what="Recording"
    )

    active = wait_for(
        lambda: (
            value(scrape(url), "recording_operator_active_sessions", kind="CloudRecording", phase="Recording")
            == 1
        ),
        what="one active Recording session in the metrics",
    )
    assert active
    after = scrape(url)
    # What runs, and every resource's phase and conditions (what the PrometheusRule alerts on).
    (build,) = [v for (n, _), v in after.items() if n == "recording_operator_build_info"]
    assert build == 1
    assert value(after, "recording_operator_resources", kind="CloudRecording", phase="Recording") == 1
    synced = [
        dict(labels)
        for (n, labels), v in after.items()
        if n == "recording_operator_condition" and ("name", name) in labels and ("type", "Synced") in labels
    ]
    assert [(s["status"], s["kind"], s["namespace"]) for s in synced] == [
        ("True", "CloudRecording", "default")
    ]
    assert (
        value(
            after,
            "recording_operator_reconciles_total",
            kind="CloudRecording",
            handler="reconcile",
            result="success",
        )
        >= 1
    )
    for endpoint in ("acquire", "start"):
        assert (
            value(
                after,
                "recording_operator_provider_request_duration_seconds_count",
                provider="agora",
                endpoint=endpoint,
                status="200",
            )
            >= 1
        ), endpoint

    # A provider failure shows up under its HTTP status (what an error-rate panel divides by).
    agora.fault("query", 1, 503)
    wait_for(
        lambda: (
            value(
                scrape(url),
                "recording_operator_provider_request_duration_seconds_count",
                provider="agora",
                endpoint="query",
                status="503",
            )
            >= 1
        ),
        what="the 503 from query in the latency histogram",
    )

    # Pausing is not possible in mix mode; stopping ends the session and the gauge drops.
    assert cluster.patch(name, {"spec": {"state": "Stopped"}}).status_code == 200
    wait_for(
        lambda: (
            value(scrape(url), "recording_operator_active_sessions", kind="CloudRecording", phase="Recording")
            == 0
        ),
        what="no active session after the stop",
    )
    assert (
        value(
            scrape(url),
            "recording_operator_provider_request_duration_seconds_count",
            provider="agora",
            endpoint="stop",
            status="200",
        )
        >= 1
    )
    assert cluster.delete(name).status_code in (200, 202)
    wait_for(lambda: cluster.get(name) is None, what="the resource to go")
    final = scrape(url)
    assert (
        value(
            final,
            "recording_operator_reconciles_total",
            kind="CloudRecording",
            handler="finalize",
            result="success",
        )
        >= 1
    )
