"""Per-kind mutation and validation of incoming objects, applied before they are stored.

Secrets turn ``stringData`` into base64 ``data``; namespaces get ``status.phase``; CRDs are
checked and get an ``Established`` status; batch/v1 Jobs are defaulted, get their generated
selector and validated like the real API server does (``job_admission``); custom resources are
pruned, defaulted and validated against their CRD schema (including CEL rules).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from recording_sandbox.kube.errors import Cause, invalid
from recording_sandbox.kube.requestoptions import report_unknown, unknown_fields
from recording_sandbox.kube.resources import ResourceType, resource_type_from_crd
from recording_sandbox.kube.validation import SchemaValidator

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
SECRET_KEY = ("", "secrets")
NAMESPACE_KEY = ("", "namespaces")
JOB_KEY = ("batch", "jobs")
#: Labels the API server puts on a Job's Pod template (``batch.kubernetes.io/`` and legacy names).
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(resource_type: ResourceType, name: str) -> None:
    """Raise a 422 ``Invalid`` when a name is not a valid RFC 1123 subdomain (label for namespaces)."""
    if resource_type.key == NAMESPACE_KEY:
        if len(name) <= 63 and _DNS_LABEL.match(name):
            return
        why = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
    else:
        if len(name) <= 253 and _DNS_SUBDOMAIN.match(name):
            return
        why = (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    raise invalid(
        resource_type.kind,
        resource_type.group,
        name,
        [Cause("metadata.name", f'Invalid value: "{name}": {why}')],
    )


def _crd_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    spec = crd.get("spec") or {}
    storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    conditions = [
        {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}
        for kind, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {"conditions": conditions, "acceptedNames": spec.get("names") or {}, "storedVersions": storage}


class Admission:
    """Mutates and validates objects of every kind on create, update and patch."""

    def __init__(self) -> None:
        self.validator = SchemaValidator()

    def admit(
        self, resource_type: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, now: str
    ) -> None:
        """Mutate ``obj`` in place for its kind and validate it.

        ``old`` is the stored object on updates (``None`` on creation). Raises
        :class:`~recording_sandbox.kube.errors.ApiError` 422 when the object is invalid.
        """
        key = resource_type.key
        name = (obj.get("metadata") or {}).get("name", "")
        if key == SECRET_KEY:
            self._secret(resource_type, obj, name)
        elif key == NAMESPACE_KEY:
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif key == JOB_KEY:
            job_admission(obj, old)
        elif key == CRD_KEY:
            resource_type_from_crd(obj)
            obj["status"] = _crd_status(obj, (old or {}).get("metadata", {}).get("creationTimestamp") or now)
        schema = None if resource_type.builtin else resource_type.schema()
        if schema is not None:
            body_schema = {**schema, "properties": dict(schema.get("properties") or {})}
            for system in ("apiVersion", "kind", "metadata"):
                body_schema["properties"].pop(system, None)
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
            report_unknown(
                resource_type.kind, resource_type.storage_version, unknown_fields(body_schema, body)
            )
            causes = self.validator.admit(schema, obj, old)
            if causes:
                raise invalid(resource_type.kind, resource_type.group, name, causes)
        else:
            report_unknown(resource_type.kind, resource_type.storage_version, [])

    @staticmethod
    def _secret(resource_type: ResourceType, obj: dict[str, Any], name: str) -> None:
        string_data = obj.pop("stringData", None) or {}
        data = obj.get("data") or {}
        if not isinstance(data, dict) or not isinstance(string_data, dict):
            raise invalid(
                resource_type.kind, "", name, [Cause("data", "Invalid value: must be a map of strings")]
            )
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        for key, value in data.items():
            try:
                base64.b64decode(str(value), validate=True)
            except ValueError:
                raise invalid(
                    resource_type.kind,
                    "",
                    name,
                    [Cause(f"data[{key}]", "Invalid value: illegal base64 data")],
                ) from None
        if data:
            obj["data"] = data
        obj.setdefault("type", "Opaque")


def job_admission(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Default, complete and validate a batch/v1 Job in place, as the API server does.

    On create: ``status`` is dropped; ``completions``/``parallelism`` 1, ``backoffLimit`` 6,
    ``completionMode`` NonIndexed, ``suspend`` false; unless ``manualSelector``, the selector is
    generated from the uid (``batch.kubernetes.io/controller-uid``) and the template gets the
    controller-uid and job-name labels (both spellings); a Job without labels gets the template's.
    Always: the template's ``restartPolicy`` must be Never or OnFailure and it needs a container;
    on update, ``selector``, ``template`` and ``completionMode`` are immutable.

    Raises:
        ApiError: 422 ``Invalid`` naming the offending fields.
    """
    metadata = obj["metadata"]
    name = metadata.get("name", "")
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise invalid("Job", "batch", name, [Cause("spec", "Invalid value: must be an object")])
    template = spec.setdefault("template", {})
    if old is None:
        obj.pop("status", None)
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = spec["parallelism"] = 1
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if not spec.get("manualSelector"):
            uid = metadata.get("uid", "")
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            for label in JOB_UID_LABELS:
                labels[label] = uid
            for label in JOB_NAME_LABELS:
                labels[label] = name
            spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: uid}}
        if not metadata.get("labels"):
            metadata["labels"] = dict((template.get("metadata") or {}).get("labels") or {})
    causes: list[Cause] = []
    pod_spec = template.get("spec") or {}
    policy = pod_spec.get("restartPolicy")
    if policy not in ("Never", "OnFailure"):
        causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{policy or ""}": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        )
    if not pod_spec.get("containers"):
        causes.append(Cause("spec.template.spec.containers", "Required value", "FieldValueRequired"))
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("selector", "template", "completionMode"):
            if spec.get(field) != old_spec.get(field):
                causes.append(
                    Cause(f"spec.{field}", "Invalid value: field is immutable", "FieldValueInvalid")
                )
    if causes:
        raise invalid("Job", "batch", name, causes)


__all__ = ["CRD_KEY", "JOB_KEY", "NAMESPACE_KEY", "SECRET_KEY", "Admission", "check_name", "job_admission"]
