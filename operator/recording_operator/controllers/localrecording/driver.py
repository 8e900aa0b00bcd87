"""The LocalRecording driver: `RecorderPods` carries out the decisions of `decide` against the
Kubernetes API (ConfigMap, Service, recorder Pods, RecordedFiles, Events) and the agent's
`GET /status`, and collects what a terminated recorder stored.

What it keeps between invocations (`RecorderMemory`: which files have RecordedFiles and their
summary fields, the next index, files the agent reported but not yet uploaded, the followers of
stopping Pods, Pods created or released by this process) lives in kopf's memo; it is rebuilt from
the recording's RecordedFiles after an operator restart. Restart counting is in the status
(`decide.Restarts`), never here.

API cost per poll is O(1) per recording: the recorder Pods come from a kopf index fed by the Pod
watch (`POD_INDEX`, no LIST per poll), `status.files` from the files this process recorded (no
RecordedFile LIST per new file; one LIST per recording after an operator restart), and agent
polls share one pooled HTTP client (`Runtime.agent_http`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.api.agent import (
    AGENT_TOKEN_KEY,
    STATUS_PATH,
    AgentTuning,
    RecorderStatus,
    authorization_header,
)
from recording_operator.api.destinations import resolved_problem
from recording_operator.api.timestamps import rfc3339
from recording_operator.api.v1alpha1.localrecording import (
    DEFAULT_UPLOAD_RATE_MBPS,
    INPUT_CREDENTIAL_KEYS,
    LocalRecordingSpec,
)
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL
from recording_operator.controllers._kit.backoff import backoff_delay
from recording_operator.controllers._kit.conditions import get_condition
from recording_operator.controllers._kit.context import Context, report_failure
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.metrics import forget_recorder, set_recorder_stats
from recording_operator.controllers._kit.policy import (
    POLICY_VIOLATION,
    destination_policy,
    storage_endpoint_problem,
)
from recording_operator.controllers.localrecording.decide import (
    FILES_STORED,
    MAX_STORE_ATTEMPTS,
    RECORDER_FAILED,
    RESTART_REQUESTED,
    SESSION_PHASES,
    STORAGE_UNAVAILABLE,
    WORK_VOLUME_NOT_STORED,
    ClaimState,
    PodStep,
    Restarts,
    account_exit,
    claim_to_replace,
    classify_pods,
    decide_intent,
    decide_next,
    files_stored,
    gave_up_message,
    leaves_files,
    owned_pods,
    restart_delay_s,
    restarts_from_status,
    stop_message,
    storage_cause,
    storage_message,
    unschedulable_report,
    upload_failure,
)
from recording_operator.controllers.localrecording.files import (
    StoredFile,
    file_index,
    files_summary,
    outputs_summary,
    recorded_file_manifest,
    recorded_file_name,
    reported_key_problem,
    stored_files_from_listing,
    with_reported,
)
from recording_operator.controllers.localrecording.manifests import (
    KIND,
    STOP_REASON_ANNOTATION,
    RecorderPlan,
    agent_token_secret_manifest,
    agent_token_secret_name,
    config_map_manifest,
    plan_recorder,
    pod_manifest,
    pod_selector,
    recorder_hash,
    restart_requested_at,
    service_manifest,
    service_name,
    stop_grace_s,
    storage_secret_keys,
    termination_grace_s,
    work_claim_manifest,
    work_claim_of,
)
from recording_operator.controllers.localrecording.observe import (
    PodView,
    agent_view,
    pod_without_finalizer,
    public_error,
    view_pod,
)
from recording_operator.controllers.recordedfile.decide import deleted_names
from recording_operator.storage import StorageCredentials, StorageError, Store, UnsupportedStorage

PLURAL = "localrecordings"
FILES_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/recordedfiles"
#: Event reason of a reported file whose key is not the recording's (`reported_key_problem`).
FOREIGN_FILE_KEY = "ForeignFileKey"
#: Seconds one `/status` request may take.
AGENT_TIMEOUT_S = 3.0
#: Status fields a terminated Pod's exit sets that no later sync could learn again (files left on the
#: work claim, the restart budget), written before the Pod is released (`lastError` goes with the
#: conditions at the end of the sync, so both tell the same story).
EXIT_FIELDS = frozenset({"storeOnlyAttempts", "consecutiveFailures", "nextRetryAt"})


def recorder_destinations(spec: LocalRecordingSpec, *, with_storage: bool) -> list[tuple[str, str]]:
    """`(field, URL)` of what the recorder connects to: `input.url`, `overlay.imageUrl` and, with
    `with_storage`, `storage.endpoint` (as an https URL when it names no scheme)."""
    found = [("input.url", spec.input.url)] if spec.input.url else []
    if spec.overlay is not None:
        found.append(("overlay.imageUrl", spec.overlay.imageUrl))
    endpoint = spec.storage.endpoint
    if with_storage and endpoint:
        found.append(("storage.endpoint", endpoint if "://" in endpoint else f"https://{endpoint}"))
    return found


class ConfigMapKeyNotFound(LookupError):
    """The ConfigMap of `input.tls.caConfigMapRef`, or the key inside it, does not exist (names only)."""


class LocalRecordingContext(Context):
    """A handler invocation on a LocalRecording."""

    plural = PLURAL

    def flush(self) -> None:
        """Add the `FilesStored` condition the drafted status implies (`decide.files_stored`,
        `derive_condition`), then put the drafted changes into kopf's patch."""
        self.derive_condition(FILES_STORED, ("phase", "files"), files_stored)
        super().flush()


@dataclass
class RecorderMemory:
    """Per-resource state kept in kopf's memo; lost on operator restart and rebuilt from the cluster
    (`loaded`: `recorded` and `next_index` were read from the recording's RecordedFiles). Restart
    counting is in the status, not here."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loaded: bool = False
    next_index: int = 0
    recorded: set[int] = field(default_factory=set)
    pending: dict[int, StoredFile] = field(default_factory=dict)
    followers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    #: The agent's bearer token (its Secret's, `agent_token_secret_manifest`); None until read or created.
    token: str | None = None
    #: RecordedFile bodies by file index (what `status.files` is summarised from).
    files: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    #: Pods this process created, by name, with when (monotonic s), until the Pod index shows them
    #: (at most `CREATED_TTL_S`: a Pod created and gone between two syncs is not kept as a ghost).
    created: dict[str, tuple[float, Mapping[str, Any]]] = field(default_factory=dict)
    #: uids of Pods this process collected and released, while the Pod index may still show them.
    released: set[str] = field(default_factory=set)


#: kopf index of recorder Pods by (namespace, recording name), fed by the Pod watch (`handlers`).
POD_INDEX = "localrecording_pods"
#: Seconds a created Pod the index does not show yet still counts.
CREATED_TTL_S = 30.0


def indexed_pods(memory: RecorderMemory, indexed: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The recording's recorder Pods as this process knows them, in name order: the index's (the
    watch), without the Pods it already released, plus those it created that the watch has not shown yet."""
    names = {str(p.get("metadata", {}).get("name", "")) for p in indexed}
    uids = {str(p.get("metadata", {}).get("uid", "")) for p in indexed}
    now = time.monotonic()
    for name in [n for n, (at, _) in memory.created.items() if n in names or now - at > CREATED_TTL_S]:
        del memory.created[name]
    memory.released &= uids
    pods = [p for p in indexed if str(p.get("metadata", {}).get("uid", "")) not in memory.released]
    # In name order, as a LIST answers (kube-apiserver lists by key): which running Pod is current
    # must not depend on the order the watch delivered them.
    pods += [body for _, body in memory.created.values()]
    return sorted(pods, key=lambda p: str(p.get("metadata", {}).get("name", "")))


async def follow_stop(
    client: httpx.AsyncClient, url: str, memory: RecorderMemory, *, token: str, limit_s: float
) -> None:
    """Poll a stopping agent's `/status` every 25 ms until it exits (or `limit_s` passed), noting
    every closed file in `memory.pending`: the last file is closed and uploaded in the moments
    before the agent exits, usually between two regular polls. `token`: the agent's bearer token.
    """
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            response = await client.get(
                f"{url}{STATUS_PATH}",
                params={"sinceIndex": memory.next_index},
                headers=authorization_header(token),
                timeout=1.0,
            )
            agent = RecorderStatus.model_validate_json(response.content)
        except httpx.ConnectError:
            return
        except (httpx.HTTPError, ValidationError):
            agent = None
        for closed in agent.files if agent else ():
            if closed.index not in memory.recorded:
                memory.pending[closed.index] = StoredFile.from_agent(closed)
        await asyncio.sleep(0.025)


def pods_path(namespace: str) -> str:
    """API path of the Pods of a namespace."""
    return f"/api/v1/namespaces/{namespace}/pods"


class RecorderPods:
    """One sync of one LocalRecording's recorder Pods (the handlers create one per invocation); the
    decisions are in `decide`, this class carries them out."""

    def __init__(
        self,
        ctx: LocalRecordingContext,
        spec: LocalRecordingSpec,
        memory: RecorderMemory,
        pods: list[Mapping[str, Any]] | None = None,
    ) -> None:
        """`pods`: the recording's recorder Pods from the Pod index (`POD_INDEX`); None: LIST them."""
        self.ctx = ctx
        self.indexed = pods
        self.spec = spec
        self.mem = memory
        self.kube = ctx.runtime.kube
        self.settings = ctx.runtime.settings
        self.uid = ctx.meta.get("uid", "")
        self.files_changed = False
        self.problem = False
        self.restarts = Restarts()

    # --- the whole sync --------------------------------------------------------------------------

    async def sync(self, *, finalizing: bool) -> bool:
        """Converge Pods and status (`decide_intent`, `classify_pods`, `decide_next`); returns True
        when no recorder Pod is left.

        Raises:
            KubeApiError: a Kubernetes request failed (the caller reports it and retries).
        """
        ctx, spec = self.ctx, self.spec
        status = ctx.status
        max_restarts = self.settings.localrecording_max_restarts
        self.restarts = restarts_from_status(status.current, ctx.generation)
        await self.load_recorded()
        intent = decide_intent(
            spec,
            status.current,
            ctx.generation,
            self.restarts,
            max_restarts=max_restarts,
            finalizing=finalizing,
            now=datetime.now(UTC),
        )
        listed: Sequence[Mapping[str, Any]]
        if self.indexed is not None:
            listed = indexed_pods(self.mem, self.indexed)
        else:
            listed = await self.kube.list_objects(
                pods_path(ctx.namespace), label_selector=pod_selector(ctx.name)
            )
        pods = owned_pods(listed, self.uid)
        steps = classify_pods(
            [view_pod(pod) for pod in pods],
            wanted=intent.wanted,
            spec_hash=recorder_hash(ctx.body),
            pod_stop_reason=intent.pod_stop_reason,
            restart_requested_at=restart_requested_at(ctx.body),
        )
        current: PodView | None = None
        remaining = 0
        for pod, step in zip(pods, steps, strict=True):
            if step.kind == "current":
                current = step.view
            remaining += not await self.carry_out(pod, step)
        after = decide_next(
            intent,
            gave_up=self.restarts.gave_up(max_restarts),
            phase=status.get("phase"),
            has_current=current is not None,
            pods_left=remaining,
            store_attempts=status.get("storeOnlyAttempts"),
            storage_unavailable=(get_condition(status.get("conditions"), "Synced") or {}).get("reason")
            == STORAGE_UNAVAILABLE,
        )
        if after.mark_failed:
            self.mark_failed()
        if after.action == "observe":
            assert current is not None
            await self.observe_live(current)
        elif after.action == "stopping":
            self.mark_stopping()
        elif after.action == "start":
            await self.start_when_due()
        elif after.action == "store":
            await self.start_store_only()
            self.mark_stopping()
            remaining += 1
        elif after.action == "stopped":
            assert after.stop_reason is not None
            self.mark_stopped(after.stop_reason)
            if after.store_gave_up:
                self.store_gave_up()
        if self.files_changed:
            await self.refresh_files_summary()
        synced = get_condition(status.get("conditions"), "Synced") or {}
        # Files a Pod could not store wait on the work volume until a Pod stores them: the condition
        # stays while no recorder runs.
        waiting = synced.get("reason") == STORAGE_UNAVAILABLE and after.action != "observe"
        if not after.failed and not self.problem and not waiting:
            ctx.condition("Synced", "True", "ReconcileSuccess", "the recorder Pod matches the spec")
        status.set(observedGeneration=ctx.generation, **self.restarts.status_fields())
        return remaining == 0

    async def carry_out(self, pod: Mapping[str, Any], step: PodStep) -> bool:
        """Do what `classify_pods` decided for one Pod; True when the Pod is released (no longer
        counts as left: only a `terminated` Pod collected in this sync).

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        view = step.view
        if step.kind == "released":
            if not view.deleting:
                await self.kube.delete_object(f"{pods_path(self.ctx.namespace)}/{view.name}")
            return False
        if step.kind == "terminated":
            return await self.collect(pod, view)
        if step.kind in ("deleting", "storing"):
            await self.poll(view)
            self.follow(view)
        elif step.kind == "stale":
            assert step.stop_reason is not None
            await self.stop_pod(view, step.stop_reason)
        return False

    async def load_recorded(self) -> None:
        """After an operator restart: which files already have RecordedFiles, and the next index.

        Raises:
            KubeApiError: listing the RecordedFiles failed.
        """
        mem = self.mem
        if mem.loaded:
            return
        files = await self.kube.list_objects(
            FILES_PATH.format(namespace=self.ctx.namespace),
            label_selector=f"{RECORDING_LABEL}={self.ctx.name}",
        )
        for obj in files:
            if (obj.get("spec") or {}).get("recordingRef", {}).get("kind") != KIND:
                continue
            index = file_index(obj)
            if index is not None:
                mem.recorded.add(index)
                mem.files[index] = obj
        mem.next_index = max(mem.next_index, max(mem.recorded, default=-1) + 1)
        mem.loaded = True

    # --- Pods ------------------------------------------------------------------------------------

    async def start_when_due(self) -> None:
        """Create the recorder (ConfigMap, Service, Pod), unless a failure backoff is still running."""
        ctx, mem = self.ctx, self.mem
        if self.restarts.wait_s(datetime.now(UTC)) > 0:
            retry_at = self.restarts.status_fields()["nextRetryAt"]
            ctx.status.set(phase="Reconnecting")
            ctx.condition("Ready", "False", "RecorderFailed", f"restarting the recorder at {retry_at}")
            ctx.condition(
                "Recording",
                "False",
                "RecorderFailed",
                ctx.status.get("lastError") or "the recorder Pod failed",
            )
            return
        await self.check_secrets()
        await self.check_ca_config_map()
        await self.check_destinations()
        await self.ensure_agent_token(create=True)
        # load_recorded (every sync) and every file recorded since keep next_index past the highest.
        first_index = mem.next_index
        plan = plan_recorder(
            ctx.body,
            self.spec,
            first_index,
            attempt=self.restarts.failures,
            policy=destination_policy(self.settings),
        )
        await self.write_config(plan)
        svc_path = f"/api/v1/namespaces/{ctx.namespace}/services"
        service = service_manifest(ctx.body, self.spec)
        if service is None:
            await self.kube.delete_object(f"{svc_path}/{service_name(ctx.name)}")
        elif await self.kube.create_object(svc_path, service) is None:
            await self.kube.merge_patch(
                f"{svc_path}/{service['metadata']['name']}", {"spec": service["spec"]}
            )
        claim = work_claim_manifest(ctx.body, self.spec)
        if claim is not None:
            # Kept across Pods (what a killed recorder left is stored by the next); goes with the recording.
            await self.ensure_work_claim(claim)
        created = await self.create_pod(plan)
        mem.next_index = first_index
        mem.pending.clear()
        self.restarts = Restarts(failures=self.restarts.failures)
        if created is not None:
            ctx.event("Normal", "RecorderStarted", f"Pod {plan.pod_name}, files from index {first_index}")
        # The new recorder stores at its start what a killed one left on the work claim.
        ctx.status.set(storeOnlyAttempts=None)
        status = ctx.status
        if status.get("phase") not in SESSION_PHASES:
            status.set(startedAt=rfc3339(), stoppedAt=None, stopReason=None)
        status.set(
            phase="Starting",
            podName=plan.pod_name,
            serviceName=service["metadata"]["name"] if service else None,
        )
        ctx.condition("Ready", "False", "Starting", "the recorder Pod is starting")
        ctx.condition("Recording", "False", "Starting", "the recorder Pod is starting")
        ctx.condition("InputHealthy", "Unknown", "Starting", "the recorder Pod is starting")

    async def write_config(self, plan: RecorderPlan) -> None:
        """Create (or rewrite) the recording's ConfigMap with the agent config of `plan`.

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        config_map = config_map_manifest(self.ctx.body, plan)
        cm_path = f"/api/v1/namespaces/{self.ctx.namespace}/configmaps"
        if await self.kube.create_object(cm_path, config_map) is None:
            await self.kube.merge_patch(f"{cm_path}/{plan.config_map_name}", {"data": config_map["data"]})

    async def create_pod(self, plan: RecorderPlan) -> Mapping[str, Any] | None:
        """Create the recorder Pod of `plan` (remembered until the Pod index shows it); None when a Pod
        of that name exists already.

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        pod = pod_manifest(
            self.ctx.body,
            self.spec,
            plan,
            image=self.settings.recorder_image,
            defaults=self.settings.recorder_pod_defaults,
        )
        created = await self.kube.create_object(pods_path(self.ctx.namespace), pod)
        if created is not None:
            self.mem.created[plan.pod_name] = (time.monotonic(), created)
        return created

    async def start_store_only(self) -> None:
        """Create a store-only recorder Pod (`RecorderConfig.storeOnly`) for the files a killed recorder
        left on the work claim: it numbers them from the recording's next index, as a new recorder Pod
        would, uploads them and exits. Counts the attempt in `status.storeOnlyAttempts` (`decide_next`
        bounds it). A storage Secret or key the Pod would map that is missing counts as an attempt
        (`Synced=False` `CredentialsNotFound`), no Pod is created.

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        ctx, mem = self.ctx, self.mem
        attempts = int(ctx.status.get("storeOnlyAttempts") or 0)
        try:
            await self.check_secrets()
        except SecretNotFound as exc:
            # Counted as an attempt: a recording that stops or goes is not held for ever by a Secret
            # deleted meanwhile (the files stay on the claim, `store_gave_up`).
            report_failure(ctx, "CredentialsNotFound", str(exc))
            self.problem = True
            ctx.status.set(storeOnlyAttempts=attempts + 1)
            return
        await self.ensure_agent_token(create=True)
        plan = plan_recorder(
            ctx.body,
            self.spec,
            mem.next_index,
            attempt=attempts,
            policy=destination_policy(self.settings),
            store_only=True,
        )
        await self.write_config(plan)
        if await self.create_pod(plan) is not None:
            ctx.event(
                "Normal",
                "StoringWorkVolume",
                f"Pod {plan.pod_name} stores the files a killed recorder left on the work volume, "
                f"from index {plan.first_index} (attempt {attempts + 1} of {MAX_STORE_ATTEMPTS})",
            )
        mem.pending.clear()
        ctx.status.set(storeOnlyAttempts=attempts + 1, podName=plan.pod_name)

    async def check_secrets(self) -> None:
        """Every Secret key the Pod maps exists (names only are reported, never values).

        Raises:
            SecretNotFound: a Secret or key is missing.
        """
        storage = self.spec.storage
        for _, key, optional in storage_secret_keys(storage):
            if not optional and storage.credentialsSecretRef is not None:
                await self.kube.read_secret_key(self.ctx.namespace, storage.credentialsSecretRef.name, key)
        ref = self.spec.input.passphraseSecretRef
        if ref is not None:
            await self.kube.read_secret_key(self.ctx.namespace, ref.name, ref.key)
        creds = self.spec.input.credentialsSecretRef
        if creds is not None:
            data = await self.kube.read_secret(self.ctx.namespace, creds.name)
            if not set(data) & set(INPUT_CREDENTIAL_KEYS):
                raise SecretNotFound(
                    f"Secret {self.ctx.namespace}/{creds.name} (input.credentialsSecretRef) has none of the "
                    f"keys {', '.join(INPUT_CREDENTIAL_KEYS)}"
                )

    async def ensure_agent_token(self, *, create: bool) -> str | None:
        """The agent's bearer token: remembered, else read from its Secret, else (with `create`) a new
        random one (32 bytes) in a new Secret created before the Pod that maps it. None when the Secret
        does not exist (and `create` is false) or cannot be read.

        Raises:
            KubeApiError: creating the Secret failed (`create` only).
        """
        mem, ctx = self.mem, self.ctx
        if mem.token is not None:
            return mem.token
        name = agent_token_secret_name(ctx.name)
        if create:
            token = secrets.token_urlsafe(32)
            manifest = agent_token_secret_manifest(ctx.body, token)
            if await self.kube.create_object(f"/api/v1/namespaces/{ctx.namespace}/secrets", manifest):
                mem.token = token
                return token
        try:
            mem.token = await self.kube.read_secret_key(ctx.namespace, name, AGENT_TOKEN_KEY)
        except (SecretNotFound, KubeApiError) as exc:
            if create:
                raise KubeApiError(f"reading Secret {ctx.namespace}/{name}: {exc}", None) from exc
            ctx.logger.debug(f"no agent token yet for {ctx.namespace}/{ctx.name}: {type(exc).__name__}")
        return mem.token

    async def check_destinations(self) -> None:
        """The spec's destinations (`recorder_destinations`) after DNS resolution, before a Pod is
        created (the agent checks them again in the Pod).

        Raises:
            SpecError: `PolicyViolation` when a name resolves to a private address.
        """
        policy = destination_policy(self.settings)
        for name, url in recorder_destinations(self.spec, with_storage=True):
            problem = await resolved_problem(url, policy, storage=name == "storage.endpoint")
            if problem is not None:
                raise SpecError(POLICY_VIOLATION, f"{name}: {problem}")

    async def check_ca_config_map(self) -> None:
        """The ConfigMap key of `input.tls.caConfigMapRef` exists (`data` or `binaryData`): kubelet
        would not start a Pod mounting a missing key (it stays ContainerCreating, no exit to count).

        Raises:
            ConfigMapKeyNotFound: the ConfigMap or the key is missing.
            KubeApiError: the ConfigMap cannot be read.
        """
        tls = self.spec.input.tls
        if tls is None or tls.caConfigMapRef is None:
            return
        ref, namespace = tls.caConfigMapRef, self.ctx.namespace
        config_map = await self.kube.get_object(f"/api/v1/namespaces/{namespace}/configmaps/{ref.name}")
        if config_map is None:
            raise ConfigMapKeyNotFound(
                f"ConfigMap {namespace}/{ref.name} (input.tls.caConfigMapRef) not found"
            )
        if ref.key not in (config_map.get("data") or {}) and ref.key not in (
            config_map.get("binaryData") or {}
        ):
            raise ConfigMapKeyNotFound(
                f"ConfigMap {namespace}/{ref.name} (input.tls.caConfigMapRef) has no key {ref.key!r}"
            )

    async def stop_pod(self, view: PodView, reason: str) -> None:
        """Graceful stop: note why, then delete (the agent finalizes and uploads within the grace period).

        The grace period is sized from what the agent reports still to store (`stop_grace_s`:
        `uploadPendingBytes` at `pod.uploadRateMbps` plus FFmpeg's finalize) and sent as DeleteOptions
        `gracePeriodSeconds`, with a Normal `StoppingRecorder` Event naming it; an agent that does not
        answer keeps the Pod's own `terminationGracePeriodSeconds` (sized from the spec's bitrate).
        """
        path = f"{pods_path(self.ctx.namespace)}/{view.name}"
        await self.kube.merge_patch(path, {"metadata": {"annotations": {STOP_REASON_ANNOTATION: reason}}})
        agent = await self.poll(view)
        grace: int | None = None
        if agent is not None:
            grace = stop_grace_s(self.spec, AgentTuning().stopGraceS, agent.uploadPendingBytes)
        await self.kube.delete_object(path, grace_period_s=grace)
        await self.ensure_agent_token(create=False)
        self.follow(view, grace)
        if grace is None:
            self.ctx.logger.info(f"stopping recorder Pod {view.name}: {reason}")
        else:
            rate = self.spec.pod.uploadRateMbps if self.spec.pod else DEFAULT_UPLOAD_RATE_MBPS
            message = (
                f"stopping recorder Pod {view.name} ({reason}) with a {grace} s grace period: "
                f"{agent.uploadPendingBytes if agent else 0} bytes still to store at {rate} Mbit/s"
            )
            self.ctx.logger.info(message)
            self.ctx.event("Normal", "StoppingRecorder", message)
        if reason == RESTART_REQUESTED:
            self.ctx.event(
                "Normal",
                RESTART_REQUESTED,
                "replacing the recorder Pod as requested (restart-requested-at); files continue the numbering",
            )

    def follow(self, view: PodView, grace_s: int | None = None) -> None:
        """Watch a stopping Pod's agent closely until it exits (`follow_stop`), once per Pod, for at
        most `grace_s` (s; default the grace its manifest was sized with)."""
        followers = self.mem.followers
        for name in [n for n, task in followers.items() if task.done()]:
            del followers[name]
        if view.agent_url and self.mem.token and view.name not in followers:
            limit = float(
                grace_s if grace_s is not None else termination_grace_s(self.spec, AgentTuning().stopGraceS)
            )
            followers[view.name] = asyncio.create_task(
                follow_stop(
                    self.ctx.runtime.agent_http(),
                    view.agent_url,
                    self.mem,
                    token=self.mem.token,
                    limit_s=limit,
                )
            )

    async def collect(self, pod: Mapping[str, Any], view: PodView) -> bool:
        """A terminated Pod: record the files it stored, count a failure, release it. True when released.

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        ctx, mem = self.ctx, self.mem
        # The files the agent stored after the last poll, told by the Pod's termination message
        # (with their durations; the only way to learn them for a volume, which is not listed).
        for file in view.stored_on_exit:
            mem.pending.pop(file.index, None)
            await self.record_file(file, first_index=view.first_index)
        if view.exit_code == 0:
            for file in sorted(mem.pending.values(), key=lambda f: f.index):
                await self.record_file(file, first_index=view.first_index)
        try:
            for file in with_reported(await self.list_stored(view.first_index), mem.pending):
                await self.record_file(file, first_index=view.first_index)
        except (StorageError, UnsupportedStorage, SecretNotFound) as exc:
            # Not a reason to keep the Pod: what it could not store stays on the work volume, and the
            # next Pod (with the storage the user fixed meanwhile) stores it.
            self.storage_unavailable(storage_cause(str(exc)))
        mem.pending.clear()
        if view.store_only:
            self.collected_store_only(view)
        else:
            self.account(view)
        # What the exit taught (files left on the work claim, the failure count: EXIT_FIELDS) reaches the API
        # before the Pod, its only evidence, goes: a write lost after the release (an API outage, an
        # operator killed) would let the recording say Stopped with those files never stored.
        learned = {key: value for key, value in ctx.status.delta().items() if key in EXIT_FIELDS}
        if learned:
            await ctx.persist(**learned)
        path = f"{pods_path(ctx.namespace)}/{view.name}"
        if view.has_finalizer:
            await self.kube.merge_patch(path, {"metadata": {"finalizers": pod_without_finalizer(pod)}})
        if not view.deleting:
            await self.kube.delete_object(path)
        mem.released.add(str(pod.get("metadata", {}).get("uid", "")))
        mem.created.pop(view.name, None)
        return True

    def account(self, view: PodView) -> None:
        """Count the exit of the recording Pod `view` (`account_exit`), and note files it may have left
        on the work claim (`leaves_files`: `status.storeOnlyAttempts`)."""
        ctx, settings = self.ctx, self.settings
        if (
            leaves_files(view, claim=work_claim_of(ctx.name, self.spec) is not None)
            and ctx.status.get("storeOnlyAttempts") is None
        ):
            ctx.status.set(storeOnlyAttempts=0)
        account = account_exit(
            view,
            self.restarts,
            max_restarts=settings.localrecording_max_restarts,
            delay_s=restart_delay_s(
                self.restarts,
                was_recording=ctx.status.current.get("phase") == "Recording",
                backoff_s=backoff_delay(
                    self.restarts.failures, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s
                ),
            ),
            now=datetime.now(UTC),
        )
        self.restarts = account.restarts
        if account.last_error is not None:
            ctx.status.set(lastError=account.last_error, **self.restarts.status_fields())
        if account.warning is not None:
            ctx.event("Warning", "RecorderFailed", account.warning)

    def collected_store_only(self, view: PodView) -> None:
        """A store-only Pod exited: 0 stored everything (`status.storeOnlyAttempts` goes); any other exit
        leaves the count for the next store-only Pod (`decide_next`), with a Warning Event."""
        if view.exit_code == 0:
            self.ctx.status.set(storeOnlyAttempts=None)
            return
        message = f"store-only recorder Pod {view.name} exited with code {view.exit_code}"
        if view.exit_error:
            message += f": {view.exit_error}"
        self.ctx.event("Warning", "RecorderFailed", message)

    def store_gave_up(self) -> None:
        """MAX_STORE_ATTEMPTS store-only Pods did not store what the work claim holds: `Synced=False`
        `WorkVolumeNotStored` naming the claim (one Warning Event per distinct message)."""
        ctx = self.ctx
        claim = work_claim_of(ctx.name, self.spec)
        message = (
            f"{MAX_STORE_ATTEMPTS} store-only recorder Pods could not store the files a killed recorder "
            f"left on PersistentVolumeClaim {claim}: they stay there (the next recorder Pod stores them; "
            "an operator-created claim goes with the recording)"
        )
        synced = get_condition(ctx.status.get("conditions"), "Synced") or {}
        if (synced.get("reason"), synced.get("message")) != (WORK_VOLUME_NOT_STORED, message):
            ctx.logger.warning(f"{WORK_VOLUME_NOT_STORED} {ctx.namespace}/{ctx.name}: {message}")
            report_failure(ctx, WORK_VOLUME_NOT_STORED, message)
        self.problem = True

    async def list_stored(self, min_index: int) -> list[StoredFile]:
        """The recording's files in object storage with index ≥ `min_index` ([] for `vendor: volume`).

        Raises:
            SecretNotFound: the storage Secret or a key is missing.
            UnsupportedStorage, StorageError: the store cannot be built or listed.
        """
        storage = self.spec.storage
        if storage.vendor == "volume":
            return []
        if storage.endpoint:
            problem = storage_endpoint_problem(storage.endpoint, self.settings)
            endpoint = storage.endpoint if "://" in storage.endpoint else f"https://{storage.endpoint}"
            problem = problem or await resolved_problem(
                endpoint, destination_policy(self.settings), storage=True
            )
            if problem is not None:
                raise UnsupportedStorage(problem)
        ref = storage.credentialsSecretRef
        secret = await self.kube.read_secret(self.ctx.namespace, ref.name) if ref is not None else {}
        credentials = StorageCredentials.from_secret(storage.vendor, secret)
        store = Store.from_spec(storage, credentials)
        objects = await store.list(store.prefix)
        return stored_files_from_listing(
            self.spec,
            recording=self.ctx.name,
            namespace=self.ctx.namespace,
            prefix=store.prefix,
            objects=[(o.key, o.size_bytes, o.last_modified) for o in objects],
            min_index=min_index,
        )

    # --- the agent -------------------------------------------------------------------------------

    async def poll(self, view: PodView) -> RecorderStatus | None:
        """`GET /status?sinceIndex=N` of the Pod's agent; records stored files. None when unreachable."""
        mem = self.mem
        if view.agent_url is None:
            return None
        token = await self.ensure_agent_token(create=False)
        if token is None:
            return None
        since = min(mem.pending, default=mem.next_index)
        try:
            response = await self.ctx.runtime.agent_http().get(
                f"{view.agent_url}{STATUS_PATH}",
                params={"sinceIndex": since},
                headers=authorization_header(token),
                timeout=AGENT_TIMEOUT_S,
            )
            response.raise_for_status()
            agent = RecorderStatus.model_validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            self.ctx.logger.debug(f"agent of {view.name} not reachable: {type(exc).__name__}")
            return None
        for closed in agent.files:
            file = StoredFile.from_agent(closed)
            if closed.uploaded:
                mem.pending.pop(closed.index, None)
                await self.record_file(file, first_index=view.first_index)
            elif closed.index not in mem.recorded:
                mem.pending[closed.index] = file
        mem.next_index = max(mem.next_index, agent.nextIndex)
        cause = upload_failure(agent.lastError) if agent.uploadPending else None
        if cause is not None:
            self.storage_unavailable(cause)
        return agent

    def storage_unavailable(self, cause: str) -> None:
        """Files cannot be stored: `Synced=False` `StorageUnavailable`, one Warning Event and one log
        line per distinct cause (the message carries no request ids: `storage_cause`)."""
        ctx, storage = self.ctx, self.spec.storage
        where = storage.bucket or (storage.volume.claimName if storage.volume else None)
        message = storage_message(storage.vendor, where, cause)
        synced = get_condition(ctx.status.get("conditions"), "Synced") or {}
        if (synced.get("reason"), synced.get("message")) != (STORAGE_UNAVAILABLE, message):
            ctx.logger.warning(f"{STORAGE_UNAVAILABLE} {ctx.namespace}/{ctx.name}: {message}")
        report_failure(ctx, STORAGE_UNAVAILABLE, message)
        self.problem = True

    async def ensure_work_claim(self, claim: dict[str, Any]) -> None:
        """Create the work claim; one of another storage class that never bound (`claim_to_replace`)
        is deleted and created again with the spec's.

        Raises:
            KubeApiError: a Kubernetes request failed.
        """
        collection = f"/api/v1/namespaces/{self.ctx.namespace}/persistentvolumeclaims"
        if await self.kube.create_object(collection, claim) is not None:
            return
        path = f"{collection}/{claim['metadata']['name']}"
        existing = await self.kube.get_object(path)
        if existing is None or not claim_to_replace(existing, claim):
            return
        self.ctx.logger.info(
            f"replacing the unbound work claim {claim['metadata']['name']} with the spec's storage class"
        )
        await self.kube.delete_object(path)
        await self.kube.create_object(collection, claim)

    async def report_unschedulable(self, view: PodView) -> None:
        """A Pod the scheduler cannot place: `Synced=False` `WorkVolumePending` (a claim not Bound,
        named with its storage class) or `PodUnschedulable` (any other cause), with one Warning Event
        and one log line per distinct message (`unschedulable_report`).

        Raises:
            KubeApiError: a claim cannot be read.
        """
        ctx = self.ctx
        claims = []
        for name in view.claims:
            claim = await self.kube.get_object(
                f"/api/v1/namespaces/{ctx.namespace}/persistentvolumeclaims/{name}"
            )
            if claim is not None:
                claims.append(
                    ClaimState(
                        name=name,
                        storage_class=(claim.get("spec") or {}).get("storageClassName"),
                        phase=str((claim.get("status") or {}).get("phase") or "Pending"),
                    )
                )
        reason, message = unschedulable_report(view.name, view.unschedulable or "", claims)
        synced = get_condition(ctx.status.get("conditions"), "Synced") or {}
        if (synced.get("reason"), synced.get("message")) != (reason, message):
            ctx.logger.warning(f"{reason} {ctx.namespace}/{ctx.name}: {message}")
            report_failure(ctx, reason, message)
        self.problem = True

    async def observe_live(self, view: PodView) -> None:
        """Status from the running Pod's agent (or Starting while it does not answer yet, with the
        reason when the Pod cannot be scheduled: `report_unschedulable`)."""
        ctx = self.ctx
        agent = await self.poll(view)
        ctx.status.set(podName=view.name)
        if agent is None:
            if ctx.status.get("phase") not in ("Recording", "Reconnecting"):
                ctx.status.set(phase="Starting")
            if view.unschedulable is not None and not view.deleting:
                await self.report_unschedulable(view)
            return
        result = agent_view(agent)
        if result.phase == "Recording":
            self.restarts = Restarts()
        ctx.status.set(phase=result.phase, stats=agent.stats.model_dump(mode="json", exclude_none=True))
        if agent.lastError:
            ctx.status.set(lastError=(public_error(agent.lastError) or "")[-4096:])
        ctx.condition("Ready", *result.ready)
        ctx.condition("Recording", *result.recording)
        ctx.condition("InputHealthy", *result.input_healthy)
        stats = agent.stats
        set_recorder_stats(
            ctx.namespace,
            ctx.name,
            bitrate_bps=stats.bitrateKbps * 1000 if stats.bitrateKbps is not None else None,
            fps=stats.fps,
            speed=stats.speed,
        )

    # --- files and status ------------------------------------------------------------------------

    async def record_file(self, file: StoredFile, *, first_index: int) -> None:
        """Create the file's RecordedFile (once; an existing one is left as it is, and one the
        recording's `status.deletedFiles` names is not created again), unless its key is not one of
        the recording's (`reported_key_problem`, for the Pod whose files start at `first_index`):
        then nothing is created and a Warning Event `ForeignFileKey` names the key.

        Raises:
            KubeApiError: the create failed.
        """
        mem = self.mem
        if file.index in mem.recorded:
            return
        problem = reported_key_problem(
            self.spec,
            recording=self.ctx.name,
            namespace=self.ctx.namespace,
            file=file,
            first_index=first_index,
        )
        if problem is not None:
            message = f"the recorder reported a file that is not the recording's, ignored: {problem}"
            self.ctx.logger.warning(f"{FOREIGN_FILE_KEY} {self.ctx.namespace}/{self.ctx.name}: {message}")
            self.ctx.event("Warning", FOREIGN_FILE_KEY, message)
            return
        if recorded_file_name(self.ctx.name, file.index) in deleted_names(self.ctx.status.current):
            # Its RecordedFile was deleted (by hand or by retention): it stays deleted.
            mem.recorded.add(file.index)
            mem.next_index = max(mem.next_index, file.index + 1)
            return
        body = recorded_file_manifest(self.ctx.body, self.spec, file, now=datetime.now(UTC))
        created = await self.kube.create_object(FILES_PATH.format(namespace=self.ctx.namespace), body)
        mem.recorded.add(file.index)
        mem.files[file.index] = created if created is not None else body
        mem.next_index = max(mem.next_index, file.index + 1)
        self.files_changed = self.files_changed or created is not None

    async def publish_unreported(self) -> int:
        """Give each of the recording's objects in storage that no RecordedFile names a RecordedFile
        (`record_file`), so that deleting the recording's RecordedFiles deletes it too: an upload the
        agent had fully sent when its Pod was killed completes at the storage after the Pod was
        collected (`collect` lists the bucket once, at that moment). Files named in
        `status.deletedFiles` stay deleted; files this process recorded are left alone.

        Returns:
            How many RecordedFiles were created.

        Raises:
            SecretNotFound, UnsupportedStorage, StorageError: the storage could not be listed.
            KubeApiError: listing or creating RecordedFiles failed.
        """
        await self.load_recorded()
        before = len(self.mem.files)
        for file in await self.list_stored(0):
            await self.record_file(file, first_index=0)
        return len(self.mem.files) - before

    async def refresh_files_summary(self) -> None:
        """`status.files` (with additional outputs also `status.outputs`) from the recording's
        RecordedFiles this process listed (once, `load_recorded`) or created since: no LIST per new file."""
        await self.load_recorded()
        files = list(self.mem.files.values())
        self.ctx.status.set(files=files_summary(files))
        if self.spec.additionalOutputs:
            self.ctx.status.set(outputs=outputs_summary(files))

    def mark_failed(self) -> None:
        """Too many recorder failures in a row: `Failed` (until the spec changes), one Warning Event."""
        ctx = self.ctx
        text = gave_up_message(ctx.status.get("lastError"), self.restarts.failures)
        if ctx.status.get("phase") != "Failed":
            ctx.status.set(phase="Failed", stoppedAt=rfc3339(), stopReason=RECORDER_FAILED)
        report_failure(ctx, RECORDER_FAILED, text)
        for type_ in ("Ready", "Recording", "InputHealthy"):
            ctx.condition(type_, "False", RECORDER_FAILED, text)
        forget_recorder(ctx.namespace, ctx.name)

    def mark_stopping(self) -> None:
        """Recorder Pods are still storing their last files before the next step."""
        message = "the recorder is storing its last files"
        self.ctx.status.set(phase="Stopping")
        self.ctx.condition("Ready", "False", "Stopping", message)
        self.ctx.condition("Recording", "False", "Stopping", message)

    def mark_stopped(self, reason: str) -> None:
        """No recorder runs, as asked (inactive, maxDuration, deletion)."""
        ctx = self.ctx
        if ctx.status.get("phase") != "Stopped":
            ctx.status.set(phase="Stopped", stoppedAt=rfc3339(), stopReason=reason)
            if ctx.status.current.get("phase") is not None:
                ctx.event("Normal", "RecorderStopped", f"the recording stopped: {reason}")
        elif ctx.status.get("stopReason") != reason:
            ctx.status.set(stopReason=reason)
        message = stop_message(reason, self.spec.maxDuration)
        ctx.condition("Ready", "True", "Stopped", f"no recorder runs, as asked: {message}")
        ctx.condition("Recording", "False", reason, message)
        ctx.condition("InputHealthy", "Unknown", "Stopped", "no recorder runs")
        forget_recorder(ctx.namespace, ctx.name)
