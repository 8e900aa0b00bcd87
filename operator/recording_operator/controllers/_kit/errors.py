"""The controllers' own error types (provider errors live in `providers`, Kubernetes API errors in
`_kit.kube`)."""

from __future__ import annotations


class SpecError(ValueError):
    """The spec (or a Secret it points to) cannot produce a valid provider request; `reason` is CamelCase."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
