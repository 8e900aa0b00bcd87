"""Two operator processes owning two label shards of one cluster (`SHARD_LABEL_SELECTOR`, each
with its own peering name): each handles its own recordings and never touches the other's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recording_operator.controllers._kit.shard import finalizer_for, parse_selector
from recording_sandbox.runner import Sandbox
from tests.support.harness import TEST_OPERATOR_ENV, Agora, Cluster, SandboxThread, recording
from tests.support.waiting import wait_for

SHARD = "recording.mediaops.io/shard"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox without the default operator (each test module process starts its own shards)."""
    with SandboxThread(
        tmp_path_factory.mktemp("shards"), operator_env=TEST_OPERATOR_ENV, callbacks=False
    ) as sb:
        yield sb


def start_shard(sandbox: Sandbox, shard: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **sandbox.operator_environment(),
        "SHARD_LABEL_SELECTOR": f"{SHARD}={shard}",
        "METRICS_PORT": "0",
        # Each replica has its own emptyDir on a cluster.
        "OPERATOR_STATE_DIR": str(sandbox.state_dir / f"operator-{shard}-state"),
    }
    log = sandbox.state_dir / f"operator-{shard}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recording_operator",
                "run",
                "--kubeconfig",
                str(sandbox.kubeconfig),
                "--peering-name",
                f"shard-{shard}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log


def labelled(name: str, shard: str | None) -> dict[str, Any]:
    body = recording(name)
    if shard is not None:
        body["metadata"]["labels"] = {SHARD: shard}
    return body


def phase(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name) or {}).get("status") or {}).get("phase")


def untouched(cluster: Cluster, name: str) -> bool:
    obj = cluster.get(name) or {}
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return (
        not obj.get("metadata", {}).get("finalizers")
        and not obj.get("status")
        and not any(k.startswith("recording.mediaops.io/") for k in annotations)
    )


def test_two_shards_never_touch_each_others_recordings(sandbox: Sandbox) -> None:
    cluster, agora = Cluster.of(sandbox), Agora.of(sandbox)
    a = [f"shard-a-{i}" for i in range(3)]
    b = [f"shard-b-{i}" for i in range(3)]
    for name in a:
        cluster.create(labelled(name, "a"))
    for name in b:
        cluster.create(labelled(name, "b"))
    cluster.create(labelled("no-shard", None))
    shard_a, log_a = start_shard(sandbox, "a")
    shard_b: subprocess.Popen[bytes] | None = None
    try:
        wait_for(
            lambda: all(phase(cluster, n) == "Recording" for n in a), timeout=60, what="shard a Recording"
        )
        # Shard a alone ran: shard b's and the unlabelled recording were never written to.
        assert all(untouched(cluster, n) for n in [*b, "no-shard"])
        assert {t["cname"] for t in agora.tasks()} == set(a)
        shard_b, log_b = start_shard(sandbox, "b")
        wait_for(
            lambda: all(phase(cluster, n) == "Recording" for n in b), timeout=60, what="shard b Recording"
        )
        assert untouched(cluster, "no-shard")
        # Both running: each deletion is finalized by its own shard (session stopped, object gone).
        cluster.delete(a[0])
        cluster.delete(b[0])
        wait_for(
            lambda: cluster.get(a[0]) is None and cluster.get(b[0]) is None, timeout=60, what="deletions"
        )
        # The recordings left keep their own shard's finalizer (kopf drops a finalizer no handler of
        # its process needs: one shared name would let a shard strip the other's).
        assert cluster.get(a[1])["metadata"]["finalizers"] == [finalizer_for(f"{SHARD}=a")]  # type: ignore[index]
        assert cluster.get(b[1])["metadata"]["finalizers"] == [finalizer_for(f"{SHARD}=b")]  # type: ignore[index]
        # Nobody sent a stream: each stop answers 206/435, an answer all the same.
        stops = [r["cname"] for r in agora.requests() if r["endpoint"] == "stop"]
        assert sorted(stops) == sorted([a[0], b[0]])
    finally:
        for process in (shard_a, shard_b):
            if process is not None:
                process.terminate()
                process.wait(20)
    text_a, text_b = log_a.read_text(), log_b.read_text()
    assert all(f"default/{n}]" in text_a for n in a) and not any(f"/{n}]" in text_a for n in [*b, "no-shard"])
    assert all(f"default/{n}]" in text_b for n in b) and not any(f"/{n}]" in text_b for n in [*a, "no-shard"])


def test_selectors() -> None:
    import kopf

    assert parse_selector("") is None
    assert parse_selector("a=b, c ,!d") == {"a": "b", "c": kopf.PRESENT, "d": kopf.ABSENT}
    for bad in ("a!=b", "a in (x)", "a=b,,c"):
        with pytest.raises(ValueError):
            parse_selector(bad)
    assert finalizer_for("") == "recording.mediaops.io/cleanup"
    assert finalizer_for("x=a") != finalizer_for("x=b")
