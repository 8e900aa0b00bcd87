"""Injectable clocks for the Agora emulator: every time-dependent rule reads only ``Clock.now()``."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of Unix time in seconds that tests can move forward."""

    def now(self) -> float:
        """Current Unix time in seconds (float)."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        ...


class SystemClock:
    """Wall-clock time plus an offset that :meth:`advance` grows (the emulator's default)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """``time.time()`` plus every advance so far, in seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead of wall-clock time.

        Raises:
            ValueError: for a negative value.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds


class ManualClock:
    """A clock that moves only when told to (deterministic unit tests).

    Args:
        start: initial Unix time in seconds (default 2026-01-01T00:00:00Z).
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current manual time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``.

        Raises:
            ValueError: for a negative value.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._now += seconds
