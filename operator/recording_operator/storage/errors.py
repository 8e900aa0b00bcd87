"""The storage layer's error types and the mapping of OpenDAL's exceptions onto them."""

from __future__ import annotations

import re

import opendal
import opendal.exceptions


class StorageError(Exception):
    """A storage operation failed; `retryable` says whether trying again may help, `auth` that the
    store refused the credentials (HTTP 403: wrong key, missing permission)."""

    def __init__(self, message: str, *, retryable: bool, auth: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.auth = auth


class UnsupportedStorage(ValueError):
    """The StorageSpec names a vendor or shape this module cannot serve."""


#: Request ids in a store's answer (S3 `request_id`, `x-amz-request-id`, `x-amz-id-2`, Azure
#: `x-ms-request-id`): new with every request, so never part of a message that should repeat.
_REQUEST_ID = re.compile(
    r',?\s*"?(request_id|requestid|x-amz-request-id|x-amz-id-2|x-ms-request-id)"?\s*[:=]\s*"?[^",}\s]*"?',
    re.IGNORECASE,
)


def stable_detail(text: str) -> str:
    """`text` without request ids (`_REQUEST_ID`)."""
    return _REQUEST_ID.sub("", text)


_E = opendal.exceptions
#: Every exception OpenDAL raises (they share no base class besides Exception).
OPENDAL_ERRORS: tuple[type[Exception], ...] = (
    _E.Error,
    _E.Unexpected,
    _E.Unsupported,
    _E.ConfigInvalid,
    _E.NotFound,
    _E.PermissionDenied,
    _E.IsADirectory,
    _E.NotADirectory,
    _E.AlreadyExists,
    _E.IsSameFile,
    _E.ConditionNotMatch,
    _E.RateLimited,
    _E.RangeNotSatisfied,
    _E.Conflict,
)


def wrap_opendal_error(exc: Exception, what: str) -> StorageError:
    """`exc` (one of OPENDAL_ERRORS) as a StorageError for operation `what`, e.g. `upload a/b.mp4`.

    Permission refusals are `auth` and not retryable (with a stable message, no request IDs), as are
    configuration, unsupported-operation and directory errors; everything else is retryable.
    """
    retryable = not isinstance(
        exc,
        opendal.exceptions.PermissionDenied
        | opendal.exceptions.ConfigInvalid
        | opendal.exceptions.Unsupported
        | opendal.exceptions.IsADirectory
        | opendal.exceptions.NotADirectory,
    )
    if isinstance(exc, opendal.exceptions.PermissionDenied):
        # A stable message (no request IDs), so a repeated refusal is recognised as the same failure.
        return StorageError(
            f"{what}: the storage refused the credentials (wrong key, or no permission)",
            retryable=retryable,
            auth=True,
        )
    # OpenDAL's message carries the request context (never the credentials); keep the first line,
    # without the request ids, so that a repeated failure reads the same.
    detail = stable_detail(str(exc).splitlines()[0])[:300] if str(exc) else ""
    return StorageError(f"{what}: {type(exc).__name__}: {detail}", retryable=retryable)
