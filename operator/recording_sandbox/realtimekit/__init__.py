"""RealtimeKit recordings emulator for the sandbox (provider-contracts.md §3.8)."""

from recording_sandbox.realtimekit.server import RealtimeKitEmulator
from recording_sandbox.realtimekit.state import RealtimeKitError, RealtimeKitState

__all__ = ["RealtimeKitEmulator", "RealtimeKitError", "RealtimeKitState"]
