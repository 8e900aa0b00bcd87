"""Uploads to a real S3 server (moto_server as its own process): storage API and the agent end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage import StorageCredentials, StorageError, Store
from recording_sandbox.ports import free_port
from tests.support.recorder import probe, publisher, run_agent

KEYS = {"STORAGE_ACCESS_KEY": "AKIDTEST", "STORAGE_SECRET_KEY": "secret-test-key"}
BUCKET = "recordings"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto_server on a free port (the in-process ThreadedMotoServer hangs OpenDAL, measured with moto 5.2.5)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def client(endpoint: str) -> Any:
    """A boto3 S3 client of the moto server (to check what the agent stored)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEYS["STORAGE_ACCESS_KEY"],
        aws_secret_access_key=KEYS["STORAGE_SECRET_KEY"],
        region_name="us-east-1",
    )


def store_for(endpoint: str, prefix: list[str]) -> Store:
    spec = StorageSpec(vendor="s3-compatible", bucket=BUCKET, endpoint=endpoint, prefix=prefix)
    return Store.from_spec(spec, StorageCredentials.from_env(KEYS))


async def test_store_upload_stat_list_delete(s3_endpoint: str, tmp_path: Path) -> None:
    store = store_for(s3_endpoint, ["unit", "a"])
    local = tmp_path / "big.ts"
    local.write_bytes(os.urandom(12 * 1024 * 1024 + 7))  # more than one 5 MiB part: multipart
    sent = await store.upload_file(local, store.key_for("big.ts"), chunk_bytes=5 * 1024 * 1024)
    assert sent == local.stat().st_size
    head = client(s3_endpoint).head_object(Bucket=BUCKET, Key="unit/a/big.ts")
    assert head["ContentLength"] == sent and head["ContentType"] == "video/mp2t"
    info = await store.stat("unit/a/big.ts")
    assert info is not None and info.size_bytes == sent
    assert await store.stat("unit/a/missing.ts") is None
    small = tmp_path / "x.mp4"
    small.write_bytes(b"abc")
    await store.upload_file(small, "unit/b/x.mp4")
    assert [o.key for o in await store.list("unit/a/")] == ["unit/a/big.ts"]
    assert [o.key for o in await store.list("unit/")] == ["unit/a/big.ts", "unit/b/x.mp4"]
    await store.delete("unit/a/big.ts")
    await store.delete("unit/a/big.ts")  # idempotent
    assert await store.list("unit/a/") == []


async def test_store_wrong_credentials_fail_without_leaking(s3_endpoint: str, tmp_path: Path) -> None:
    spec = StorageSpec(vendor="s3-compatible", bucket="no-such-bucket", endpoint=s3_endpoint)
    store = Store.from_spec(spec, StorageCredentials(access_key="AKIDTEST", secret_key="very-secret-value"))
    local = tmp_path / "a.ts"
    local.write_bytes(b"x" * 10)
    with pytest.raises(StorageError) as err:
        await store.upload_file(local, "a.ts")
    assert "very-secret-value" not in str(err.value)


def test_agent_uploads_segments_and_last_file_on_sigterm(s3_endpoint: str, tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    spec = {
        "input": {"url": f"udp://127.0.0.1:{port}", "readTimeout": "2s"},
        "output": {"format": "mp4", "segmentDuration": "1s"},
        "storage": {
            "vendor": "s3-compatible",
            "bucket": BUCKET,
            "endpoint": s3_endpoint,
            "prefix": ["team", "cam1"],
        },
    }
    with run_agent(tmp_path, spec, env=KEYS) as agent:
        agent.wait_for(lambda s: s.sessions >= 1)
        pub = publisher(f"udp://127.0.0.1:{port}?pkt_size=1316", seconds=6)
        agent.wait_for(lambda s: s.filesClosed >= 2 and s.uploadPending == 0)
        assert agent.stop() == 0, agent.log()
        pub.kill()
        log = agent.log()
    assert KEYS["STORAGE_SECRET_KEY"] not in log
    listed = client(s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix="team/cam1/")["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert len(keys) >= 3 and all(k.endswith(".mp4") for k in keys)  # the last (SIGTERM-closed) one too
    assert list((tmp_path / "work" / "parts").glob("seg_*")) == []  # deleted locally
    last = tmp_path / "last.mp4"
    client(s3_endpoint).download_file(BUCKET, keys[-1], str(last))
    info = probe(last)
    assert info["streams"] == ["audio", "video"] and info["decode_errors"] == 0
