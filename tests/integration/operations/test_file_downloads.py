"""`recording-operator files url|get` and `kubectl recording url|get`: a RecordedFile's bytes with
the caller's own kubeconfig and the storage Secret the file names, against the sandbox's Kubernetes
API and its S3 server (moto). The stored file is a real recording (ffmpeg), checked after download
with ffprobe."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from recording_sandbox.runner import Sandbox
from tests.integration.operations.test_kubectl_plugin import BIN, kubectl_binary
from tests.support.harness import S3_KEYS, Cluster, Files, recorded_file
from tests.support.recorder import H264, SOURCE
from tests.support.waiting import wait_for

BUCKET = "recordings"


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    """The sandbox S3 keys. moto checks neither a presigned URL's signature nor its expiry without its
    IAM authentication, and with it (moto 5) fails presigned requests with HTTP 500 (it expects an
    Authorization header): the URL's parameters are checked instead."""
    return {"accessKey": S3_KEYS["aws_access_key_id"], "secretKey": S3_KEYS["aws_secret_access_key"]}


@pytest.fixture(scope="module")
def files(sandbox: Sandbox) -> Files:
    return Files(sandbox.endpoints["kubernetes"])


@pytest.fixture(scope="module")
def stored(
    sandbox: Sandbox, cluster: Cluster, files: Files, keys: dict[str, str], tmp_path_factory: Any
) -> bytes:
    """A 3 s H.264/AAC MP4 in the bucket, its RecordedFile `talk-00000` (Available), the Secret `dl-s3`."""
    media = tmp_path_factory.mktemp("media") / "talk.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *SOURCE[1:], "-t", "3", *H264,
                    "-c:a", "aac", str(media)], check=True)  # fmt: skip
    data = media.read_bytes()
    s3 = boto3.client("s3", endpoint_url=sandbox.endpoints["s3"], region_name="us-east-1",
                      aws_access_key_id=keys["accessKey"], aws_secret_access_key=keys["secretKey"])  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="team/talk-00000.mp4", Body=data)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "dl-s3", "labels": {"recording.mediaops.io/use": "true"}},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in keys.items()}}  # fmt: skip
    assert cluster.http.post("/api/v1/namespaces/default/secrets", json=secret).status_code == 201
    location = {"vendor": "s3-compatible", "bucket": BUCKET, "key": "team/talk-00000.mp4",
                "endpoint": sandbox.endpoints["s3"], "region": "us-east-1"}  # fmt: skip
    body = recorded_file("talk-00000", "team/talk-00000.mp4", location=location,
                         credentialsSecretRef={"name": "dl-s3"}, sizeBytes=len(data))  # fmt: skip
    assert files.create(body).status_code == 201
    wait_for(lambda: ((files.get("talk-00000") or {}).get("status") or {}).get("phase") == "Available",
             what="the RecordedFile Available")  # fmt: skip
    return data


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`recording-operator files ARGS` with the sandbox's kubeconfig, as a user runs it."""
    return subprocess.run(
        [str(BIN / "recording-operator"), "files", *args, "--kubeconfig", str(sandbox.kubeconfig), "-n", "default"],
        capture_output=True, text=True, timeout=60, cwd=cwd,
        env={**os.environ, "KUBECTL": kubectl_binary(), "COLUMNS": "120"},
    )  # fmt: skip


def plugin(sandbox: Sandbox, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl recording ARGS` (the plugin found on PATH by kubectl)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "COLUMNS": "120"}
    env.pop("KUBECTL", None)
    return subprocess.run(
        [kubectl_binary(), "recording", "--kubeconfig", str(sandbox.kubeconfig), "-n", "default", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=cwd,
    )  # fmt: skip


def duration_s(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], check=True, capture_output=True, text=True).stdout  # fmt: skip
    return float(out)


def test_a_presigned_url_gets_the_file_without_credentials(
    sandbox: Sandbox, stored: bytes, keys: dict[str, str]
) -> None:
    result = cli(sandbox, "url", "talk-00000", "--expires", "600")
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    query = parse_qs(urlsplit(link).query)
    # SigV4, signed with the Secret's key, valid 600 s from now.
    assert query["X-Amz-Expires"] == ["600"] and query["X-Amz-Credential"][0].startswith(
        f"{keys['accessKey']}/"
    )
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and len(query["X-Amz-Signature"][0]) == 64
    assert "valid for 600 s" in result.stderr and keys["secretKey"] not in result.stdout + result.stderr
    response = httpx.get(link)  # no credentials: the URL alone
    assert response.status_code == 200 and response.content == stored

    via_kubectl = plugin(sandbox, "url", "talk-00000")
    assert via_kubectl.returncode == 0, via_kubectl.stderr
    assert httpx.get(via_kubectl.stdout.strip()).content == stored


def test_get_downloads_the_recording_with_a_progress_bar(
    sandbox: Sandbox, stored: bytes, tmp_path: Path
) -> None:
    result = cli(sandbox, "get", "talk-00000", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    got = tmp_path / "talk-00000.mp4"
    assert got.read_bytes() == stored and 2.5 <= duration_s(got) <= 3.5
    assert "talk-00000.mp4" in result.stderr and "100%" not in result.stdout  # progress goes to stderr

    elsewhere = tmp_path / "via-kubectl"
    elsewhere.mkdir()
    via_kubectl = plugin(sandbox, "get", "talk-00000", cwd=elsewhere)
    assert via_kubectl.returncode == 0, via_kubectl.stderr
    assert (elsewhere / "talk-00000.mp4").read_bytes() == stored


def test_what_cannot_be_reached_says_why(sandbox: Sandbox, files: Files, stored: bytes) -> None:
    volume = recorded_file("on-claim", "x", location={"volume": {"claimName": "recs", "path": "team/a.mp4"}})
    assert files.create(volume).status_code == 201
    result = cli(sandbox, "get", "on-claim")
    assert result.returncode == 1
    assert (
        "team/a.mp4 on PersistentVolumeClaim recs: it is not reachable from outside the cluster"
        in result.stderr
    )
    missing = cli(sandbox, "url", "no-such-file")
    assert missing.returncode == 1 and "no-such-file" in missing.stderr
    too_long = cli(sandbox, "url", "talk-00000", "--expires", str(8 * 24 * 3600))
    assert too_long.returncode == 1 and "7 days" in too_long.stderr
