"""Start answers not yet in status: a provider's session id for a start whose status write failed.

A start's answer is the only place its session id comes from; the driver writes it to status
directly before anything removes the start-pending marker (`driver.mark_start_pending`). When that
write fails, the answer is held here (`ANSWERS`, journalled under `OPERATOR_STATE_DIR`) and written
by the next invocation for the same pending start (`recover_answer`), which then reads as adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recording_operator.controllers._kit.journal import Journal
from recording_operator.controllers.cloudrecording.decide import UNKNOWN_SINCE, Observed, observe
from recording_operator.controllers.cloudrecording.driver import RecordingContext


class StartAnswers:
    """Session ids a provider answered a start with, held in memory until they are in status.

    A start's answer is the only place its session id comes from (Agora has no call that lists
    sessions, https://docs.agora.io/en/cloud-recording/rest-api/overview). When the direct status
    write that records it fails (the API server unavailable, a refused PATCH), the next invocation
    for the same pending start writes it from here instead of sending the start again, which Agora
    answers 201/7 without a sid, or than waiting for notices that met the same outage.

    Keyed by the resource's `metadata.uid`; an entry answers only for the start-pending marker it
    was sent under (`unknownSince` aside). Bounded (oldest dropped). With a journal (`open`, the
    `OPERATOR_STATE_DIR` setting: an `emptyDir` survives container restarts) each change is
    appended and flushed to disk before the status write is tried, so a restart during an outage
    still finds the id; without one an operator restart forgets it, leaving the marker's resumed
    start and the notices to find the session.
    """

    #: Journal lines written before the journal is rewritten with only the live entries.
    COMPACT_AFTER = Journal.COMPACT_AFTER

    def __init__(self, size: int = 10_000) -> None:
        self._entries = Journal(size)

    @staticmethod
    def _marker(pending: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in pending.items() if k != UNKNOWN_SINCE}

    def open(self, journal: Path) -> int:
        """Load the entries journalled in `journal` (JSON lines; unreadable lines are skipped), keep
        journalling there, and rewrite it with the live entries only (`_kit.journal.Journal`).

        Returns:
            How many answers were loaded (starts whose id a previous process could not write).

        Raises:
            OSError: the journal cannot be read or written.
        """
        return self._entries.open(journal)

    def remember(self, uid: str, pending: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Keep `fields` (the session's identity and `applied`) for the start sent under `pending`.

        Raises:
            OSError: the journal could not be written (the answer is still kept in memory).
        """
        self._entries.set(uid, {"marker": self._marker(pending), "fields": dict(fields)})

    def recall(self, uid: str, pending: Mapping[str, Any]) -> dict[str, Any] | None:
        """The fields answered for the start sent under `pending`, or None."""
        entry = self._entries.get(uid)
        if not isinstance(entry, dict) or entry.get("marker") != self._marker(pending):
            return None
        return dict(entry.get("fields") or {})

    def forget(self, uid: str) -> None:
        """Drop the entry of `uid` (its fields are in status).

        Raises:
            OSError: the journal could not be written.
        """
        self._entries.pop(uid)


ANSWERS = StartAnswers()


def _uid(ctx: RecordingContext) -> str:
    """The key of `ANSWERS`: the resource's `metadata.uid`."""
    return str(ctx.meta.get("uid") or "")


async def persist_started(
    ctx: RecordingContext, pending: Mapping[str, Any], identity: Mapping[str, Any], applied: Any = None
) -> None:
    """Write a start's answer (`identity`: `resourceId` + `sid`, or `recordingId`) to status with phase
    Starting, directly, before anything removes the start-pending marker `pending` (kopf sends its body
    patch, which carries the removal, before its status patch). With an active phase, so a crash
    between kopf's two patches leaves a session to follow. Until the write succeeds, the answer is
    held in `ANSWERS` for `recover_answer`.

    Raises:
        KubeApiError: the write failed (the answer stays in `ANSWERS`).
    """
    try:
        ANSWERS.remember(_uid(ctx), pending, {**identity, "applied": applied})
    except OSError as exc:
        ctx.logger.warning(f"journalling the start's answer failed (kept in memory only): {exc}")
    await ctx.persist(phase="Starting", **identity)
    forget_answer(ctx)


def forget_answer(ctx: RecordingContext) -> None:
    """Drop the held answer of this resource (its id is in status); a journal that cannot be written
    is logged (the entry only answers for the marker it was sent under, which is gone by then)."""
    try:
        ANSWERS.forget(_uid(ctx))
    except OSError as exc:
        ctx.logger.warning(f"journalling a start's answer as recorded failed: {exc}")


async def recover_answer(ctx: RecordingContext, obs: Observed) -> Observed:
    """Write the session id an earlier invocation was answered but could not write (`ANSWERS`), for
    the pending start `obs.pending`; the recording then reads as adopted (`Observed.adopted`) and
    is followed, stopped or deleted like any session with an id.

    Returns:
        What is observed after the write, or `obs` itself when nothing was held for this start.

    Raises:
        KubeApiError: the write failed (the answer is still held).
    """
    if obs.pending is None or obs.session_id:
        return obs
    fields = ANSWERS.recall(_uid(ctx), obs.pending)
    if fields is None:
        return obs
    applied = fields.pop("applied", None)
    await ctx.persist(phase="Starting", **fields, **({"applied": applied} if applied else {}))
    forget_answer(ctx)
    ctx.logger.info(f"recorded {fields}: the start's answer had arrived while status could not be written")
    return observe(ctx.status.current, ctx.meta.get("annotations"))
