"""Injected API failures, so tests can see what the operator does when the API server refuses.

Controlled over HTTP at ``/_emulator/faults`` on the emulator's own port:

- ``POST`` ``{"method": "POST", "resource": "recordedfiles", "code": 503, "count": 2}``: the next
  ``count`` matching requests (HTTP ``method`` or ``"*"``; resource plural, ``"*"``, or
  ``"<plural>/<subresource>"`` such as ``"cloudrecordings/status"`` for that subresource only) are
  answered with a ``Status`` error of that ``code`` instead of being served;
- ``GET``: the faults still armed; ``DELETE``: disarm all.

``DELETE /_emulator/watches`` ends every watch stream open over HTTP (the operator's, kubectl's) as an
API server restart does; the sandbox's in-process watchers (Pod runner, Job controller) keep theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from recording_sandbox.kube.errors import ApiError

#: `Status.reason` the API server uses for each injectable HTTP code.
REASONS = {
    403: "Forbidden",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    """`count` more requests with `method` on `resource` fail with HTTP `code`."""

    method: str = "*"
    resource: str = "*"
    code: int = 503
    count: int = 1

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """Parse a POST body.

        Raises:
            ValueError: not an object, an unknown field, a code outside REASONS or a count < 1.
        """
        if not isinstance(body, dict) or set(body) - {"method", "resource", "code", "count"}:
            raise ValueError("a fault is {method, resource, code, count}")
        fault = cls(
            method=str(body.get("method", "*")).upper(),
            resource=str(body.get("resource", "*")),
            code=int(body.get("code", 503)),
            count=int(body.get("count", 1)),
        )
        if fault.code not in REASONS or fault.count < 1:
            raise ValueError(f"code must be one of {sorted(REASONS)} and count >= 1")
        return fault


class Faults:
    """The armed faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm `fault`."""
        self._armed.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    def armed(self) -> list[dict[str, Any]]:
        """The faults still armed, as JSON objects."""
        return [asdict(f) for f in self._armed]

    def take(self, method: str, resource: str, subresource: str | None = None) -> ApiError | None:
        """The error to answer a `method` request on `resource` (and `subresource`, e.g. `status`)
        with, consuming one count; None when no fault matches (the request is served). A fault on
        a plain plural matches its subresources too; one on `plural/subresource` only those."""
        names = ("*", resource, f"{resource}/{subresource}") if subresource else ("*", resource)
        for fault in self._armed:
            if fault.method in ("*", method) and fault.resource in names:
                fault.count -= 1
                if fault.count <= 0:
                    self._armed.remove(fault)
                return ApiError(fault.code, REASONS[fault.code], f"injected fault for {method} {resource}")
        return None
