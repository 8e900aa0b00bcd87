"""Agora NCS notices drive CloudRecording status (real operator, real emulator, real HTTP)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.support.harness import Agora, Cluster, Files, recording
from tests.support.waiting import wait_for

APP_ID = recording()["spec"]["agora"]["appId"]


class Ncs:
    """The emulator's NCS sender settings and log, and direct posts to the operator's receiver."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.agora = httpx.Client(base_url=sandbox.endpoints["agora"], timeout=10)
        self.receiver = sandbox.endpoints["callbacks"]["agoraRecording"]
        self.secret = sandbox.ncs_secret.encode()

    def configure(self, **settings: Any) -> None:
        self.agora.post("/_emulator/callbacks", json=settings).raise_for_status()

    def deliveries(self, sid: str) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.agora.get("/_emulator/callbacks/log").json()["deliveries"]
        return [d for d in log if d["sid"] == sid]

    def failover(self, sid: str) -> str:
        response = self.agora.post(f"/_emulator/tasks/{sid}/failover")
        response.raise_for_status()
        uid: str = response.json()["newUid"]
        return uid

    def notice(
        self, event_type: int, sid: str, cname: str, uid: str, details: dict[str, Any], **top: Any
    ) -> bytes:
        body = {
            "noticeId": str(uuid.uuid4()),
            "productId": 3,
            "eventType": event_type,
            "notifyMs": int(time.time() * 1000),
            "payload": {
                "cname": cname,
                "uid": uid,
                "sid": sid,
                "sequence": 90,
                "sendts": 1,
                "details": details,
            },
            **top,
        }
        return json.dumps(body).encode()

    def post(
        self, body: bytes, *, secret: bytes | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        key = self.secret if secret is None else secret
        signed = {"Agora-Signature-V2": hmac.new(key, body, hashlib.sha256).hexdigest()}
        return httpx.post(
            self.receiver,
            content=body,
            headers={"Content-Type": "application/json", **(signed if headers is None else headers)},
            timeout=10,
        )


@pytest.fixture(scope="module")
def ncs(sandbox: Sandbox) -> Ncs:
    return Ncs(sandbox)


@pytest.fixture(autouse=True)
def plain_delivery(ncs: Ncs) -> None:
    ncs.configure(duplicate=False, reorder=False, delayMs=0, drop=0)


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.get(name) or {}).get("status") or {}


def queries(agora: Agora, sid: str) -> int:
    return agora.calls("query", sid)


def recording_session(cluster: Cluster, agora: Agora) -> tuple[str, str, str]:
    """A Recording CloudRecording with people in its channel: (name, sid, recorder uid)."""
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    assert cluster.create(body).status_code == 201
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Recording" and s, what="Recording")
    return name, st["sid"], body["spec"]["agora"]["uid"]


def reasons(cluster: Cluster, name: str) -> list[str]:
    return [e["reason"] for e in cluster.events(name)]


def test_idle_exit_and_upload_come_from_notices(
    cluster: Cluster, agora: Agora, files: Files, ncs: Ncs
) -> None:
    name, sid, _ = recording_session(cluster, agora)
    # The recorder_started notice reached the operator.
    wait_for(
        lambda: any(d["eventType"] == 40 and d["httpStatus"] == 200 for d in ncs.deliveries(sid)), what="40"
    )
    asked = queries(agora, sid)
    # Everybody leaves; Agora's recorder leaves after maxIdleTime (300 s in the sample).
    agora.set_users(APP_ID, name, [])
    agora.advance(301)
    st = wait_for(
        lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="Stopped by notice"
    )
    assert st["stopReason"] == "ProviderEnded"
    assert queries(agora, sid) == asked  # no query told it
    [task] = [t for t in agora.tasks(name) if t["sid"] == sid]
    # uploaded (31) → one RecordedFile per file Agora listed.
    recorded = wait_for(
        lambda: len(files.of_recording(name)) == len(task["files"]) and files.of_recording(name)
    )
    keys = {
        f["spec"]["location"]["key"] if "location" in f["spec"] else json.dumps(f["spec"]) for f in recorded
    }
    assert len(keys) == len(task["files"])
    assert st["sessions"][-1]["sid"] == sid
    assert reasons(cluster, name).count("Stopped") == 1


def test_the_exit_notice_moves_the_phase_while_recordedfile_creates_fail_and_the_files_follow(
    sandbox: Sandbox, cluster: Cluster, agora: Agora, files: Files, ncs: Ncs
) -> None:
    name, sid, _ = recording_session(cluster, agora)
    kube = httpx.Client(base_url=sandbox.endpoints["kubernetes"], timeout=10)
    # The API server refuses every RecordedFile create until the faults are disarmed.
    outage = {"method": "POST", "resource": "recordedfiles", "code": 503, "count": 100_000}
    kube.post("/_emulator/faults", json=outage).raise_for_status()
    try:
        agora.set_users(APP_ID, name, [])
        agora.advance(301)
        [task] = [t for t in agora.tasks(name) if t["sid"] == sid]
        reported = set(task["files"])
        assert reported
        # The phase moved, and the status names the files still without a RecordedFile.
        st = wait_for(
            lambda: (
                (s := status(cluster, name)).get("phase") == "Stopped"
                and set(s.get("unpublishedFiles") or []) == reported
                and s
            ),
            what="Stopped, with the uploaded files to publish",
        )
        assert st["stopReason"] == "ProviderEnded"
        assert files.of_recording(name) == []
        assert all(d["httpStatus"] == 200 for d in ncs.deliveries(sid))  # no notice had to be resent
    finally:
        kube.delete("/_emulator/faults").raise_for_status()
    # A later pass (the operator's timer: no notice comes again) creates them and clears the list.
    recorded = wait_for(
        lambda: len(files.of_recording(name)) == len(reported) and files.of_recording(name),
        what="the RecordedFiles once the API accepts them",
    )
    assert {f["spec"]["location"]["key"].rsplit("/", 1)[-1] for f in recorded} == {
        n.rsplit("/", 1)[-1] for n in reported
    }
    wait_for(lambda: "unpublishedFiles" not in status(cluster, name), what="the list cleared")


def test_failover_updates_the_recorder_uid(cluster: Cluster, agora: Agora, ncs: Ncs) -> None:
    name, sid, uid = recording_session(cluster, agora)
    new_uid = ncs.failover(sid)
    assert new_uid != uid
    st = wait_for(
        lambda: (s := status(cluster, name)).get("recorderUid") == new_uid and s, what="recorderUid"
    )
    assert st["phase"] == "Recording" and st["sid"] == sid
    wait_for(lambda: "SessionFailover" in reasons(cluster, name), what="SessionFailover Event")
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def test_duplicated_and_reordered_notices_change_nothing_twice(
    cluster: Cluster, agora: Agora, files: Files, ncs: Ncs
) -> None:
    ncs.configure(duplicate=True, reorder=True)
    name, sid, _ = recording_session(cluster, agora)
    new_uid = ncs.failover(sid)
    wait_for(lambda: status(cluster, name).get("recorderUid") == new_uid, what="recorderUid")
    agora.set_users(APP_ID, name, [])
    agora.advance(301)
    st = wait_for(lambda: (s := status(cluster, name)).get("phase") == "Stopped" and s, what="Stopped")
    [task] = [t for t in agora.tasks(name) if t["sid"] == sid]
    wait_for(lambda: len(files.of_recording(name)) == len(task["files"]), what="RecordedFiles")
    # Every notice was delivered twice, and all copies were answered 200.
    delivered = wait_for(lambda: (d := ncs.deliveries(sid)) and len(d) >= 2 * 6 and d, what="deliveries")
    by_event: dict[int, int] = {}
    for d in delivered:
        by_event[d["eventType"]] = by_event.get(d["eventType"], 0) + 1
        assert d["httpStatus"] == 200
    assert all(count == 2 for count in by_event.values()), by_event
    # ...and changed the status once.
    time.sleep(0.5)
    final = status(cluster, name)
    assert final["sessions"] == st["sessions"] and len([s for s in final["sessions"] if s["sid"] == sid]) == 1
    assert final["recorderUid"] == new_uid
    assert final["phase"] == "Stopped"
    assert reasons(cluster, name).count("Stopped") == 1
    assert reasons(cluster, name).count("SessionFailover") == 1
    assert len(files.of_recording(name)) == len(task["files"])


def test_forged_unsigned_and_replayed_notices_change_nothing(
    cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    name, sid, uid = recording_session(cluster, agora)
    exit_notice = ncs.notice(11, sid, name, uid, {"msgName": "session_exit", "exitStatus": 1})
    assert ncs.post(exit_notice, headers={}).status_code == 401  # unsigned
    assert ncs.post(exit_notice, secret=b"not-the-ncs-secret").status_code == 401  # forged
    sha1 = hmac.new(b"wrong", exit_notice, hashlib.sha1).hexdigest()
    assert ncs.post(exit_notice, headers={"Agora-Signature": sha1}).status_code == 401
    stale = json.loads(exit_notice)
    stale["notifyMs"] -= 3_600_000
    assert ncs.post(json.dumps(stale).encode()).status_code == 401  # replayed: outside the window
    # A genuine notice is applied once; the very same delivery again is a replay.
    progress = ncs.notice(33, sid, name, uid, {"msgName": "uploading_progress", "progress": 4200})
    first = ncs.post(progress)
    assert first.status_code == 200 and first.json()["result"] == "applied"
    assert status(cluster, name)["uploadProgress"] == 4200
    assert ncs.post(progress).status_code == 401
    time.sleep(1.5)  # several operator ticks
    st = status(cluster, name)
    assert st["phase"] == "Recording" and st["sid"] == sid and not st.get("stopReason")
    assert [t for t in agora.tasks(name) if t["sid"] == sid and not t["stopped"]]
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")


def create_with_its_start_answer_lost(cluster: Cluster, agora: Agora) -> tuple[str, dict[str, Any]]:
    """Create a recording (people in its channel) whose start Agora carries out but whose answer is
    lost (it arrives after 4 s as a 504): (name, the running session at the emulator)."""
    body = recording()
    name = body["metadata"]["name"]
    agora.set_users(APP_ID, name, ["1001"])
    agora.http.post(
        "/_emulator/faults",
        json={"endpoint": "start", "count": 1, "status": 504, "answerLate": True, "latencyMs": 4000},
    ).raise_for_status()
    assert cluster.create(body).status_code == 201
    [task] = wait_for(lambda: [t for t in agora.tasks(name) if not t["stopped"]], what="session at Agora")
    return name, task


def test_lost_start_answer_is_adopted_from_its_notice_and_stopped_on_delete(
    cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    name, task = create_with_its_start_answer_lost(cluster, agora)
    st = wait_for(lambda: (s := status(cluster, name)).get("sid") == task["sid"] and s, what="sid adopted")
    assert st["phase"] == "Recording" and st["resourceId"] == task["resourceId"]
    # Events are posted after the status write that adopted the session.
    wait_for(lambda: "Adopted" in reasons(cluster, name), what="the Adopted Event")
    # The repeated start (answered "already started") does not undo the adoption.
    wait_for(lambda: agora.calls("start", task["resourceId"]) >= 2, what="the start's retry")
    time.sleep(1.0)
    obj = cluster.get(name)
    assert obj is not None
    assert obj["status"]["sid"] == task["sid"] and obj["status"]["phase"] == "Recording"
    assert "recording.mediaops.io/start-pending" not in obj["metadata"].get("annotations", {})
    assert len([t for t in agora.tasks(name) if not t["stopped"]]) == 1
    # Deleting it stops the adopted session.
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
    assert [t for t in agora.tasks(name) if not t["stopped"]] == []
    assert agora.calls("stop", task["sid"]) == 1


def test_a_session_whose_start_answer_and_first_notices_were_lost_is_adopted_from_its_progress_notice(
    cluster: Cluster, agora: Agora, ncs: Ncs
) -> None:
    """Agora resends a notice 3 times at most, so an operator down long enough misses the start's
    answer and the session's first notices (40 recorder_started, 30 uploader_started) for good. The
    running session still sends 33 uploading_progress every minute (Agora's NCS documentation, event
    33; here every 2 s), which names its sid: the recording adopts the session from it, and deleting
    the recording stops it (found by the fault campaign: most of the sessions seed 1's 500-lifecycle
    run left running had lost every notice to an operator restart)."""
    ncs.configure(drop=2, progressIntervalMs=2000)
    try:
        name, task = create_with_its_start_answer_lost(cluster, agora)
        st = wait_for(
            lambda: (s := status(cluster, name)).get("sid") == task["sid"] and s,
            timeout=30,
            what="sid adopted",
        )
        assert st["resourceId"] == task["resourceId"]
        # A delivery is logged once the operator has answered it, after the adoption's write.
        delivered = wait_for(
            lambda: [d["eventType"] for d in ncs.deliveries(task["sid"]) if d["httpStatus"] == 200],
            what="the adopting notice in the delivery log",
        )
        assert delivered[0] == 33  # 40 and 30 never reached the operator
        cluster.delete(name)
        wait_for(lambda: cluster.get(name) is None, what="deleted")
    finally:
        ncs.configure(drop=0, progressIntervalMs=60_000)
    assert [t for t in agora.tasks(name) if not t["stopped"]] == []
    assert agora.calls("stop", task["sid"]) == 1


def test_a_session_nobody_owns_is_reported(cluster: Cluster, agora: Agora, ncs: Ncs) -> None:
    name, sid, _ = recording_session(cluster, agora)
    stranger = uuid.uuid4().hex
    response = ncs.post(ncs.notice(40, stranger, name, "999", {"msgName": "recorder_started", "status": 0}))
    assert response.status_code == 200 and response.json()["result"] == "unmatched"
    event = wait_for(
        lambda: next((e for e in cluster.events(name) if e["reason"] == "UnknownSession"), None),
        what="UnknownSession Event",
    )
    assert event["type"] == "Warning" and stranger in event["message"]
    # Only the stranger is reported: the recording's own session never is.
    assert [e for e in cluster.events(name) if e["reason"] == "UnknownSession" and sid in e["message"]] == []
    assert status(cluster, name)["sid"] == sid
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what="deleted")
