"""RFC 3339 timestamps as the Kubernetes API writes them (`metav1.Time`: UTC, `2026-11-21T12:00:00Z`),
for status fields, RecordedFiles, annotations and the recorder's `/status`.

Source: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/ (Time),
https://datatracker.ietf.org/doc/html/rfc3339.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: The form written: UTC, whole seconds, `Z`.
FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(moment: datetime | float | None = None, *, microseconds: bool = False) -> str:
    """`moment` (a datetime, Unix seconds, or now when None) as RFC 3339 in UTC with `Z`.

    Whole seconds unless `microseconds` (`2026-11-21T12:00:00.123456Z`, for the agent's timings).

    Raises:
        OverflowError, OSError, ValueError: Unix seconds outside the platform's datetime range.
    """
    if moment is None:
        moment = datetime.now(UTC)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    moment = moment.astimezone(UTC)
    if microseconds:
        return moment.isoformat().replace("+00:00", "Z")
    return moment.replace(microsecond=0).strftime(FORMAT)


def parse_rfc3339(text: Any) -> datetime | None:
    """An RFC 3339 time (fractional seconds and offsets accepted) as an aware UTC datetime; None when
    `text` is absent, not a string or not RFC 3339."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def epoch_of(text: Any) -> float | None:
    """Unix seconds of an RFC 3339 time, or None when absent or unparsable."""
    parsed = parse_rfc3339(text)
    return parsed.timestamp() if parsed is not None else None
