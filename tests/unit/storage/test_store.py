"""Store construction per vendor, and the volume store on a real directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage import StorageCredentials, StorageError, Store, UnsupportedStorage

CREDS = StorageCredentials(access_key="acct", secret_key="azNZeQ==", credential='{"type": "service_account"}')


async def test_volume_store_roundtrip(tmp_path: Path) -> None:
    spec = StorageSpec(vendor="volume", volume={"claimName": "rec", "subPath": "team"}, prefix=["cam"])
    store = Store.from_spec(spec, StorageCredentials(), volume_root=tmp_path / "mnt")
    local = tmp_path / "a.mkv"
    local.write_bytes(b"m" * 3_000_000)
    key = store.key_for("a.mkv")
    assert key == "cam/a.mkv" and store.uri(key) == "volume://rec/team/cam/a.mkv"
    assert await store.upload_file(local, key, chunk_bytes=1 << 20) == 3_000_000
    assert (tmp_path / "mnt" / "cam" / "a.mkv").read_bytes() == local.read_bytes()
    info = await store.stat(key)
    assert info is not None and info.size_bytes == 3_000_000
    assert [o.key for o in await store.list("cam/")] == ["cam/a.mkv"]
    await store.delete(key)
    assert await store.stat(key) is None and await store.list("cam/") == []


async def test_volume_upload_overwrites_and_stays_under_the_root(tmp_path: Path) -> None:
    spec = StorageSpec(vendor="volume", volume={"claimName": "rec"}, prefix=["cam", "day"])
    store = Store.from_spec(spec, StorageCredentials(), volume_root=tmp_path / "mnt")
    local = tmp_path / "a.ts"
    local.write_bytes(b"old" * 1000)
    key = store.key_for("a.ts")
    await store.upload_file(local, key)
    local.write_bytes(b"new")
    assert await store.upload_file(local, key) == 3
    assert (tmp_path / "mnt" / "cam" / "day" / "a.ts").read_bytes() == b"new"
    with pytest.raises(StorageError) as refused:
        await store.upload_file(local, "../outside.ts")
    assert not refused.value.retryable and not (tmp_path / "outside.ts").exists()
    with pytest.raises(FileNotFoundError):
        await store.upload_file(tmp_path / "missing.ts", key)


@pytest.mark.parametrize(
    ("spec", "uri"),
    [
        (StorageSpec(vendor="s3", bucket="b", region="eu-west-1"), "s3://b/x"),
        (StorageSpec(vendor="s3-compatible", bucket="b", endpoint="http://minio:9000"), "s3://b/x"),
        (StorageSpec(vendor="gcs", bucket="b"), "gs://b/x"),
        (StorageSpec(vendor="azure", bucket="c"), "azblob://acct/c/x"),
    ],
)
def test_object_vendors(spec: StorageSpec, uri: str) -> None:
    assert Store.from_spec(spec, CREDS).uri("x") == uri


@pytest.mark.parametrize(
    "spec",
    [
        StorageSpec(vendor="sftp", bucket="b"),
        StorageSpec(vendor="s3-compatible", bucket="b"),
        StorageSpec(vendor="s3"),
        StorageSpec(vendor="volume", volume={"claimName": "c"}),
    ],
)
def test_unsupported_or_incomplete(spec: StorageSpec) -> None:
    with pytest.raises(UnsupportedStorage):
        Store.from_spec(spec, CREDS)


def test_credentials_from_env_and_repr_hides_values() -> None:
    creds = StorageCredentials.from_env({"STORAGE_ACCESS_KEY": "AKID", "STORAGE_SECRET_KEY": "topsecret"})
    assert creds.access_key == "AKID" and creds.secret_key == "topsecret"
    assert "topsecret" not in repr(creds) and "AKID" not in repr(creds)


def test_invalid_azure_key_is_unsupported_not_a_crash() -> None:
    with pytest.raises(UnsupportedStorage, match="azure"):
        Store.from_spec(
            StorageSpec(vendor="azure", bucket="c"), StorageCredentials(access_key="a", secret_key="%%%")
        )
