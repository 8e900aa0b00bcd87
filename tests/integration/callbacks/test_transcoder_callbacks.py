"""Agora Cloud Transcoder NCS notices (110–113) drive CloudTranscoder status (real operator and emulator)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import TranscoderAgora, TranscoderCluster, transcoder
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def tcluster(sandbox: Sandbox) -> TranscoderCluster:
    return TranscoderCluster.of(sandbox)


@pytest.fixture(scope="module")
def tagora(sandbox: Sandbox) -> TranscoderAgora:
    return TranscoderAgora.of(sandbox)


def status(cluster: TranscoderCluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def ready(st: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in st.get("conditions") or [] if c["type"] == "Ready")


def test_started_and_stopped_notices_drive_the_phase(
    tcluster: TranscoderCluster, tagora: TranscoderAgora
) -> None:
    body = transcoder(idleTimeout=5)
    name = body["metadata"]["name"]
    assert tcluster.create(body).status_code == 201
    # cloud_transcoder_started (110): running, with no query after the first.
    st = wait_for(lambda: (s := status(tcluster, name)).get("phase") == "STARTED" and s, what="STARTED")
    assert ready(st)["status"] == "True"
    queried = tagora.channel_calls("queryTask", name)
    assert queried <= 1
    # Nobody joins: Agora destroys the task after idleTimeout and says so (111).
    tagora.advance(30)
    st = wait_for(
        lambda: (s := status(tcluster, name)).get("phase") == "Exited" and s, what="Exited by notice"
    )
    assert st["exitReason"] == "ProviderEnded" and "Idle timeout" in ready(st)["message"]
    assert tagora.channel_calls("queryTask", name) == queried
    time.sleep(1)
    assert [e["reason"] for e in tcluster.events(name)].count("Exited") == 1
    assert tcluster.delete(name).status_code == 200
    wait_for(lambda: tcluster.get(name) is None, what="deleted")
