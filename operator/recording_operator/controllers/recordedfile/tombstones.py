"""A deleted RecordedFile stays deleted: before its finalizer deletes anything, the file's name is
added to its recording's `status.deletedFiles`, which the recording's controller reads before it
creates a RecordedFile (a provider keeps listing a file in a running session's answers, and a
recorder reports its files again after an operator restart, when the process memory of what was
created is rebuilt from the cluster, where the deleted object no longer is).

The write is a merge patch of the recording's `status` subresource carrying the `resourceVersion`
it read (optimistic concurrency: several files deleted at once do not overwrite each other's names;
a 409 Conflict reads again). It is repeated harmlessly when the finalizer runs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recording_operator.controllers._kit.context import Context
from recording_operator.controllers._kit.kube import resource_version_of, retried_on_conflict
from recording_operator.controllers.recordedfile.decide import owned_by, recording_path, with_deleted

#: Read-modify-write rounds before a run of 409 Conflicts is reported (the finalizer then retries).
MAX_CONFLICTS = 5


async def remember_deletion(ctx: Context, raw_spec: Mapping[str, Any]) -> bool:
    """Add the RecordedFile `ctx.name` to its recording's `status.deletedFiles`; True when written.

    Nothing is written when the recording is gone, is being deleted, does not own the file, or
    already lists it.

    Raises:
        KubeApiError: reading or patching the recording failed, or it changed MAX_CONFLICTS times
            in a row between the read and the write (status 409, `retried_on_conflict`).
    """
    path = recording_path(ctx.namespace, raw_spec)
    if path is None:
        return False
    kube = ctx.runtime.kube
    recording = await kube.get_object(path)
    if recording is None:
        return False

    async def remember(current: dict[str, Any]) -> bool:
        if not owned_by(ctx.meta, current):
            return False
        names = with_deleted((current.get("status") or {}).get("deletedFiles"), ctx.name)
        if names is None:
            return False
        await kube.merge_patch(
            f"{path}/status",
            {"status": {"deletedFiles": names}},
            resource_version=resource_version_of(current),
        )
        return True

    return await retried_on_conflict(
        kube, path, recording, remember, still_applies=lambda _: True, otherwise=False, attempts=MAX_CONFLICTS
    )
