"""Request counters: O(1) per request, no request log."""

from __future__ import annotations

from collections import Counter

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


class RequestStats:
    """Counts API requests by ``(verb, group, plural, subresource)``."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str, str | None]] = Counter()

    def record(self, verb: str, group: str, plural: str, subresource: str | None) -> None:
        """Count one request (verbs: get/list/watch/create/update/patch/delete)."""
        self._counts[(verb, group, plural, subresource)] += 1

    def count(
        self,
        verb: str | None = None,
        group: str | None = None,
        plural: str | None = None,
        subresource: str | None = None,
    ) -> int:
        """Sum the requests matching every given filter (``None`` matches anything)."""
        total = 0
        for (k_verb, k_group, k_plural, k_subresource), value in self._counts.items():
            if verb is not None and verb != k_verb:
                continue
            if group is not None and group != k_group:
                continue
            if plural is not None and plural != k_plural:
                continue
            if subresource is not None and subresource != k_subresource:
                continue
            total += value
        return total

    def reset(self) -> None:
        """Forget every count."""
        self._counts.clear()

    def as_dict(self) -> dict[str, int]:
        """Counts keyed by ``verb group/plural[/subresource]``, for reports."""
        result: dict[str, int] = {}
        for (verb, group, plural, subresource), value in sorted(self._counts.items(), key=str):
            name = f"{group}/{plural}" if group else plural
            if subresource:
                name = f"{name}/{subresource}"
            result[f"{verb} {name}"] = value
        return result
