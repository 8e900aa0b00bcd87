"""Status bookkeeping every kind shares: a draft of the status written once per handler, and a
stable digest to detect configuration changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: How many file names `status.files.names` keeps (every kind).
MAX_FILE_NAMES = 32


def digest(value: Any) -> str:
    """A short, stable digest of a JSON-able value (sorted keys), to detect configuration changes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class StatusDraft:
    """A status under construction: start from the current one, change fields, then diff."""

    current: Mapping[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """The drafted value of `key`, else the current one."""
        return self.fields[key] if key in self.fields else self.current.get(key)

    def set(self, **values: Any) -> None:
        """Draft new values (None deletes the field)."""
        self.fields.update(values)

    def delta(self) -> dict[str, Any]:
        """Only the fields whose value differs from the current status."""
        return {k: v for k, v in self.fields.items() if self.current.get(k) != v}


def files_summary(names: Sequence[str], **extra: Any) -> dict[str, Any]:
    """`status.files` from a recording's file names, oldest first: `count`, `latest`, the newest
    MAX_FILE_NAMES `names`, plus `extra` fields (e.g. `totalBytes`). Repeated names count once;
    with no names, `latest` and `names` are None (so a merge patch removes stale values)."""
    unique = list(dict.fromkeys(names))
    return {
        "count": len(unique),
        **extra,
        "latest": unique[-1] if unique else None,
        "names": unique[-MAX_FILE_NAMES:] if unique else None,
    }
