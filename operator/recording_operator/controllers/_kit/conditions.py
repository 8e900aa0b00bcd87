"""metav1.Condition bookkeeping: a condition is rewritten only when type/status/reason/message change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with second precision (`2026-11-21T12:00:00Z`)."""
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    *,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Return `conditions` with `type_` set; the input list is not modified.

    `lastTransitionTime` changes only when `status` changes; `observedGeneration` follows `generation`.
    """
    result = [dict(c) for c in conditions or []]
    existing = next((c for c in result if c.get("type") == type_), None)
    new = {
        "type": type_,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": now or now_rfc3339(),
        "reason": reason,
        "message": message[:32768],
    }
    if existing is None:
        result.append(new)
        return result
    if existing.get("status") == status:
        new["lastTransitionTime"] = existing.get("lastTransitionTime", new["lastTransitionTime"])
    existing.clear()
    existing.update(new)
    return result


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    """The condition of that type, or None."""
    return next((c for c in conditions or [] if c.get("type") == type_), None)
