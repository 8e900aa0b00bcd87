"""RealtimeKit recordings emulator for the sandbox (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/)."""

from recording_sandbox.realtimekit.server import RealtimeKitEmulator
from recording_sandbox.realtimekit.state import RealtimeKitError, RealtimeKitState

__all__ = ["RealtimeKitEmulator", "RealtimeKitError", "RealtimeKitState"]
