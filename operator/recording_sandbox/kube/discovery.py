"""API discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>[/<v>]``."""

from __future__ import annotations

from typing import Any

from recording_sandbox.kube.resources import Registry

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def core_versions(server_address: str) -> dict[str, Any]:
    """The ``/api`` document (``APIVersions``)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list(registry: Registry) -> dict[str, Any]:
    """The ``/apis`` document (``APIGroupList``) of every non-core group."""
    groups = [_group(name, versions) for name, versions in registry.groups().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    """The ``/apis/<group>`` document (``APIGroup``), or ``None`` for unknown groups."""
    versions = registry.groups().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(registry: Registry, group_name: str, version: str) -> dict[str, Any] | None:
    """The ``/api/v1`` or ``/apis/<g>/<v>`` document (``APIResourceList``), or ``None``."""
    types = registry.in_group_version(group_name, version)
    if not types and not (group_name == "" and version == "v1"):
        return None
    resources: list[dict[str, Any]] = []
    for resource_type in sorted(types, key=lambda rt: rt.plural):
        info = resource_type.info()
        entry: dict[str, Any] = {
            "name": resource_type.plural,
            "singularName": info.singular,
            "namespaced": bool(info.namespaced),
            "kind": info.kind,
            "verbs": sorted(info.verbs),
        }
        if info.shortnames:
            entry["shortNames"] = sorted(info.shortnames)
        if info.categories:
            entry["categories"] = sorted(info.categories)
        resources.append(entry)
        for subresource in sorted(info.subresources):
            resources.append(
                {
                    "name": f"{resource_type.plural}/{subresource}",
                    "singularName": "",
                    "namespaced": bool(info.namespaced),
                    "kind": info.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group_name}/{version}" if group_name else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
