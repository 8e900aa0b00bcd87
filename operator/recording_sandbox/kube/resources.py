"""Resource types served by the emulator: built-ins (from kmock's discovery data) and CRDs.

A :class:`ResourceType` is keyed by ``(group, plural)``; all served versions of a CRD share one
storage (no conversion: only ``apiVersion`` differs). Built-ins take their discovery facts
(kind, shortNames, verbs, categories, subresources) from the discovery documents bundled with
kmock and are identified with :class:`kmock.resource`.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kmock
from kmock._internal import loading

from recording_sandbox.kube.errors import Cause, invalid

ResKey = tuple[str, str]
"""``(group, plural)``: the storage identity of a resource."""

# Built-in resources the emulator serves, as (groupVersion, plural).
BUILTINS: tuple[tuple[str, str], ...] = (
    ("v1", "namespaces"),
    ("v1", "secrets"),
    ("v1", "configmaps"),
    ("v1", "events"),
    ("v1", "pods"),
    ("v1", "services"),
    ("v1", "persistentvolumeclaims"),
    ("storage.k8s.io/v1", "storageclasses"),
    ("v1", "serviceaccounts"),
    ("batch/v1", "jobs"),
    ("events.k8s.io/v1", "events"),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
    ("coordination.k8s.io/v1", "leases"),
    ("authorization.k8s.io/v1", "selfsubjectaccessreviews"),
    ("authentication.k8s.io/v1", "selfsubjectreviews"),
)

# Built-ins whose objects carry metadata.generation (bumped on spec changes).
GENERATION_BUILTINS: frozenset[ResKey] = frozenset({("", "pods"), ("", "services"), ("batch", "jobs")})

_PRESERVE_ALL: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@dataclass(eq=False)
class ResourceType:
    """Everything the emulator knows about one resource (served versions, names, schema)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    status_subresource: bool = False
    has_generation: bool = False
    builtin: bool = True
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crd: dict[str, Any] | None = None

    @property
    def key(self) -> ResKey:
        """The storage key ``(group, plural)``."""
        return (self.group, self.plural)

    @property
    def storage_version(self) -> str:
        """The version objects are stored (and reported by direct access) in."""
        return self.versions[0]

    @property
    def list_kind(self) -> str:
        """The ``kind`` of list bodies (``<Kind>List``)."""
        return f"{self.kind}List"

    def api_version(self, version: str | None = None) -> str:
        """Return ``group/version`` (or just ``version`` for the core group)."""
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version

    def reference(self, version: str | None = None) -> kmock.resource:
        """Return the kmock resource reference of this type at a version."""
        return kmock.resource(self.group, version or self.storage_version, self.plural)

    def info(self) -> kmock.ResourceInfo:
        """Return the discovery facts in kmock's :class:`kmock.ResourceInfo` shape."""
        return kmock.ResourceInfo(
            namespaced=self.namespaced,
            kind=self.kind,
            singular=self.singular,
            verbs=set(self.verbs),
            shortnames=set(self.short_names),
            categories=set(self.categories),
            subresources={"status"} if self.status_subresource else set(),
        )

    def schema(self, version: str | None = None) -> dict[str, Any] | None:
        """The ``openAPIV3Schema`` of a version (``None`` for built-ins)."""
        return self.schemas.get(version or self.storage_version)

    def columns(self, version: str | None = None) -> list[dict[str, Any]]:
        """The ``additionalPrinterColumns`` of a version (empty for built-ins)."""
        return self.printer_columns.get(version or self.storage_version, [])


def _load_builtins() -> list[ResourceType]:
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    documents = json.loads(gzip.decompress(data))
    wanted = set(BUILTINS)
    result: list[ResourceType] = []
    for document in documents:
        group_version = document["groupVersion"]
        for ref, info in loading.parse_group_version(document).items():
            if (group_version, ref.plural) not in wanted:
                continue
            assert ref.group is not None and ref.version is not None and ref.plural is not None
            result.append(
                ResourceType(
                    group=ref.group,
                    versions=(ref.version,),
                    plural=ref.plural,
                    kind=info.kind or "",
                    singular=info.singular or ref.plural,
                    namespaced=bool(info.namespaced),
                    short_names=tuple(sorted(info.shortnames)),
                    categories=tuple(sorted(info.categories)),
                    verbs=tuple(sorted(info.verbs)),
                    status_subresource="status" in info.subresources,
                    has_generation=(ref.group, ref.plural) in GENERATION_BUILTINS,
                )
            )
    for plural, kind, namespaced in (
        ("clusterkopfpeerings", "ClusterKopfPeering", False),
        ("kopfpeerings", "KopfPeering", True),
    ):
        result.append(
            ResourceType(
                group="kopf.dev",
                versions=("v1",),
                plural=plural,
                kind=kind,
                singular=kind.lower(),
                namespaced=namespaced,
                builtin=False,
                has_generation=True,
                schemas={"v1": _PRESERVE_ALL},
            )
        )
    return result


def resource_type_from_crd(crd: dict[str, Any]) -> ResourceType:
    """Build a resource type from a ``CustomResourceDefinition`` body.

    Raises :class:`~recording_sandbox.kube.errors.ApiError` (422) when the CRD lacks
    the group, names or versions, or its name is not ``<plural>.<group>``.
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = (crd.get("metadata") or {}).get("name", "")
    causes: list[Cause] = []
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    if not group:
        causes.append(Cause("spec.group", "Required value", "FieldValueRequired"))
    if not plural:
        causes.append(Cause("spec.names.plural", "Required value", "FieldValueRequired"))
    if not kind:
        causes.append(Cause("spec.names.kind", "Required value", "FieldValueRequired"))
    if plural and group and name != f"{plural}.{group}":
        causes.append(
            Cause("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
        )
    served = [v for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
    if not served:
        causes.append(
            Cause("spec.versions", "Invalid value: null: must have exactly one version marked as storage")
        )
    if causes:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)
    served.sort(key=lambda v: not v.get("storage", False))
    has_status = any("status" in (v.get("subresources") or {}) for v in served)
    return ResourceType(
        group=group,
        versions=tuple(v["name"] for v in served),
        plural=plural,
        kind=kind,
        singular=names.get("singular") or kind.lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource=has_status,
        has_generation=True,
        builtin=False,
        schemas={
            v["name"]: ((v.get("schema") or {}).get("openAPIV3Schema") or _PRESERVE_ALL) for v in served
        },
        printer_columns={v["name"]: list(v.get("additionalPrinterColumns") or []) for v in served},
        crd=crd,
    )


class Registry:
    """The set of served resource types, looked up in O(1) by ``(group, version, plural)``."""

    def __init__(self) -> None:
        self._types: dict[ResKey, ResourceType] = {}
        for resource_type in _load_builtins():
            self.add(resource_type)

    def add(self, resource_type: ResourceType) -> None:
        """Serve a resource type (replacing one with the same group and plural)."""
        self._types[resource_type.key] = resource_type

    def remove(self, key: ResKey) -> ResourceType | None:
        """Stop serving a resource type; return it, or ``None`` if it was not served."""
        return self._types.pop(key, None)

    def get(self, key: ResKey) -> ResourceType | None:
        """Return the resource type stored under ``(group, plural)``, any version."""
        return self._types.get(key)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the type serving ``group/version/plural``, or ``None``."""
        resource_type = self._types.get((group, plural))
        if resource_type is None or version not in resource_type.versions:
            return None
        return resource_type

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def groups(self) -> dict[str, list[str]]:
        """Return ``{group: [versions, preferred first]}`` in registration order (core first)."""
        result: dict[str, list[str]] = {"": ["v1"]}
        for resource_type in self._types.values():
            versions = result.setdefault(resource_type.group, [])
            for version in resource_type.versions:
                if version not in versions:
                    versions.append(version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Return the types served at ``group/version``."""
        return [rt for rt in self._types.values() if rt.group == group and version in rt.versions]
