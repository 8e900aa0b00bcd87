"""RealtimeKit webhook registration against the RealtimeKit emulator (real HTTP, the cloudflare SDK)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from recording_operator.callbacks.registration import WEBHOOK_NAME, WebhookTarget, ensure_webhook
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.settings import Settings
from recording_sandbox.realtimekit import RealtimeKitEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[RealtimeKitEmulator]:
    emu = RealtimeKitEmulator(api_token="t0ken")
    await emu.start()
    yield emu
    await emu.stop()


async def test_creates_then_keeps_then_repairs_the_webhook(
    emulator: RealtimeKitEmulator, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t0ken\n")
    runtime = Runtime(Settings(realtimekit_base_url=emulator.api_base_url))
    target = WebhookTarget("acc", "app", str(token_file), "https://cb.example.com/callbacks/realtimekit")
    try:
        assert await ensure_webhook(runtime, target) == "created"
        assert await ensure_webhook(runtime, target) == "unchanged"
        moved = WebhookTarget("acc", "app", str(token_file), "https://new.example.com/callbacks/realtimekit")
        assert await ensure_webhook(runtime, moved) == "updated"
    finally:
        await runtime.aclose()
    async with httpx.AsyncClient(base_url=emulator.api_base_url) as client:
        response = await client.get(
            "/accounts/acc/realtime/kit/app/webhooks", headers={"Authorization": "Bearer t0ken"}
        )
    [hook] = response.json()["data"]
    assert hook["name"] == WEBHOOK_NAME and hook["url"] == moved.url
    assert hook["events"] == ["recording.statusUpdate"] and hook["enabled"] is True
