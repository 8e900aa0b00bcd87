"""OpenAPI documents of the served resources: ``/openapi/v3`` (per group-version) and ``/openapi/v2``.

kube-apiserver publishes its API as OpenAPI v3, one document per group-version, listed at
``/openapi/v3`` as ``{"paths": {"apis/<g>/<v>": {"serverRelativeURL": ...}}}``, and as one
Swagger 2.0 document at ``/openapi/v2``
(https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-interface-definition,
"OpenAPI V3" and "OpenAPI V2"). kubectl reads them for ``explain``, for ``apply``/``edit``/
``create`` validation and to learn which query parameters (``fieldValidation``, ``dryRun``) a
resource's PATCH accepts (the ``x-kubernetes-group-version-kind`` of each operation and of each
schema, https://github.com/kubernetes/kubernetes/tree/master/api/openapi-spec#vendor-extensions).

Custom resources get their CRD's ``openAPIV3Schema`` (with ``apiVersion``, ``kind`` and a
``metadata`` reference to ``ObjectMeta`` as the server adds them,
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#publish-validation-schema-in-openapi).
Built-in kinds, whose full schemas the sandbox does not model, get an object schema that keeps
unknown fields (``x-kubernetes-preserve-unknown-fields``) with their group-version-kind.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from recording_sandbox.kube.discovery import VERSION_INFO
from recording_sandbox.kube.resources import Registry, ResourceType

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_METADATA_DOC = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

#: ObjectMeta as the API documents it (the fields clients set; all other fields are kept).
_OBJECT_META_SCHEMA: dict[str, Any] = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all "
    "objects users must create.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {
            "type": "string",
            "description": "An optional prefix used to generate a unique name.",
        },
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
            "description": "Map of string keys and values that can be used to organize and categorize "
            "(scope and select) objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
            "description": "Annotations is an unstructured key value map stored with a resource.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string", "default": ""},
            "description": "Must be empty before the object is deleted from the registry.",
        },
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "description": "List of objects depended by this object.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "CreationTimestamp is "
            "a timestamp representing the server time when this object was created.",
        },
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "DeletionTimestamp is "
            "RFC 3339 date and time at which this resource will be deleted.",
        },
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "managedFields": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "description": "ManagedFields maps workflow-id and version to the set of fields "
            "that are managed by that workflow.",
        },
        "selfLink": {"type": "string"},
    },
}

#: Query parameters of write operations, as kube-apiserver documents them.
_WRITE_PARAMETERS = [
    {
        "name": "dryRun",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
        "description": "When present, indicates that modifications should not be persisted.",
    },
    {
        "name": "fieldManager",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
        "description": "fieldManager is a name associated with the actor or entity that is making these changes.",
    },
    {
        "name": "fieldValidation",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
        "description": "fieldValidation instructs the server on how to handle objects in the request containing "
        "unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.",
    },
]
_FORCE = {
    "name": "force",
    "in": "query",
    "schema": {"type": "boolean", "uniqueItems": True},
    "description": 'Force is going to "force" Apply requests.',
}


def _reversed_group(group: str) -> str:
    return ".".join(reversed(group.split("."))) if group else ""


def definition_name(resource_type: ResourceType, version: str) -> str:
    """The schema name kube-apiserver uses: ``io.k8s.api.core.v1.Secret`` for built-ins (core
    group ``core``, ``batch``, ``coordination.k8s.io`` → ``coordination``), reversed group for
    custom resources (``io.mediaops.recording.v1alpha1.CloudRecording``)."""
    group = resource_type.group
    if resource_type.builtin and (group == "" or group.endswith(".k8s.io") or "." not in group):
        short = group.split(".", 1)[0] if group else "core"
        if group == "apiextensions.k8s.io":
            return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{resource_type.kind}"
        return f"io.k8s.api.{short}.{version}.{resource_type.kind}"
    return f"{_reversed_group(group)}.{version}.{resource_type.kind}"


def _gvk(resource_type: ResourceType, version: str) -> dict[str, str]:
    return {"group": resource_type.group, "version": version, "kind": resource_type.kind}


def _schema(resource_type: ResourceType, version: str, ref_prefix: str) -> dict[str, Any]:
    """The schema of one kind at one version, with kube-apiserver's additions."""
    crd_schema = None if resource_type.builtin else resource_type.schema(version)
    if crd_schema is not None:
        schema = copy.deepcopy(crd_schema)
    else:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["description"] = (
            f"{resource_type.kind} of the Kubernetes API ({resource_type.api_version(version)})."
        )
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    properties["kind"] = {"type": "string", "description": _KIND_DOC}
    reference = {"$ref": f"{ref_prefix}{OBJECT_META}"}
    if ref_prefix.startswith("#/components"):
        properties["metadata"] = {"allOf": [reference], "default": {}, "description": _METADATA_DOC}
    else:
        properties["metadata"] = {**reference, "description": _METADATA_DOC}
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource_type, version)]
    return schema


def _list_path(resource_type: ResourceType, version: str) -> str:
    base = "/api/v1" if not resource_type.group else f"/apis/{resource_type.group}/{version}"
    if resource_type.namespaced:
        return f"{base}/namespaces/{{namespace}}/{resource_type.plural}"
    return f"{base}/{resource_type.plural}"


def _operation(
    resource_type: ResourceType, version: str, action: str, ref: str, body: bool
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    if action in ("post", "put", "patch"):
        parameters = [dict(p) for p in _WRITE_PARAMETERS]
        if action == "patch":
            parameters.append(dict(_FORCE))
    elif action == "delete":
        parameters = [dict(_WRITE_PARAMETERS[0])]
    operation: dict[str, Any] = {
        "operationId": f"{action}{resource_type.kind}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource_type, version),
    }
    if body:
        media = ["application/json"]
        if action == "patch":
            # Custom resources take no strategic merge patch: kubectl reads this list to choose
            # between a strategic and a JSON merge patch for `apply`.
            media = [
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
            ]
            if resource_type.builtin:
                media.append("application/strategic-merge-patch+json")
        operation["requestBody"] = {
            "content": {m: {"schema": {"$ref": ref}} for m in media},
            "required": True,
        }
    return operation


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version (``None`` when nothing is served there)."""
    types = [rt for rt in registry.in_group_version(group, version)]
    if not types and not (group == "" and version == "v1"):
        return None
    schemas: dict[str, Any] = {OBJECT_META: copy.deepcopy(_OBJECT_META_SCHEMA)}
    paths: dict[str, Any] = {}
    for resource_type in types:
        name = definition_name(resource_type, version)
        schemas[name] = _schema(resource_type, version, "#/components/schemas/")
        ref = f"#/components/schemas/{name}"
        collection = _list_path(resource_type, version)
        verbs = set(resource_type.verbs)
        path_item: dict[str, Any] = {}
        if "create" in verbs:
            path_item["post"] = _operation(resource_type, version, "post", ref, True)
        if "list" in verbs:
            path_item["get"] = _operation(resource_type, version, "list", ref, False)
        if path_item:
            paths[collection] = path_item
        item: dict[str, Any] = {}
        if "get" in verbs:
            item["get"] = _operation(resource_type, version, "get", ref, False)
        if "update" in verbs:
            item["put"] = _operation(resource_type, version, "put", ref, True)
        if "patch" in verbs:
            item["patch"] = _operation(resource_type, version, "patch", ref, True)
        if "delete" in verbs:
            item["delete"] = _operation(resource_type, version, "delete", ref, False)
        if item:
            paths[collection + "/{name}"] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _hash(document: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:128].upper()


def discovery_document(registry: Registry) -> dict[str, Any]:
    """The ``/openapi/v3`` document: each group-version's relative URL with its content hash."""
    paths: dict[str, Any] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            document = group_version_document(registry, group, version)
            if document is None:
                continue
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(document)}"}
    return {"paths": paths}


def swagger_document(registry: Registry) -> dict[str, Any]:
    """The ``/openapi/v2`` Swagger 2.0 document of every served kind."""
    definitions: dict[str, Any] = {OBJECT_META: copy.deepcopy(_OBJECT_META_SCHEMA)}
    for resource_type in registry:
        for version in resource_type.versions:
            definitions[definition_name(resource_type, version)] = _schema(
                resource_type, version, "#/definitions/"
            )
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": {},
        "definitions": definitions,
    }


__all__ = ["definition_name", "discovery_document", "group_version_document", "swagger_document"]
