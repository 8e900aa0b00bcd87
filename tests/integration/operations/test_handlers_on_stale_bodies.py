"""A handler handed an old body by kopf never opens a second session (or task) nor lets a running one go.

kopf gives a handler the body of the last watch event it processed; when kopf's own patch is
refused (API server unavailable) its bookkeeping and that body stay behind the operator's direct
writes (the start-pending marker and the session id persisted before kopf's patch), and kopf runs
the handler again on them. These tests play that part of kopf exactly: they call the real handler
coroutines with a body older than what the sandbox's API server holds, against the real Kubernetes
API and Agora emulators over HTTP (no operator process, so nothing else touches the objects).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Iterator
from typing import Any, cast

import kopf
import pytest

from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers._kit.shard import SHARD_FINALIZER
from recording_operator.controllers.cloudrecording import handlers, notices
from recording_operator.controllers.cloudrecording.realtimekit import ADOPTION_SKEW
from recording_operator.controllers.cloudtranscoder import handlers as transcoder_handlers
from recording_operator.providers.agora import ncs
from recording_operator.settings import Settings
from recording_sandbox.runner import Sandbox
from tests.integration.cloudrecording.test_cloudrecording_realtimekit import (
    SECRET,
    RealtimeKit,
    realtimekit_recording,
)
from tests.support.harness import (
    TEST_OPERATOR_ENV,
    Agora,
    Cluster,
    SandboxThread,
    TranscoderAgora,
    TranscoderCluster,
    recording,
    transcoder,
)

LOGGER = logging.getLogger("test-stale-body")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox without an operator process: the tests run the handlers themselves."""
    with SandboxThread(tmp_path_factory.mktemp("sandbox"), with_operator=False) as sb:
        yield sb


class Handlers:
    """Handler invocations as kopf makes them, on one event loop with what the operator's startup
    and login handlers put in kopf's memo (one `Runtime` logged in with the sandbox's kubeconfig)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runtime = Runtime(Settings.from_env())
        conn = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
        assert conn is not None
        self.loop.run_until_complete(self.runtime.set_connection(conn))
        self.memo = kopf.Memo()
        self.memo.runtime = self.runtime

    def run(self, handler: Any, body: dict[str, Any]) -> kopf.Patch:
        """One invocation on `body`; the patch kopf would apply afterwards is returned, not
        applied (as when kopf's patch is refused)."""
        patch = kopf.Patch()
        self.loop.run_until_complete(
            handler(
                body=kopf.Body(cast(kopf.RawBody, copy.deepcopy(body))),
                patch=patch,
                memo=self.memo,
                retry=0,
                logger=LOGGER,
            )
        )
        return patch

    def close(self) -> None:
        self.loop.run_until_complete(self.runtime.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def kopf_runs(sandbox: Sandbox) -> Iterator[Handlers]:
    """One event loop for the module, as in the operator process (the request budget is the
    process's), in the operator's environment in the sandbox (settings, kubeconfig, Agora)."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in {**sandbox.operator_environment(), **TEST_OPERATOR_ENV}.items():
            env.setenv(key, value)
        runs = Handlers()
        yield runs
        runs.close()


def created(cluster: Cluster, agora: Agora) -> tuple[str, dict[str, Any]]:
    body = recording()
    body["metadata"]["finalizers"] = [SHARD_FINALIZER]  # kopf adds it before any handler runs
    name = body["metadata"]["name"]
    response = cluster.create(body)
    assert response.status_code == 201, response.text
    agora.set_users(body["spec"]["agora"]["appId"], name, ["1001"])
    stale = cluster.get(name)
    assert stale is not None
    return name, stale


def acquires(agora: Agora, cname: str) -> int:
    return sum(1 for r in agora.requests() if r["endpoint"] == "acquire" and r.get("cname") == cname)


def running(agora: Agora, cname: str) -> list[dict[str, Any]]:
    return [t for t in agora.tasks(cname) if not t.get("stopped")]


def test_a_create_handler_run_again_on_its_old_body_resumes_the_session_it_started(
    cluster: Cluster, agora: Agora, kopf_runs: Handlers
) -> None:
    name, stale = created(cluster, agora)
    kopf_runs.run(handlers.reconcile, stale)  # starts the session; kopf's patch is lost
    server = cluster.get(name) or {}
    sid = (server.get("status") or {}).get("sid")
    assert sid, "the session id is persisted before kopf's patch"
    assert len(running(agora, name)) == 1

    # kopf runs the create handler again on the body it had: nothing in it says a session runs.
    patch = kopf_runs.run(handlers.reconcile, stale)

    assert acquires(agora, name) == 1, "a fresh acquire was planned on kopf's old body"
    assert [t["sid"] for t in running(agora, name)] == [sid]
    assert (patch.get("status") or {}).get("sid", sid) == sid


def test_a_finalizer_on_an_old_body_stops_the_session_the_server_records(
    cluster: Cluster, agora: Agora, kopf_runs: Handlers
) -> None:
    name, stale = created(cluster, agora)
    kopf_runs.run(handlers.reconcile, stale)
    sid = ((cluster.get(name) or {}).get("status") or {}).get("sid")
    assert sid and len(running(agora, name)) == 1
    assert cluster.delete(name).status_code == 200
    deletion = (cluster.get(name) or {}).get("metadata", {}).get("deletionTimestamp")
    assert deletion, "the finalizer holds the deleted object"
    # kopf's body lags: it carries the deletion but not the session the server records.
    stale_deleted = {**stale, "metadata": {**stale["metadata"], "deletionTimestamp": deletion}}

    kopf_runs.run(handlers.finalize, stale_deleted)

    assert running(agora, name) == [], f"session {sid} still runs after the finalizer returned"


def test_a_transcoder_finalizer_on_an_old_body_deletes_the_task_the_server_records(
    sandbox: Sandbox, kopf_runs: Handlers
) -> None:
    cluster = TranscoderCluster.of(sandbox)
    agora = TranscoderAgora.of(sandbox)
    body = transcoder()
    body["metadata"]["finalizers"] = [SHARD_FINALIZER]
    name = body["metadata"]["name"]
    assert cluster.create(body).status_code == 201
    stale = cluster.get(name) or {}
    kopf_runs.run(transcoder_handlers.reconcile, stale)  # creates the task; kopf's patch is lost
    task_id = ((cluster.get(name) or {}).get("status") or {}).get("taskId")
    assert task_id and len(agora.live_transcoder_tasks(name)) == 1
    # kopf runs the create handler again on its old body: no second acquire, the same task.
    kopf_runs.run(transcoder_handlers.reconcile, stale)
    assert agora.channel_calls("builderTokens", name) == 1, (
        "a fresh builderToken was planned on kopf's old body"
    )
    assert [t["taskId"] for t in agora.live_transcoder_tasks(name)] == [task_id]
    assert cluster.delete(name).status_code == 200
    deletion = (cluster.get(name) or {}).get("metadata", {}).get("deletionTimestamp")
    stale_deleted = {**stale, "metadata": {**stale["metadata"], "deletionTimestamp": deletion}}

    kopf_runs.run(transcoder_handlers.finalize, stale_deleted)

    assert agora.live_transcoder_tasks(name) == [], f"task {task_id} still runs after the finalizer returned"


def test_a_start_whose_status_patch_was_lost_after_kopfs_body_patch_is_followed_not_started_again(
    cluster: Cluster, agora: Agora, kopf_runs: Handlers
) -> None:
    """kopf sends its body patch (removing the start-pending marker) before its status patch; an
    operator killed between the two leaves the session id without the phase kopf would have written.
    The resumed operator must follow that session, not clear its id and start another."""
    name, stale = created(cluster, agora)
    patch = kopf_runs.run(handlers.reconcile, stale)
    assert (
        cluster.patch(name, {"metadata": dict(patch["metadata"])}).status_code == 200
    )  # the body patch only
    server = cluster.get(name) or {}
    sid = (server.get("status") or {}).get("sid")
    assert sid and len(running(agora, name)) == 1

    kopf_runs.run(handlers.reconcile, server)  # kopf's resume handler after the restart, on a fresh LIST

    assert acquires(agora, name) == 1, "the recording was started again"
    assert [t["sid"] for t in running(agora, name)] == [sid]
    assert ((cluster.get(name) or {}).get("status") or {}).get("sid") == sid


def test_a_realtimekit_start_whose_status_patch_was_lost_after_kopfs_body_patch_is_followed(
    sandbox: Sandbox, cluster: Cluster, kopf_runs: Handlers
) -> None:
    """The same crash point for RealtimeKit: the meeting's recording is followed, never a start
    answered 409 (the meeting records already) retried while it runs."""
    assert cluster.http.post(f"/api/v1/namespaces/{cluster.namespace}/secrets", json=SECRET).status_code in (
        201,
        409,
    )
    rtk = RealtimeKit(sandbox.endpoints["realtimekit"])
    body = realtimekit_recording()
    body["metadata"]["finalizers"] = [SHARD_FINALIZER]
    name, meeting = body["metadata"]["name"], body["spec"]["realtimeKit"]["meetingId"]
    rtk.participants(meeting, ["alice"])
    assert cluster.create(body).status_code == 201
    patch = kopf_runs.run(handlers.reconcile, cluster.get(name) or {})
    assert (
        cluster.patch(name, {"metadata": dict(patch["metadata"])}).status_code == 200
    )  # the body patch only
    server = cluster.get(name) or {}
    recording_id = (server.get("status") or {}).get("recordingId")
    assert recording_id
    # The operator comes back later than the clock skew RealtimeKit adoption allows for.
    time.sleep(ADOPTION_SKEW.total_seconds() + 1)

    kopf_runs.run(handlers.reconcile, server)

    assert [r["id"] for r in rtk.recordings(meeting)] == [recording_id]
    assert ((cluster.get(name) or {}).get("status") or {}).get("recordingId") == recording_id


def test_a_notice_read_before_kopfs_status_patch_does_not_undo_it(
    cluster: Cluster, agora: Agora, kopf_runs: Handlers
) -> None:
    """Agora's `recorder_started` (40) is applied by the callback receiver while the create handler's
    patch is in flight: the receiver read the recording (session id persisted, no conditions yet), kopf's
    status patch landed (`Synced=True`), then the receiver wrote its conditions list. A merge patch
    replaces a list, so that write turned `Synced` back to `Unknown` (`Ready=True` beside it) until
    something else wrote conditions — the e2e sample's failure. The write now carries the version it was
    decided on; the 409 makes the receiver decide again on the fresh copy (where kopf's patch already
    says Recording, so the notice has nothing left to change)."""
    name, stale = created(cluster, agora)
    kopf_patch = kopf_runs.run(handlers.reconcile, stale)  # started; kopf's patch not applied yet
    read_by_receiver = cluster.get(name) or {}
    sid = (read_by_receiver.get("status") or {}).get("sid")
    assert sid
    response = cluster.http.patch(
        cluster._crs(name) + "/status",
        json={"status": dict(kopf_patch["status"])},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    synced_by_kopf = {c["type"]: c["status"] for c in (cluster.get(name) or {})["status"]["conditions"]}[
        "Synced"
    ]

    notice = ncs.Notice(
        app_id=stale["spec"]["agora"]["appId"],
        notice_id=f"started-{name}",
        notify_ms=int(time.time() * 1000),
        event_type=40,
        product_id=3,
        payload={"sid": sid, "cname": name, "uid": stale["spec"]["agora"]["uid"], "sequence": 1, "sendts": 1,
                 "details": {"msgName": "recorder_started", "status": 0}},
    )  # fmt: skip
    result = kopf_runs.loop.run_until_complete(
        notices._apply_owned(kopf_runs.runtime, read_by_receiver, notice)
    )

    status = (cluster.get(name) or {})["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert result == "unchanged", "the fresh copy is Recording already: nothing left for the notice to do"
    assert conditions["Synced"] == synced_by_kopf == "True", conditions
    assert (status["phase"], conditions["Ready"], conditions["Recording"]) == ("Recording", "True", "True")
