"""RFC 3339 UTC timestamps to the second, as the LocalRecording controller writes them in the status
and in RecordedFiles (`2026-11-21T12:00:00Z`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: The one form written: UTC, whole seconds, `Z`.
FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(t: datetime) -> str:
    """`t` in UTC, microseconds dropped (`2026-11-21T12:00:00Z`)."""
    return t.astimezone(UTC).replace(microsecond=0).strftime(FORMAT)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 UTC timestamp as written by `rfc3339` (aware, UTC); None when absent or not in that form."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
