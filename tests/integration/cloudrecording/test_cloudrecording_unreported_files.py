"""A session's final file list can be lost: Agora reports it only in the stop answer and in the
`uploaded` notice, and a session stopped whose answer was lost then answers 404. Deleting the
recording (`Delete`) still deletes every object the session stored: the finalizer finds them in
the bucket by the session's name and deletes them through RecordedFiles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, recording, s3_keys
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    # Queries are rare, so the stop is the only call that could report the files.
    return {**TEST_OPERATOR_ENV, "CLOUDRECORDING_QUERY_INTERVAL": "600"}


def test_delete_removes_stored_files_whose_stop_answer_was_lost(
    cluster: Cluster, agora: Agora, s3: Any
) -> None:
    body = recording()
    name = body["metadata"]["name"]
    prefix = "/".join(body["spec"]["storage"]["prefix"])
    # No query answers while the session records: no file list reaches the operator before the stop.
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "query", "count": 1000, "status": 503, "cname": name}
    ).raise_for_status()
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    cluster.create(body)
    wait_for(lambda: ((cluster.get(name) or {}).get("status") or {}).get("sid"), what="the session's sid")
    agora.advance(30)  # slices and a playlist to upload
    agora.http.delete("/_emulator/faults").raise_for_status()
    # The stop is carried out (the files are uploaded) but its answer never arrives, nor do the
    # session's exit notices (`uploaded` lists the files); the stop sent again answers that the
    # session is exiting, so the operator never sees the session's file list.
    agora.http.post("/_emulator/callbacks", json={"drop": 10}).raise_for_status()
    agora.http.post(
        "/_emulator/faults", json={"endpoint": "stop", "count": 1, "drop": "after", "cname": name}
    ).raise_for_status()

    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, timeout=60, what=f"{name} deleted")
    stops = [r for r in agora.requests() if r["endpoint"] == "stop" and r.get("cname") == name]
    assert [r.get("dropped") for r in stops][:1] == ["after"]
    assert not {k for k in s3_keys(s3, "recordings", prefix) if name in k}  # none left behind
    assert any(e["reason"] == "UnreportedFilesFound" for e in cluster.events(name))
