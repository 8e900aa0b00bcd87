"""The controllers' own error types (provider errors live in `providers`, Kubernetes API errors in
`_kit.kube`)."""

from __future__ import annotations

#: Synced=False reasons after which nothing is retried until the spec changes (or, for
#: CreationResultUnknown and StartResultUnknown, until the lost session is adopted).
TERMINAL_REASONS = frozenset(
    {
        "InvalidSpec",
        "AuthFailed",
        "CreationResultUnknown",
        "StartResultUnknown",
        "RecordingNotEnabled",
        "ResourceMismatch",
    }
)


class SpecError(ValueError):
    """The spec (or a Secret it points to) cannot produce a valid provider request; `reason` is CamelCase."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ProviderFailure(Exception):
    """A provider call failed, in the controller's terms (drivers translate provider errors into it).

    Attributes:
        reason: CamelCase `Synced` reason (`ProviderUnavailable`, `InvalidSpec`, `AuthFailed`,
            `TaskConflict`, `CreationResultUnknown`, …).
        message: what a user can act on (no secret values).
        retryable: retried with backoff when True; otherwise not retried until the spec changes.
        lost: True when nothing runs at the provider after this failure (phase becomes Failed);
            None lets the controller judge from what it observed before the call.
    """

    def __init__(self, reason: str, message: str, *, retryable: bool, lost: bool | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.lost = lost
