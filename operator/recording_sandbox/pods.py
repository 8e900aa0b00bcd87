"""The sandbox's kubelet: runs the Kubernetes API emulator's Pods as local processes.

Only containers whose command is `recording-operator ...` run (the image is irrelevant locally:
they run with the sandbox's Python); any other Pod is reported `Failed`. For each Pod:

- volumes: a `configMap` volume's keys (or its `items`, each at its `path`; a missing key fails the
  Pod) are written to a directory, an `emptyDir` is a fresh directory, a `persistentVolumeClaim` is
  `state_dir/volumes/<namespace>/<claim>[/<subPath>]`;
- scheduling and binding (the scheduler's and the volume provisioner's part): a claim the API holds
  is bound (`status.phase: Bound`) when its `storageClassName` names a StorageClass the API holds,
  or is unset while one is marked default (`storageclass.kubernetes.io/is-default-class`); an
  unbindable claim stays `Pending` and its Pod is not started: it stays `Pending` with
  `PodScheduled=False` `Unschedulable` and the scheduler's message (retried every second, as the
  scheduler does when a claim or class appears; https://kubernetes.io/docs/concepts/storage/persistent-volumes/).
  A claim the API does not hold is a plain directory (sandbox leniency: tests mount shared claims
  without creating them);
  arguments and environment values under a `mountPath` are rewritten to those directories;
- environment: `value`, `secretKeyRef` and `configMapKeyRef` (read from the emulator; a missing
  required key fails the Pod like kubelet's CreateContainerConfigError); nothing else of the host's
  environment but `PATH`, locale and Python's own variables;
- the Pod IP: every Pod gets its own loopback address (127.a.b.c, chosen at random where the
  agent's port 8090 is free), the agent binds it (`--host`) and the Pod reports it as `podIP`, so
  the controller reaches `http://<podIP>:8090` exactly as on a cluster;
- status: `Running` with that `podIP`, then `Succeeded` (exit 0) or `Failed` with the
  container's `exitCode` (128 + signal when killed) and, as kubelet does, the first 4096 bytes of
  the file at the container's `terminationMessagePath` (default `/dev/termination-log`, a workspace
  file locally: an environment value naming that path is rewritten to it) as `terminated.message`;
- binding: a Pod it starts gets `spec.nodeName` (:data:`NODE_NAME`), as the scheduler's binding
  sets it; from then on the API server deletes it gracefully (it stays, terminating, until the
  kubelet confirms);
- deletion (a `deletionTimestamp`, or the object gone): SIGTERM, then SIGKILL at the
  `deletionTimestamp` (the API server sets it to the delete's time plus its grace period: DeleteOptions
  `gracePeriodSeconds`, else `terminationGracePeriodSeconds`); a later delete that shortens the grace
  moves the SIGKILL earlier, as the kubelet does; once the container has stopped and its status is
  written, the runner deletes the Pod with `gracePeriodSeconds: 0`, which removes it, as the kubelet
  does (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination);
- the container ends with its main process: every process it started (marked by POD_MARKER_ENV in
  its environment) is killed then, as the container runtime does; `kill()` SIGKILLs them all at
  once (a Pod deleted without grace, a lost node).

Listen inputs bind the port of the spec on loopback. Output goes to `state_dir/pods/<ns>_<name>.log`
(the current incarnation's), which the emulator serves as the Pod `log` subresource (`kubectl logs`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recording_operator.api.agent import HTTP_PORT, TERMINATION_MESSAGE_MAX_BYTES
from recording_operator.api.timestamps import parse_rfc3339, rfc3339
from recording_sandbox.kube.emulator import KubeEmulator
from recording_sandbox.kube.errors import ApiError
from recording_sandbox.kube.logs import pod_log_path
from recording_sandbox.kube.patching import MERGE_PATCH
from recording_sandbox.kube.watching import Watcher

log = logging.getLogger("recording_sandbox.pods")

#: Host environment variables a local Pod inherits (everything else comes from the Pod spec).
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")
DEFAULT_GRACE_S = 30.0
#: kube-scheduler's message for a Pod whose claim cannot be bound (one node).
UNBOUND_MESSAGE = (
    "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes "
    "are available: 1 Preemption is not helpful for scheduling."
)
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
#: Seconds between two scheduling attempts of an unschedulable Pod.
SCHEDULE_RETRY_S = 1.0
#: `spec.nodeName` of the Pods this runner binds (the sandbox's one node).
NODE_NAME = "sandbox"
#: Kubernetes' default `terminationMessagePath`.
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: Environment variable that marks a local Pod's processes (its value is the Pod's uid).
POD_MARKER_ENV = "RECORDING_SANDBOX_POD_UID"


def loopback_address(port: int, *, attempts: int = 64) -> str:
    """A loopback address 127.a.b.c (Linux routes all of 127.0.0.0/8 to `lo`) on which TCP `port` is
    free, chosen at random so that several sandboxes on one machine do not collide.

    Raises:
        OSError: no free address was found in `attempts` tries.
    """
    rng = random.SystemRandom()
    for _ in range(attempts):
        address = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
        return address
    raise OSError(f"no loopback address with TCP port {port} free")


def _termination_message(path: Path | None) -> str:
    """The container's termination message as kubelet reports it: the file's first
    TERMINATION_MESSAGE_MAX_BYTES bytes (UTF-8, invalid bytes replaced); "" when there is none."""
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            return f.read(TERMINATION_MESSAGE_MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""


class PodConfigError(Exception):
    """The Pod cannot start (missing Secret/ConfigMap key, unsupported volume or command)."""


@dataclass
class LocalPod:
    """One Pod's process and what it needs to be stopped and reported."""

    namespace: str
    name: str
    uid: str
    process: asyncio.subprocess.Process
    grace_s: float
    workspace: Path
    terminating: bool = False
    #: Wall-clock time (Unix s) of the SIGKILL once terminating (the Pod's `deletionTimestamp`).
    kill_at: float = 0.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    termination_log: Path | None = None


def _deletion_deadline(meta: dict[str, Any], grace_s: float) -> float:
    """Unix time of the SIGKILL of a deleted Pod: its `deletionTimestamp`, else now + `grace_s`."""
    parsed = parse_rfc3339(meta.get("deletionTimestamp"))
    return parsed.timestamp() if parsed is not None else time.time() + grace_s


class PodRunner:
    """Watches Pods in `kube` (in process) and runs them as local processes.

    Args:
        kube: the started emulator.
        state_dir: where Pod workspaces, logs and PersistentVolumeClaim directories go.
        host: the loopback address agents bind and Pods report as `podIP`.
    """

    def __init__(self, kube: KubeEmulator, state_dir: Path, *, host: str = "127.0.0.1") -> None:
        self.kube = kube
        self.state_dir = state_dir
        self.host = host
        pod_type = kube.registry.get(("", "pods"))
        assert pod_type is not None
        self._pod_type = pod_type
        claim_type = kube.registry.get(("", "persistentvolumeclaims"))
        assert claim_type is not None
        self._claim_type = claim_type
        self._pods: dict[str, LocalPod] = {}
        self._watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        #: Pods left Pending because a claim cannot be bound: uid → (namespace, name).
        self._unschedulable: dict[str, tuple[str, str]] = {}
        kube.serve_pod_logs(state_dir / "pods")

    async def start(self) -> None:
        """Start watching Pods (the ones that already exist are started too)."""
        self._watcher = Watcher(key=self._pod_type.key, namespace=None, api_version="v1", kind="Pod")
        self.kube.store.watch(self._pod_type, self._watcher, None)
        self._task = asyncio.create_task(self._loop(self._watcher), name="sandbox-pod-runner")
        self._retry = asyncio.create_task(self._schedule_again(), name="sandbox-pod-scheduler")

    async def stop(self) -> None:
        """Stop watching; SIGTERM every local Pod and SIGKILL what is left after 10 s."""
        if self._watcher is not None:
            self.kube.store.unwatch(self._watcher)
            self._watcher.close()
        for task in (self._task, self._retry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        pods = list(self._pods.values())
        for pod in pods:
            with contextlib.suppress(ProcessLookupError):
                pod.process.send_signal(signal.SIGTERM)
        for pod in pods:
            try:
                await asyncio.wait_for(pod.process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    pod.process.kill()
                await pod.process.wait()
            for task in list(pod.tasks):
                task.cancel()
        self._pods.clear()

    def kill(self, namespace: str, name: str) -> bool:
        """SIGKILL every process of a running local Pod at once, as a node losing the Pod, an OOM
        of the container or a Pod deleted with `gracePeriodSeconds: 0` does; False when it does not run."""
        for pod in self._pods.values():
            if (pod.namespace, pod.name) == (namespace, name) and pod.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    pod.process.kill()
                _kill_marked(pod.uid)
                return True
        return False

    def pid_of(self, namespace: str, name: str) -> int | None:
        """The process id of a running local Pod (tests kill it to simulate a crash)."""
        for pod in self._pods.values():
            if (pod.namespace, pod.name) == (namespace, name) and pod.process.returncode is None:
                return pod.process.pid
        return None

    # --- events ----------------------------------------------------------------------------------

    async def _loop(self, watcher: Watcher) -> None:
        while True:
            line = await watcher.queue.get()
            if line is None:
                return
            event = json.loads(line)
            try:
                await self._handle(event.get("type", ""), event.get("object") or {})
            except Exception:  # one bad Pod must not stop the runner
                log.exception("handling a Pod event failed")

    async def _handle(self, event_type: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata", {})
        uid = meta.get("uid", "")
        local = self._pods.get(uid)
        phase = (pod.get("status") or {}).get("phase")
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            if local is not None:
                deadline = _deletion_deadline(meta, local.grace_s)
                if not local.terminating:
                    self._terminate(local, deadline)
                elif deadline < local.kill_at:
                    log.info("Pod %s/%s: grace period shortened", local.namespace, local.name)
                    local.kill_at = deadline
            elif local is None and event_type != "DELETED" and phase in (None, "", "Pending"):
                # Deleted before it ran: report it finished so finalizers can be released.
                self._set_status(
                    meta.get("namespace", ""),
                    meta["name"],
                    self._failed_status("deleted before it started", "Deleted"),
                )
                self._confirm_deletion(meta.get("namespace", ""), meta["name"])
            return
        if local is None and event_type in ("ADDED", "MODIFIED") and phase in (None, "", "Pending"):
            await self._start(pod)

    # --- scheduling ------------------------------------------------------------------------------

    async def _schedule_again(self) -> None:
        """Try the unschedulable Pods again every SCHEDULE_RETRY_S (a claim or class may have appeared)."""
        while True:
            await asyncio.sleep(SCHEDULE_RETRY_S)
            for uid, (namespace, name) in list(self._unschedulable.items()):
                pod = self._get("pods", namespace, name)
                if (
                    pod is None
                    or pod["metadata"].get("uid") != uid
                    or pod["metadata"].get("deletionTimestamp")
                ):
                    self._unschedulable.pop(uid, None)
                    continue
                try:
                    await self._handle("MODIFIED", pod)
                except Exception:
                    log.exception("scheduling Pod %s/%s failed", namespace, name)

    def _unbound_claims(self, namespace: str, spec: dict[str, Any]) -> list[str]:
        """Bind the Pod's claims that can be bound; the names of those that cannot."""
        classes = self.kube.list_objects("storage.k8s.io", "v1", "storageclasses")
        names = {c["metadata"]["name"] for c in classes}
        default = next(
            (
                c["metadata"]["name"]
                for c in classes
                if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
            ),
            None,
        )
        unbound = []
        for volume in spec.get("volumes") or []:
            claim_name = str((volume.get("persistentVolumeClaim") or {}).get("claimName") or "")
            claim = self._get("persistentvolumeclaims", namespace, claim_name) if claim_name else None
            if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
                continue
            wanted = (claim.get("spec") or {}).get("storageClassName")
            if (wanted if wanted is not None else default) not in names:
                unbound.append(claim_name)
                continue
            requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
            status = {
                "phase": "Bound",
                "accessModes": (claim.get("spec") or {}).get("accessModes") or ["ReadWriteOnce"],
                "capacity": {"storage": requests.get("storage", "1Gi")},
            }
            try:
                self.kube.store.patch(
                    self._claim_type, namespace, claim_name, MERGE_PATCH, {"status": status}, "status"
                )
            except ApiError as exc:
                log.warning("binding claim %s/%s failed: %s", namespace, claim_name, exc)
        return unbound

    def _unschedulable_status(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        """The Pending status of a Pod whose claims cannot be bound, or None when it is already set."""
        current = [
            c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"
        ]
        if current and current[0].get("status") == "False" and current[0].get("message") == UNBOUND_MESSAGE:
            return None
        return {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": UNBOUND_MESSAGE,
                    "lastProbeTime": None,
                    "lastTransitionTime": rfc3339(),
                }
            ],
        }

    # --- starting --------------------------------------------------------------------------------

    async def _start(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace, name, uid = meta.get("namespace", "default"), meta["name"], meta["uid"]
        if self._unbound_claims(namespace, spec):
            self._unschedulable[uid] = (namespace, name)
            pending = self._unschedulable_status(pod)
            if pending is not None:
                log.info("Pod %s/%s unschedulable: unbound PersistentVolumeClaims", namespace, name)
                self._set_status(namespace, name, pending)
            return
        self._unschedulable.pop(uid, None)
        # the scheduler's binding: from here on a delete is graceful and the kubelet confirms it
        self._patch(namespace, name, {"spec": {"nodeName": NODE_NAME}})
        workspace = self.state_dir / "pods" / f"{namespace}_{name}_{uid[:8]}"
        workspace.mkdir(parents=True, exist_ok=True)
        try:
            containers = spec.get("containers") or []
            if len(containers) != 1:
                raise PodConfigError("the sandbox runs Pods with exactly one container")
            container = containers[0]
            command = [*(container.get("command") or []), *(container.get("args") or [])]
            if not command or command[0] != "recording-operator":
                raise PodConfigError("the sandbox runs only `recording-operator` containers")
            mounts = self._volumes(namespace, spec, container, workspace)
            termination_log = workspace / "termination-log"
            message_path = container.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH
            mounts.append((message_path, termination_log))
            mounts.sort(key=lambda m: len(m[0]), reverse=True)
            env = self._environment(namespace, container, mounts)
            env.setdefault("HOME", str(workspace))
            env[POD_MARKER_ENV] = uid
        except PodConfigError as exc:
            self._set_status(namespace, name, self._failed_status(str(exc), "CreateContainerConfigError"))
            return
        pod_ip = loopback_address(HTTP_PORT)
        argv = [sys.executable, "-m", "recording_operator", *(_rewrite(a, mounts) for a in command[1:])]
        if command[1:2] == ["record"]:
            argv += ["--host", pod_ip]
        log_path = pod_log_path(self.state_dir / "pods", namespace, name)
        with log_path.open("wb") as out:  # this incarnation's output, as `kubectl logs` shows it
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=workspace, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
            )
        grace = spec.get("terminationGracePeriodSeconds")
        local = LocalPod(
            namespace,
            name,
            uid,
            process,
            float(grace if grace is not None else DEFAULT_GRACE_S),
            workspace,
            termination_log=termination_log,
        )
        self._pods[uid] = local
        started = rfc3339()
        self._set_status(
            namespace,
            name,
            {
                "phase": "Running",
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "hostIP": self.host,
                "startTime": started,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
                "containerStatuses": [
                    {
                        "name": container.get("name", ""),
                        "image": container.get("image", ""),
                        "ready": True,
                        "restartCount": 0,
                        "started": True,
                        "state": {"running": {"startedAt": started}},
                    }
                ],
            },
        )
        log.info("started Pod %s/%s as pid %d (Pod IP %s)", namespace, name, process.pid, pod_ip)
        task = asyncio.create_task(self._wait(local, container.get("name", "")))
        local.tasks.add(task)
        task.add_done_callback(local.tasks.discard)

    def _volumes(
        self, namespace: str, spec: dict[str, Any], container: dict[str, Any], workspace: Path
    ) -> list[tuple[str, Path]]:
        """`(mountPath, local directory)` for each volume mount, longest mount path first."""
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        mounts: list[tuple[str, Path]] = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name"))
            if volume is None:
                raise PodConfigError(f"volumeMount {mount.get('name')!r} has no volume")
            if "configMap" in volume:
                local = workspace / "volumes" / volume["name"]
                local.mkdir(parents=True, exist_ok=True)
                config_map = self._get("configmaps", namespace, volume["configMap"].get("name", ""))
                if config_map is None:
                    raise PodConfigError(f"ConfigMap {volume['configMap'].get('name')!r} not found")
                data = config_map.get("data") or {}
                binary = config_map.get("binaryData") or {}
                items = volume["configMap"].get("items")
                for item in items or [{"key": k, "path": k} for k in [*data, *binary]]:
                    key, target = item.get("key", ""), local / item.get("path", "")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if key in data:
                        target.write_text(data[key], encoding="utf-8")
                    elif key in binary:
                        target.write_bytes(base64.b64decode(binary[key]))
                    else:  # kubelet: "configmap references non-existent config key"
                        raise PodConfigError(
                            f"ConfigMap {volume['configMap'].get('name')!r} has no key {key!r}"
                        )
            elif "emptyDir" in volume:
                local = workspace / "volumes" / volume["name"]
                local.mkdir(parents=True, exist_ok=True)
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"].get("claimName", "")
                local = self.state_dir / "volumes" / namespace / claim
                if mount.get("subPath"):
                    local = local / mount["subPath"]
                local.mkdir(parents=True, exist_ok=True)
            else:
                raise PodConfigError(
                    f"volume {volume.get('name')!r}: only configMap, emptyDir and PVCs run locally"
                )
            mounts.append((str(mount["mountPath"]).rstrip("/"), local))
        return sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    def _environment(
        self, namespace: str, container: dict[str, Any], mounts: list[tuple[str, Path]]
    ) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        for item in container.get("env") or []:
            name = item["name"]
            if "value" in item:
                env[name] = _rewrite(str(item["value"]), mounts)
                continue
            source = item.get("valueFrom") or {}
            if "secretKeyRef" in source:
                ref, plural = source["secretKeyRef"], "secrets"
            elif "configMapKeyRef" in source:
                ref, plural = source["configMapKeyRef"], "configmaps"
            else:
                raise PodConfigError(f"env {name}: only value, secretKeyRef and configMapKeyRef run locally")
            obj = self._get(plural, namespace, ref.get("name", ""))
            data = (obj or {}).get("data") or {}
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise PodConfigError(
                    f"env {name}: {plural[:-1]} {ref.get('name')!r} has no key {ref.get('key')!r}"
                )
            value = data[ref["key"]]
            env[name] = base64.b64decode(value).decode("utf-8") if plural == "secrets" else value
        return env

    # --- running and stopping --------------------------------------------------------------------

    async def _wait(self, local: LocalPod, container: str) -> None:
        code = await local.process.wait()
        # A container ends with its main process: kubelet's runtime kills what it started (FFmpeg
        # runs in a session of its own, so it is not in the main process's group).
        _kill_marked(local.uid)
        exit_code = code if code >= 0 else 128 - code
        self._pods.pop(local.uid, None)
        finished = rfc3339()
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "finishedAt": finished,
        }
        if code < 0:
            terminated["signal"] = -code
        message = _termination_message(local.termination_log)
        if message:
            terminated["message"] = message
        log.info("Pod %s/%s exited with %d", local.namespace, local.name, exit_code)
        self._set_status(
            local.namespace,
            local.name,
            {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": finished}],
                "containerStatuses": [
                    {
                        "name": container,
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": {"terminated": terminated},
                    }
                ],
            },
        )
        shutil.rmtree(local.workspace, ignore_errors=True)
        pod = self._get("pods", local.namespace, local.name)
        if pod is not None and pod["metadata"].get("deletionTimestamp"):
            self._confirm_deletion(local.namespace, local.name)

    def _terminate(self, local: LocalPod, kill_at: float) -> None:
        local.terminating = True
        local.kill_at = kill_at
        log.info(
            "Pod %s/%s terminating: SIGTERM, SIGKILL in %.0f s",
            local.namespace,
            local.name,
            max(0.0, kill_at - time.time()),
        )
        with contextlib.suppress(ProcessLookupError):
            local.process.send_signal(signal.SIGTERM)

        async def kill_after_grace() -> None:
            # `kill_at` may move earlier while waiting (a delete with a shorter grace period).
            while local.process.returncode is None:
                left = local.kill_at - time.time()
                if left <= 0:
                    log.warning("Pod %s/%s outlived its grace period: SIGKILL", local.namespace, local.name)
                    with contextlib.suppress(ProcessLookupError):
                        local.process.kill()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(local.process.wait(), min(left, 0.25))

        task = asyncio.create_task(kill_after_grace())
        local.tasks.add(task)
        task.add_done_callback(local.tasks.discard)

    # --- the emulator ----------------------------------------------------------------------------

    def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get_object("", "v1", plural, namespace, name)

    def _patch(self, namespace: str, name: str, body: dict[str, Any], subresource: str | None = None) -> None:
        try:
            self.kube.store.patch(self._pod_type, namespace, name, MERGE_PATCH, body, subresource)
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _confirm_deletion(self, namespace: str, name: str) -> None:
        """The kubelet's last word on a deleted Pod whose containers have stopped: a delete with
        `gracePeriodSeconds: 0`, which removes it from the API (once it has no finalizers left)."""
        try:
            self.kube.store.delete(self._pod_type, namespace, name, grace_period_s=0)
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._patch(namespace, name, {"status": status}, "status")

    @staticmethod
    def _failed_status(message: str, reason: str) -> dict[str, Any]:
        return {"phase": "Failed", "reason": reason, "message": message}


def _kill_marked(uid: str) -> None:
    """SIGKILL every process whose environment carries POD_MARKER_ENV=`uid` (the Pod's processes:
    children inherit the environment)."""
    marker = f"{POD_MARKER_ENV}={uid}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def _rewrite(value: str, mounts: list[tuple[str, Path]]) -> str:
    """`value` with a leading mount path replaced by its local directory."""
    for mount_path, local in mounts:
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(local) + value[len(mount_path) :]
    return value
