"""The destination check the controller and the recorder agent share: SSRF targets are refused."""

from __future__ import annotations

import asyncio

import pytest

from recording_operator.api.destinations import (
    DestinationPolicy,
    destination_problem,
    resolved_host_problem,
    resolved_problem,
    storage_hosts,
)
from recording_operator.controllers._kit.policy import destination_policy, storage_endpoint_problem
from recording_operator.settings import Settings

STRICT = DestinationPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "srt://127.0.0.1:9000",
        "rtsp://10.0.0.7:554/cam",
        "rtmp://192.168.1.10/live",
        "http://100.100.100.200/latest/meta-data/",
        "https://kubernetes.default.svc/api",
        "http://minio.storage.svc.cluster.local:9000",
        "rtmp://kubernetes/live",
        "http://localhost:8080/",
        "http://[::1]:8080/",
        "http://[::ffff:169.254.169.254]/",
        "udp://0.0.0.0:5000",
    ],
)
def test_private_and_cluster_internal_destinations_are_refused(url: str) -> None:
    assert destination_problem(url, STRICT) is not None
    assert destination_problem(url, DestinationPolicy(allowPrivate=True)) is None


@pytest.mark.parametrize(
    "url", ["srt://1.1.1.1:9000", "https://s3.us-east-1.amazonaws.com", "rtmp://8.8.8.8/x"]
)
def test_public_destinations_pass(url: str) -> None:
    assert destination_problem(url, STRICT) is None


def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    """`localhost` (from /etc/hosts) resolves to loopback: refused after resolution, whatever its name."""
    assert asyncio.run(resolved_host_problem("localhost")) is not None
    assert asyncio.run(resolved_host_problem("no-such-name.invalid")) is None
    # An allowed host (the operator's configured storage endpoint) is never resolved nor refused.
    policy = DestinationPolicy(storageEndpoints=["localhost:9000"])
    assert asyncio.run(resolved_problem("http://localhost:9000", policy, storage=True)) is None
    # ... as a storage endpoint only, and on its port only.
    assert asyncio.run(resolved_problem("http://localhost:9000", policy)) is not None
    assert asyncio.run(resolved_problem("http://localhost:9001", policy, storage=True)) is not None


def test_storage_endpoints_follow_the_allow_list() -> None:
    settings = Settings(storage_s3_endpoint="http://127.0.0.1:9000")
    assert storage_endpoint_problem("http://127.0.0.1:9000", settings) is None
    assert storage_endpoint_problem("http://169.254.169.254", settings) is not None
    assert storage_endpoint_problem("https://storage.example.com", settings) is None
    listed = Settings(storage_allowed_endpoints=("https://minio.corp.example:9000",))
    assert storage_endpoint_problem("https://minio.corp.example:9000", listed) is None
    assert storage_endpoint_problem("minio.corp.example:9000", listed) is None
    assert storage_endpoint_problem("minio.corp.example:9001", listed) is not None
    assert "not one of" in str(storage_endpoint_problem("https://storage.example.com", listed))
    assert destination_policy(settings).storageEndpoints == ["127.0.0.1:9000"]
    assert storage_endpoint_problem("http://127.0.0.1:9001", settings) is not None
    hosts = storage_hosts(["https://a.example:1", "a.example", "http://b.example", "a.example"])
    assert hosts == ["a.example:1", "a.example", "b.example"]
