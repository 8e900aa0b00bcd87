"""Request bodies in the Kubernetes protobuf encoding, decoded to the objects' JSON form.

kubectl's typed clients (``create secret|configmap|namespace|serviceaccount|service|job``,
``auth can-i``, ``auth whoami``) send ``Content-Type: application/vnd.kubernetes.protobuf``.
The body is the envelope described in
https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding
("Protobuf encoding"): the 4 magic bytes ``k8s\\x00`` followed by a ``runtime.Unknown`` message
(``typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4``) whose ``raw``
is the object's own message.

The decoder is a generic protobuf wire-format reader
(https://protobuf.dev/programming-guides/encoding/) driven by :data:`SCHEMA`: message name →
field number → ``(json name, type, repeated)``. Field numbers are those of the published
``k8s.io/api`` and ``k8s.io/apimachinery`` ``generated.proto`` files (packages
``k8s.io.api.core.v1``, ``batch.v1``, ``coordination.v1``, ``events.v1``, ``authorization.v1``,
``authentication.v1``, ``apimachinery.pkg.apis.meta.v1``, ``apimachinery.pkg.api.resource``,
``apimachinery.pkg.util.intstr``, ``apimachinery.pkg.runtime``). The JSON mapping follows the
Go types of k8s.io/api: ``bytes`` maps are base64 strings (Secret ``data``), ``Time`` is RFC 3339
in seconds, ``MicroTime`` in microseconds, ``Quantity`` and ``IntOrString`` are scalars, and
empty scalars are left out as the Go types' ``omitempty`` JSON tags do.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
from typing import Any

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Types whose JSON form is not an object: decoded by dedicated functions.
_TIME, _MICROTIME, _QUANTITY, _INTSTR, _FIELDSV1, _RAWEXT = (
    "Time",
    "MicroTime",
    "Quantity",
    "IntOrString",
    "FieldsV1",
    "RawExtension",
)
#: The ``status`` of a request body: written by the server alone (create and update reset it, see
#: https://kubernetes.io/docs/reference/using-api/api-concepts/#status-subresource), so not decoded.
_STATUS = "status"
_SCALARS = frozenset({"string", "bytes", "int32", "int64", "bool", "double"})

F = tuple[str, str, bool]


def _f(name: str, kind: str = "string", repeated: bool = False) -> F:
    return (name, kind, repeated)


#: Message schemas: ``{message: {field number: (json name, type, repeated)}}``. A type is a scalar
#: (``string``, ``bytes``, ``int32``, ``int64``, ``bool``, ``double``), a message name, or
#: ``map:<value type>`` (string keys).
SCHEMA: dict[str, dict[int, F]] = {
    # k8s.io/apimachinery/pkg/runtime: TypeMeta of the envelope (runtime.Unknown, read by decode_envelope).
    "TypeMeta": {1: _f("apiVersion"), 2: _f("kind")},
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: _f("name"),
        2: _f("generateName"),
        3: _f("namespace"),
        4: _f("selfLink"),
        5: _f("uid"),
        6: _f("resourceVersion"),
        7: _f("generation", "int64"),
        8: _f("creationTimestamp", _TIME),
        9: _f("deletionTimestamp", _TIME),
        10: _f("deletionGracePeriodSeconds", "int64"),
        11: _f("labels", "map:string"),
        12: _f("annotations", "map:string"),
        13: _f("ownerReferences", "OwnerReference", True),
        14: _f("finalizers", "string", True),
        17: _f("managedFields", "ManagedFieldsEntry", True),
    },
    "OwnerReference": {
        1: _f("kind"),
        3: _f("name"),
        4: _f("uid"),
        5: _f("apiVersion"),
        6: _f("controller", "bool"),
        7: _f("blockOwnerDeletion", "bool"),
    },
    "ManagedFieldsEntry": {
        1: _f("manager"),
        2: _f("operation"),
        3: _f("apiVersion"),
        4: _f("time", _TIME),
        6: _f("fieldsType"),
        7: _f("fieldsV1", _FIELDSV1),
        8: _f("subresource"),
    },
    "LabelSelector": {
        1: _f("matchLabels", "map:string"),
        2: _f("matchExpressions", "LabelSelectorRequirement", True),
    },
    "LabelSelectorRequirement": {1: _f("key"), 2: _f("operator"), 3: _f("values", "string", True)},
    # k8s.io/api/core/v1
    "Secret": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("data", "map:bytes"),
        3: _f("type"),
        4: _f("stringData", "map:string"),
        5: _f("immutable", "bool"),
    },
    "ConfigMap": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("data", "map:string"),
        3: _f("binaryData", "map:bytes"),
        4: _f("immutable", "bool"),
    },
    "Namespace": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "NamespaceSpec"),
        3: _f("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: _f("finalizers", "string", True)},
    "NamespaceStatus": {1: _f("phase")},
    "ServiceAccount": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("secrets", "ObjectReference", True),
        3: _f("imagePullSecrets", "LocalObjectReference", True),
        4: _f("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {
        1: _f("kind"),
        2: _f("namespace"),
        3: _f("name"),
        4: _f("uid"),
        5: _f("apiVersion"),
        6: _f("resourceVersion"),
        7: _f("fieldPath"),
    },
    "LocalObjectReference": {1: _f("name")},
    "Service": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ServiceSpec"), 3: _f("status", _STATUS)},
    "ServiceSpec": {
        1: _f("ports", "ServicePort", True),
        2: _f("selector", "map:string"),
        3: _f("clusterIP"),
        4: _f("type"),
        5: _f("externalIPs", "string", True),
        7: _f("sessionAffinity"),
        8: _f("loadBalancerIP"),
        9: _f("loadBalancerSourceRanges", "string", True),
        10: _f("externalName"),
        11: _f("externalTrafficPolicy"),
        12: _f("healthCheckNodePort", "int32"),
        13: _f("publishNotReadyAddresses", "bool"),
        17: _f("ipFamilyPolicy"),
        18: _f("clusterIPs", "string", True),
        19: _f("ipFamilies", "string", True),
        20: _f("allocateLoadBalancerNodePorts", "bool"),
        21: _f("loadBalancerClass"),
        22: _f("internalTrafficPolicy"),
        23: _f("trafficDistribution"),
    },
    "ServicePort": {
        1: _f("name"),
        2: _f("protocol"),
        3: _f("port", "int32"),
        4: _f("targetPort", _INTSTR),
        5: _f("nodePort", "int32"),
        6: _f("appProtocol"),
    },
    "Pod": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec"), 3: _f("status", _STATUS)},
    "PodTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec")},
    "PodSpec": {
        1: _f("volumes", "Volume", True),
        2: _f("containers", "Container", True),
        3: _f("restartPolicy"),
        4: _f("terminationGracePeriodSeconds", "int64"),
        5: _f("activeDeadlineSeconds", "int64"),
        6: _f("dnsPolicy"),
        7: _f("nodeSelector", "map:string"),
        8: _f("serviceAccountName"),
        9: _f("serviceAccount"),
        10: _f("nodeName"),
        11: _f("hostNetwork", "bool"),
        12: _f("hostPID", "bool"),
        13: _f("hostIPC", "bool"),
        14: _f("securityContext", "PodSecurityContext"),
        15: _f("imagePullSecrets", "LocalObjectReference", True),
        16: _f("hostname"),
        17: _f("subdomain"),
        19: _f("schedulerName"),
        20: _f("initContainers", "Container", True),
        21: _f("automountServiceAccountToken", "bool"),
        24: _f("priorityClassName"),
        25: _f("priority", "int32"),
        27: _f("shareProcessNamespace", "bool"),
        29: _f("runtimeClassName"),
        30: _f("enableServiceLinks", "bool"),
        31: _f("preemptionPolicy"),
        35: _f("setHostnameAsFQDN", "bool"),
        37: _f("hostUsers", "bool"),
    },
    "Container": {
        1: _f("name"),
        2: _f("image"),
        3: _f("command", "string", True),
        4: _f("args", "string", True),
        5: _f("workingDir"),
        6: _f("ports", "ContainerPort", True),
        7: _f("env", "EnvVar", True),
        8: _f("resources", "ResourceRequirements"),
        9: _f("volumeMounts", "VolumeMount", True),
        13: _f("terminationMessagePath"),
        14: _f("imagePullPolicy"),
        15: _f("securityContext", "SecurityContext"),
        16: _f("stdin", "bool"),
        17: _f("stdinOnce", "bool"),
        18: _f("tty", "bool"),
        20: _f("terminationMessagePolicy"),
        24: _f("restartPolicy"),
    },
    "ContainerPort": {
        1: _f("name"),
        2: _f("hostPort", "int32"),
        3: _f("containerPort", "int32"),
        4: _f("protocol"),
        5: _f("hostIP"),
    },
    "EnvVar": {1: _f("name"), 2: _f("value"), 3: _f("valueFrom", "EnvVarSource")},
    "EnvVarSource": {
        1: _f("fieldRef", "ObjectFieldSelector"),
        3: _f("configMapKeyRef", "ConfigMapKeySelector"),
        4: _f("secretKeyRef", "SecretKeySelector"),
    },
    "ObjectFieldSelector": {1: _f("apiVersion"), 2: _f("fieldPath")},
    "ConfigMapKeySelector": {
        1: _f("localObjectReference", "LocalObjectReference"),
        2: _f("key"),
        3: _f("optional", "bool"),
    },
    "SecretKeySelector": {
        1: _f("localObjectReference", "LocalObjectReference"),
        2: _f("key"),
        3: _f("optional", "bool"),
    },
    "ResourceRequirements": {1: _f("limits", "map:" + _QUANTITY), 2: _f("requests", "map:" + _QUANTITY)},
    "VolumeMount": {
        1: _f("name"),
        2: _f("readOnly", "bool"),
        3: _f("mountPath"),
        4: _f("subPath"),
        5: _f("mountPropagation"),
        6: _f("subPathExpr"),
    },
    "Volume": {1: _f("name"), 2: _f("volumeSource", "VolumeSource")},
    "VolumeSource": {
        2: _f("emptyDir", "EmptyDirVolumeSource"),
        6: _f("secret", "SecretVolumeSource"),
        10: _f("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
        19: _f("configMap", "ConfigMapVolumeSource"),
    },
    "EmptyDirVolumeSource": {1: _f("medium"), 2: _f("sizeLimit", _QUANTITY)},
    "SecretVolumeSource": {1: _f("secretName"), 3: _f("defaultMode", "int32"), 4: _f("optional", "bool")},
    "ConfigMapVolumeSource": {
        1: _f("localObjectReference", "LocalObjectReference"),
        3: _f("defaultMode", "int32"),
        4: _f("optional", "bool"),
    },
    "PersistentVolumeClaimVolumeSource": {1: _f("claimName"), 2: _f("readOnly", "bool")},
    "PodSecurityContext": {
        2: _f("runAsUser", "int64"),
        3: _f("runAsNonRoot", "bool"),
        4: _f("supplementalGroups", "int64", True),
        5: _f("fsGroup", "int64"),
        6: _f("runAsGroup", "int64"),
        9: _f("fsGroupChangePolicy"),
    },
    "SecurityContext": {
        1: _f("capabilities", "Capabilities"),
        2: _f("privileged", "bool"),
        4: _f("runAsUser", "int64"),
        5: _f("runAsNonRoot", "bool"),
        6: _f("readOnlyRootFilesystem", "bool"),
        7: _f("allowPrivilegeEscalation", "bool"),
        8: _f("runAsGroup", "int64"),
    },
    "Capabilities": {1: _f("add", "string", True), 2: _f("drop", "string", True)},
    "Event": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("involvedObject", "ObjectReference"),
        3: _f("reason"),
        4: _f("message"),
        5: _f("source", "EventSource"),
        6: _f("firstTimestamp", _TIME),
        7: _f("lastTimestamp", _TIME),
        8: _f("count", "int32"),
        9: _f("type"),
        10: _f("eventTime", _MICROTIME),
        12: _f("action"),
        13: _f("related", "ObjectReference"),
        14: _f("reportingComponent"),
        15: _f("reportingInstance"),
    },
    "EventSource": {1: _f("component"), 2: _f("host")},
    # k8s.io/api/events/v1
    "events.Event": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("eventTime", _MICROTIME),
        4: _f("reportingController"),
        5: _f("reportingInstance"),
        6: _f("action"),
        7: _f("reason"),
        8: _f("regarding", "ObjectReference"),
        9: _f("related", "ObjectReference"),
        10: _f("note"),
        11: _f("type"),
        15: _f("deprecatedCount", "int32"),
    },
    # k8s.io/api/batch/v1
    "Job": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec"), 3: _f("status", _STATUS)},
    "JobSpec": {
        1: _f("parallelism", "int32"),
        2: _f("completions", "int32"),
        3: _f("activeDeadlineSeconds", "int64"),
        4: _f("selector", "LabelSelector"),
        5: _f("manualSelector", "bool"),
        6: _f("template", "PodTemplateSpec"),
        7: _f("backoffLimit", "int32"),
        8: _f("ttlSecondsAfterFinished", "int32"),
        9: _f("completionMode"),
        10: _f("suspend", "bool"),
    },
    # k8s.io/api/coordination/v1
    "Lease": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "LeaseSpec")},
    "LeaseSpec": {
        1: _f("holderIdentity"),
        2: _f("leaseDurationSeconds", "int32"),
        3: _f("acquireTime", _MICROTIME),
        4: _f("renewTime", _MICROTIME),
        5: _f("leaseTransitions", "int32"),
    },
    # k8s.io/api/authorization/v1
    "SelfSubjectAccessReview": {
        1: _f("metadata", "ObjectMeta"),
        2: _f("spec", "SelfSubjectAccessReviewSpec"),
        3: _f("status", _STATUS),
    },
    "SelfSubjectAccessReviewSpec": {
        1: _f("resourceAttributes", "ResourceAttributes"),
        2: _f("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: _f("namespace"),
        2: _f("verb"),
        3: _f("group"),
        4: _f("version"),
        5: _f("resource"),
        6: _f("subresource"),
        7: _f("name"),
    },
    "NonResourceAttributes": {1: _f("path"), 2: _f("verb")},
    # k8s.io/api/authentication/v1
    "SelfSubjectReview": {1: _f("metadata", "ObjectMeta"), 2: _f("status", _STATUS)},
}

#: Messages embedded in their parent's JSON (Go struct embedding: ``LocalObjectReference`` in key
#: selectors, ``VolumeSource`` in ``Volume``): their fields are inlined.
_INLINED = frozenset({"localObjectReference", "volumeSource"})

#: Top-level message of each ``(group, kind)`` sent in the envelope.
KIND_MESSAGES: dict[tuple[str, str], str] = {
    ("", "Secret"): "Secret",
    ("", "ConfigMap"): "ConfigMap",
    ("", "Namespace"): "Namespace",
    ("", "ServiceAccount"): "ServiceAccount",
    ("", "Service"): "Service",
    ("", "Pod"): "Pod",
    ("", "Event"): "Event",
    ("batch", "Job"): "Job",
    ("events.k8s.io", "Event"): "events.Event",
    ("coordination.k8s.io", "Lease"): "Lease",
    ("authorization.k8s.io", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authentication.k8s.io", "SelfSubjectReview"): "SelfSubjectReview",
}


class DecodeError(ValueError):
    """The body is not a well-formed protobuf envelope of a kind the sandbox serves."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("unexpected EOF")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("integer overflow")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Split a message into ``(field number, wire type, raw value)`` in wire order."""
    pos, out = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise DecodeError(f"illegal wireType {wire}")
        if pos > len(data) or number == 0:
            raise DecodeError("unexpected EOF")
        out.append((number, wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    return value if bits == 64 else int(struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0])


def _timestamp(raw: bytes, micro: bool) -> str | None:
    seconds = nanos = 0
    for number, _wire, value in _fields(raw):
        if number == 1:
            seconds = _signed(value, 64)
        elif number == 2:
            nanos = _signed(value, 32)
    if seconds == 0 and nanos == 0:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind in ("string", "bytes"):
        if wire != 2:
            raise DecodeError(f"wrong wireType = {wire} for field of type {kind}")
        if kind == "bytes":
            return base64.b64encode(value).decode()
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("invalid UTF-8 in string field") from None
    if kind == "double":
        if wire != 1:
            raise DecodeError(f"wrong wireType = {wire} for field of type double")
        return struct.unpack("<d", value)[0]
    if wire != 0:
        raise DecodeError(f"wrong wireType = {wire} for field of type {kind}")
    if kind == "bool":
        return bool(value)
    return _signed(value, 64 if kind == "int64" else 32)


def _special(kind: str, raw: bytes) -> Any:
    if kind in (_TIME, _MICROTIME):
        return _timestamp(raw, kind == _MICROTIME)
    fields = {number: value for number, _wire, value in _fields(raw)}
    if kind == _QUANTITY:
        return bytes(fields.get(1, b"")).decode("utf-8", "replace")
    if kind == _INTSTR:
        if fields.get(1, 0) == 1:
            return bytes(fields.get(3, b"")).decode("utf-8", "replace")
        return _signed(fields.get(2, 0), 32)
    # FieldsV1 and RawExtension carry JSON bytes in field 1.
    try:
        return json.loads(bytes(fields.get(1, b"null")) or b"null")
    except ValueError:
        raise DecodeError(f"{kind} does not hold JSON") from None


def _is_special(kind: str) -> bool:
    return kind in (_TIME, _MICROTIME, _QUANTITY, _INTSTR, _FIELDSV1, _RAWEXT)


def _value(kind: str, wire: int, value: Any) -> Any:
    if kind in _SCALARS:
        return _scalar(kind, wire, value)
    if wire != 2:
        raise DecodeError(f"wrong wireType = {wire} for field of message type {kind}")
    if _is_special(kind):
        return _special(kind, value)
    return decode_message(kind, value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value is False or (value == 0 and not isinstance(value, dict))


def decode_message(message: str, data: bytes) -> dict[str, Any]:
    """Decode one message of :data:`SCHEMA` into its JSON object.

    Raises :class:`DecodeError` for malformed wire data and for field numbers the schema does
    not list (rather than dropping data the client sent).
    """
    schema = SCHEMA[message]
    result: dict[str, Any] = {}
    for number, wire, raw in _fields(data):
        spec = schema.get(number)
        if spec is None:
            raise DecodeError(f"field {number} of {message} is not served by the sandbox")
        name, kind, repeated = spec
        if kind == _STATUS:
            continue
        if kind.startswith("map:"):
            if wire != 2:
                raise DecodeError(f"wrong wireType = {wire} for map field {name}")
            entry = {n: (w, v) for n, w, v in _fields(raw)}
            key_wire, key_raw = entry.get(1, (2, b""))
            key = _scalar("string", key_wire, key_raw)
            value_kind = kind[4:]
            if 2 in entry:
                item = _value(value_kind, *entry[2])
            else:
                item = "" if value_kind in ("string", "bytes", _QUANTITY) else None
            result.setdefault(name, {})[key] = item
            continue
        if repeated and kind in ("int32", "int64", "bool") and wire == 2:
            pos, items = 0, []
            while pos < len(raw):
                number_value, pos = _varint(raw, pos)
                items.append(_scalar(kind, 0, number_value))
            result.setdefault(name, []).extend(items)
            continue
        item = _value(kind, wire, raw)
        if repeated:
            result.setdefault(name, []).append(item)
        elif name in _INLINED and isinstance(item, dict):
            result.update(item)
        elif not _empty(item):
            result[name] = item
    return result


def decode_envelope(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00`` + ``runtime.Unknown`` body into a JSON object with apiVersion/kind.

    Raises :class:`DecodeError` when the magic is missing, the envelope or object is malformed,
    the raw object is not in protobuf, or the kind is not one :data:`KIND_MESSAGES` lists.
    """
    if not body.startswith(MAGIC):
        raise DecodeError(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    type_meta: dict[str, Any] = {}
    raw, encoding, content_type = b"", "", ""
    for number, wire, value in _fields(body[len(MAGIC) :]):
        if wire != 2:
            raise DecodeError(f"wrong wireType = {wire} for field {number} of Unknown")
        if number == 1:
            type_meta = decode_message("TypeMeta", value)
        elif number == 2:
            raw = bytes(value)
        elif number == 3:
            encoding = _scalar("string", wire, value)
        elif number == 4:
            content_type = _scalar("string", wire, value)
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if encoding or content_type not in ("", PROTOBUF):
        raise DecodeError("the object is not encoded in protobuf")
    group = api_version.rpartition("/")[0]
    message = KIND_MESSAGES.get((group, kind))
    if message is None:
        raise DecodeError(f"no kind {kind!r} is registered for version {api_version!r}")
    obj = decode_message(message, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}


__all__ = ["KIND_MESSAGES", "MAGIC", "PROTOBUF", "SCHEMA", "DecodeError", "decode_envelope", "decode_message"]
