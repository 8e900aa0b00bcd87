"""Getting at a RecordedFile's bytes from a workstation, with the caller's own access: the
RecordedFile and the storage Secret it names (`spec.credentialsSecretRef`) are read through kubectl
with the caller's kubeconfig (so Kubernetes RBAC decides who may download), then the storage layer
presigns a time-limited URL or streams the object to a local file.

Used by `recording-operator files url|get` and `kubectl recording url|get` (the same functions).
Locations: an object-storage `key` (presigned or streamed), a provider `url` (printed as it is,
with its expiry; downloaded over HTTPS), a `volume` file (not reachable from outside the cluster:
the error says so). Secret values are never printed.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from recording_operator.api import GROUP
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.storage import StorageCredentials, Store

#: Default lifetime of a presigned URL (s).
DEFAULT_URL_EXPIRY_S = 3600
#: Longest lifetime S3 SigV4 presigning allows (s): 7 days,
#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html
MAX_URL_EXPIRY_S = 7 * 24 * 3600
#: Environment variable with the endpoint for `vendor: s3` locations that name none (as the operator's).
S3_ENDPOINT_ENV = "STORAGE_S3_ENDPOINT"


class DownloadError(RuntimeError):
    """The file cannot be reached from here (a volume file, a missing Secret key, ...): a message for
    the user, without secrets."""


class JsonGetter(Protocol):
    """What reads objects: `json("get", "<resource>", name)` returns the object as JSON."""

    def json(self, *args: str) -> Any: ...


@dataclass(frozen=True)
class FileAccess:
    """A RecordedFile's validated spec and its storage Secret's decoded keys (empty without one)."""

    name: str
    spec: RecordedFileSpec
    secret: dict[str, str]

    @property
    def file_name(self) -> str:
        """The stored file's own name (last path element of its key, URL path or volume path)."""
        loc = self.spec.location
        text = loc.key or (loc.volume.path if loc.volume else None) or (loc.url or "").split("?", 1)[0]
        return text.rstrip("/").rsplit("/", 1)[-1] or self.name

    def store(self) -> Store:
        """The Store of an object-storage location.

        Raises:
            DownloadError: the location is not an object-storage key.
            UnsupportedStorage: the vendor or its configuration cannot be served.
        """
        loc = self.spec.location
        if loc.vendor is None or loc.bucket is None or loc.key is None:
            raise DownloadError(f"RecordedFile {self.name} is not in object storage")
        storage = StorageSpec(vendor=loc.vendor, bucket=loc.bucket, region=loc.region, endpoint=loc.endpoint)
        return Store.from_spec(
            storage,
            StorageCredentials.from_secret(loc.vendor, self.secret),
            s3_endpoint=os.environ.get(S3_ENDPOINT_ENV) or None,
        )


def load(kubectl: JsonGetter, name: str) -> FileAccess:
    """Read RecordedFile `name` and the Secret its spec names (same namespace) with the caller's access.

    Raises:
        DownloadError: the spec is not a valid RecordedFile spec, or the location is a volume file.
        Whatever `kubectl.json` raises when an object cannot be read (not found, forbidden).
    """
    obj = kubectl.json("get", f"recordedfiles.{GROUP}", name)
    try:
        spec = RecordedFileSpec.model_validate(obj.get("spec") or {})
    except ValueError as exc:
        raise DownloadError(f"RecordedFile {name} has an invalid spec: {exc}") from exc
    if spec.location.volume is not None:
        volume = spec.location.volume
        raise DownloadError(
            f"RecordedFile {name} is {volume.path} on PersistentVolumeClaim {volume.claimName}: it is not "
            "reachable from outside the cluster (copy it from a Pod that mounts the claim, e.g. kubectl cp)"
        )
    secret: dict[str, str] = {}
    if spec.location.key is not None and spec.credentialsSecretRef is not None:
        data = kubectl.json("get", "secret", spec.credentialsSecretRef.name).get("data") or {}
        secret = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return FileAccess(name, spec, secret)


async def url(access: FileAccess, *, expires_s: int = DEFAULT_URL_EXPIRY_S) -> tuple[str, str | None]:
    """`(url, expiry note)`: a presigned GET URL valid `expires_s` seconds for an object-storage key,
    or the provider's own URL (whose expiry the provider set: `location.expiresAt`).

    Raises:
        DownloadError: `expires_s` outside 1 s .. 7 days.
        StorageError, UnsupportedStorage: the store cannot presign.
    """
    if not 1 <= expires_s <= MAX_URL_EXPIRY_S:
        raise DownloadError(f"the URL lifetime must be 1 to {MAX_URL_EXPIRY_S} seconds (7 days)")
    loc = access.spec.location
    if loc.url is not None:
        return loc.url, (f"the provider's URL, valid until {loc.expiresAt}" if loc.expiresAt else None)
    assert loc.key is not None
    return await access.store().presign_read(loc.key, expires_s), f"valid for {expires_s} s"


async def size_of(access: FileAccess) -> int | None:
    """The stored size in bytes (a `stat`; `spec.sizeBytes` for a provider URL), None when unknown.

    Raises:
        StorageError, UnsupportedStorage: the store failed.
    """
    loc = access.spec.location
    if loc.key is None:
        return access.spec.sizeBytes
    info = await access.store().stat(loc.key)
    return info.size_bytes if info is not None else None


async def download(access: FileAccess, dest: Path, *, on_bytes: Callable[[int], None] | None = None) -> int:
    """Stream the file into `dest` (overwritten) with bounded memory; `on_bytes(n)` per block; returns
    the bytes written. A provider URL is fetched over HTTPS with certificate verification.

    Raises:
        StorageError, UnsupportedStorage: the store failed (the object is missing, access refused).
        httpx.HTTPError: the provider URL failed (expired: HTTP 403/404).
        OSError: `dest` cannot be written.
    """
    loc = access.spec.location
    if loc.key is not None:
        return await access.store().download(loc.key, dest, on_bytes=on_bytes)
    assert loc.url is not None
    written = 0
    async with httpx.AsyncClient(timeout=60, follow_redirects=True) as client:
        async with client.stream("GET", loc.url) as response:
            response.raise_for_status()
            with dest.open("wb") as target:
                async for block in response.aiter_bytes():
                    target.write(block)
                    written += len(block)
                    if on_bytes is not None:
                        on_bytes(len(block))
    return written


# --- the commands (`recording-operator files url|get`, `kubectl recording url|get`) ---------------


def url_command(kubectl: JsonGetter, name: str, *, expires_s: int, console: Console) -> str:
    """Print RecordedFile `name`'s URL on stdout (alone, for scripts) and its lifetime on stderr.

    Raises:
        DownloadError, StorageError, UnsupportedStorage: see `load` and `url`.
    """
    access = load(kubectl, name)
    link, note = asyncio.run(url(access, expires_s=expires_s))
    print(link)
    if note:
        console.print(f"[dim]{note}[/dim]")
    return link


def get_command(kubectl: JsonGetter, name: str, *, output: Path | None, console: Console) -> Path:
    """Download RecordedFile `name` to `output` (default: the stored file's name in the current
    directory; an existing directory gets that name inside it) with a progress bar on stderr.

    Raises:
        DownloadError, StorageError, UnsupportedStorage, httpx.HTTPError, OSError: see `load` and
            `download`.
    """
    access = load(kubectl, name)
    dest = output or Path(access.file_name)
    if dest.is_dir():
        dest = dest / access.file_name

    async def run() -> int:
        total = await size_of(access)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(access.file_name, total=total)
            return await download(access, dest, on_bytes=lambda n: progress.advance(task, n))

    written = asyncio.run(run())
    console.print(f"{dest} ({written} bytes)")
    return dest
