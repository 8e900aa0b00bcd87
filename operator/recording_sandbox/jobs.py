"""The sandbox's Job controller: a small stand-in for kube-controller-manager's Job and
TTL-after-finished controllers, for the Kubernetes API emulator's batch/v1 Jobs.

The Pods it creates are run by the Pod runner (`pods.py`), so a Job whose container runs a
`recording-operator ...` command really runs. What it does, per Job (non-indexed, one Pod at a
time: `parallelism` and `completions` above 1, `suspend`, `podFailurePolicy` and `successPolicy`
are not emulated):

- Pods from `spec.template`: named `<job>-<5 random characters>`, labelled with the template's
  labels (the API server already added `batch.kubernetes.io/controller-uid`, `controller-uid`,
  `batch.kubernetes.io/job-name` and `job-name` to it), owned by the Job (controller reference,
  `blockOwnerDeletion`), so the emulator's garbage collection deletes them with the Job;
- `status`: `startTime` when first seen, `active` / `ready` / `succeeded` / `failed` Pod counts
  (zero counts left out, as the API serializes them), `completionTime` when it completed;
- a succeeded Pod completes the Job: conditions `SuccessCriteriaMet` and `Complete` (reason
  `CompletionsReached`), as Kubernetes 1.31+ reports them;
- a failed Pod is replaced after a back-off (`retry_base_s`·2^(failures-1), capped at
  `retry_max_s`; kube-controller-manager starts at 10 s and caps at 6 min) until more than
  `backoffLimit` Pods failed: conditions `FailureTarget` and `Failed`, reason
  `BackoffLimitExceeded`;
- `activeDeadlineSeconds` after `startTime`: running Pods are deleted, `FailureTarget` and
  `Failed` with reason `DeadlineExceeded`;
- `ttlSecondsAfterFinished` after the `Complete`/`Failed` transition: the Job is deleted (its
  Pods follow by garbage collection).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from typing import Any

from recording_operator.api.timestamps import epoch_of
from recording_sandbox.kube.admission import JOB_NAME_LABELS
from recording_sandbox.kube.emulator import KubeEmulator
from recording_sandbox.kube.errors import ApiError
from recording_sandbox.kube.store import now_iso
from recording_sandbox.kube.watching import Watcher

log = logging.getLogger("recording_sandbox.jobs")

JOB_API_VERSION = "batch/v1"
#: Pod phases that end a Pod.
TERMINAL_PHASES = ("Succeeded", "Failed")


def _condition(type_: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def finished_at(status: dict[str, Any]) -> float | None:
    """Unix seconds when a Job became `Complete` or `Failed` (None while it runs)."""
    for condition in status.get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return epoch_of(condition.get("lastTransitionTime")) or epoch_of(status.get("completionTime"))
    return None


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """Whether `obj` has a controller ownerReference to the object with `uid`."""
    return any(
        o.get("uid") == uid and o.get("controller") for o in obj["metadata"].get("ownerReferences") or ()
    )


def pod_from_template(job: dict[str, Any]) -> dict[str, Any]:
    """A new Pod of `job` (generated name, template labels and annotations, controller reference)."""
    meta = job["metadata"]
    template = (job.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    for label in JOB_NAME_LABELS:
        labels.setdefault(label, meta["name"])
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": JOB_API_VERSION,
                "kind": "Job",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template_meta.get("annotations"):
        pod_meta["annotations"] = dict(template_meta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


class JobController:
    """Runs the emulator's Jobs (see the module docstring).

    Args:
        kube: the emulator (its store is used in process, on the event loop's thread).
        retry_base_s: back-off before the first replacement of a failed Pod (doubles each time).
        retry_max_s: the back-off's cap.
    """

    def __init__(self, kube: KubeEmulator, *, retry_base_s: float = 1.0, retry_max_s: float = 10.0) -> None:
        self.kube = kube
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        job_type = kube.registry.get(("batch", "jobs"))
        pod_type = kube.registry.get(("", "pods"))
        assert job_type is not None and pod_type is not None
        self._job_type, self._pod_type = job_type, pod_type
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        """Watch Jobs and Pods (existing Jobs are reconciled too) and start reconciling."""
        for resource_type, kind in ((self._job_type, "Job"), (self._pod_type, "Pod")):
            watcher = Watcher(
                key=resource_type.key, namespace=None, api_version=resource_type.api_version(), kind=kind
            )
            self.kube.store.watch(resource_type, watcher, None)
            self._watchers.append(watcher)
            self._tasks.append(asyncio.create_task(self._read(watcher), name=f"sandbox-jobs-{kind}"))
        self._tasks.append(asyncio.create_task(self._work(), name="sandbox-jobs-worker"))

    async def stop(self) -> None:
        """Stop watching and reconciling (Pods keep running until the Pod runner stops)."""
        for watcher in self._watchers:
            self.kube.store.unwatch(watcher)
            watcher.close()
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
        self._tasks.clear()
        self._timers.clear()

    # --- events ----------------------------------------------------------------------------------

    async def _read(self, watcher: Watcher) -> None:
        while (line := await watcher.queue.get()) is not None:
            event = json.loads(line)
            obj = event.get("object") or {}
            meta = obj.get("metadata") or {}
            if obj.get("kind") == "Job":
                if event.get("type") != "DELETED":
                    self._enqueue((meta.get("namespace", ""), meta.get("name", "")))
                continue
            for owner in meta.get("ownerReferences") or ():
                if owner.get("kind") == "Job" and owner.get("apiVersion") == JOB_API_VERSION:
                    self._enqueue((meta.get("namespace", ""), owner.get("name", "")))

    def _enqueue(self, key: tuple[str, str]) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _later(self, key: tuple[str, str], delay_s: float) -> None:
        """Reconcile `key` again after `delay_s` seconds (deadlines, back-off, TTL)."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self._enqueue(key)

        handle = loop.call_later(max(delay_s, 0.0) + 0.05, fire)
        self._timers.add(handle)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                self.reconcile(*key)
            except Exception:  # one bad Job must not stop the controller
                log.exception("reconciling Job %s/%s failed", *key)

    # --- one Job ---------------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring one Job's Pods and status forward (see the module docstring)."""
        job = self.kube.store.find(self._job_type, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        key = (namespace, name)
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        now, stamp = time.time(), now_iso()
        done_at = finished_at(status)
        if done_at is not None:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is None:
                return
            if now >= done_at + float(ttl):
                log.info(
                    "Job %s/%s finished %d s ago: deleted (ttlSecondsAfterFinished)", namespace, name, ttl
                )
                self._delete(self._job_type, namespace, name)
            else:
                self._later(key, done_at + float(ttl) - now)
            return
        uid = job["metadata"]["uid"]
        pods, _, _ = self.kube.store.select(self._pod_type, namespace)
        pods = [p for p in pods if owned_by(p, uid)]
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = [
            p
            for p, phase in zip(pods, phases, strict=True)
            if phase not in TERMINAL_PHASES and not p["metadata"].get("deletionTimestamp")
        ]
        start = status.get("startTime") or stamp
        conditions = list(status.get("conditions") or [])
        new: dict[str, Any] = {"startTime": start}
        deadline = spec.get("activeDeadlineSeconds")
        started = epoch_of(start) or now
        if succeeded >= int(spec.get("completions") or 1):
            message = "Reached expected number of succeeded pods"
            conditions += [
                _condition("SuccessCriteriaMet", "CompletionsReached", message, stamp),
                _condition("Complete", "CompletionsReached", message, stamp),
            ]
            new["completionTime"] = stamp
            self._stop_pods(active)
            active = []
        elif failed > int(spec.get("backoffLimit", 6)):
            message = "Job has reached the specified backoff limit"
            conditions += [
                _condition("FailureTarget", "BackoffLimitExceeded", message, stamp),
                _condition("Failed", "BackoffLimitExceeded", message, stamp),
            ]
            self._stop_pods(active)
            active = []
        elif deadline is not None and now >= started + float(deadline):
            message = "Job was active longer than specified deadline"
            conditions += [
                _condition("FailureTarget", "DeadlineExceeded", message, stamp),
                _condition("Failed", "DeadlineExceeded", message, stamp),
            ]
            self._stop_pods(active)
            active = []
        else:
            if not active:
                wait_s = self._backoff_left(pods, failed, now)
                if wait_s > 0:
                    self._later(key, wait_s)
                else:
                    active = [self.kube.store.create(self._pod_type, namespace, pod_from_template(job))]
            if deadline is not None:
                self._later(key, started + float(deadline) - now)
        ready = sum(1 for p in active if _pod_ready(p))
        counts = {"active": len(active), "ready": ready, "succeeded": succeeded, "failed": failed}
        new.update({k: v for k, v in counts.items() if v})
        if conditions:
            new["conditions"] = conditions
        if new != status:
            self._write_status(namespace, name, new)  # its watch event brings the TTL step

    def _backoff_left(self, pods: list[dict[str, Any]], failed: int, now: float) -> float:
        """Seconds until a failed Pod may be replaced (0: now)."""
        if not failed:
            return 0.0
        last = max(_finished(p) for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        delay = min(self.retry_base_s * 2 ** (failed - 1), self.retry_max_s)
        return last + delay - now

    def _stop_pods(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            self._delete(self._pod_type, pod["metadata"].get("namespace", ""), pod["metadata"]["name"])

    def _delete(self, resource_type: Any, namespace: str, name: str) -> None:
        try:
            self.kube.store.delete(resource_type, namespace, name)
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _write_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        body = {"metadata": {"name": name}, "status": status}
        try:
            self.kube.store.replace(self._job_type, namespace, name, body, "status")
        except ApiError as exc:
            if exc.code != 404:
                raise


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def _finished(pod: dict[str, Any]) -> float:
    """When a failed Pod ended: its container's `finishedAt`, else its creation (Unix seconds)."""
    for container in (pod.get("status") or {}).get("containerStatuses") or ():
        at = epoch_of(((container.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if at is not None:
            return at
    return epoch_of(pod["metadata"].get("creationTimestamp")) or 0.0


__all__ = ["JobController", "finished_at", "owned_by", "pod_from_template"]
