"""Per-request write options: ``dryRun`` and ``fieldValidation``, as kube-apiserver honours them.

The HTTP front parses them from the query and sets them for the request's task (context
variables: each aiohttp request runs in its own task, so concurrent requests never see each
other's options); the store and admission read them.

- ``dryRun=All`` (https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run): the
  request goes through every admission step (defaulting, schema, CEL) and is answered as usual,
  but nothing is stored, no watch event is sent and no resourceVersion is consumed. Any other
  value is refused with 422 ``Invalid`` ("supported values: "All"").
- ``fieldValidation`` (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation):
  ``Strict`` fails the request with 400 ``BadRequest`` naming every unknown or duplicate field;
  ``Warn`` (the server's default) answers a ``Warning: 299 - "unknown field \\"<path>\\""`` header per
  field (https://kubernetes.io/docs/reference/using-api/api-concepts/#response-warning); ``Ignore``
  is silent. Unknown fields are those a custom resource's structural schema would prune.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from recording_sandbox.kube.errors import ApiError, Cause, bad_request, invalid

VALIDATION_DIRECTIVES = ("Ignore", "Warn", "Strict")


@dataclass
class WriteOptions:
    """The options of one write request and the warnings it collects."""

    dry_run: bool = False
    field_validation: str = "Warn"
    #: The manager of ``metadata.managedFields`` entries this write records.
    field_manager: str = "sandbox-controllers"
    #: For a server-side apply: the applied field set (see apply.py) and ``force``.
    applied: set[Any] | None = None
    force: bool = False
    duplicates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_CURRENT: contextvars.ContextVar[WriteOptions | None] = contextvars.ContextVar("write_options", default=None)


def current() -> WriteOptions:
    """The options of the request being served (defaults outside of a request)."""
    return _CURRENT.get() or WriteOptions()


def begin(query: Any, options_kind: str, user_agent: str = "") -> WriteOptions:
    """Parse ``dryRun`` and ``fieldValidation`` from a request's query and make them current.

    ``options_kind`` names the options object in errors (``CreateOptions``, ``PatchOptions``...).
    The field manager is ``fieldManager``, else the user agent up to its first ``/``
    (https://kubernetes.io/docs/reference/using-api/server-side-apply/#managers).
    Raises 422 for a ``dryRun`` other than ``All`` and 400 for an unknown ``fieldValidation``.
    """
    options = WriteOptions()
    for value in query.getall("dryRun", []):
        if value != "All":
            raise invalid(
                options_kind,
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "dryRun",
                        f'Unsupported value: "{value}": supported values: "All"',
                        "FieldValueNotSupported",
                    )
                ],
            )
        options.dry_run = True
    manager = query.get("fieldManager") or user_agent.split("/", 1)[0].strip()
    if manager:
        options.field_manager = manager
    directive = query.get("fieldValidation")
    if directive:
        if directive not in VALIDATION_DIRECTIVES:
            raise bad_request(
                f'invalid fieldValidation directive: "{directive}": supported values: "Ignore", "Warn", "Strict"'
            )
        options.field_validation = directive
    _CURRENT.set(options)
    return options


def report_unknown(kind: str, version: str, paths: list[str]) -> None:
    """Apply the current ``fieldValidation`` to unknown/duplicate fields of an object of ``kind``.

    ``paths`` are unknown field paths (``spec.videoInputs[0].region.true``). Raises 400 under
    ``Strict`` with kube-apiserver's ``strict decoding error`` message; queues warnings under ``Warn``.
    """
    options = current()
    problems = [f'unknown field "{path}"' for path in paths]
    problems += [f'duplicate field "{path}"' for path in options.duplicates]
    options.duplicates = []
    if not problems or options.field_validation == "Ignore":
        return
    if options.field_validation == "Strict":
        raise ApiError(
            400,
            "BadRequest",
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: '
            + ", ".join(problems),
        )
    options.warnings.extend(problems)


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Paths of the fields of ``value`` that pruning with ``schema`` would drop.

    Follows the pruning rules of https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
    custom-resource-definitions/#field-pruning: ``properties``, ``additionalProperties`` and
    ``x-kubernetes-preserve-unknown-fields`` (or ``x-kubernetes-int-or-string``) keep fields.
    """
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
            "x-kubernetes-int-or-string"
        )
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key in properties:
                found += unknown_fields(properties[key], item, child)
            elif isinstance(additional, dict):
                found += unknown_fields(additional, item, child)
            elif additional is True or preserve:
                continue
            else:
                found.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]")
    return found


def warning_headers() -> list[str]:
    """The ``Warning`` header values of the current request (RFC 7234 code 299, agent ``-``)."""
    return ['299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' for text in current().warnings]


__all__ = [
    "VALIDATION_DIRECTIVES",
    "WriteOptions",
    "begin",
    "current",
    "report_unknown",
    "unknown_fields",
    "warning_headers",
]
