"""The one failure ladder every kind uses: an exception becomes a `Synced` reason, a retry decision
and, for terminal failures that leave nothing running, phase `Failed`.

| exception | reason | retried |
|---|---|---|
| `SpecError` (reason `CredentialsNotFound`) | CredentialsNotFound | yes |
| `SpecError` (any other reason) | its reason (`InvalidSpec`, …) | no |
| pydantic `ValidationError` of the spec | InvalidSpec | no |
| `SecretNotFound` | CredentialsNotFound | yes |
| `KubeApiError` | KubernetesUnavailable | yes |
| `ProviderFailure` | its reason | when `retryable` |

Retried failures raise `kopf.TemporaryError` with jittered exponential backoff; terminal ones
`kopf.PermanentError`, not retried until the spec changes. Both set `Synced=False` and post one
Warning Event per distinct failure (`context.report_failure`).
"""

from __future__ import annotations

from dataclasses import dataclass

import kopf
from pydantic import ValidationError

from recording_operator.controllers._kit.context import (
    Context,
    report_failure,
    retry_delay,
    validation_message,
)
from recording_operator.controllers._kit.errors import ProviderFailure, SpecError
from recording_operator.controllers._kit.kube import KubeApiError, SecretNotFound

#: The exceptions the ladder turns into a status; anything else is a bug and propagates as it is.
HANDLED = (SpecError, ValidationError, SecretNotFound, KubeApiError, ProviderFailure)


@dataclass(frozen=True)
class Failure:
    """What a failure means for the resource.

    Attributes:
        reason: CamelCase `Synced` reason. message: for people (no secret values).
        retryable: retried with backoff. lost: nothing runs at the provider any more (True),
            something may still run (False), or judge from what was observed (None).
    """

    reason: str
    message: str
    retryable: bool
    lost: bool | None = None


def classify(exc: BaseException) -> Failure:
    """Map one of `HANDLED` to its `Failure` (pure; the table in the module docstring).

    Raises:
        TypeError: `exc` is not one of `HANDLED`.
    """
    if isinstance(exc, ProviderFailure):
        return Failure(exc.reason, exc.message, exc.retryable, exc.lost)
    if isinstance(exc, SpecError):
        return Failure(exc.reason, str(exc), exc.reason == "CredentialsNotFound")
    if isinstance(exc, ValidationError):
        return Failure("InvalidSpec", validation_message(exc), False, lost=False)
    if isinstance(exc, SecretNotFound):
        return Failure("CredentialsNotFound", str(exc), True)
    if isinstance(exc, KubeApiError):
        return Failure("KubernetesUnavailable", str(exc), True)
    raise TypeError(f"not a handled failure: {type(exc).__name__}")


def fail(
    ctx: Context, exc: BaseException, retry: int, *, lost: bool
) -> kopf.TemporaryError | kopf.PermanentError:
    """Report `exc` on the resource and return the kopf error to raise.

    Args:
        ctx: the handler invocation (its status is flushed into kopf's patch).
        exc: one of `HANDLED`.
        retry: kopf's retry counter (backoff grows with it).
        lost: whether nothing runs at the provider, used when the failure does not say.
    """
    failure = classify(exc)
    report_failure(ctx, failure.reason, failure.message)
    if failure.retryable:
        delay = retry_delay(ctx, retry)
        ctx.flush()
        return kopf.TemporaryError(
            f"{failure.reason}: {failure.message} (retrying in {delay:.0f}s)", delay=delay
        )
    if failure.lost if failure.lost is not None else lost:
        ctx.mark_failed(failure.reason, failure.message)
    ctx.status.set(observedGeneration=ctx.generation)
    ctx.flush()
    return kopf.PermanentError(f"{failure.reason}: {failure.message}")


def report(ctx: Context, exc: BaseException) -> Failure:
    """Report `exc` (one of `HANDLED`) without raising: for timers, whose next tick is the retry.

    Returns the `Failure`, for the handler's log line.
    """
    failure = classify(exc)
    report_failure(ctx, failure.reason, failure.message)
    return failure
