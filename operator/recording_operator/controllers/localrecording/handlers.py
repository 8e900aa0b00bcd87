"""kopf handlers for LocalRecording: thin glue between kopf and the driver (`driver.RecorderPods`),
which carries out the pure decisions of `decide` with the objects of `manifests` and `files` and the
observations of `observe`.

One `sync` brings the cluster to the spec and the status to what the agent reports; it runs on
create / resume / spec update and from a timer (`LOCALRECORDING_POLL_INTERVAL`):

- `active: true` → a ConfigMap (the agent's config), a Service for `input.listen`, one recorder Pod;
- each poll reads `GET <agent>/status?sinceIndex=N` → `status.stats`, phase, conditions, and one
  RecordedFile per stored file (`status.files` is computed from them);
- a Pod is replaced when the spec changes (numbering continues), deleted (graceful: the agent
  finalizes and uploads) when `active` turns false or `maxDuration` passed;
- a terminated Pod (our finalizer keeps it readable) is collected: files the polls did not see are
  found in the bucket (completed with what the agent reported before it exited), then the finalizer
  is released. A Pod that dies while recording is replaced at once (the next Pod stores what it left
  on the work volume); failures in a row are retried with backoff (`Reconnecting`), then the
  recording is `Failed` with one Warning Event. Storage that fails sets `Synced=False`
  `StorageUnavailable` (one Event per distinct cause) without blocking a stop or a spec change. The failure count and the next attempt live in the status
  (`consecutiveFailures`, `nextRetryAt`), so an operator restart neither resets nor skips them.
- a recorder Pod that ends without storing everything (killed, exit ≠ 0) when no recorder runs after
  it (the recording stops or is deleted) leaves its files on the work claim: a store-only recorder
  Pod stores them (`status.storeOnlyAttempts`, at most 3, then `Synced=False` `WorkVolumeNotStored`)
  before the recording is `Stopped` or its finalizer goes (not while the storage is known to fail:
  `StorageUnavailable` already says the files wait on the work volume); an emptyDir goes with its Pod.

What the operator keeps in memory (which files have RecordedFiles, the next index) is rebuilt from
the recording's RecordedFiles after an operator restart; RecordedFile names are deterministic
(`<recording>-<index>`), so a repeated create is a harmless 409.

Deletion (`deletionPolicy: Delete`) stops the recorder and releases the resource's finalizer only
after the last file is stored and recorded; `Orphan` detaches the RecordedFiles (they and the stored
objects stay).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.api.destinations import destination_problem
from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL
from recording_operator.controllers._kit.context import report_failure, validation_message
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound, SecretNotOptedIn
from recording_operator.controllers._kit.metrics import forget_recorder, instrumented
from recording_operator.controllers._kit.policy import (
    POLICY_VIOLATION,
    destination_policy,
    image_problem,
    storage_endpoint_problem,
)
from recording_operator.controllers._kit.runtime import runtime_of
from recording_operator.controllers._kit.shard import SHARD_LABELS
from recording_operator.controllers._kit.timers import writes_own_patch
from recording_operator.controllers.localrecording.decide import check_input
from recording_operator.controllers.localrecording.driver import (
    PLURAL,
    POD_INDEX,
    ConfigMapKeyNotFound,
    LocalRecordingContext,
    RecorderMemory,
    RecorderPods,
    pods_path,
    recorder_destinations,
)
from recording_operator.controllers.localrecording.manifests import COMPONENT_LABEL, KIND, pod_selector
from recording_operator.controllers.localrecording.observe import pod_without_finalizer, view_pod
from recording_operator.controllers.recordedfile.decide import file_deletion_policy
from recording_operator.controllers.recordedfile.publication import (
    release_files,
    unreported_files_found,
    unreported_listing_wait,
)
from recording_operator.settings import Settings
from recording_operator.storage import StorageError, UnsupportedStorage

RESOURCE = (GROUP, VERSION, PLURAL)


def _memory(memo: Any) -> RecorderMemory:
    memory = memo.get("localrecording")
    if memory is None:
        memory = memo["localrecording"] = RecorderMemory()
    assert isinstance(memory, RecorderMemory)
    return memory


# --- handlers ------------------------------------------------------------------------------------


def _parse(ctx: LocalRecordingContext) -> LocalRecordingSpec:
    """The spec, validated (schema, the input URL check, the operator's tenant policy).

    Raises:
        SpecError: `InvalidSpec`; `PolicyViolation` for a `pod.image` the policy does not allow.
    """
    try:
        spec = LocalRecordingSpec.model_validate(dict(ctx.body.get("spec") or {}))
    except ValidationError as exc:
        raise SpecError("InvalidSpec", validation_message(exc)) from exc
    check_input(spec)
    settings = ctx.runtime.settings
    if spec.pod is not None and spec.pod.image:
        problem = image_problem(
            spec.pod.image, default_image=settings.recorder_image, allowed=settings.recorder_allowed_images
        )
        if problem is not None:
            raise SpecError(POLICY_VIOLATION, f"pod.image: {problem}")
    policy = destination_policy(settings)
    for field, url in recorder_destinations(spec, with_storage=False):
        problem = destination_problem(url, policy)
        if problem is not None:
            raise SpecError(POLICY_VIOLATION, f"{field}: {problem}")
    if spec.storage.endpoint:
        problem = storage_endpoint_problem(spec.storage.endpoint, settings)
        if problem is not None:
            raise SpecError(POLICY_VIOLATION, problem)
    return spec


@kopf.index(
    "", "v1", "pods", id=POD_INDEX, labels={COMPONENT_LABEL: "recorder", RECORDING_LABEL: kopf.PRESENT}
)
async def localrecording_pods(
    namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """Recorder Pods by (namespace, recording), from the Pod watch: a poll reads its recording's
    Pods here instead of listing them (`driver.POD_INDEX`)."""
    return {(namespace or "", labels[RECORDING_LABEL]): dict(body)}


def _pods_of(ctx: LocalRecordingContext, indexes: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The recording's Pods from the index (None when kopf passed no index: LIST instead)."""
    index = indexes.get(POD_INDEX)
    if index is None:
        return None
    return list(index.get((ctx.namespace, ctx.name), ()))


async def _run(
    ctx: LocalRecordingContext,
    memory: RecorderMemory,
    *,
    finalizing: bool,
    pods: list[Mapping[str, Any]] | None = None,
) -> bool:
    """One sync with failure reporting; True when no recorder Pod is left."""
    try:
        spec = _parse(ctx)
    except SpecError as exc:
        if ctx.status.get("phase") != "Failed" or ctx.status.get("observedGeneration") != ctx.generation:
            ctx.status.set(phase="Failed", lastError=str(exc))
        report_failure(ctx, exc.reason, str(exc))
        ctx.condition("Ready", "False", exc.reason, str(exc))
        ctx.status.set(observedGeneration=ctx.generation)
        return True
    try:
        return await RecorderPods(ctx, spec, memory, pods).sync(finalizing=finalizing)
    except SpecError as exc:
        # A destination that resolves to a private address (checked before each new Pod).
        ctx.status.set(phase="Failed", lastError=str(exc))
        report_failure(ctx, exc.reason, str(exc))
        ctx.condition("Ready", "False", exc.reason, str(exc))
        return True
    except SecretNotOptedIn as exc:
        report_failure(ctx, "SecretNotOptedIn", str(exc))
        ctx.status.set(phase="Pending")
    except SecretNotFound as exc:
        report_failure(ctx, "CredentialsNotFound", str(exc))
        ctx.status.set(phase="Pending")
    except ConfigMapKeyNotFound as exc:
        report_failure(ctx, "ConfigMapNotFound", str(exc))
        ctx.status.set(phase="Pending")
    except KubeApiError as exc:
        report_failure(ctx, "KubernetesUnavailable", str(exc))
    return False


@kopf.on.resume(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.create(*RESOURCE, labels=SHARD_LABELS)
@kopf.on.update(*RESOURCE, field="spec", labels=SHARD_LABELS)
@instrumented(KIND, "reconcile")
async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **kwargs: Any) -> None:
    """Bring the recorder Pod to the spec at once (the timer carries on from there).

    Failures (missing Secret or CA ConfigMap key, Kubernetes API errors) set `Synced=False` and are
    retried by the timer; an invalid spec sets `Failed` until the spec changes.
    """
    ctx = LocalRecordingContext(body, patch, runtime_of(memo), logger)
    memory = _memory(memo)
    async with memory.lock:
        await _run(ctx, memory, finalizing=False, pods=_pods_of(ctx, kwargs))
    ctx.flush()


#: kopf needs the timer interval when the module is imported.
_POLL_S = Settings.from_env().localrecording_poll_interval_s


@kopf.timer(*RESOURCE, interval=_POLL_S, initial_delay=_POLL_S, labels=SHARD_LABELS)
@instrumented(KIND, "poll")
@writes_own_patch
async def poll(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **kwargs: Any) -> None:
    """Every `LOCALRECORDING_POLL_INTERVAL` s: poll the agent, write what changed, carry on stops,
    replacements and restarts. Skipped while another sync of the resource runs."""
    if body.get("metadata", {}).get("deletionTimestamp"):
        return
    memory = _memory(memo)
    if memory.lock.locked():
        return
    ctx = LocalRecordingContext(body, patch, runtime_of(memo), logger)
    async with memory.lock:
        await _run(ctx, memory, finalizing=False, pods=_pods_of(ctx, kwargs))
    ctx.flush()


async def _publish_stored(ctx: LocalRecordingContext, memory: RecorderMemory) -> int:
    """RecordedFiles for the recording's stored objects that none names (`RecorderPods.publish_unreported`),
    with an Event `UnreportedFilesFound` naming how many. A storage that does not answer is tried again
    for a while after the deletion, then the finalizer goes on with a Warning
    (`publication.unreported_listing_wait`).

    Returns:
        How many RecordedFiles were created (0 when the spec cannot be read).

    Raises:
        kopf.TemporaryError: the storage could not be listed yet.
        KubeApiError: listing or creating RecordedFiles failed.
    """
    try:
        spec = _parse(ctx)
    except SpecError:
        return 0
    try:
        async with memory.lock:
            new = await RecorderPods(ctx, spec, memory).publish_unreported()
    except (StorageError, UnsupportedStorage, SecretNotFound) as exc:
        left = unreported_listing_wait(ctx, exc)
        if left > 0:
            ctx.flush()
            raise kopf.TemporaryError(f"listing the stored files: {exc}", delay=min(left, _POLL_S)) from exc
        return 0
    if new:
        unreported_files_found(ctx, new, "stored after its recorder Pod was gone")
    return new


@kopf.on.delete(*RESOURCE, labels=SHARD_LABELS)
@instrumented(KIND, "finalize")
async def finalize(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Any, **kwargs: Any) -> None:
    """Stop the recorder, wait until its last file is stored and recorded, then delete the
    recording's RecordedFiles and wait for their finalizers (which delete the stored data) before
    this finalizer is released (`deletionPolicy: Delete`).

    `Orphan`: detach the RecordedFiles (no ownerReference to this recording: they, and the stored
    objects, stay) and release the recorder Pods at once (the owner cascade stops them; a file they
    store afterwards stays in storage without a RecordedFile).

    Raises:
        kopf.TemporaryError: the recorder is still storing its files; checked again after one poll interval.
    """
    ctx = LocalRecordingContext(body, patch, runtime_of(memo), logger)
    memory = _memory(memo)
    if (body.get("spec") or {}).get("deletionPolicy") == "Orphan":
        async with memory.lock:  # no poll creates a RecordedFile after they were detached
            await release_files(ctx, KIND, "Orphan")
            pods = await ctx.runtime.kube.list_objects(
                pods_path(ctx.namespace), label_selector=pod_selector(ctx.name)
            )
            for pod in pods:
                view = view_pod(pod)
                if view.has_finalizer:
                    await ctx.runtime.kube.merge_patch(
                        f"{pods_path(ctx.namespace)}/{view.name}",
                        {"metadata": {"finalizers": pod_without_finalizer(pod)}},
                    )
        forget_recorder(ctx.namespace, ctx.name)
        return
    async with memory.lock:
        done = await _run(ctx, memory, finalizing=True, pods=_pods_of(ctx, kwargs))
    ctx.flush()
    if not done:
        raise kopf.TemporaryError("waiting for the recorder to store its last file", delay=_POLL_S)
    try:
        remaining = await release_files(ctx, KIND, "Delete")
        # Once the known files are gone, the storage is searched for the recording's files that
        # landed after their Pod was collected; those found are deleted like the others. Not when the
        # files are Retain: their objects stay by design, and each would be found again.
        if (
            not remaining
            and file_deletion_policy(body.get("spec")) == "Delete"
            and await _publish_stored(ctx, memory)
        ):
            remaining = await release_files(ctx, KIND, "Delete")
    except KubeApiError as exc:
        raise kopf.TemporaryError(f"deleting the RecordedFiles: {exc}", delay=_POLL_S) from exc
    if remaining:
        raise kopf.TemporaryError(f"waiting for {remaining} RecordedFiles to be deleted", delay=_POLL_S)
    files = ctx.status.get("files") or {}
    if files.get("latest"):
        ctx.event(
            "Normal",
            "FilesRecorded",
            f"the recorder stopped; {files['count']} files, the last: {files['latest']}",
        )
    forget_recorder(ctx.namespace, ctx.name)
