"""Timers that outlive a Kubernetes API outage.

kopf applies a timer's patch itself after each run, retrying API errors along
`settings.networking.error_backoffs` (about 54 s by default). When the API is still unreachable
after those retries, the exception ends the timer task and kopf marks it *forever stopped* for
that object (`kopf/_core/engines/daemons.py`, `_runner`: "Prevent future re-spawns for those exited
on their own"): no more queries, no `maxDuration` stop, no recorder polls until the operator
restarts — a paid session could run past its limit unobserved.

`writes_own_patch` makes a timer apply its own patch with the operator's Kubernetes client
instead: status first (a session id must reach the API before a marker annotation is cleared),
then metadata. A failed write is logged at WARNING and dropped; the next tick drafts the status
again from what it observes, so nothing is lost but time, and the timer keeps running. A tick drafts
from the copy it started with; the write is rebased on a copy written meanwhile (a reconcile's
conditions stay), with kube-apiserver's optimistic concurrency (`resourceVersion`). A tick that ends
on a resource deleted meanwhile writes no status (the finalizer's is newer) and says it ended with an
annotation, so kopf looks again at once.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import kopf

from recording_operator.api import GROUP
from recording_operator.api.timestamps import rfc3339
from recording_operator.controllers._kit.conditions import rebase_status
from recording_operator.controllers._kit.kube import KubeApiError, KubeClient, retried_on_conflict
from recording_operator.controllers._kit.runtime import runtime_of

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)


def object_path(resource: kopf.Resource, namespace: str | None, name: str) -> str:
    """The API path of one object of `resource`, e.g. `/apis/g/v/namespaces/ns/plural/name`."""
    base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{resource.plural}/{name}"


async def write_drafted_status(
    kube: KubeClient,
    path: str,
    drafted: Mapping[str, Any],
    *,
    base: Mapping[str, Any],
    newest: dict[str, Any],
    still_applies: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> bool:
    """Merge-patch the status fields `drafted` (from the status snapshot `base`) on the object at
    `path`, over its copy `newest` (`metadata.resourceVersion` and `status`): the write carries that
    `resourceVersion`, its conditions rebased on that copy's (`conditions.rebase_status`); on 409
    Conflict the object is read again and the write made on the new copy while `still_applies` to it
    (`kube.retried_on_conflict`). Returns False when it was dropped (object gone, or no longer applies).

    Raises:
        KubeApiError: the write failed, or met a conflict on every attempt.
    """

    async def write(obj: dict[str, Any]) -> bool:
        version = (obj.get("metadata") or {}).get("resourceVersion")
        rebased = rebase_status(drafted, base, obj.get("status") or {})
        await kube.merge_patch(f"{path}/status", {"status": rebased}, resource_version=version)
        return True

    return await retried_on_conflict(kube, path, newest, write, still_applies=still_applies, otherwise=False)


async def apply_patch(
    path: str,
    patch: kopf.Patch,
    kube: KubeClient,
    logger: Any,
    *,
    base: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> None:
    """Write `patch` (kopf's, for the object at `path`) with `kube` — status first, then the rest —
    and empty it so kopf has nothing left to apply. The status goes with `write_drafted_status`
    over the copy the tick drafted from (status `base`, `resourceVersion` `version`), so a reconcile
    that wrote meanwhile keeps its conditions. A failed or refused write (`KubeApiError`) is logged
    and dropped; 404 (the object is gone) silently."""
    if not patch:
        return
    drafted = {key: value for key, value in patch.items()}
    patch.clear()
    status = drafted.pop("status", None)
    base = base or {}
    try:
        if status:
            newest = {"metadata": {"resourceVersion": version}, "status": base}
            await write_drafted_status(kube, path, status, base=base, newest=newest)
        if drafted:
            await kube.merge_patch(path, drafted)
    except KubeApiError as exc:
        if exc.status != 404:
            logger.warning(f"the timer's status write failed ({exc}); the next tick writes it again")


def writes_own_patch(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an async kopf timer (below the kopf decorator) so that its patch is applied with the
    operator's own client when it returns or raises (`apply_patch`), never by kopf.

    The timer must take kopf's `resource`, `body`, `patch`, `memo` and `logger` keyword arguments
    (kopf passes them all).
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # kopf's `body` is a live view: the copy this tick drafts from is the one it starts with.
        started: kopf.Body = kwargs["body"]  # type: ignore[assignment]
        base = copy.deepcopy(dict(started.get("status") or {}))
        version = (started.get("metadata") or {}).get("resourceVersion")
        deleting = bool((started.get("metadata") or {}).get("deletionTimestamp"))
        try:
            return await fn(*args, **kwargs)
        finally:
            patch: kopf.Patch = kwargs["patch"]  # type: ignore[assignment]
            body: kopf.Body = kwargs["body"]  # type: ignore[assignment]
            meta = body.get("metadata", {})
            deleted_meanwhile = bool(meta.get("deletionTimestamp")) and not deleting
            if (patch or deleted_meanwhile) and not _cancelling():
                resource: kopf.Resource = kwargs["resource"]  # type: ignore[assignment]
                path = object_path(resource, meta.get("namespace"), meta["name"])
                kube = runtime_of(kwargs["memo"]).kube
                if deleted_meanwhile:
                    # The finalizer owns the status from the deletion on: what it wrote (a session
                    # stopped) is newer than what this tick saw, and kopf runs it again on the next event.
                    patch.pop("status", None)
                await apply_patch(path, patch, kube, kwargs["logger"], base=base, version=version)
                if deleted_meanwhile:
                    await _tick_ended(path, kube, kwargs["logger"])

    return wrapper


#: Annotation a timer writes when its tick ends on a resource deleted during the tick (RFC 3339 time).
TICK_ENDED_ANNOTATION = f"{GROUP}/timer-tick-ended-at"


async def _tick_ended(path: str, kube: KubeClient, logger: Any) -> None:
    """Tell kopf that a tick of a resource being deleted has ended (a watch event): kopf keeps its
    finalizer while a timer tick runs and, without a new event, looks again only after
    `settings.background.cancellation_polling` (60 s, https://docs.kopf.dev/en/stable/daemons/,
    "Termination"), so the deletion would wait a minute for a tick that took a second. A status write
    the tick made may change nothing on the object (no event), hence this annotation. A failure is
    logged at DEBUG: kopf looks again after its polling delay anyway."""
    try:
        await kube.merge_patch(path, {"metadata": {"annotations": {TICK_ENDED_ANNOTATION: rfc3339()}}})
    except KubeApiError as exc:
        if exc.status != 404:
            logger.debug(f"noting the tick's end on the deleted resource failed ({exc})")


def _cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
