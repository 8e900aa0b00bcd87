"""Files a provider reports only once are not lost when their RecordedFiles cannot be created.

Agora reports a session's final file list in the stop response only (the session is gone after
it, https://docs.agora.io/en/cloud-recording/rest-api/stop). Here the single query ran before anyone joined the channel, so
the stop is the only report; the Kubernetes API then refuses the RecordedFile creates for a while
(injected 503s). The files must still get their RecordedFiles, and be deleted with the recording.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from recording_operator.controllers.recordedfile.publication import UNPUBLISHED_ANNOTATION
from recording_sandbox.runner import Sandbox
from tests.support.harness import (
    TEST_OPERATOR_ENV,
    Agora,
    Cluster,
    Files,
    recording,
    s3_keys,
)
from tests.support.waiting import wait_for

APP = "0123456789abcdef0123456789abcdef"
BUCKET = "recordings"
#: One query when the session starts, none after: the stop response is the only file report.
ENV = {**TEST_OPERATOR_ENV, "CLOUDRECORDING_QUERY_INTERVAL": "3600"}


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return ENV


def test_files_reported_only_at_stop_survive_refused_creates(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, files: Files, s3: Any
) -> None:
    kube = httpx.Client(base_url=sandbox.endpoints["kubernetes"], timeout=10)
    body = recording()
    name = body["metadata"]["name"]
    prefix = f"teamB/{name.replace('-', '')}/"
    body["spec"]["storage"]["prefix"] = prefix.strip("/").split("/")
    assert cluster.create(body).status_code == 201
    wait_for(lambda: (cluster.get(name) or {}).get("status", {}).get("phase") == "Recording",
             what="phase Recording")  # fmt: skip
    agora.set_users(APP, name, ["1001"])
    agora.advance(10)  # ten seconds of media on the emulator's clock: the stop reports files

    faults = kube.post("/_emulator/faults", json={"method": "POST", "resource": "recordedfiles", "count": 3})
    assert faults.status_code == 201, faults.text
    assert cluster.patch(name, {"spec": {"state": "Stopped"}}).status_code == 200

    wait_for(lambda: (cluster.get(name) or {}).get("status", {}).get("phase") == "Stopped", what="Stopped")
    wait_for(lambda: kube.get("/_emulator/faults").json()["faults"] == [], what="the refused creates")
    # The stop reported (and the emulator stored) the files; the HLS slices beside the playlist are
    # not reported, so they get no RecordedFile (they are deleted with the playlist).
    stored = {k for k in s3_keys(s3, BUCKET, prefix) if not k.endswith(".ts")}
    assert len(stored) >= 2, stored
    wait_for(
        lambda: {f["spec"]["location"]["key"] for f in files.of_recording(name)} == stored,
        what="a RecordedFile for every file the stop reported",
    )
    wait_for(
        lambda: (
            UNPUBLISHED_ANNOTATION not in ((cluster.get(name) or {})["metadata"].get("annotations") or {})
        ),
        what="the carried file list to be cleared",
    )
    events = cluster.events(name)
    assert any(e["type"] == "Warning" and e["reason"] == "KubernetesUnavailable" for e in events), events

    assert cluster.delete(name).status_code == 200
    wait_for(lambda: cluster.get(name) is None, timeout=30, what="the recording to go")
    assert s3_keys(s3, BUCKET, prefix) == set()
