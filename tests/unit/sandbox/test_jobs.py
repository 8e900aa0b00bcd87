"""batch/v1 Jobs in the Kubernetes API emulator and the sandbox's Job controller.

The controller is driven with the test as the kubelet (Pod phases set through the status
subresource), and once with the real Pod runner running `recording-operator delete-volume-file`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from recording_operator.controllers.recordedfile.jobs import deletion_job
from recording_sandbox.jobs import JobController
from recording_sandbox.kube import KubeEmulator
from recording_sandbox.kube.patching import MERGE_PATCH
from recording_sandbox.pods import PodRunner

JOBS = "/apis/batch/v1/namespaces/default/jobs"
UID_LABEL = "batch.kubernetes.io/controller-uid"


def job(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "img", "command": ["recording-operator", "--help"]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
            **spec,
        },
    }


async def until(predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `predicate` until truthy (the timeout only guards against a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if result := predicate():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def jobs(kube: KubeEmulator) -> AsyncIterator[JobController]:
    controller = JobController(kube, retry_base_s=0.05, retry_max_s=0.2)
    await controller.start()
    yield controller
    await controller.stop()


def get_job(kube: KubeEmulator, name: str) -> dict[str, Any] | None:
    return kube.get_object("batch", "v1", "jobs", "default", name)


def pods_of(kube: KubeEmulator, name: str) -> list[dict[str, Any]]:
    return [
        p
        for p in kube.list_objects("", "v1", "pods", "default")
        if p["metadata"]["labels"].get("job-name") == name
    ]


def conditions(obj: dict[str, Any] | None) -> dict[str, str]:
    found = ((obj or {}).get("status") or {}).get("conditions") or []
    return {c["type"]: c["reason"] for c in found if c["status"] == "True"}


def finish(kube: KubeEmulator, pod: dict[str, Any], phase: str) -> None:
    """Act as the kubelet: the Pod's container ended (`phase` Succeeded or Failed)."""
    pod_type = kube.registry.get(("", "pods"))
    assert pod_type is not None
    code = 0 if phase == "Succeeded" else 1
    status = {
        "phase": phase,
        "containerStatuses": [
            {"name": "c", "state": {"terminated": {"exitCode": code, "finishedAt": "2026-01-01T00:00:00Z"}}}
        ],
    }
    kube.store.patch(pod_type, "default", pod["metadata"]["name"], MERGE_PATCH, {"status": status}, "status")


async def test_jobs_are_served_defaulted_and_validated(
    kube: KubeEmulator, kube_http: aiohttp.ClientSession
) -> None:
    async with kube_http.get("/apis/batch/v1") as response:
        names = {r["name"] for r in (await response.json())["resources"]}
    assert {"jobs", "jobs/status"} <= names
    async with kube_http.post(JOBS, json={**job("j"), "status": {"succeeded": 1}}) as response:
        assert response.status == 201
        created = await response.json()
    uid, spec = created["metadata"]["uid"], created["spec"]
    assert "status" not in created and created["metadata"]["generation"] == 1
    assert spec["selector"] == {"matchLabels": {UID_LABEL: uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels == {
        UID_LABEL: uid,
        "controller-uid": uid,
        "batch.kubernetes.io/job-name": "j",
        "job-name": "j",
    }
    assert created["metadata"]["labels"] == labels  # a Job without labels gets the template's
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    async with kube_http.get(JOBS, params={"labelSelector": "job-name=j"}) as response:
        assert [i["metadata"]["name"] for i in (await response.json())["items"]] == ["j"]

    changed = {**created, "spec": {**spec, "template": {**spec["template"], "spec": {"containers": []}}}}
    async with kube_http.put(f"{JOBS}/j", json=changed) as response:
        assert response.status == 422
        assert "spec.template: Invalid value: field is immutable" in (await response.json())["message"]
    always = job("bad")
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    async with kube_http.post(JOBS, json=always) as response:
        assert response.status == 422
        assert 'Unsupported value: "Always"' in (await response.json())["message"]


async def test_a_succeeded_pod_completes_the_job_and_ttl_deletes_it_with_its_pods(
    kube: KubeEmulator, jobs: JobController
) -> None:
    job_type = kube.registry.get(("batch", "jobs"))
    assert job_type is not None
    created = kube.store.create(job_type, "default", job("ok", ttlSecondsAfterFinished=1))
    [pod] = await until(lambda: pods_of(kube, "ok"), "a Pod")
    assert pod["metadata"]["name"].startswith("ok-")
    [owner] = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Job", created["metadata"]["uid"], True)
    assert pod["metadata"]["labels"][UID_LABEL] == created["metadata"]["uid"]
    running = await until(lambda: (get_job(kube, "ok") or {}).get("status", {}).get("active"), "active")
    assert running == 1 and get_job(kube, "ok")["status"]["startTime"]  # type: ignore[index]

    finish(kube, pod, "Succeeded")
    done = await until(lambda: "Complete" in conditions(j := get_job(kube, "ok")) and j, "Complete")
    assert conditions(done) == {"SuccessCriteriaMet": "CompletionsReached", "Complete": "CompletionsReached"}
    assert done["status"]["succeeded"] == 1 and "active" not in done["status"]
    assert done["status"]["completionTime"]
    await until(lambda: get_job(kube, "ok") is None, "ttlSecondsAfterFinished")
    assert pods_of(kube, "ok") == []  # collected with their owner


async def test_failed_pods_are_retried_up_to_the_backoff_limit(
    kube: KubeEmulator, jobs: JobController
) -> None:
    job_type = kube.registry.get(("batch", "jobs"))
    assert job_type is not None
    kube.store.create(job_type, "default", job("flaky", backoffLimit=2))
    for attempt in range(1, 4):
        pod = await until(
            lambda: next((p for p in pods_of(kube, "flaky") if "phase" not in p.get("status", {})), None),
            f"Pod {attempt}",
        )
        finish(kube, pod, "Failed")
        if attempt < 3:
            count = attempt + 1
            await until(lambda: len(pods_of(kube, "flaky")) == count, f"replacement {attempt}")  # noqa: B023
    failed = await until(lambda: "Failed" in conditions(j := get_job(kube, "flaky")) and j, "Failed")
    assert conditions(failed) == {"FailureTarget": "BackoffLimitExceeded", "Failed": "BackoffLimitExceeded"}
    assert failed["status"]["failed"] == 3 and "active" not in failed["status"]
    assert "completionTime" not in failed["status"]
    assert len(pods_of(kube, "flaky")) == 3  # failed Pods are kept (no TTL)


async def test_active_deadline_fails_the_job_and_stops_its_pod(
    kube: KubeEmulator, jobs: JobController
) -> None:
    job_type = kube.registry.get(("batch", "jobs"))
    pod_type = kube.registry.get(("", "pods"))
    assert job_type is not None and pod_type is not None
    kube.store.create(job_type, "default", job("slow", activeDeadlineSeconds=1))
    [pod] = await until(lambda: pods_of(kube, "slow"), "a Pod")
    kube.store.patch(
        pod_type, "default", pod["metadata"]["name"], MERGE_PATCH, {"status": {"phase": "Running"}}, "status"
    )
    failed = await until(lambda: "Failed" in conditions(j := get_job(kube, "slow")) and j, "DeadlineExceeded")
    assert conditions(failed)["Failed"] == "DeadlineExceeded"
    assert pods_of(kube, "slow") == []  # the running Pod was deleted


async def test_the_real_delete_command_runs_as_a_job(
    tmp_path: Path, kube: KubeEmulator, jobs: JobController
) -> None:
    job_type = kube.registry.get(("batch", "jobs"))
    assert job_type is not None
    runner = PodRunner(kube, tmp_path)
    await runner.start()
    try:
        claim = tmp_path / "volumes" / "default" / "rec" / "team"
        claim.mkdir(parents=True)
        (claim / "a.mp4").write_bytes(b"x")
        (claim / "b.mp4").write_bytes(b"y")
        good = deletion_job(
            namespace="default", file_name="f", uid="u1", claim="rec", path="team/a.mp4", image="i"
        )
        bad = deletion_job(
            namespace="default", file_name="g", uid="u2", claim="rec", path="../rec/team/b.mp4", image="i"
        )
        for manifest in (good, bad):
            manifest["spec"]["backoffLimit"] = 1
            manifest["metadata"].pop("ownerReferences")
            kube.store.create(job_type, "default", manifest)
        name_ok, name_bad = good["metadata"]["name"], bad["metadata"]["name"]
        await until(
            lambda: "Complete" in conditions(get_job(kube, name_ok)), "the deletion Job to complete", 60
        )
        assert not (claim / "a.mp4").exists()
        refused = await until(
            lambda: "Failed" in conditions(j := get_job(kube, name_bad)) and j, "refusal", 60
        )
        assert refused["status"]["failed"] == 2 and (claim / "b.mp4").read_bytes() == b"y"
        codes = [
            p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
            for p in pods_of(kube, name_bad)
        ]
        assert codes == [2, 2]
    finally:
        await runner.stop()
