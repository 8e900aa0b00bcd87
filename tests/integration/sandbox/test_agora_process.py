"""The sandbox's Agora emulator in a process of its own (`agora_process`, used by the rate-limited benches)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from recording_sandbox.runner import Sandbox

ROOT = Path(__file__).resolve().parents[3]
ACQUIRE = "/v1/apps/{app}/cloud_recording/acquire"


async def test_the_agora_emulator_runs_apart_with_its_limit_and_callbacks(tmp_path: Path) -> None:
    async with Sandbox(
        tmp_path, crd_dir=ROOT / "crds", agora_options={"qps_limit": 0}, agora_process=True
    ) as sandbox:
        with pytest.raises(RuntimeError):
            _ = sandbox.agora  # its state lives in the child
        async with httpx.AsyncClient(base_url=sandbox.endpoints["agora"], timeout=10) as agora:
            # Notices go to the operator's receiver; the view never shows the secret.
            callbacks = (await agora.get("/_emulator/callbacks")).json()
            assert callbacks["url"] == sandbox.endpoints["callbacks"]["agoraRecording"]
            assert sandbox.ncs_secret not in str(callbacks)
            # The options reach the child: with a limit of 0 requests/s the gateway refuses every call
            # (a count that does not depend on how fast this machine sends).
            answer = await agora.post(
                ACQUIRE.format(app="0123456789abcdef0123456789abcdef"),
                json={"cname": "c1", "uid": "527841", "clientRequest": {}},
                auth=("sandbox-id", "sandbox-secret"),
            )
            assert answer.status_code == 429
            assert answer.json() == {"message": "API rate limit exceeded"}
            assert (await agora.get("/_emulator/stats")).json()["httpStatus"] == {"429": 1}
        process = sandbox.agora_process
        assert process is not None
        url = process.url
    # Stopped with the sandbox.
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"{url}/_emulator/stats")
