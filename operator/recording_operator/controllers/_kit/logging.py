"""The operator's log lines: one format for people (`LOG_FORMAT=text`) or for a log pipeline
(`LOG_FORMAT=json`), the object every line is about, and levels that mean something.

- Object identity: kopf hands each handler a logger whose records carry the object reference
  (`k8s_ref`: apiVersion, kind, namespace, name, uid). Text lines show it as
  `[CloudRecording default/standup]`; JSON lines as the fields `kind`, `namespace`, `name`,
  `uid` (python-json-logger, the library kopf's own JSON format is built on).
- Levels (`LevelPolicy`, a `logging.Filter` on the output handler, so no log call is edited):
  kopf's routine `Handler '…' succeeded.` and `Timer '…' succeeded.` lines (one per handler run
  and timer tick: nearly all of a busy operator's lines) go to DEBUG, while the one summary per
  change (`Creation is processed: 1 succeeded; 0 failed.`, `Resuming is processed: …`) stays INFO; a retried failure (`… failed temporarily: …`) is a WARNING, not an ERROR —
  it is already a `Synced=False` condition and a Warning Event — and an expected wait
  (a temporary error whose text starts with `waiting for`) is INFO. kopf's `Throttling for N
  seconds due to an unexpected error` caused by the Kubernetes API itself (a 409 Conflict of
  optimistic concurrency, a 5xx, a refused or dropped connection: kopf retries the same patch after
  the delay) is a WARNING without its traceback — the API's answer is in the message. Permanent
  failures and every other unexpected error stay ERROR with their traceback.
- `LOG_LEVEL` (DEBUG, INFO, WARNING, ERROR; default INFO) applies after that re-levelling.

Secret values never reach a log line: the controllers log names of Secrets only, and httpx's
request lines (which carry no credentials: those travel in headers) are shown only at DEBUG.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

#: kopf's lines about routine successes (https://github.com/nolar/kopf: `kopf/_core/actions/execution.py`
#: logs `<handler> succeeded.` for every handler run and timer tick).
_ROUTINE = re.compile(r"^(?:Handler|Timer|Daemon|Indexer|Watcher|Activity) '[^']*' succeeded\.$")
_TEMPORARY = re.compile(
    r"^(?:Handler|Timer|Daemon) '[^']*' failed temporarily(?: but [^:]*)?: (?P<why>.*)$", re.S
)

#: kopf's levels of its own records, kept for the filter: which records are kopf's.
_KOPF_LOGGER_PREFIX = "kopf"


def identity(record: logging.LogRecord) -> dict[str, str]:
    """`{kind, namespace, name, uid}` of the object a record is about (empty when none).

    kopf's per-object loggers put the reference into each record as `k8s_ref`.
    """
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, dict):
        return {}
    return {key: str(ref[key]) for key in ("kind", "namespace", "name", "uid") if ref.get(key)}


class LevelPolicy(logging.Filter):
    """Re-level kopf's records (see the module docstring), then drop those below `level`."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Adjust `record.levelno`/`levelname` in place; False when the record is below `level`."""
        if record.name.startswith(_KOPF_LOGGER_PREFIX):
            message = record.getMessage()
            if record.levelno == logging.INFO and _ROUTINE.match(message):
                _set_level(record, logging.DEBUG)
            elif record.levelno == logging.ERROR:
                temporary = _TEMPORARY.match(message)
                if temporary:
                    waiting = temporary.group("why").lstrip().lower().startswith("waiting for")
                    _set_level(record, logging.INFO if waiting else logging.WARNING)
                elif message.startswith("Throttling for") and _api_failure(record.exc_info):
                    _set_level(record, logging.WARNING)
                    record.exc_info = None
                    record.exc_text = None
        return record.levelno >= self.level


def _api_failure(exc_info: Any) -> bool:
    """Whether a record's exception is the Kubernetes API's answer or its unreachability (kopf's
    `APIError` family: 409, 5xx, …; aiohttp's connection errors; a timeout), not a bug of ours."""
    if not exc_info or len(exc_info) < 2 or exc_info[1] is None:
        return False
    from aiohttp import ClientError
    from kopf._cogs.clients.errors import APIError

    return isinstance(exc_info[1], APIError | ClientError | TimeoutError)


def _set_level(record: logging.LogRecord, level: int) -> None:
    record.levelno = level
    record.levelname = logging.getLevelName(level)


class TextFormatter(logging.Formatter):
    """`2026-11-25 22:10:00,123 INFO kopf.objects [CloudRecording default/standup] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(object)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with `[Kind namespace/name] ` when the record is about an object."""
        ident = identity(record)
        if ident:
            where = (
                f"{ident['namespace']}/{ident.get('name', '')}"
                if ident.get("namespace")
                else ident.get("name", "")
            )
            record.object = f"[{ident.get('kind', '?')} {where}] "
        else:
            record.object = ""
        return super().format(record)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: `time`, `level`, `logger`, `message` and, about an object,
    `kind`, `namespace`, `name`, `uid`; an exception as `exc_info` text."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*_RESERVED, "k8s_ref", "k8s_skip", "settings", "object"],
        )

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The base fields plus the object identity."""
        super().add_fields(log_record, record, message_dict)
        log_record.update(identity(record))


def _reserved() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS

    return list(RESERVED_ATTRS)


_RESERVED = _reserved()


def parse_level(raw: str | None) -> int:
    """`LOG_LEVEL` as a `logging` level; empty means INFO.

    Raises:
        ValueError: not one of DEBUG, INFO, WARNING, ERROR, CRITICAL.
    """
    name = (raw or "INFO").strip().upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"LOG_LEVEL={raw!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    level: int = getattr(logging, name)
    return level


def parse_format(raw: str | None) -> LogFormat:
    """`LOG_FORMAT`: `text` (default) or `json`.

    Raises:
        ValueError: anything else.
    """
    value = (raw or "text").strip().lower()
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ValueError(f"LOG_FORMAT={raw!r} is not text or json")


def configure(*, level: int, fmt: LogFormat, stream: Any = None) -> logging.Handler:
    """Route every record to one stream handler with the chosen format and level policy.

    The root logger passes everything (DEBUG) to the handler, whose `LevelPolicy` decides after
    re-levelling; httpx/httpcore/aiohttp access lines are kept to DEBUG-level runs.

    Returns the handler (tests attach to it).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(LevelPolicy(level))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if level <= logging.DEBUG else logging.INFO)
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(quiet)
    return handler
