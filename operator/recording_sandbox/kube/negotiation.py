"""Content negotiation of request bodies as kube-apiserver does it: JSON, YAML and protobuf.

kube-apiserver decodes a body by its ``Content-Type`` (``application/json``, ``application/yaml``,
``application/vnd.kubernetes.protobuf``; the patch types for PATCH), see
https://kubernetes.io/docs/reference/using-api/api-concepts/#alternate-representations-of-resources
("Alternate representations of resources"). Any other type is answered 415
``UnsupportedMediaType``; a body that does not decode is a 400 ``BadRequest`` whose message
names the expected kind and summarises the body, as the server's ``transformDecodeError`` does
(never a Python exception text).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from recording_sandbox.kube import requestoptions
from recording_sandbox.kube.errors import ApiError, bad_request
from recording_sandbox.kube.protobuf import PROTOBUF, DecodeError, decode_envelope

JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "application/apply-patch+yaml")
PATCH_JSON_TYPES = (
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
)
#: The media types accepted for request bodies, in the order kube-apiserver lists them.
ACCEPTED = (JSON, "application/yaml", PROTOBUF)


def unsupported_media_type() -> ApiError:
    """415 ``UnsupportedMediaType`` as kube-apiserver's ``NewUnsupportedMediaTypeError`` words it."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(ACCEPTED),
    )


def _summary(raw: bytes, limit: int = 30) -> str:
    """The body's first bytes, as kube-apiserver's ``summarizeData`` (hex when not text)."""
    head = raw[:limit]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return head.hex() + ("..." if len(raw) > limit else "")
    return text + ("..." if len(raw) > limit else "")


def _json_error(raw: bytes, exc: json.JSONDecodeError) -> str:
    """Go's ``encoding/json`` wording of a syntax error (``invalid character 'x' ...``)."""
    if exc.pos >= len(exc.doc):
        return "unexpected end of JSON input"
    char = exc.doc[exc.pos]
    return f"invalid character {char!r} looking for beginning of value"


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it got more than once (the last value wins)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        repeated: set[str] = set()
        for key, _ in pairs:
            (repeated if key in seen else seen).add(key)
        self.repeated = sorted(repeated)


def _duplicates(value: Any, path: str = "") -> list[str]:
    """Paths of the keys a JSON document repeats (``spec.replicas``), for fieldValidation."""
    found: list[str] = []
    if isinstance(value, dict):
        found += [f"{path}.{key}" if path else key for key in getattr(value, "repeated", ())]
        for key, item in value.items():
            found += _duplicates(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _duplicates(item, f"{path}[{index}]")
    return found


def decode_body(content_type: str, raw: bytes, kind: str) -> Any:
    """Decode a request body of ``content_type`` for an object of ``kind``; ``None`` when empty.

    Raises 415 for media types kube-apiserver does not accept, 400 for bodies that do not decode.
    """
    if not raw:
        return None
    base = content_type.split(";", 1)[0].strip().lower() or JSON
    if base == PROTOBUF:
        try:
            return decode_envelope(raw)
        except DecodeError as exc:
            raise bad_request(
                f"the object provided is unrecognized (must be of type {kind}): {exc} ({_summary(raw)})"
            ) from None
    if base in YAML_TYPES:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise bad_request(
                f"error converting YAML to JSON: yaml: {where}could not parse the document"
            ) from None
    if base == JSON or base in PATCH_JSON_TYPES:
        try:
            text = raw.decode("utf-8")
            value = json.loads(text, object_pairs_hook=_Object)
            requestoptions.current().duplicates.extend(_duplicates(value))
            return value
        except UnicodeDecodeError:
            raise bad_request(
                f"the object provided is unrecognized (must be of type {kind}): "
                f"invalid character in JSON input ({_summary(raw)})"
            ) from None
        except json.JSONDecodeError as exc:
            raise bad_request(
                f"the object provided is unrecognized (must be of type {kind}): "
                f"couldn't get version/kind; json parse error: {_json_error(raw, exc)} ({_summary(raw)})"
            ) from None
    raise unsupported_media_type()


def wants_json(accept: str) -> bool:
    """Whether a response may be JSON: kubectl asks ``application/vnd.kubernetes.protobuf,
    application/json``; an ``Accept`` naming only protobuf (or other types) may not.

    Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding
    (clients list JSON after protobuf to accept either).
    """
    if not accept.strip():
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", JSON, "application/yaml"):
            return True
    return False


__all__ = ["ACCEPTED", "decode_body", "unsupported_media_type", "wants_json"]
