"""Log levels and formats, stable Event messages and names, Secret references and reconcile requests."""

from __future__ import annotations

import io
import json
import logging

import pytest

from recording_operator.controllers._kit import logging as oplogging
from recording_operator.controllers._kit.events import event_name, stable_message
from recording_operator.controllers._kit.recovery import (
    HANDLED_AT,
    REQUESTED_AT,
    pending_request,
    release_terminal,
    secret_names,
)

REF = {
    "apiVersion": "recording.mediaops.io/v1alpha1",
    "kind": "CloudRecording",
    "namespace": "ns",
    "name": "standup",
    "uid": "u1",
}


def emit(
    fmt: oplogging.LogFormat, level: int, logger: str, msg: str, record_level: int, ref: bool = True
) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(oplogging.JsonLineFormatter() if fmt == "json" else oplogging.TextFormatter())
    handler.addFilter(oplogging.LevelPolicy(level))
    record = logging.LogRecord(logger, record_level, __file__, 1, msg, None, None)
    if ref:
        record.k8s_ref = REF
    handler.handle(record)
    return stream.getvalue()


def test_routine_successes_are_debug() -> None:
    assert emit("text", logging.INFO, "kopf.objects", "Handler 'reconcile' succeeded.", logging.INFO) == ""
    assert (
        emit("text", logging.INFO, "kopf.objects", "Timer 'observe_session' succeeded.", logging.INFO) == ""
    )
    # One summary per change stays INFO (a restarted operator's "Resuming is processed" lines too).
    summary = "Resuming is processed: 1 succeeded; 0 failed."
    assert "INFO" in emit("text", logging.INFO, "kopf.objects", summary, logging.INFO)
    line = emit("json", logging.DEBUG, "kopf.objects", "Timer 'observe_session' succeeded.", logging.INFO)
    assert json.loads(line)["level"] == "DEBUG"


def test_expected_waits_are_info_and_retries_warnings() -> None:
    wait = "Handler 'finalize' failed temporarily: waiting for 5 RecordedFiles to be deleted"
    assert json.loads(emit("json", logging.INFO, "kopf.objects", wait, logging.ERROR))["level"] == "INFO"
    retry = "Handler 'reconcile' failed temporarily: ProviderUnavailable: Agora start: HTTP 503"
    assert json.loads(emit("json", logging.INFO, "kopf.objects", retry, logging.ERROR))["level"] == "WARNING"
    permanent = "Handler 'reconcile' failed permanently: InvalidSpec: bad"
    assert (
        json.loads(emit("json", logging.INFO, "kopf.objects", permanent, logging.ERROR))["level"] == "ERROR"
    )
    # Only kopf's own records are re-levelled.
    assert (
        json.loads(emit("json", logging.INFO, "mine", "Handler 'x' succeeded.", logging.INFO))["level"]
        == "INFO"
    )


def test_kopf_throttling_on_an_api_answer_is_a_warning_without_traceback() -> None:
    from kopf._cogs.clients.errors import APIConflictError

    def throttled(exc: BaseException) -> str:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(oplogging.TextFormatter())
        handler.addFilter(oplogging.LevelPolicy(logging.INFO))
        try:
            raise exc
        except BaseException:
            import sys

            info = sys.exc_info()
        message = f"Throttling for 1 seconds due to an unexpected error: {exc!r}"
        record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, message, None, info)
        handler.handle(record)
        return stream.getvalue()

    conflict = throttled(APIConflictError({"message": "conflict", "code": 409}, status=409, headers={}))
    assert "WARNING" in conflict and "Traceback" not in conflict and "APIConflictError" in conflict
    # Anything that is not the API's answer is a bug: ERROR with its traceback.
    bug = throttled(KeyError("phase"))
    assert "ERROR" in bug and "Traceback" in bug


def test_lines_name_their_object() -> None:
    text = emit("text", logging.INFO, "kopf.objects", "plan: start", logging.INFO)
    assert "[CloudRecording ns/standup] plan: start" in text
    record = json.loads(emit("json", logging.INFO, "kopf.objects", "plan: start", logging.INFO))
    assert (record["kind"], record["namespace"], record["name"], record["uid"]) == (
        "CloudRecording",
        "ns",
        "standup",
        "u1",
    )
    assert "k8s_ref" not in record and "settings" not in record
    plain = json.loads(
        emit("json", logging.INFO, "recording_operator", "serving metrics", logging.INFO, ref=False)
    )
    assert "kind" not in plain


def test_level_and_format_values() -> None:
    assert oplogging.parse_level(None) == logging.INFO
    assert oplogging.parse_level("debug") == logging.DEBUG
    assert oplogging.parse_format("JSON") == "json"
    with pytest.raises(ValueError):
        oplogging.parse_level("LOUD")
    with pytest.raises(ValueError):
        oplogging.parse_format("xml")


def test_event_messages_lose_request_ids_and_names_are_stable() -> None:
    assert stable_message("Agora start: HTTP 503: busy (request id: 7f3a-11)") == (
        "Agora start: HTTP 503: busy",
        ["7f3a-11"],
    )
    assert stable_message("boom requestId=abc") == ("boom", ["abc"])
    assert stable_message("no ids here") == ("no ids here", [])
    a = event_name("standup", "u1", "Warning", "ProviderUnavailable", "Agora start: HTTP 503")
    assert a == event_name("standup", "u1", "Warning", "ProviderUnavailable", "Agora start: HTTP 503")
    assert a != event_name("standup", "u1", "Warning", "ProviderUnavailable", "Agora stop: HTTP 503")
    assert a.startswith("standup.") and len(event_name("x" * 300, "u", "Normal", "R", "m")) <= 253


def test_secret_references_and_requests() -> None:
    spec = {
        "credentialsSecretRef": {"name": "agora"},
        "storage": {"credentialsSecretRef": {"name": "s3"}},
        "inputs": [{"token": {"appCertificateSecretRef": {"name": "cert", "key": "c"}}}],
    }
    assert sorted(set(secret_names(spec))) == ["agora", "cert", "s3"]
    assert pending_request({REQUESTED_AT: "t1"}) == "t1"
    assert pending_request({REQUESTED_AT: "t1", HANDLED_AT: "t1"}) is None
    assert pending_request(None) is None
    status = {
        "conditions": [{"type": "Synced", "status": "False", "reason": "AuthFailed", "message": "x"}],
        "observedGeneration": 3,
    }
    released = release_terminal(status, 3, "Secret agora changed")
    assert released["observedGeneration"] is None
    synced = released["conditions"][0]
    assert (synced["status"], synced["reason"], synced["observedGeneration"]) == (
        "Unknown",
        "ReconcileRequested",
        3,
    )
