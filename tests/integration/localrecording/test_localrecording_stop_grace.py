"""A recorder Pod's stop grace period is sized to the bytes its agent still has to store: a
recording whose uploads fell behind (a source far above `pod.uploadRateMbps`) is stopped with a
grace period long enough to store every file, and says which (Event `StoppingRecorder`, and the
Pod's `deletionGracePeriodSeconds`).

Real operator, the sandbox's Pod runner (SIGKILL at the Pod's deletionTimestamp), real FFmpeg, moto's
S3 behind a proxy that lets uploads through at 4 Mbit/s (`pod.uploadRateMbps: 4`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from recording_sandbox.ports import free_port
from recording_sandbox.runner import Sandbox
from tests.support.localrecordings import (
    LRECS,
    LoopingPublisher,
    events,
    files_of,
    index_of,
    objects,
    patch_spec,
    recorder_pods,
    recording,
    status,
)
from tests.support.recorder import publisher
from tests.support.throttle import ThrottledProxy
from tests.support.waiting import wait_for

UPLOAD_RATE_MBPS = 4
#: A noisy picture at a low quantizer: about 20 Mbit/s, far above the upload rate.
HEAVY = ["-vf", "noise=alls=60:allf=t", "-qp", "8"]


class HeavySrtSource(LoopingPublisher):
    """An SRT listener sending a high-bitrate stream, restarted whenever its caller goes away."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(f"srt://127.0.0.1:{port}?mode=listener")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = publisher(self.url, seconds=120, fmt=self.fmt, extra=HEAVY)
            self._proc.wait()
            self._stop.wait(0.2)


@pytest.fixture
def heavy_source() -> Iterator[HeavySrtSource]:
    src = HeavySrtSource(free_port())
    yield src
    src.close()


@pytest.fixture
def slow_s3(sandbox: Sandbox) -> Iterator[ThrottledProxy]:
    proxy = ThrottledProxy(sandbox.endpoints["s3"], UPLOAD_RATE_MBPS * 1_000_000)
    yield proxy
    proxy.close()


def test_a_stop_gives_the_pod_the_time_its_pending_bytes_need(
    sandbox: Sandbox, kube: httpx.Client, s3: Any, heavy_source: HeavySrtSource, slow_s3: ThrottledProxy
) -> None:
    name = "slow-uplink"
    body = recording(name, slow_s3.url, heavy_source.port, pod={"uploadRateMbps": UPLOAD_RATE_MBPS})
    response = kube.post(LRECS, json=body)
    assert response.status_code == 201, response.text
    wait_for(
        lambda: (
            (s := status(kube, name)).get("phase") == "Recording"
            and (s.get("stats") or {}).get("outTimeMs", 0) >= 15_000
            and s.get("podName")
        ),
        timeout=90,
        what="15 media seconds recorded",
    )
    # The Pod's own terminationGracePeriodSeconds was sized when it was created, from the spec's bitrate.
    [pod] = recorder_pods(kube, name)
    created_grace = pod["spec"]["terminationGracePeriodSeconds"]
    deleted: dict[str, Any] = {}

    def watch_pod() -> None:  # the Pod as it is being deleted (it is gone once its files are stored)
        while not deleted and (pods := recorder_pods(kube, name)):
            if pods[0]["metadata"].get("deletionTimestamp"):
                deleted.update(pods[0])
            threading.Event().wait(0.1)

    watcher = threading.Thread(target=watch_pod, daemon=True)
    watcher.start()
    patch_spec(kube, name, {"active": False})
    stopped = wait_for(lambda: (s := status(kube, name)).get("phase") == "Stopped" and s, timeout=400,
                       what="phase Stopped")  # fmt: skip
    watcher.join(5)

    [event] = [e for e in events(kube, name) if e["reason"] == "StoppingRecorder"]
    match = re.search(
        r"with a (\d+) s grace period: (\d+) bytes still to store at 4 Mbit/s", event["message"]
    )
    assert match, event["message"]
    grace, pending = int(match[1]), int(match[2])
    # The uploads fell behind: more to store than the Pod's creation-time grace period allowed.
    assert pending * 8 / (UPLOAD_RATE_MBPS * 1_000_000) > created_grace, (pending, created_grace)
    assert grace > created_grace
    assert recorder_pods(kube, name) == []
    # No lost media: every file the recorder closed is stored and listed, numbered without a gap.
    files = files_of(kube, name)
    indexes = sorted(index_of(f) for f in files)
    assert indexes == list(range(len(indexes))) and len(indexes) >= 8, indexes
    assert sorted(f["spec"]["location"]["key"] for f in files) == sorted(objects(s3, name))
    assert stopped["files"]["count"] == len(files)
    assert sum(f["spec"].get("durationMs", 0) for f in files) >= 15_000
    assert deleted["metadata"]["deletionGracePeriodSeconds"] == grace
