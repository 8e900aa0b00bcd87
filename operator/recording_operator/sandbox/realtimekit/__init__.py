"""RealtimeKit recordings emulator for the sandbox (provider-contracts.md §3.8)."""

from .server import RealtimeKitEmulator
from .state import RealtimeKitError, RealtimeKitState

__all__ = ["RealtimeKitEmulator", "RealtimeKitError", "RealtimeKitState"]
