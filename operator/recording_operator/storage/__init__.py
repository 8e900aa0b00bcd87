"""Object storage for recorded files, through Apache OpenDAL (`opendal`, AsyncOperator).

Kubernetes-free: a `Store` is built from the API's `StorageSpec` plus `StorageCredentials` (the
recorder agent reads those from environment variables, see `recorder/config.py`).

| vendor          | OpenDAL service | bucket →   | credentials                                            |
|-----------------|-----------------|------------|--------------------------------------------------------|
| `s3`            | s3              | bucket     | access key / secret key (+ session token)              |
| `s3-compatible` | s3 (path style) | bucket     | same; `endpoint` required                              |
| `gcs`           | gcs             | bucket     | service-account JSON (`credential`)                    |
| `azure`         | azblob          | container  | access key = account name, secret key = account key    |
| `aliyun`        | s3 (OSS)        | bucket     | access key / secret key; endpoint from the region      |
| `tencent`       | s3 (COS)        | bucket     | same                                                   |
| `huawei`        | s3 (OBS)        | bucket     | same                                                   |
| `baidu`         | s3 (BOS)        | bucket     | same                                                   |
| `volume`        | fs              | —          | none: a local directory (the mounted PVC)              |

Alibaba OSS, Tencent COS, Huawei OBS and Baidu BOS are reached through their S3-compatible APIs
(virtual-hosted style) at the endpoint `vendor_endpoint` derives from the region name (the names of
agora-storage-regions.md, e.g. `cn-hangzhou` → `https://oss-cn-hangzhou.aliyuncs.com`); an explicit
`storage.endpoint` wins. `s3_endpoint` (operator setting `STORAGE_S3_ENDPOINT`) sends `vendor: s3`
to another S3 endpoint (a VPC or FIPS endpoint; the sandbox's S3 server).

Object keys are `<prefix elements joined by "/">/<name>`. Uploads stream the local file in
`chunk_bytes` parts (S3 multipart), so memory stays bounded by about one chunk whatever the file size
(recorder-notes.md §5: opendal's streaming writer; measured: a 30 MB upload to moto raised RSS by
~17 MB with 5 MiB chunks).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import opendal
import opendal.exceptions

from recording_operator.api.agent import ENV_STORAGE_ACCESS_KEY as ENV_ACCESS_KEY
from recording_operator.api.agent import ENV_STORAGE_CREDENTIAL as ENV_CREDENTIAL
from recording_operator.api.agent import ENV_STORAGE_SECRET_KEY as ENV_SECRET_KEY
from recording_operator.api.agent import ENV_STORAGE_SESSION_TOKEN as ENV_SESSION_TOKEN
from recording_operator.api.v1alpha1.common import StorageSpec

#: Part size of streamed uploads (bytes); S3's multipart minimum is 5 MiB.
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
#: Write buffer of a `volume` (filesystem) store (bytes): no multipart minimum, so a smaller buffer
#: keeps the recorder agent's peak RSS down (8 MiB buffers cost it ~8 MB, bench/recorder_bench.py).
LOCAL_CHUNK_BYTES = 1024 * 1024
#: Bytes read from the local file per write call.
READ_BYTES = 1024 * 1024

SUPPORTED_VENDORS = ("s3", "s3-compatible", "aliyun", "tencent", "huawei", "baidu", "gcs", "azure", "volume")

#: Vendors reached through their S3-compatible API: vendor → endpoint template ({region} filled in).
S3_COMPATIBLE_ENDPOINTS = {
    "aliyun": "https://oss-{region}.aliyuncs.com",
    "tencent": "https://cos.{region}.myqcloud.com",
    "huawei": "https://obs.{region}.myhuaweicloud.com",
    "baidu": "https://s3.{region}.bcebos.com",
}
#: Baidu BOS region IDs of the region names Agora uses (agora-storage-regions.md, vendor 8).
BAIDU_REGION_IDS = {
    "baoding": "bd",
    "suzhou": "su",
    "guangzhou": "gz",
    "hongkong": "hkg",
    "singapore": "sin",
    "wuhan": "fwh",
    "shanghai": "fsh",
    "beijing": "bj",
}


def vendor_endpoint(vendor: str, region: str | None) -> str:
    """The S3-compatible endpoint of an Alibaba OSS, Tencent COS, Huawei OBS or Baidu BOS region.

    `region` is a name as in agora-storage-regions.md (`CN_Hangzhou`, `AP_Beijing`, `CN_North_4`,
    `Baoding`), matched case-insensitively with `_` and `-` alike, or the vendor's own region ID
    (`cn-hangzhou`, `ap-beijing`, `cn-north-4`, `bd`).

    Raises:
        UnsupportedStorage: the vendor has no S3-compatible endpoint here, or no region was given.
    """
    template = S3_COMPATIBLE_ENDPOINTS.get(vendor)
    if template is None:
        raise UnsupportedStorage(f"vendor {vendor} has no S3-compatible endpoint mapping")
    if not region:
        raise UnsupportedStorage(f"vendor {vendor} needs storage.region (or storage.endpoint)")
    region_id = region.strip().lower().replace("_", "-")
    if vendor == "baidu":
        region_id = BAIDU_REGION_IDS.get(region_id, region_id)
    return template.format(region=region_id)


CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".flv": "video/x-flv",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp3": "audio/mpeg",
    ".avi": "video/x-msvideo",
}


class StorageError(Exception):
    """A storage operation failed; `retryable` says whether trying again may help, `auth` that the
    store refused the credentials (HTTP 403: wrong key, missing permission)."""

    def __init__(self, message: str, *, retryable: bool, auth: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.auth = auth


class UnsupportedStorage(ValueError):
    """The StorageSpec names a vendor or shape this module cannot serve."""


@dataclass(frozen=True)
class StorageCredentials:
    """Secrets for object storage; `repr` never shows values.

    Attributes:
        access_key: S3 access key ID; azure: storage account name.
        secret_key: S3 secret access key; azure: account key.
        session_token: S3 STS session token (optional).
        credential: GCS service-account JSON (raw JSON text, not base64).
    """

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    credential: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageCredentials:
        """Read `STORAGE_ACCESS_KEY`, `STORAGE_SECRET_KEY`, `STORAGE_SESSION_TOKEN`, `STORAGE_CREDENTIAL`."""
        env = os.environ if environ is None else environ
        return cls(
            access_key=env.get(ENV_ACCESS_KEY) or None,
            secret_key=env.get(ENV_SECRET_KEY) or None,
            session_token=env.get(ENV_SESSION_TOKEN) or None,
            credential=env.get(ENV_CREDENTIAL) or None,
        )

    @classmethod
    def from_secret(cls, vendor: str, data: Mapping[str, str] | None) -> StorageCredentials:
        """Credentials from a storage Secret's decoded keys (values are never logged or echoed).

        Keys: `accessKey`, `secretKey`, optional `stsToken` (S3 and its compatibles; azure:
        account name and account key); gcs `serviceAccountJson` (or `credential`); azure
        `connectionString` (its `AccountName` and `AccountKey` are used when the key pair is absent).
        """
        data = data or {}
        access = data.get("accessKey") or None
        secret = data.get("secretKey") or None
        if vendor == "azure" and not (access and secret) and data.get("connectionString"):
            parts = dict(p.split("=", 1) for p in data["connectionString"].split(";") if "=" in p)
            access, secret = parts.get("AccountName") or None, parts.get("AccountKey") or None
        return cls(
            access_key=access,
            secret_key=secret,
            session_token=data.get("stsToken") or None,
            credential=data.get("serviceAccountJson") or data.get("credential") or None,
        )


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: `key` relative to the bucket (or volume root), size in bytes."""

    key: str
    size_bytes: int
    last_modified: datetime | None


_E = opendal.exceptions
#: Every exception OpenDAL raises (they share no base class besides Exception).
OPENDAL_ERRORS: tuple[type[Exception], ...] = (
    _E.Error,
    _E.Unexpected,
    _E.Unsupported,
    _E.ConfigInvalid,
    _E.NotFound,
    _E.PermissionDenied,
    _E.IsADirectory,
    _E.NotADirectory,
    _E.AlreadyExists,
    _E.IsSameFile,
    _E.ConditionNotMatch,
    _E.RateLimited,
    _E.RangeNotSatisfied,
    _E.Conflict,
)


def _wrap(exc: Exception, what: str) -> StorageError:
    retryable = not isinstance(
        exc,
        opendal.exceptions.PermissionDenied
        | opendal.exceptions.ConfigInvalid
        | opendal.exceptions.Unsupported
        | opendal.exceptions.IsADirectory
        | opendal.exceptions.NotADirectory,
    )
    if isinstance(exc, opendal.exceptions.PermissionDenied):
        # A stable message (no request IDs), so a repeated refusal is recognised as the same failure.
        return StorageError(
            f"{what}: the storage refused the credentials (wrong key, or no permission)",
            retryable=retryable,
            auth=True,
        )
    # OpenDAL's message carries the request context (never the credentials); keep the first line.
    detail = str(exc).splitlines()[0][:300] if str(exc) else ""
    return StorageError(f"{what}: {type(exc).__name__}: {detail}", retryable=retryable)


class Store:
    """One storage location (bucket + prefix, or a directory) with streamed upload, stat, list, delete."""

    def __init__(
        self,
        operator: opendal.AsyncOperator,
        *,
        prefix: str,
        uri_base: str,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        """Use `from_spec` instead; `prefix` is `""` or ends with `/`, `uri_base` e.g. `s3://bucket/`,
        `chunk_bytes` the default upload part size (bytes)."""
        self._op = operator
        self.prefix = prefix
        self.uri_base = uri_base
        self.chunk_bytes = chunk_bytes

    @classmethod
    def from_spec(
        cls,
        spec: StorageSpec,
        credentials: StorageCredentials,
        *,
        volume_root: Path | None = None,
        s3_endpoint: str | None = None,
    ) -> Store:
        """Build the store for `spec`.

        Args:
            spec: the recording's `storage` block.
            credentials: secrets (see the module table).
            volume_root: for `vendor: volume`, the directory where the claim is mounted.
            s3_endpoint: endpoint for `vendor: s3` when the spec names none (default: AWS's own).

        Raises:
            UnsupportedStorage: vendor not in SUPPORTED_VENDORS, a required field is missing, or
                OpenDAL rejects the configuration (e.g. an azure account key that is not base64).
        """
        try:
            return cls._build(spec, credentials, volume_root=volume_root, s3_endpoint=s3_endpoint)
        except OPENDAL_ERRORS as exc:
            raise UnsupportedStorage(
                f"invalid {spec.vendor} storage configuration: {type(exc).__name__}"
            ) from exc

    @classmethod
    def _build(
        cls,
        spec: StorageSpec,
        credentials: StorageCredentials,
        *,
        volume_root: Path | None = None,
        s3_endpoint: str | None = None,
    ) -> Store:
        """`from_spec` without the OpenDAL error mapping."""
        prefix = "/".join(spec.prefix or [])
        prefix = f"{prefix}/" if prefix else ""
        options: dict[str, str]
        if spec.vendor == "volume":
            if volume_root is None:
                raise UnsupportedStorage("vendor volume needs the directory where the claim is mounted")
            volume_root.mkdir(parents=True, exist_ok=True)
            op = opendal.AsyncOperator("fs", root=str(volume_root.resolve()))
            claim = spec.volume.claimName if spec.volume else "volume"
            sub = f"{spec.volume.subPath.strip('/')}/" if spec.volume and spec.volume.subPath else ""
            return cls(op, prefix=prefix, uri_base=f"volume://{claim}/{sub}", chunk_bytes=LOCAL_CHUNK_BYTES)
        if not spec.bucket:
            raise UnsupportedStorage(f"vendor {spec.vendor} needs storage.bucket")
        if spec.vendor in ("s3", "s3-compatible", *S3_COMPATIBLE_ENDPOINTS):
            if spec.vendor == "s3-compatible" and not spec.endpoint:
                raise UnsupportedStorage("s3-compatible storage needs storage.endpoint")
            endpoint = spec.endpoint
            if endpoint is None and spec.vendor == "s3":
                endpoint = s3_endpoint
            region = spec.region or "us-east-1"
            if spec.vendor in S3_COMPATIBLE_ENDPOINTS:
                # OSS, COS, OBS and BOS serve their S3 API virtual-hosted style only.
                if endpoint is None:
                    endpoint = vendor_endpoint(spec.vendor, spec.region)
                region = (spec.region or "auto").lower().replace("_", "-")
            options = {
                "bucket": spec.bucket,
                "region": region,
                "disable_config_load": "true",
                "disable_ec2_metadata": "true",
            }
            if endpoint:
                options["endpoint"] = endpoint
            if not endpoint or spec.vendor in S3_COMPATIBLE_ENDPOINTS:
                options["enable_virtual_host_style"] = "true"
            if credentials.access_key and credentials.secret_key:
                options["access_key_id"] = credentials.access_key
                options["secret_access_key"] = credentials.secret_key
            else:
                options["allow_anonymous"] = "true"
            if credentials.session_token:
                options["session_token"] = credentials.session_token
            op = opendal.AsyncOperator("s3", **options)
            return cls(op, prefix=prefix, uri_base=f"s3://{spec.bucket}/")
        if spec.vendor == "gcs":
            options = {"bucket": spec.bucket, "disable_config_load": "true", "disable_vm_metadata": "true"}
            if spec.endpoint:
                options["endpoint"] = spec.endpoint
            if credentials.credential:
                options["credential"] = base64.b64encode(credentials.credential.encode()).decode()
            else:
                options["allow_anonymous"] = "true"
            return cls(
                opendal.AsyncOperator("gcs", **options), prefix=prefix, uri_base=f"gs://{spec.bucket}/"
            )
        if spec.vendor == "azure":
            if not credentials.access_key:
                raise UnsupportedStorage("azure needs the storage account name (STORAGE_ACCESS_KEY)")
            options = {
                "container": spec.bucket,
                "account_name": credentials.access_key,
                "endpoint": spec.endpoint or f"https://{credentials.access_key}.blob.core.windows.net",
            }
            if credentials.secret_key:
                options["account_key"] = credentials.secret_key
            return cls(
                opendal.AsyncOperator("azblob", **options),
                prefix=prefix,
                uri_base=f"azblob://{credentials.access_key}/{spec.bucket}/",
            )
        raise UnsupportedStorage(
            f"vendor {spec.vendor} is not supported here (use one of {SUPPORTED_VENDORS})"
        )

    def key_for(self, name: str) -> str:
        """The object key of file `name` (prefix + name)."""
        return f"{self.prefix}{name}"

    def uri(self, key: str) -> str:
        """A display URI of `key`: `s3://bucket/key`, `gs://…`, `azblob://account/container/…`, `volume://claim/…`."""
        return f"{self.uri_base}{key}"

    async def upload_file(self, local: Path, key: str, *, chunk_bytes: int | None = None) -> int:
        """Stream `local` to `key` (overwriting), reading READ_BYTES at a time; returns bytes sent.

        Memory stays bounded by about `chunk_bytes` (one multipart part in flight; default: the
        store's, DEFAULT_CHUNK_BYTES or LOCAL_CHUNK_BYTES for a volume).

        Raises:
            FileNotFoundError: `local` does not exist.
            StorageError: the store refused or failed the write.
        """
        content_type = CONTENT_TYPES.get(local.suffix, "application/octet-stream")
        sent = 0
        with local.open("rb") as source:
            try:
                writer = await self._op.open(
                    key, "wb", chunk=chunk_bytes or self.chunk_bytes, content_type=content_type
                )
                try:
                    while block := source.read(READ_BYTES):
                        await writer.write(block)
                        sent += len(block)
                finally:
                    await writer.close()
            except OPENDAL_ERRORS as exc:
                raise _wrap(exc, f"upload {key}") from exc
        return sent

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write `data` to `key` in one request (small objects; the sandbox's emulators use it).

        Raises:
            StorageError: the store refused or failed the write.
        """
        content_type = CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")
        try:
            await self._op.write(key, data, content_type=content_type)
        except OPENDAL_ERRORS as exc:
            raise _wrap(exc, f"write {key}") from exc

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and mtime of `key`, or None when it does not exist.

        Raises:
            StorageError: any failure other than "not found".
        """
        try:
            meta = await self._op.stat(key)
        except opendal.exceptions.NotFound:
            return None
        except OPENDAL_ERRORS as exc:
            raise _wrap(exc, f"stat {key}") from exc
        return ObjectInfo(key=key, size_bytes=meta.content_length, last_modified=meta.last_modified)

    async def delete(self, key: str) -> None:
        """Delete `key`; a missing object is not an error.

        Raises:
            StorageError: the store refused or failed the delete.
        """
        try:
            await self._op.delete(key)
        except opendal.exceptions.NotFound:
            return
        except OPENDAL_ERRORS as exc:
            raise _wrap(exc, f"delete {key}") from exc

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (recursively), sorted by key.

        `prefix` is a key prefix: `"team-a/"` lists a directory, `""` everything in the store.

        Raises:
            StorageError: the listing failed.
        """
        directory = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
        if "/" not in prefix:
            directory = ""
        found: list[ObjectInfo] = []
        try:
            async for entry in await self._op.list(directory or "/", recursive=True):
                if entry.path.endswith("/") or not entry.path.startswith(prefix):
                    continue
                meta = entry.metadata
                if not meta.is_file:
                    meta = await self._op.stat(entry.path)
                found.append(
                    ObjectInfo(
                        key=entry.path, size_bytes=meta.content_length, last_modified=meta.last_modified
                    )
                )
        except opendal.exceptions.NotFound:
            return []
        except OPENDAL_ERRORS as exc:
            raise _wrap(exc, f"list {prefix}") from exc
        return sorted(found, key=lambda o: o.key)


__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ENV_ACCESS_KEY",
    "ENV_CREDENTIAL",
    "ENV_SECRET_KEY",
    "ENV_SESSION_TOKEN",
    "S3_COMPATIBLE_ENDPOINTS",
    "SUPPORTED_VENDORS",
    "ObjectInfo",
    "StorageCredentials",
    "StorageError",
    "Store",
    "UnsupportedStorage",
    "vendor_endpoint",
]
