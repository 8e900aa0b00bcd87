"""Injected Kubernetes API failures: matched by method and resource, consumed one per request."""

from __future__ import annotations

import pytest

from recording_sandbox.kube.faults import Fault, Faults


def test_a_fault_answers_only_matching_requests_and_runs_out() -> None:
    faults = Faults()
    faults.add(Fault.from_json({"method": "post", "resource": "recordedfiles", "code": 503, "count": 2}))
    assert faults.take("GET", "recordedfiles") is None
    assert faults.take("POST", "pods") is None
    first = faults.take("POST", "recordedfiles")
    assert first is not None and (first.code, first.reason) == (503, "ServiceUnavailable")
    assert faults.armed() == [{"method": "POST", "resource": "recordedfiles", "code": 503, "count": 1}]
    assert faults.take("POST", "recordedfiles") is not None
    assert faults.take("POST", "recordedfiles") is None and faults.armed() == []


def test_wildcards_and_clear() -> None:
    faults = Faults()
    faults.add(Fault.from_json({"code": 429, "count": 5}))
    error = faults.take("PATCH", "localrecordings")
    assert error is not None and error.reason == "TooManyRequests"
    faults.clear()
    assert faults.take("PATCH", "localrecordings") is None


@pytest.mark.parametrize("body", [[], {"code": 418}, {"count": 0}, {"verb": "POST"}])
def test_bad_fault_bodies_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        Fault.from_json(body)
