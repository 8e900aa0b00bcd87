"""The agent's `/status` file list is bounded on both sides: the agent keeps the newest files, the
controller refuses an oversized list (a forged agent cannot make it allocate without bound)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from recording_operator.api.agent import ClosedFile, RecorderConfig, RecorderStatus
from recording_operator.recorder import agent as agent_module
from recording_operator.recorder.agent import Recorder
from recording_operator.storage import StorageCredentials, Store


def closed(index: int, *, uploaded: bool = True) -> ClosedFile:
    return ClosedFile(index=index, name=f"r-{index:05d}.ts", key=f"team/r-{index:05d}.ts",
                      location="volume://recordings/team/x", format="mpegts", sizeBytes=10,
                      startedAt="2026-11-21T12:00:00Z", uploaded=uploaded)  # fmt: skip


def test_the_agent_keeps_the_newest_files_and_counts_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "STATUS_FILES_MAX", 5)
    config = RecorderConfig.model_validate({
        "recording": {"namespace": "test", "name": "r"},
        "spec": {"input": {"url": "srt://1.1.1.1:9000"}, "output": {"format": "mpegts"},
                 "storage": {"vendor": "volume", "volume": {"claimName": "recordings"}, "prefix": ["team"]}},
    })  # fmt: skip
    store = Store.from_spec(config.spec.storage, StorageCredentials(), volume_root=tmp_path / "volume")

    async def publish_all() -> Recorder:
        recorder = Recorder(config, work_dir=tmp_path / "work", store=store)
        recorder._publish(agent_module._Closed(tmp_path / "pending.ts", closed(0, uploaded=False)))
        for index in range(1, 12):
            recorder._publish(agent_module._Closed(tmp_path / f"{index}.ts", closed(index)))
        return recorder

    recorder = asyncio.run(publish_all())
    status = recorder.status
    assert status.filesClosed == 12 and status.totalBytes == 120
    # The file still waiting for upload stays listed; the oldest stored ones went.
    assert [f.index for f in status.files] == [0, 8, 9, 10, 11]


def test_the_controller_refuses_an_oversized_file_list() -> None:
    doc = {"recording": {"namespace": "t", "name": "r"}, "startedAt": "2026-11-21T12:00:00Z",
           "files": [closed(i).model_dump() for i in range(10_001)]}  # fmt: skip
    with pytest.raises(ValidationError):
        RecorderStatus.model_validate(doc)
