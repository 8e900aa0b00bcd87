"""A small bounded map that outlives the operator process: each change is appended, flushed and
fsynced to a JSON-lines file under `OPERATOR_STATE_DIR` (the Pod's `emptyDir`, which survives a
container restart) before the caller goes on.

Used for what only this process knows and a crash must not lose: start answers not yet written to
status (`cloudrecording.answers`) and starts given up on whose sessions may still run
(`cloudrecording.notices.Orphans`).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Journal:
    """String keys → JSON values, newest last, bounded to `size` entries (the oldest dropped).

    Without `open` the map lives in memory only. With it, the file holds one JSON object per line:
    `{"key": k, "value": v}` sets, `{"key": k}` removes; a line that cannot be read (a write cut
    short by a crash) is skipped. The file is rewritten with the live entries alone on `open` and
    after every `COMPACT_AFTER` appended lines.
    """

    #: Lines appended before the file is rewritten with the live entries only.
    COMPACT_AFTER = 1000

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._path: Path | None = None
        self._lines = 0

    def open(self, path: Path) -> int:
        """Load the entries journalled in `path`, keep journalling there, and rewrite it with the
        live entries only.

        Returns:
            How many entries were loaded.

        Raises:
            OSError: the file cannot be read or written.
        """
        entries: OrderedDict[str, Any] = OrderedDict()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    key = str(record["key"])
                except (ValueError, KeyError, TypeError):
                    continue
                entries.pop(key, None)
                if "value" in record:
                    entries[key] = record["value"]
        while len(entries) > self._size:
            entries.popitem(last=False)
        self._entries = entries
        self._path = path
        self._compact()
        return len(entries)

    def get(self, key: str) -> Any:
        """The value of `key`, or None."""
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def set(self, key: str, value: Any) -> None:
        """Keep `value` (JSON-serialisable) under `key`, as the newest entry.

        Raises:
            OSError: the file could not be written (the entry is still kept in memory).
        """
        self._entries.pop(key, None)
        self._entries[key] = value
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        self._append({"key": key, "value": value})

    def pop(self, key: str) -> Any:
        """Remove `key` and return its value (None when absent; nothing is written then).

        Raises:
            OSError: the file could not be written (the entry is removed in memory).
        """
        if key not in self._entries:
            return None
        value = self._entries.pop(key)
        self._append({"key": key})
        return value

    def _append(self, record: dict[str, Any]) -> None:
        if self._path is None:
            return
        if self._lines >= self.COMPACT_AFTER:
            self._compact()
        with self._path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
            file.flush()
            os.fsync(file.fileno())
        self._lines += 1

    def _compact(self) -> None:
        assert self._path is not None
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            for key, value in self._entries.items():
                file.write(json.dumps({"key": key, "value": value}) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self._path)
        self._lines = len(self._entries)
