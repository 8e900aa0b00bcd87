"""Polling: the one `wait_for` of the test suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    Args:
        predicate: called every `interval` s; its exceptions propagate.
        timeout: seconds before giving up (a guard against a hang, never a timed assertion).
        interval: seconds between two calls.
        what: what is awaited, for the failure message.

    Raises:
        AssertionError: `timeout` passed; the message names `what` and the last value.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
