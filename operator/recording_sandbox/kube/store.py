"""The object store: versioned objects, lifecycle (finalizers, owner cascade) and watch fan-out.

All operations are synchronous and run on the event loop thread, so they are atomic with
respect to each other. One global counter gives every change a new ``resourceVersion``. The
last ``watch_window`` changes are kept to resume watches; nothing else grows with traffic.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import json
import random
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

from recording_sandbox.kube import apply as field_management
from recording_sandbox.kube.admission import CRD_KEY, NAMESPACE_KEY, Admission, check_name
from recording_sandbox.kube.errors import (
    Cause,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
)
from recording_sandbox.kube.patching import STRATEGIC_MERGE_PATCH, apply_patch
from recording_sandbox.kube.requestoptions import current as current_options
from recording_sandbox.kube.resources import Registry, ResKey, ResourceType, resource_type_from_crd
from recording_sandbox.kube.selectors import FieldSelector, LabelSelector
from recording_sandbox.kube.strategic import custom_resource_refusal
from recording_sandbox.kube.watching import ADDED, DELETED, MODIFIED, Watcher, WatchEvent

ObjKey = tuple[str, str]  # (namespace or "", name)
Ref = tuple[ResKey, str, str]  # (resource key, namespace or "", name)

_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_iso() -> str:
    """The current UTC time as RFC 3339 with seconds precision (``2026-01-01T00:00:00Z``)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_in(seconds: float, since: str | None = None) -> str:
    """RFC 3339 (seconds precision, rounded up) of ``since`` (default: now) plus ``seconds``."""
    start = (
        datetime.datetime.now(datetime.UTC)
        if since is None
        else datetime.datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    )
    moment = start + datetime.timedelta(seconds=seconds)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


#: Kubernetes' default ``terminationGracePeriodSeconds``.
DEFAULT_POD_GRACE_S = 30
_PODS: ResKey = ("", "pods")


def _spec_part(resource_type: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    skipped = ("metadata", "status") if resource_type.status_subresource else ("metadata",)
    return {key: value for key, value in obj.items() if key not in skipped}


def _drop_empty_metadata(metadata: dict[str, Any]) -> None:
    """Leave out empty ``labels``/``annotations``/``finalizers``/``ownerReferences``, as ObjectMeta's
    ``omitempty`` JSON tags do (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/)."""
    for key in ("labels", "annotations", "finalizers", "ownerReferences"):
        if key in metadata and not metadata[key]:
            del metadata[key]


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {
        k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "generation")
    }
    return {**obj, "metadata": metadata}


class Store:
    """In-memory objects of every served resource, with watch fan-out.

    Objects are stored as immutable snapshots (never mutated after being stored); methods
    that return objects return those snapshots, which callers must not mutate. Failures
    raise :class:`~recording_sandbox.kube.errors.ApiError`.
    """

    def __init__(self, registry: Registry, *, watch_window: int = 10_000) -> None:
        self.registry = registry
        self.admission = Admission()
        self.resource_version = 0
        self._objects: dict[ResKey, dict[ObjKey, dict[str, Any]]] = {}
        self._by_uid: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = {}
        self._window: deque[WatchEvent] = deque(maxlen=max(watch_window, 1))
        self._window_floor = 0  # changes at or below this resourceVersion are forgotten.
        self._watchers: dict[ResKey, set[Watcher]] = {}

    # -- reading ---------------------------------------------------------------------------------

    def get(self, resource_type: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """Return the stored object; raise 404 when it does not exist."""
        obj = self._objects.get(resource_type.key, {}).get((namespace or "", name))
        if obj is None:
            raise not_found(resource_type.group, resource_type.plural, name)
        return obj

    def find(self, resource_type: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Return the stored object or ``None``."""
        return self._objects.get(resource_type.key, {}).get((namespace or "", name))

    def select(
        self,
        resource_type: ResourceType,
        namespace: str | None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str, str | None]:
        """List objects (in one namespace, or all when ``namespace`` is ``None``).

        Returns ``(items, resourceVersion, continue token or None)``; items are ordered by
        namespace and name. Raises 400 for a malformed continue token, 410 for an expired one.
        """
        bucket = self._objects.get(resource_type.key, {})
        start: ObjKey | None = None
        list_rv = self.resource_version
        if continue_token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                start = (str(decoded["start"][0]), str(decoded["start"][1]))
                list_rv = int(decoded["rv"])
            except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
                raise bad_request("continue key is not valid") from None
        keys = sorted(key for key in bucket if namespace is None or key[0] == namespace)
        items: list[dict[str, Any]] = []
        next_token: str | None = None
        for key in keys:
            if start is not None and key <= start:
                continue
            obj = bucket[key]
            if labels is not None and not labels.matches(obj):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            if limit is not None and len(items) >= limit:
                last = items[-1]["metadata"]
                payload = {"rv": list_rv, "start": [last.get("namespace", ""), last["name"]]}
                next_token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
                break
            items.append(obj)
        return items, str(list_rv), next_token

    def namespaces(self) -> Iterable[str]:
        """Names of existing namespaces."""
        return [name for (_, name) in self._objects.get(NAMESPACE_KEY, {})]

    # -- writing ---------------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        """Create an object from a request body; return the stored object.

        Raises 400 (not an object, namespace mismatch), 404 (missing namespace),
        409 (name taken) and 422 (invalid name or schema violations).
        """
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = obj["metadata"] = {}
        bucket = self._objects.setdefault(resource_type.key, {})
        if resource_type.namespaced:
            namespace = namespace or metadata.get("namespace") or "default"
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
            if (("", namespace)) not in self._objects.get(NAMESPACE_KEY, {}):
                raise not_found("", "namespaces", namespace)
        else:
            namespace = ""
            metadata.pop("namespace", None)
        name = metadata.get("name")
        if not name and metadata.get("generateName"):
            for _ in range(100):
                suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))
                name = f"{metadata['generateName']}{suffix}"
                if (namespace, name) not in bucket:
                    break
            metadata["name"] = name
        if not name:
            raise invalid(
                resource_type.kind,
                resource_type.group,
                "",
                [
                    Cause(
                        "metadata.name",
                        "Required value: name or generateName is required",
                        "FieldValueRequired",
                    )
                ],
            )
        check_name(resource_type, name)
        if (namespace, name) in bucket:
            raise already_exists(resource_type.group, resource_type.plural, name)
        for key in (*_SYSTEM_METADATA, "resourceVersion", "managedFields", "selfLink"):
            metadata.pop(key, None)
        _drop_empty_metadata(metadata)
        if resource_type.status_subresource and not resource_type.builtin:
            obj.pop("status", None)
        obj["apiVersion"] = resource_type.api_version()
        obj["kind"] = resource_type.kind
        now = now_iso()
        uid = metadata["uid"] = str(uuid.uuid4())  # known to admission (a Job's selector uses it)
        self.admission.admit(resource_type, obj, None, now)
        metadata = obj["metadata"]
        metadata["uid"] = uid
        metadata["creationTimestamp"] = now
        if resource_type.has_generation:
            metadata["generation"] = 1
        self._record_managers(resource_type, obj, None, None, now)
        self._store(resource_type, namespace, name, obj, None, ADDED)
        return obj

    def replace(
        self,
        resource_type: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None,
    ) -> dict[str, Any]:
        """Replace an object (PUT); return the stored object.

        Raises 400 (name mismatch), 404 (absent), 409 (stale resourceVersion), 422 (invalid).
        """
        current = self.get(resource_type, namespace, name)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        metadata = body.get("metadata") or {}
        if metadata.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
            )
        version = metadata.get("resourceVersion")
        if version:
            if str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(resource_type.group, resource_type.plural, name)
        elif not resource_type.builtin:
            raise invalid(
                resource_type.kind,
                resource_type.group,
                name,
                [Cause("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")],
            )
        return self._update(resource_type, current, body, subresource)

    def patch(
        self,
        resource_type: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        subresource: str | None,
    ) -> dict[str, Any]:
        """Patch an object with a merge/JSON/strategic patch; return the stored object.

        Raises 404 (absent), 409 (the patch sets a stale resourceVersion), 415 (apply patches),
        422 (a JSON-patch operation fails, e.g. a ``test``; or schema violations).
        """
        current = self.get(resource_type, namespace, name)
        if content_type == STRATEGIC_MERGE_PATCH and not resource_type.builtin:
            raise custom_resource_refusal()
        patched = apply_patch(content_type, current, body)
        version = (patched.get("metadata") or {}).get("resourceVersion")
        if version and str(version) != current["metadata"]["resourceVersion"]:
            raise conflict(resource_type.group, resource_type.plural, name)
        return self._update(resource_type, current, patched, subresource)

    def delete(
        self,
        resource_type: ResourceType,
        namespace: str | None,
        name: str,
        *,
        preconditions: dict[str, Any] | None = None,
        propagation: str | None = None,
        grace_period_s: int | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete an object; return ``(object, removed)``.

        With finalizers the object only gets ``deletionTimestamp`` (``removed`` is False);
        it disappears when its last finalizer is removed. Raises 404, and 409 on failed
        ``preconditions`` (``uid``, ``resourceVersion``).

        Pods are deleted gracefully as in Kubernetes
        (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination):
        ``grace_period_s`` (DeleteOptions ``gracePeriodSeconds``, default the Pod's
        ``terminationGracePeriodSeconds``, 30; 0 for a Pod already Succeeded/Failed) sets
        ``deletionGracePeriodSeconds`` and ``deletionTimestamp`` = now + grace, the moment the
        kubelet (the sandbox's Pod runner) kills what still runs. A delete of a Pod already
        terminating may only shorten its grace (``deletionTimestamp`` moves earlier); a longer one
        changes nothing. A Pod bound to a node (``spec.nodeName``) with a grace above 0 stays,
        terminating, until the kubelet (the Pod runner) confirms with a delete of grace 0; an
        unbound Pod, a finished one or a delete of grace 0 removes it at once (once it has no
        finalizers), as the API server's graceful-deletion strategy for Pods does.
        """
        current = self.get(resource_type, namespace, name)
        metadata = current["metadata"]
        for field in ("uid", "resourceVersion"):
            expected = (preconditions or {}).get(field)
            if expected and str(expected) != str(metadata.get(field)):
                why = f"Precondition failed: {field} in precondition: {expected}, {field} in object meta: {metadata.get(field)}"
                raise conflict(resource_type.group, resource_type.plural, name, why)
        if resource_type.key == _PODS:
            return self._delete_pod(resource_type, current, grace_period_s, orphan=propagation == "Orphan")
        return self._delete_object(resource_type, current, orphan=propagation == "Orphan")

    def _delete_pod(
        self,
        resource_type: ResourceType,
        current: dict[str, Any],
        grace_period_s: int | None,
        *,
        orphan: bool,
    ) -> tuple[dict[str, Any], bool]:
        """Graceful deletion of a Pod (see :meth:`delete`)."""
        metadata = current["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if grace_period_s is not None and grace_period_s < 0:
            grace_period_s = 1  # the API server turns a negative grace period into 1 s
        terminal = (current.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        spec_grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds")
        grace = 0 if terminal else grace_period_s
        if grace is None:
            grace = int(spec_grace) if spec_grace is not None else DEFAULT_POD_GRACE_S
        if metadata.get("deletionTimestamp"):
            old_grace = metadata.get("deletionGracePeriodSeconds")
            if grace_period_s is None or old_grace is None or grace >= int(old_grace):
                return current, False
            started = _iso_in(-int(old_grace), metadata["deletionTimestamp"])
            obj = {
                **current,
                "metadata": {
                    **metadata,
                    "deletionTimestamp": _iso_in(grace, started),
                    "deletionGracePeriodSeconds": grace,
                },
            }
            if grace == 0 and not metadata.get("finalizers"):
                self._remove(resource_type, namespace, name, obj, current)
                return obj, True
            self._store(resource_type, namespace, name, obj, current, MODIFIED)
            return obj, False
        if orphan:
            self._orphan_dependents(metadata["uid"])
        deleting = {**metadata, "deletionTimestamp": _iso_in(grace), "deletionGracePeriodSeconds": grace}
        if metadata.get("finalizers") or (_bound(current) and grace > 0):
            obj = {**current, "metadata": deleting}
            self._store(resource_type, namespace, name, obj, current, MODIFIED)
            return obj, False
        obj = {**current, "metadata": deleting}
        self._remove(resource_type, namespace, name, obj, current)
        return obj, True

    def delete_collection(
        self,
        resource_type: ResourceType,
        namespace: str | None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[dict[str, Any]]:
        """Delete every matching object; return their last states."""
        items, _, _ = self.select(resource_type, namespace, labels=labels, fields=fields)
        return [self._delete_object(resource_type, obj, orphan=False)[0] for obj in items]

    # -- lifecycle internals ---------------------------------------------------------------------

    def _update(
        self,
        resource_type: ResourceType,
        current: dict[str, Any],
        body: dict[str, Any],
        subresource: str | None,
    ) -> dict[str, Any]:
        old_meta = current["metadata"]
        name = old_meta["name"]
        if subresource == "status":
            obj = copy.deepcopy(current)
            if "status" in body:
                obj["status"] = copy.deepcopy(body["status"])
            else:
                obj.pop("status", None)
        else:
            obj = copy.deepcopy(body)
            if resource_type.status_subresource:
                if "status" in current:
                    obj["status"] = copy.deepcopy(current["status"])
                else:
                    obj.pop("status", None)
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = obj["metadata"] = {}
        for key in ("name", "namespace", *_SYSTEM_METADATA):
            if key in old_meta:
                metadata[key] = old_meta[key]
            else:
                metadata.pop(key, None)
        if "managedFields" in old_meta:
            metadata["managedFields"] = old_meta["managedFields"]
        else:
            metadata.pop("managedFields", None)
        metadata["resourceVersion"] = old_meta["resourceVersion"]
        _drop_empty_metadata(metadata)
        obj["apiVersion"] = resource_type.api_version()
        obj["kind"] = resource_type.kind
        if old_meta.get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise invalid(
                    resource_type.kind,
                    resource_type.group,
                    name,
                    [
                        Cause(
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is "
                            "being deleted, found new finalizers " + json.dumps(sorted(added)),
                            "FieldValueForbidden",
                        )
                    ],
                )
        now = now_iso()
        self.admission.admit(resource_type, obj, current, now)
        if _comparable(obj) == _comparable(current):
            return current
        self._record_managers(resource_type, obj, current, subresource, now)
        if resource_type.has_generation and _spec_part(resource_type, obj) != _spec_part(
            resource_type, current
        ):
            metadata["generation"] = int(old_meta.get("generation") or 0) + 1
        namespace = old_meta.get("namespace", "")
        if (
            metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and not _awaits_kubelet(resource_type, obj)
        ):
            metadata.pop("finalizers", None)
            self._remove(resource_type, namespace, name, obj, current)
        else:
            self._store(resource_type, namespace, name, obj, current, MODIFIED)
        return obj

    @staticmethod
    def _record_managers(
        resource_type: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        subresource: str | None,
        now: str,
    ) -> None:
        """Record the request's field manager in ``metadata.managedFields`` (see apply.py)."""
        options = current_options()
        field_management.record(
            obj,
            old,
            resource_type.schema(),
            manager=options.field_manager,
            operation="Update" if options.applied is None else "Apply",
            api_version=resource_type.api_version(),
            now=now,
            subresource=subresource,
            owned=options.applied,
            force=options.force,
        )

    def _delete_object(
        self, resource_type: ResourceType, current: dict[str, Any], *, orphan: bool
    ) -> tuple[dict[str, Any], bool]:
        metadata = current["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if orphan:
            self._orphan_dependents(metadata["uid"])
        if metadata.get("finalizers"):
            if metadata.get("deletionTimestamp"):
                return current, False
            obj = {
                **current,
                "metadata": {**metadata, "deletionTimestamp": now_iso(), "deletionGracePeriodSeconds": 0},
            }
            self._store(resource_type, namespace, name, obj, current, MODIFIED)
            return obj, False
        obj = {**current, "metadata": dict(metadata)}
        self._remove(resource_type, namespace, name, obj, current)
        return obj, True

    def _store(
        self,
        resource_type: ResourceType,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        event_type: str,
    ) -> None:
        if current_options().dry_run:
            # dryRun=All: answered as stored, but nothing is kept, sent or counted.
            if old is not None:
                obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            else:
                obj["metadata"].pop("resourceVersion", None)
            return
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._objects.setdefault(resource_type.key, {})[(namespace, name)] = obj
        self._index(resource_type.key, namespace, name, obj, old)
        self._emit(resource_type.key, namespace, event_type, obj, old)
        if resource_type.key == CRD_KEY:
            self.registry.add(resource_type_from_crd(obj))

    def _remove(
        self, resource_type: ResourceType, namespace: str, name: str, obj: dict[str, Any], old: dict[str, Any]
    ) -> None:
        if current_options().dry_run:
            return
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._objects.get(resource_type.key, {}).pop((namespace, name), None)
        self._index(resource_type.key, namespace, name, None, old)
        self._emit(resource_type.key, namespace, DELETED, obj, old)
        uid = obj["metadata"].get("uid", "")
        for ref in sorted(self._dependents.pop(uid, set())):
            self._collect_garbage(ref)
        if resource_type.key == CRD_KEY:
            self._drop_crd(obj)
        elif resource_type.key == NAMESPACE_KEY:
            self._drop_namespace(name)

    def _index(
        self, key: ResKey, namespace: str, name: str, obj: dict[str, Any] | None, old: dict[str, Any] | None
    ) -> None:
        ref: Ref = (key, namespace, name)
        if old is not None:
            for owner in old["metadata"].get("ownerReferences") or ():
                dependents = self._dependents.get(owner.get("uid", ""))
                if dependents is not None:
                    dependents.discard(ref)
                    if not dependents:
                        del self._dependents[owner.get("uid", "")]
            if obj is None:
                self._by_uid.pop(old["metadata"].get("uid", ""), None)
        if obj is not None:
            self._by_uid[obj["metadata"]["uid"]] = ref
            for owner in obj["metadata"].get("ownerReferences") or ():
                if isinstance(owner, dict) and owner.get("uid"):
                    self._dependents.setdefault(owner["uid"], set()).add(ref)

    def _collect_garbage(self, ref: Ref) -> None:
        key, namespace, name = ref
        resource_type = self.registry.get(key)
        obj = self._objects.get(key, {}).get((namespace, name))
        if resource_type is None or obj is None:
            return
        owners = obj["metadata"].get("ownerReferences") or ()
        if any(owner.get("uid") in self._by_uid for owner in owners):
            return  # some owner still exists: the object stays.
        self._delete_object(resource_type, obj, orphan=False)

    def _orphan_dependents(self, uid: str) -> None:
        for key, namespace, name in sorted(self._dependents.get(uid, set())):
            resource_type = self.registry.get(key)
            current = self._objects.get(key, {}).get((namespace, name))
            if resource_type is None or current is None:
                continue
            owners = [o for o in current["metadata"].get("ownerReferences") or () if o.get("uid") != uid]
            metadata = {**current["metadata"], "ownerReferences": owners}
            if not owners:
                del metadata["ownerReferences"]
            self._store(resource_type, namespace, name, {**current, "metadata": metadata}, current, MODIFIED)

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        resource_type = self.registry.remove(key)
        for (namespace, name), obj in list(self._objects.pop(key, {}).items()):
            self.resource_version += 1
            gone_obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.resource_version)}}
            self._index(key, namespace, name, None, obj)
            self._emit(key, namespace, DELETED, gone_obj, obj)
        if resource_type is not None:
            for watcher in list(self._watchers.pop(key, set())):
                watcher.close()

    def _drop_namespace(self, namespace: str) -> None:
        for key, bucket in list(self._objects.items()):
            resource_type = self.registry.get(key)
            if resource_type is None or not resource_type.namespaced:
                continue
            for (obj_namespace, _name), obj in list(bucket.items()):
                if obj_namespace == namespace and (obj_namespace, _name) in bucket:
                    self._delete_object(resource_type, obj, orphan=False)

    # -- watching --------------------------------------------------------------------------------

    def _emit(
        self, key: ResKey, namespace: str, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        event = WatchEvent(self.resource_version, key, namespace, event_type, obj, old)
        if len(self._window) == self._window.maxlen:
            self._window_floor = self._window[0].rv
        self._window.append(event)
        for watcher in self._watchers.get(key, ()):
            watcher.offer(event)

    def watch(
        self, resource_type: ResourceType, watcher: Watcher, since: str | None, *, send_initial: bool = False
    ) -> None:
        """Register a watcher and queue its initial events.

        With no ``since`` (or ``"0"``), the current objects come first as ``ADDED`` events
        (followed by a bookmark when ``send_initial`` asks for it). Otherwise the changes after
        ``since`` are replayed from the window. Raises 410 when ``since`` is older than the
        window, 400 when it is not a number.
        """
        if since in (None, "", "0"):
            items, rv, _ = self.select(
                resource_type, watcher.namespace, labels=watcher.labels, fields=watcher.fields
            )
            for obj in items:
                event = WatchEvent(
                    int(obj["metadata"]["resourceVersion"]),
                    resource_type.key,
                    obj["metadata"].get("namespace", ""),
                    ADDED,
                    obj,
                    None,
                )
                watcher.offer(event)
            if send_initial:
                watcher.bookmark(int(rv), initial_events_end=True)
        else:
            try:
                start = int(str(since))
            except ValueError:
                raise bad_request(f"invalid resource version: {since}") from None
            if start < self._window_floor:
                raise gone(f"too old resource version: {start} ({self._window_floor + 1})")
            replay: list[WatchEvent] = []
            for event in reversed(self._window):
                if event.rv <= start:
                    break
                if event.key == resource_type.key:
                    replay.append(event)
            for event in reversed(replay):
                watcher.offer(event)
        self._watchers.setdefault(resource_type.key, set()).add(watcher)

    def unwatch(self, watcher: Watcher) -> None:
        """Unregister a watcher (idempotent)."""
        watchers = self._watchers.get(watcher.key)
        if watchers is not None:
            watchers.discard(watcher)

    def bookmark_all(self) -> None:
        """Queue a ``BOOKMARK`` at the current resourceVersion for every watcher that asked for them."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                if watcher.bookmarks:
                    watcher.bookmark(self.resource_version)

    def close_watchers(self) -> None:
        """End every watch stream."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.close()
        self._watchers.clear()


__all__ = ["Store", "now_iso"]


def _awaits_kubelet(resource_type: ResourceType, obj: dict[str, Any]) -> bool:
    """A terminating Pod bound to a node whose kubelet has not yet confirmed the deletion (its
    ``deletionGracePeriodSeconds`` is still above 0): it stays after its last finalizer goes."""
    if resource_type.key != _PODS:
        return False
    grace = int((obj.get("metadata") or {}).get("deletionGracePeriodSeconds") or 0)
    return _bound(obj) and grace > 0


def _bound(pod: dict[str, Any]) -> bool:
    """A Pod the scheduler bound to a node (``spec.nodeName``): its deletion waits for the kubelet."""
    return bool((pod.get("spec") or {}).get("nodeName"))
