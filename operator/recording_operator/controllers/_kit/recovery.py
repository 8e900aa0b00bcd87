"""Recovery without a spec change: "reconcile now" on request, and after a referenced Secret changed.

A terminal failure (`InvalidSpec`, `AuthFailed`: kopf's `PermanentError`) is not retried until the
spec changes. Two things retry it earlier, for CloudRecording, CloudTranscoder and LocalRecording:

- **`recording.mediaops.io/reconcile-requested-at`**: any new value of this annotation (by
  convention the time, `kubectl annotate --overwrite cloudrecording standup
  recording.mediaops.io/reconcile-requested-at="$(date -u +%FT%TZ)"`) makes the operator handle
  the resource as if it were new: its create handlers (the kind's reconcile) run again at once with
  a fresh retry count. When that is done the value is copied to
  `recording.mediaops.io/reconcile-handled-at`, so the request is handled exactly once — the same
  contract as Flux's `reconcile.fluxcd.io/requestedAt`
  (https://fluxcd.io/flux/components/source/gitrepositories/#triggering-a-reconcile).
  Mechanism: `RecoveryDiffBaseStorage` reports no last-handled configuration while a request is
  pending, which kopf treats as a newly created object
  (https://docs.kopf.dev/en/stable/configuration/#change-detection).
- **A Secret change**: a kopf index per kind maps `(namespace, Secret name)` to the resources whose
  spec references that Secret (every `*SecretRef` in the spec); a watch on Secrets looks the
  changed Secret up in the index — no LIST per event — and re-reconciles those of its users whose
  last failure was terminal, by releasing the failure and clearing their last-handled
  configuration (the same effect as the annotation). Resources failing with a retryable reason pick up the new Secret at their next
  retry (at most `RECORDING_BACKOFF_MAX` seconds) and are left alone.

The index holds names only: never a Secret value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import kopf

from recording_operator.api import GROUP, VERSION
from recording_operator.controllers._kit.conditions import get_condition, set_condition
from recording_operator.controllers._kit.errors import TERMINAL_REASONS
from recording_operator.controllers._kit.kube import KubeApiError, resource_version_of, retried_on_conflict
from recording_operator.controllers._kit.shard import SHARD_LABELS

log = logging.getLogger(__name__)

#: Set by users (any new value): reconcile the resource now.
REQUESTED_AT = f"{GROUP}/reconcile-requested-at"
#: Set by the operator: the last `REQUESTED_AT` value it handled.
HANDLED_AT = f"{GROUP}/reconcile-handled-at"
#: Set by users (any new value, by convention the time): restart the running work now — a new
#: recorder Pod for a LocalRecording (numbering continued), a new task for a CloudTranscoder.
RESTART_REQUESTED_AT = f"{GROUP}/restart-requested-at"
#: Set by the operator (CloudTranscoder): the last `RESTART_REQUESTED_AT` value it handled. A
#: LocalRecording keeps it on its recorder Pod instead (the Pod is the restart).
RESTART_HANDLED_AT = f"{GROUP}/restart-handled-at"
#: The kopf diff-base annotation key (under our prefix) this module clears on a Secret change.
DIFFBASE_KEY = "last-handled-configuration"

#: (plural, kind) of the kinds that reference Secrets and can fail terminally.
RECOVERABLE = (
    ("cloudrecordings", "CloudRecording"),
    ("cloudtranscoders", "CloudTranscoder"),
    ("localrecordings", "LocalRecording"),
)


def pending_request(annotations: Mapping[str, str] | None) -> str | None:
    """The `reconcile-requested-at` value not handled yet, or None."""
    annotations = annotations or {}
    requested = annotations.get(REQUESTED_AT)
    if requested is None or requested == annotations.get(HANDLED_AT):
        return None
    return requested


def pending_restart(annotations: Mapping[str, str] | None) -> str | None:
    """The `restart-requested-at` value not handled yet (per RESTART_HANDLED_AT), or None."""
    annotations = annotations or {}
    requested = annotations.get(RESTART_REQUESTED_AT)
    if not requested or requested == annotations.get(RESTART_HANDLED_AT):
        return None
    return requested


def _terminal(status: Mapping[str, Any] | None) -> bool:
    synced = get_condition((status or {}).get("conditions"), "Synced") or {}
    return synced.get("status") == "False" and synced.get("reason") in TERMINAL_REASONS


def release_terminal(status: Mapping[str, Any] | None, generation: int | None, why: str) -> dict[str, Any]:
    """The status patch that lifts a terminal failure: `Synced=Unknown reason=ReconcileRequested`
    and no `observedGeneration` (the current generation counts as not handled yet, so the kinds'
    "Failed at this generation: do nothing" rule no longer applies).

    Args:
        status: the resource's status. generation: its `metadata.generation`. why: the message.
    """
    conditions = set_condition(
        (status or {}).get("conditions"), "Synced", "Unknown", "ReconcileRequested", why, generation
    )
    return {"conditions": conditions, "observedGeneration": None}


class RecoveryDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff-base storage, plus the `reconcile-requested-at` contract.

    `fetch` returns nothing while a request is pending and no terminal failure blocks it (kopf then
    runs the create handlers); `store` (called by kopf once those handlers are done) records the
    handled value.
    """

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """The last handled essence, or None while a reconcile request is pending."""
        if pending_request(body.get("metadata", {}).get("annotations")) is not None and not _terminal(
            body.get("status")
        ):
            return None
        return super().fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Store the essence and mark a pending reconcile request as handled."""
        super().store(body=body, patch=patch, essence=essence)
        requested = pending_request(body.get("metadata", {}).get("annotations"))
        if requested is not None:
            patch.setdefault("metadata", {}).setdefault("annotations", {})[HANDLED_AT] = requested


def secret_names(spec: Any) -> Iterator[str]:
    """Names of the Secrets a spec references: the `name` of every `…SecretRef` object, at any depth.

    >>> sorted(set(secret_names({"credentialsSecretRef": {"name": "a"}, "x": [{"tokenSecretRef": {"name": "b"}}]})))
    ['a', 'b']
    """
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if key.endswith("SecretRef") and isinstance(value, Mapping) and value.get("name"):
                yield str(value["name"])
            else:
                yield from secret_names(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from secret_names(item)


def _users(plural: str) -> Any:
    # A coroutine: kopf runs a plain function in its thread pool, a hop per watch event of the kind.
    async def index(
        namespace: str | None, name: str, spec: kopf.Spec, **_: Any
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """`{(namespace, secret): (plural, name)}` for one resource."""
        return {(namespace or "", secret): (plural, name) for secret in set(secret_names(spec))}

    return index


def _requested(annotations: Mapping[str, str], **_: Any) -> bool:
    return pending_request(annotations) is not None


async def reconcile_requested(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, logger: Any, **_: Any
) -> None:
    """A new `reconcile-requested-at`: lift a terminal failure so the reconcile that follows
    (`RecoveryDiffBaseStorage`) is not blocked by it."""
    if _terminal(status) and not body.get("metadata", {}).get("deletionTimestamp"):
        requested = pending_request(body.get("metadata", {}).get("annotations"))
        logger.info(f"reconcile requested at {requested}: retrying the terminal failure")
        patch.setdefault("status", {}).update(
            release_terminal(
                status, body.get("metadata", {}).get("generation"), f"{REQUESTED_AT}: {requested}"
            )
        )


for _plural, _kind in RECOVERABLE:
    kopf.index(GROUP, VERSION, _plural, id=f"{_plural}_secret_users", labels=SHARD_LABELS)(_users(_plural))
    kopf.on.event(
        GROUP, VERSION, _plural, id=f"{_plural}_reconcile_requested", when=_requested, labels=SHARD_LABELS
    )(reconcile_requested)


def _users_of(namespace: str, name: str, indexes: Mapping[str, Any]) -> list[tuple[str, str]]:
    users: list[tuple[str, str]] = []
    for plural, _ in RECOVERABLE:
        store = indexes.get(f"{plural}_secret_users")
        if store is not None and (namespace, name) in store:
            users.extend(store[(namespace, name)])
    return users


def _is_used(namespace: str | None, name: str, **kwargs: Any) -> bool:
    """kopf `when` filter: the Secret is referenced by a resource (indexes come as kwargs)."""
    return bool(_users_of(namespace or "", name, kwargs))


@kopf.on.event("", "v1", "secrets", when=_is_used)
async def secret_changed(
    type: str | None, namespace: str | None, name: str, memo: kopf.Memo, logger: Any, **kwargs: Any
) -> None:
    """A referenced Secret was created or changed: re-reconcile its users that failed terminally."""
    if type not in ("ADDED", "MODIFIED"):
        return
    from recording_operator.controllers._kit.runtime import runtime_of

    kube = runtime_of(memo).kube
    keys = list(RecoveryDiffBaseStorage(prefix=GROUP, key=DIFFBASE_KEY).make_keys(DIFFBASE_KEY))
    for plural, user in _users_of(namespace or "", name, kwargs):
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{user}"
        try:
            # The index says who uses the Secret; whether it failed terminally is read fresh (the
            # index may not have seen the failure's status write yet).
            obj = await kube.get_object(path)
            if (
                obj is None
                or obj.get("metadata", {}).get("deletionTimestamp")
                or not _terminal(obj.get("status"))
            ):
                continue
            logger.info(f"Secret {name} changed: reconciling {plural} {namespace}/{user} again")

            async def release(current: dict[str, Any], path: str = path) -> bool:
                # The conditions list replaces the whole list: written only onto the version it was made from.
                status = release_terminal(
                    current.get("status"),
                    current.get("metadata", {}).get("generation"),
                    f"Secret {name} changed",
                )
                await kube.merge_patch(
                    path + "/status", {"status": status}, resource_version=resource_version_of(current)
                )
                return True

            released = await retried_on_conflict(
                kube,
                path,
                obj,
                release,
                still_applies=lambda current: _terminal(current.get("status")),
                otherwise=False,
            )
            if released:
                await kube.merge_patch(path, {"metadata": {"annotations": dict.fromkeys(keys)}})
        except KubeApiError as exc:  # deleted meanwhile, or the API is unavailable: nothing to retry
            logger.warning(f"could not reconcile {plural} {namespace}/{user} again: {exc}")
