"""Kubernetes ``Status`` errors raised by the emulator and rendered as HTTP answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One field-level cause of a failure, as in ``Status.details.causes[]``."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def as_dict(self) -> dict[str, str]:
        """Return the cause in the API's JSON shape (``reason``, ``message``, ``field``)."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """A failure answered with a Kubernetes ``Status`` body and the HTTP ``code``."""

    code: int
    reason: str
    message: str
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    causes: list[Cause] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def to_status(self) -> dict[str, Any]:
        """Return the error as a ``v1/Status`` object."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [cause.as_dict() for cause in self.causes]
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


def qualified(group: str, plural: str) -> str:
    """Return ``plural.group`` (or ``plural`` for the core group), as in API messages."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    """404 for a missing object."""
    return ApiError(404, "NotFound", f'{qualified(group, plural)} "{name}" not found', name, group, plural)


def already_exists(group: str, plural: str, name: str) -> ApiError:
    """409 for a create whose name is taken."""
    return ApiError(
        409, "AlreadyExists", f'{qualified(group, plural)} "{name}" already exists', name, group, plural
    )


def conflict(group: str, plural: str, name: str, why: str | None = None) -> ApiError:
    """409 for a write against a stale resourceVersion (or a failed precondition)."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    message = f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": {why}'
    return ApiError(409, "Conflict", message, name, group, plural)


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 ``Invalid`` with one cause per violation, worded like the real API server."""
    texts = [f"{cause.field}: {cause.message}" if cause.field else cause.message for cause in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    message = f'{qualified_kind} "{name}" is invalid: {joined}'
    return ApiError(422, "Invalid", message, name, group, kind, list(causes))


def bad_request(message: str) -> ApiError:
    """400 for malformed requests (bad JSON, bad selectors, mismatched names)."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 for verbs a resource does not support."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """415 for request bodies the emulator cannot decode (e.g. server-side apply YAML)."""
    return ApiError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
    )


def gone(message: str) -> ApiError:
    """410 ``Expired`` for watches from a resourceVersion older than the watch window."""
    return ApiError(410, "Expired", message)


def endpoint_not_found(path: str) -> ApiError:
    """404 for paths that match no API endpoint."""
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
