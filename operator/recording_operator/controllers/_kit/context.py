"""What every controller's handlers share: one `Context` per handler invocation (the resource,
its drafted status, conditions, Events) and the failure reporting conventions of
(Synced=False with a reason; a Warning Event once per distinct failure;
retryable failures back off with jitter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Self, cast

import kopf
from pydantic import ValidationError

from recording_operator.api import GROUP, VERSION
from recording_operator.controllers._kit.backoff import backoff_delay
from recording_operator.controllers._kit.conditions import get_condition, set_condition
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers._kit.status import StatusDraft

#: Kinds (API plurals) whose resources carry `Ready` and `Synced` from their first reconcile, so
#: `kubectl wait --for=condition=Ready=false` and Argo CD see them before any provider call.
SUMMARY_CONDITION_PLURALS = frozenset({"cloudrecordings", "cloudtranscoders", "localrecordings"})


class Context:
    """One handler invocation: the resource, its draft status, and helpers to report outcomes.

    Subclasses set `plural` (the resource's API plural) for `path`.
    """

    plural: ClassVar[str] = ""

    def __init__(self, body: kopf.Body, patch: kopf.Patch, runtime: Runtime, logger: Any) -> None:
        self.body = body
        self.patch = patch
        self.runtime = runtime
        self.logger = logger
        self.meta = body.get("metadata", {})
        self.namespace: str = self.meta.get("namespace", "")
        self.name: str = self.meta.get("name", "")
        self.generation: int | None = self.meta.get("generation")
        self.status = StatusDraft(dict(body.get("status") or {}))

    @property
    def path(self) -> str:
        """API path of the resource, for our own writes."""
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{self.plural}/{self.name}"

    def condition(self, type_: str, status: str, reason: str, message: str) -> None:
        """Draft a condition; written only if type/status/reason/message or the generation changed."""
        conditions = self.status.get("conditions")
        current = get_condition(conditions, type_)
        unchanged = current is not None and (
            current.get("status"),
            current.get("reason"),
            current.get("message"),
            current.get("observedGeneration"),
        ) == (status, reason, message, self.generation)
        if not unchanged:
            self.status.set(
                conditions=set_condition(conditions, type_, status, reason, message, self.generation)
            )

    def derive_condition(
        self,
        type_: str,
        depends_on: Iterable[str],
        verdict_of: Callable[[Mapping[str, Any]], tuple[str, str, str] | None],
    ) -> None:
        """Set the condition `type_` that the status implies: `verdict_of(merged status)` gives
        `(status, reason, message)` or None (leave it as it is).

        Only when this invocation drafted a change to one of the `depends_on` status fields, and only
        when the verdict differs from the condition's status/reason/message: a handler holding an
        older snapshot must not rewrite the conditions list (undoing a concurrent handler's) for a
        condition nothing changed, nor for a new generation alone. Not while the resource is deleted.
        """
        if self.meta.get("deletionTimestamp") or not any(key in self.status.fields for key in depends_on):
            return
        verdict = verdict_of({**self.status.current, **self.status.fields})
        current = get_condition(self.status.get("conditions"), type_) or {}
        if verdict is not None and verdict != (
            current.get("status"),
            current.get("reason"),
            current.get("message"),
        ):
            self.condition(type_, *verdict)

    def flush(self) -> None:
        """Put the drafted status changes into kopf's patch (applied when the handler returns).

        A recording kind's resource that has no `Ready` / `Synced` yet gets them here, after the
        handler drafted its own: `Ready=False reason=Reconciling` (the desired state is not reached
        yet) and `Synced=Unknown reason=Reconciling`, both with `observedGeneration`.
        """
        if self.plural in SUMMARY_CONDITION_PLURALS and not self.meta.get("deletionTimestamp"):
            conditions = self.status.get("conditions")
            if get_condition(conditions, "Ready") is None:
                self.condition("Ready", "False", "Reconciling", "the desired state is not reached yet")
            if get_condition(self.status.get("conditions"), "Synced") is None:
                self.condition("Synced", "Unknown", "Reconciling", "the first reconcile is in progress")
        delta = self.status.delta()
        if delta:
            self.patch.setdefault("status", {}).update(delta)

    async def persist(self, **fields: Any) -> None:
        """Write status fields now (merge patch on `/status`), before a provider call whose answer
        could be lost or before kopf's own patch clears a marker that depends on them (kopf sends
        its body patch, annotations included, before its status patch).

        Raises:
            KubeApiError: the write failed (the caller then makes no further change).
        """
        await self.runtime.kube.merge_patch(self.path + "/status", {"status": fields})
        # The server now has these values: later drafts are diffed against them.
        self.status.current = {**self.status.current, **fields}
        for key in fields:
            self.status.fields.pop(key, None)

    def annotate(self, key: str, value: str | None) -> None:
        """Set (or, with None, remove) an annotation with kopf's patch, applied when the handler
        returns or raises, together with the status."""
        self.patch.setdefault("metadata", {}).setdefault("annotations", {})[key] = value

    def remove_annotation(self, key: str) -> None:
        """Remove an annotation with kopf's patch (applied when the handler returns)."""
        self.annotate(key, None)

    def mark_failed(self, reason: str, message: str) -> None:
        """Draft a terminal failure that left nothing running: phase Failed, Ready=False.

        Kinds with more conditions (CloudRecording's `Recording`) extend it.
        """
        self.status.set(phase="Failed")
        self.condition("Ready", "False", reason, message)

    async def server_body(self) -> kopf.Body | None:
        """The resource as the API server holds it now (one GET): `self.body` itself when its
        `resourceVersion` is still current, else the server's copy (without `managedFields`);
        None when the resource is gone.

        kopf hands a handler the body of the last watch event it processed. That body lags behind
        the operator's own direct writes (the start-pending marker, a session id persisted before
        kopf's patch) whenever a patch of kopf's was refused, a watch stream was cut or the API
        server was unavailable. A decision that would start a new paid session, or let a finalizer
        go because no session is recorded, is made on this body instead
        (https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-get-and-list:
        a GET without `resourceVersion` is served from the most recent state).

        Raises:
            KubeApiError: the read failed.
        """
        current = await self.runtime.kube.get_object(self.path)
        if current is None:
            return None
        version = (current.get("metadata") or {}).get("resourceVersion")
        if version is not None and version == self.meta.get("resourceVersion"):
            return self.body
        current.get("metadata", {}).pop("managedFields", None)
        return kopf.Body(cast(kopf.RawBody, current))

    async def on_server_state(self) -> Self | None:
        """This invocation on the API server's copy (`server_body`): `self` when kopf's body is
        current, else a new context of the same kind on the server's copy (same patch, runtime and
        logger; nothing drafted yet); None when the resource is gone.

        Raises:
            KubeApiError: the read failed.
        """
        current = await self.server_body()
        if current is None:
            return None
        if current is self.body:
            return self
        return type(self)(current, self.patch, self.runtime, self.logger)

    def event(self, type_: str, reason: str, message: str) -> None:
        """Post a Kubernetes Event on the resource (never with secret values), from
        `recording-operator`; a repeat of the same type/reason/message counts up one Event
        (`events.EventRecorder`)."""
        self.runtime.events.record(self.body, type_, reason, message)


def report_failure(ctx: Context, reason: str, message: str) -> None:
    """Synced=False with the reason, and a Warning Event for this failure.

    Every occurrence is recorded: a retry of the same failure counts up the same Event
    (`count`, `lastTimestamp`), as kube-apiserver's clients do, instead of adding one.
    """
    ctx.event("Warning", reason, message)
    ctx.condition("Synced", "False", reason, message)


def retry_delay(ctx: Context, retry: int) -> float:
    """Seconds before retry number `retry`: `RECORDING_BACKOFF_BASE`·2^retry, capped, ±20 % jitter."""
    settings = ctx.runtime.settings
    return backoff_delay(retry, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s)


def fail_retryable(ctx: Context, reason: str, message: str, retry: int) -> kopf.TemporaryError:
    """Report a retryable failure and return the kopf error that retries it with backoff."""
    delay = retry_delay(ctx, retry)
    report_failure(ctx, reason, message)
    ctx.flush()
    return kopf.TemporaryError(f"{reason}: {message} (retrying in {delay:.0f}s)", delay=delay)


def validation_message(exc: ValidationError) -> str:
    """The first five pydantic errors as `spec.<path>: <message>`."""
    errors = exc.errors()[:5]
    return "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
