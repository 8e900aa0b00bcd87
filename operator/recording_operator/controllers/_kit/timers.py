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
again from what it observes, so nothing is lost but time, and the timer keeps running.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import kopf

from recording_operator.controllers._kit.kube import KubeApiError
from recording_operator.controllers._kit.runtime import runtime_of

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)


def object_path(resource: kopf.Resource, namespace: str | None, name: str) -> str:
    """The API path of one object of `resource`, e.g. `/apis/g/v/namespaces/ns/plural/name`."""
    base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{resource.plural}/{name}"


async def apply_patch(
    path: str, patch: kopf.Patch, write: Callable[[str, dict[str, Any]], Awaitable[object]], logger: Any
) -> None:
    """Write `patch` (kopf's, for the object at `path`) with `write(path, body)` — status first, then
    the rest — and empty it so kopf has nothing left to apply. A failed or refused write
    (`KubeApiError`) is logged and dropped; 404 (the object is gone) silently."""
    if not patch:
        return
    drafted = {key: value for key, value in patch.items()}
    patch.clear()
    status = drafted.pop("status", None)
    try:
        if status:
            await write(f"{path}/status", {"status": status})
        if drafted:
            await write(path, drafted)
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
        try:
            return await fn(*args, **kwargs)
        finally:
            patch: kopf.Patch = kwargs["patch"]  # type: ignore[assignment]
            if patch and not _cancelling():
                body: kopf.Body = kwargs["body"]  # type: ignore[assignment]
                resource: kopf.Resource = kwargs["resource"]  # type: ignore[assignment]
                meta = body.get("metadata", {})
                path = object_path(resource, meta.get("namespace"), meta["name"])
                kube = runtime_of(kwargs["memo"]).kube
                await apply_patch(path, patch, kube.merge_patch, kwargs["logger"])

    return wrapper


def _cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
