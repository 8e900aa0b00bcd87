"""Retention: one operator-wide schedule deletes RecordedFiles when their `spec.expiresAt` passes,
and audits that stored files still exist (phase `Missing`).

Scale: 10,000 files with expiry cost no per-object loop and no burst of API calls:

- a kopf index (`recordedfile_catalog`) keeps one small entry per RecordedFile, fed by the watch
  kopf already runs: building it costs no API call;
- the index handler offers each expiry to ONE in-memory heap; a single task (started at operator
  startup) sleeps until the earliest expiry, or until an earlier one is offered, then deletes what
  is due. While nothing is due it makes no API call at all; each due file costs one DELETE (its
  finalizer then deletes the stored object, `handlers.finalize`). Deletions are paced at
  `RETENTION_DELETE_RATE` per second, so a mass expiry is spread out rather than a burst;
- the audit runs every `RECORDEDFILE_AUDIT_INTERVAL` s (default 1 h) over the index: one storage
  `stat` per object-storage file (8 at a time), and an API write only when a phase changed.

"Now" is the wall clock plus `RECORDING_CLOCK_OFFSET_S` (`probe.clock_now`), so tests can
run the operator in the future instead of waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers._kit.conditions import set_condition
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound
from recording_operator.controllers._kit.runtime import Runtime, runtime_of
from recording_operator.controllers._kit.shard import SHARD_LABELS
from recording_operator.controllers.recordedfile.decide import PLURAL, epoch_of
from recording_operator.controllers.recordedfile.probe import clock_now, probe
from recording_operator.storage import StorageError, UnsupportedStorage

RESOURCE = (GROUP, VERSION, PLURAL)
CATALOG = "recordedfile_catalog"
#: Longest single sleep (s): a guard against wall-clock jumps; waking costs no API call.
MAX_SLEEP_S = 3600.0
#: Storage checks in flight at once during an audit.
AUDIT_CONCURRENCY = 8

logger = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass(frozen=True)
class CatalogEntry:
    """What the schedule knows of one RecordedFile (from the watch; no API call).

    `expires_at` is Unix seconds (None: kept); `deleting` is True once deletionTimestamp is set.
    """

    expires_at: float | None
    deleting: bool
    phase: str | None
    generation: int | None
    spec: Mapping[str, Any] = field(compare=True)
    conditions: tuple[Mapping[str, Any], ...] = ()


class RetentionSchedule:
    """Expiry times of every RecordedFile in one heap; `run` deletes what is due.

    `offer` is O(log n) and called from the index handler for every watch event; repeated offers
    of the same time are ignored, so status updates do not grow the heap.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, Key]] = []
        self._planned: dict[Key, float] = {}
        self._wake = asyncio.Event()
        self._sleep_until = math.inf
        #: RecordedFiles deleted because they expired (for reports and tests).
        self.expired = 0
        #: API requests the schedule itself made (DELETEs, audit status patches).
        self.api_calls = 0

    def offer(self, key: Key, when: float | None) -> None:
        """Plan `key` for deletion at `when` (Unix s); None withdraws it."""
        if when is None:
            self._planned.pop(key, None)
            return
        if self._planned.get(key) == when:
            return
        self._planned[key] = when
        heapq.heappush(self._heap, (when, key))
        if when < self._sleep_until:
            self._wake.set()

    def due(self, now: float) -> list[Key]:
        """Take every planned key whose time is at or before `now`."""
        out: list[Key] = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._planned.get(key) == when:
                del self._planned[key]
                out.append(key)
        return out

    def next_at(self) -> float | None:
        """The earliest planned time (stale heap entries are dropped on the way)."""
        while self._heap and self._planned.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._planned)

    async def run(self, catalog: kopf.Index[Key, CatalogEntry], runtime: Runtime) -> None:
        """Forever: delete due RecordedFiles, audit on its interval, sleep until the next event."""
        settings = runtime.settings
        audit_every = settings.audit_interval_s
        next_audit = time.monotonic() + audit_every if audit_every > 0 else math.inf
        pace = 1.0 / settings.retention_delete_rate if settings.retention_delete_rate > 0 else 0.0
        while True:
            now = clock_now(settings)
            for key in self.due(now):
                entry = _entry(catalog, key)
                if entry is None or entry.deleting or entry.expires_at is None or entry.expires_at > now:
                    continue
                await self._expire(key, runtime)
                if pace:
                    await asyncio.sleep(pace)
            if time.monotonic() >= next_audit:
                await self.audit(catalog, runtime)
                next_audit = time.monotonic() + audit_every
            now = clock_now(settings)
            upcoming = self.next_at()
            timeout = min(
                MAX_SLEEP_S,
                (upcoming - now) if upcoming is not None else math.inf,
                next_audit - time.monotonic(),
            )
            timeout = max(0.0, timeout)
            self._sleep_until = now + timeout
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
            self._sleep_until = math.inf

    async def _expire(self, key: Key, runtime: Runtime) -> None:
        namespace, name = key
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
        try:
            self.api_calls += 1
            await runtime.kube.delete_object(path)
            self.expired += 1
            logger.info(f"RecordedFile {namespace}/{name} expired: deleted")
        except (KubeApiError, RuntimeError) as exc:
            retry_at = clock_now(runtime.settings) + max(1.0, runtime.settings.backoff_base_s)
            logger.warning(f"deleting expired RecordedFile {namespace}/{name} failed ({exc}); retrying")
            self.offer(key, retry_at)

    async def audit(self, catalog: kopf.Index[Key, CatalogEntry], runtime: Runtime) -> None:
        """Check every stored file once; write status only where the phase changed.

        Best effort: a storage or Secret failure leaves the phase as it is (the create and delete
        handlers report such failures with conditions and Events).
        """
        limit = asyncio.Semaphore(AUDIT_CONCURRENCY)
        entries = [(key, entry) for key, store in list(catalog.items()) for entry in store]

        async def check(key: Key, entry: CatalogEntry) -> None:
            if entry.deleting or entry.phase not in ("Available", "Missing"):
                return
            try:
                spec = RecordedFileSpec.model_validate(dict(entry.spec))
            except ValidationError:
                return
            if spec.location.volume is not None:
                return
            async with limit:
                try:
                    result = await probe(runtime, key[0], spec, now=clock_now(runtime.settings))
                except (StorageError, UnsupportedStorage, SecretNotFound, KubeApiError, RuntimeError):
                    return
            if result.phase == entry.phase:
                return
            ready = "True" if result.phase == "Available" else "False"
            conditions = set_condition(
                [dict(c) for c in entry.conditions],
                "Ready",
                ready,
                result.reason,
                result.message,
                entry.generation,
            )
            path = f"/apis/{GROUP}/{VERSION}/namespaces/{key[0]}/{PLURAL}/{key[1]}/status"
            try:
                self.api_calls += 1
                await runtime.kube.merge_patch(
                    path, {"status": {"phase": result.phase, "conditions": conditions}}
                )
            except KubeApiError as exc:
                logger.warning(
                    f"reporting phase {result.phase} of RecordedFile {key[0]}/{key[1]} failed: {exc}"
                )

        await asyncio.gather(*(check(key, entry) for key, entry in entries))


def _entry(catalog: kopf.Index[Key, CatalogEntry], key: Key) -> CatalogEntry | None:
    store = catalog.get(key)
    return next(iter(store), None) if store else None


#: The operator's one schedule (one per process).
SCHEDULE = RetentionSchedule()


@kopf.index(*RESOURCE, id=CATALOG, labels=SHARD_LABELS)
async def recordedfile_catalog(
    namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any
) -> dict[Key, CatalogEntry]:
    """Index every RecordedFile by (namespace, name) and offer its expiry to the schedule."""
    namespace = namespace or ""
    deleting = bool(meta.get("deletionTimestamp"))
    expires_at = epoch_of(spec.get("expiresAt"))
    SCHEDULE.offer((namespace, name), None if deleting else expires_at)
    return {
        (namespace, name): CatalogEntry(
            expires_at=expires_at,
            deleting=deleting,
            phase=status.get("phase"),
            generation=meta.get("generation"),
            spec=dict(spec),
            conditions=tuple(dict(c) for c in status.get("conditions") or ()),
        )
    }


@kopf.on.startup()
async def start_schedule(memo: kopf.Memo, **kwargs: Any) -> None:
    """Start the retention schedule's task over the `recordedfile_catalog` index (kopf passes indices
    to startup handlers empty and fills them as the watch lists objects; the task needs no API yet)."""
    catalog: kopf.Index[Key, CatalogEntry] = kwargs[CATALOG]
    runtime = runtime_of(memo)
    memo.retention_task = asyncio.get_running_loop().create_task(
        SCHEDULE.run(catalog, runtime), name="retention-schedule"
    )


@kopf.on.cleanup()
async def stop_schedule(memo: kopf.Memo, **_: Any) -> None:
    """Stop the retention schedule's task."""
    task: asyncio.Task[None] | None = getattr(memo, "retention_task", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
