"""The RealtimeKit emulator reports UPLOADED only once external files are written (sandbox S3)."""

from __future__ import annotations

import uuid
from typing import Any

from recording_sandbox.realtimekit.state import RealtimeKitState, Recording


def stopped(state: RealtimeKitState, body: dict[str, Any]) -> Recording:
    meeting = str(uuid.uuid4())
    state.set_participants(meeting, ["alice"])
    recording = state.start("acc", "app", {"meeting_id": meeting, **body}, track=False)
    state.clock.advance(30)
    state.action(recording.id, "stop")
    state.clock.advance(5)  # well past upload_delay_s
    state.advance()
    return recording


def test_a_held_upload_stays_uploading_until_its_files_are_written() -> None:
    state = RealtimeKitState()
    state.holds_upload = lambda r: bool((r.config.get("storage_config") or {}).get("type") == "aws")
    storage = {"type": "aws", "bucket": "b", "access_key": "k", "secret": "s", "region": "us-east-1"}
    external = stopped(state, {"storage_config": storage, "realtimekit_bucket_config": {"enabled": False}})
    assert external.status == "UPLOADING" and external.upload_held
    external.upload_held = False  # what the server does once the writer stored every file
    state.advance()
    assert external.status == "UPLOADED"
    assert external.uploaded_at == external.stopped + state.upload_delay_s  # type: ignore[operator]


def test_uploads_nobody_writes_are_not_held() -> None:
    state = RealtimeKitState()
    assert stopped(state, {}).status == "UPLOADED"
    state.holds_upload = lambda r: False
    assert stopped(state, {}).status == "UPLOADED"
