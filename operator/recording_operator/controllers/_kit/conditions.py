"""metav1.Condition bookkeeping: a condition is rewritten only when type/status/reason/message change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recording_operator.api.timestamps import rfc3339
from recording_operator.controllers._kit.errors import TERMINAL_REASONS


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
        "lastTransitionTime": now or rfc3339(),
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


def terminal_failure_generation(status: Mapping[str, Any] | None) -> int | None:
    """The generation a terminal failure (`Synced=False` with one of TERMINAL_REASONS) was reported
    for, or None: nothing is retried until the spec's generation moves past it."""
    synced = get_condition((status or {}).get("conditions"), "Synced")
    if synced and synced.get("status") == "False" and synced.get("reason") in TERMINAL_REASONS:
        generation = synced.get("observedGeneration")
        return generation if isinstance(generation, int) else None
    return None


def rebase_status(
    drafted: Mapping[str, Any], base: Mapping[str, Any], newest: Mapping[str, Any]
) -> dict[str, Any]:
    """The status patch `drafted` (drafted from the snapshot `base`) made fit to write over `newest`, a
    copy written meanwhile by someone else.

    A merge patch replaces `status.conditions` as a whole, so a list drafted from `base` would undo
    the conditions written since (a reconcile's `Synced=True` replaced by a timer tick's
    `Synced=Unknown "the first reconcile is in progress"`). The drafted list is turned back into
    the changes it makes to `base`, condition type by condition type, and only those changes are
    applied to `newest`'s list, each only where `newest` still has `base`'s entry for that type (a
    condition changed meanwhile was changed from newer facts; the next tick drafts from those).
    Other fields are written as drafted.
    """
    result = dict(drafted)
    if "conditions" not in drafted:
        return result
    mine = {c.get("type"): c for c in drafted.get("conditions") or []}
    before = {c.get("type"): c for c in base.get("conditions") or []}
    theirs = [dict(c) for c in newest.get("conditions") or []]
    now = {c.get("type"): c for c in theirs}
    untouched = {type_ for type_ in set(mine) | set(before) if now.get(type_) == before.get(type_)}
    changed = {type_ for type_ in untouched if mine.get(type_) != before.get(type_)}
    merged = []
    for condition in theirs:
        type_ = condition.get("type")
        if type_ not in changed:
            merged.append(condition)
        elif type_ in mine:  # else the tick removed it
            merged.append(dict(mine[type_]))
    merged += [dict(mine[type_]) for type_ in mine if type_ in changed and type_ not in now]
    result["conditions"] = merged
    return result
