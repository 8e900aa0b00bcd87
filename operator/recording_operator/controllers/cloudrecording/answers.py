"""Start answers not yet in status: a provider's session id for a start whose status write failed.

A start's answer is the only place its session id comes from; the driver writes it to status
directly before anything removes the start-pending marker (`driver.mark_start_pending`). When that
write fails, the answer is held here (`ANSWERS`, journalled under `OPERATOR_STATE_DIR`) and written
by the next invocation for the same pending start (`recover_answer`), which then reads as adopted.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    COMPACT_AFTER = 1000

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._by_uid: OrderedDict[str, tuple[dict[str, Any], dict[str, Any]]] = OrderedDict()
        self._journal: Path | None = None
        self._lines = 0

    @staticmethod
    def _marker(pending: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in pending.items() if k != UNKNOWN_SINCE}

    def open(self, journal: Path) -> int:
        """Load the entries journalled in `journal` (JSON lines; unreadable lines are skipped), keep
        journalling there, and rewrite it with the live entries only.

        Returns:
            How many answers were loaded (starts whose id a previous process could not write).

        Raises:
            OSError: the journal cannot be read or written.
        """
        entries: OrderedDict[str, tuple[dict[str, Any], dict[str, Any]]] = OrderedDict()
        if journal.exists():
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    uid = str(record["uid"])
                    entries.pop(uid, None)
                    if "fields" in record:
                        entries[uid] = (dict(record["marker"]), dict(record["fields"]))
                except (ValueError, KeyError, TypeError):
                    continue
        self._by_uid = entries
        self._journal = journal
        self._compact()
        return len(entries)

    def remember(self, uid: str, pending: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Keep `fields` (the session's identity and `applied`) for the start sent under `pending`.

        Raises:
            OSError: the journal could not be written (the answer is still kept in memory).
        """
        marker, kept = self._marker(pending), dict(fields)
        self._by_uid.pop(uid, None)
        self._by_uid[uid] = (marker, kept)
        while len(self._by_uid) > self._size:
            self._by_uid.popitem(last=False)
        self._append({"uid": uid, "marker": marker, "fields": kept})

    def recall(self, uid: str, pending: Mapping[str, Any]) -> dict[str, Any] | None:
        """The fields answered for the start sent under `pending`, or None."""
        entry = self._by_uid.get(uid)
        return dict(entry[1]) if entry is not None and entry[0] == self._marker(pending) else None

    def forget(self, uid: str) -> None:
        """Drop the entry of `uid` (its fields are in status)."""
        if self._by_uid.pop(uid, None) is not None:
            self._append({"uid": uid})

    def _append(self, record: Mapping[str, Any]) -> None:
        if self._journal is None:
            return
        if self._lines >= self.COMPACT_AFTER:
            self._compact()
        with self._journal.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(record) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        self._lines += 1

    def _compact(self) -> None:
        assert self._journal is not None
        temporary = self._journal.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as journal:
            for uid, (marker, fields) in self._by_uid.items():
                journal.write(json.dumps({"uid": uid, "marker": marker, "fields": fields}) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        os.replace(temporary, self._journal)
        self._lines = len(self._by_uid)


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
