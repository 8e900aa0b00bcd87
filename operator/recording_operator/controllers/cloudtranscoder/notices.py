"""Cloud Transcoder NCS notices (https://docs.agora.io/en/cloud-transcoding/reference/webhooks/ncs-events)
→ CloudTranscoder status, with the same status rules as polling (`decide.ready_condition`,
`mark_exited`).

| event | `details` | effect |
|---|---|---|
| 110 `cloud_transcoder_started` | `state: "Transcoder success"` | a starting task → phase STARTED, Ready=True |
| 111 `cloud_transcoder_stopped` | `stopReason` | a live task → phase Exited (ProviderEnded); `restartPolicy: OnExit` then restarts it |
| 112 `cloud_transcoder_status` | `state`: connecting, running, failed | Ready=True on running, Ready=False (TaskFailed) on failed |
| 113 `cloud_transcoder_updated` | `state: "running"` | nothing to change (the update's own answer set status) |

Effects are monotone (a started notice never revives an Exited task, a stop notice for an Exited
task changes nothing), so duplicates and reordering change nothing twice. The receiver dedupes by
`noticeId` and serialises notices per `taskId`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import kopf

from recording_operator.api import GROUP, VERSION
from recording_operator.api.timestamps import rfc3339
from recording_operator.controllers._kit.context import Context
from recording_operator.controllers._kit.kube import resource_version_of, retried_on_conflict
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers.cloudtranscoder.decide import LIVE_PHASES, ready_condition
from recording_operator.providers.agora import ncs

log = logging.getLogger(__name__)

PLURAL = "cloudtranscoders"
#: Phases before Agora reports the task running (https://docs.agora.io/en/cloud-transcoding/rest-api/query).
STARTING_PHASES = frozenset({"Creating", "IDLE", "PREPARED", "STARTING", "CREATED"})
#: Seconds a notice for an unknown taskId waits for the create's answer to be written.
SETTLE_S = 1.5
SETTLE_STEP_S = 0.1


def mark_exited(ctx: Context, reason: str, message: str) -> None:
    """Draft the end of the task: phase Exited, `exitedAt`, `exitReason`, Ready=False, an Event."""
    ctx.status.set(
        phase="Exited", exitedAt=rfc3339(), exitReason=reason, serviceStatus=None, pendingDigest=None
    )
    ctx.condition("Ready", "False", reason, message)
    ctx.event("Normal", "Exited", message)


@dataclass(frozen=True)
class Effect:
    """What a notice changes: `phase`, a Ready condition `(status, reason, message)`, or an exit message."""

    phase: str | None = None
    ready: tuple[str, str, str] | None = None
    exited: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return self.phase is None and self.ready is None and self.exited is None


def transcoder_effect(notice: ncs.Notice, phase: str | None) -> Effect:
    """What `notice` changes on a CloudTranscoder in `phase` whose task it names (pure)."""
    task = notice.task_id or ""
    details = notice.details
    kind = notice.event_type
    if phase not in LIVE_PHASES:
        return Effect()
    if kind == ncs.EVENT_TRANSCODER_STARTED and phase in STARTING_PHASES:
        return Effect(phase="STARTED", ready=ready_condition("STARTED", task))
    if kind == ncs.EVENT_TRANSCODER_STOPPED:
        reason = str(details.get("stopReason") or "no reason given")
        return Effect(exited=f"Agora stopped task {task}: {reason}")
    if kind == ncs.EVENT_TRANSCODER_STATUS:
        state = details.get("state")
        if state == "running":
            return Effect(ready=ready_condition("IN_PROGRESS", task))
        if state == "failed":
            return Effect(ready=("False", "TaskFailed", f"Agora reports task {task} failed"))
    return Effect()


class _NoticeContext(Context):
    plural = PLURAL

    def __init__(self, obj: dict[str, Any], runtime: Runtime) -> None:
        super().__init__(cast(kopf.Body, obj), cast(kopf.Patch, {}), runtime, log)
        self.events: list[tuple[str, str, str]] = []

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


_tasks: OrderedDict[str, tuple[str, str]] = OrderedDict()


async def _find(runtime: Runtime, task_id: str) -> dict[str, Any] | None:
    """The CloudTranscoder whose `status.taskId` is `task_id` (remembered after the first list)."""
    known = _tasks.get(task_id)
    if known is not None:
        obj = await runtime.kube.get_object(
            f"/apis/{GROUP}/{VERSION}/namespaces/{known[0]}/{PLURAL}/{known[1]}"
        )
        if obj is not None and (obj.get("status") or {}).get("taskId") == task_id:
            return obj
    for obj in await runtime.kube.list_objects(f"/apis/{GROUP}/{VERSION}/{PLURAL}"):
        if (obj.get("status") or {}).get("taskId") == task_id:
            meta = obj.get("metadata") or {}
            _tasks[task_id] = (meta.get("namespace", ""), meta.get("name", ""))
            while len(_tasks) > 10_000:
                _tasks.popitem(last=False)
            return obj
    return None


async def apply_transcoder_notice(runtime: Runtime, notice: ncs.Notice) -> str:
    """Apply one verified Cloud Transcoder notice (events 110–113).

    Returns:
        `applied`, `unchanged` or `unmatched` (no CloudTranscoder has this taskId after `SETTLE_S`).

    Raises:
        KubeApiError: reading or writing failed (the receiver answers 503 and Agora resends).
    """
    if not notice.task_id:
        return "unchanged"
    deadline = time.monotonic() + SETTLE_S
    obj = await _find(runtime, notice.task_id)
    while obj is None and time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_STEP_S)
        obj = await _find(runtime, notice.task_id)
    if obj is None:
        log.warning(
            f"Agora transcoder notice {notice.notice_id} (event {notice.event_type}) names task "
            f"{notice.task_id}, which no CloudTranscoder owns"
        )
        return "unmatched"
    meta = obj.get("metadata") or {}
    task_id = notice.task_id
    return await retried_on_conflict(
        runtime.kube,
        f"/apis/{GROUP}/{VERSION}/namespaces/{meta.get('namespace', '')}/{PLURAL}/{meta.get('name', '')}",
        obj,
        lambda current: _apply(runtime, current, notice),
        still_applies=lambda current: (current.get("status") or {}).get("taskId") == task_id,
        otherwise="unchanged",
    )


async def _apply(runtime: Runtime, obj: dict[str, Any], notice: ncs.Notice) -> str:
    """The notice's effect on this version of the transcoder (its status write carries the version:
    the conditions list it writes replaces the whole list)."""
    ctx = _NoticeContext(obj, runtime)
    effect = transcoder_effect(notice, ctx.status.get("phase"))
    if effect.empty:
        return "unchanged"
    if effect.phase:
        ctx.status.set(phase=effect.phase)
    if effect.ready:
        ctx.condition("Ready", *effect.ready)
    if effect.exited:
        mark_exited(ctx, "ProviderEnded", effect.exited)
    delta = ctx.status.delta()
    if not delta and not ctx.events:
        return "unchanged"
    await runtime.kube.merge_patch(
        ctx.path + "/status", {"status": delta}, resource_version=resource_version_of(obj)
    )
    for type_, reason, message in ctx.events:
        runtime.events.record(obj, type_, reason, message)
    return "applied"
