"""Agora Cloud Recording emulator: a real aiohttp server over a pure state machine modelling
the Agora Cloud Recording REST API (https://docs.agora.io/en/cloud-recording/rest-api/overview)."""

from recording_sandbox.agora.clock import Clock, ManualClock, SystemClock
from recording_sandbox.agora.server import ENDPOINTS, AgoraEmulator, Fault
from recording_sandbox.agora.state import AgoraState, Channel, Resource, ServiceError, Task
from recording_sandbox.agora.validation import (
    validate_acquire,
    validate_layout,
    validate_start,
    validate_storage_config,
    validate_update,
)

__all__ = [
    "ENDPOINTS",
    "AgoraEmulator",
    "AgoraState",
    "Channel",
    "Clock",
    "Fault",
    "ManualClock",
    "Resource",
    "ServiceError",
    "SystemClock",
    "Task",
    "validate_acquire",
    "validate_layout",
    "validate_start",
    "validate_storage_config",
    "validate_update",
]
