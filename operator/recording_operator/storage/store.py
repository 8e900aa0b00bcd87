"""`Store`: one storage location (bucket + prefix, or a directory) over an OpenDAL AsyncOperator.

Object keys are `<prefix elements joined by "/">/<name>`. Uploads stream the local file in
`chunk_bytes` parts (S3 multipart) through OpenDAL's streaming writer, so memory stays bounded by
about one chunk whatever the file size (measured: a 30 MB upload to moto raised RSS by ~17 MB with
5 MiB chunks).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import opendal
import opendal.exceptions

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage.credentials import StorageCredentials
from recording_operator.storage.errors import (
    OPENDAL_ERRORS,
    StorageError,
    UnsupportedStorage,
    wrap_opendal_error,
)
from recording_operator.storage.vendors import DEFAULT_CHUNK_BYTES, open_operator
from recording_operator.storage.volume import UnsafePath, path_parts

#: Bytes read from the local file per write call.
READ_BYTES = 1024 * 1024
#: What reading an open object raises: OpenDAL's errors, and OSError from its file reader (e.g. an
#: object deleted after it was opened).
_READ_ERRORS: tuple[type[Exception], ...] = (*OPENDAL_ERRORS, OSError)

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".flv": "video/x-flv",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp3": "audio/mpeg",
    ".avi": "video/x-msvideo",
}


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: `key` relative to the bucket (or volume root), size in bytes."""

    key: str
    size_bytes: int
    last_modified: datetime | None


class Store:
    """One storage location (bucket + prefix, or a directory) with streamed upload, stat, list, delete."""

    def __init__(
        self,
        operator: opendal.AsyncOperator,
        *,
        prefix: str,
        uri_base: str,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        local_root: Path | None = None,
    ) -> None:
        """Use `from_spec` instead; `prefix` is `""` or ends with `/`, `uri_base` e.g. `s3://bucket/`,
        `chunk_bytes` the default upload part size (bytes), `local_root` the directory `operator` is
        rooted at when it is a filesystem (`volume`) store."""
        self._op = operator
        self.prefix = prefix
        self.uri_base = uri_base
        self.chunk_bytes = chunk_bytes
        self._local_root = local_root

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
            built = open_operator(spec, credentials, volume_root=volume_root, s3_endpoint=s3_endpoint)
        except OPENDAL_ERRORS as exc:
            raise UnsupportedStorage(
                f"invalid {spec.vendor} storage configuration: {type(exc).__name__}"
            ) from exc
        return cls(
            built.operator,
            prefix=built.prefix,
            uri_base=built.uri_base,
            chunk_bytes=built.chunk_bytes,
            local_root=built.local_root,
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
        store's, DEFAULT_CHUNK_BYTES). A `volume` store copies in the kernel instead (`_copy_local`,
        in a worker thread; `chunk_bytes` does not apply).

        Raises:
            FileNotFoundError: `local` does not exist.
            StorageError: the store refused or failed the write.
        """
        if self._local_root is not None:
            return await asyncio.to_thread(self._copy_local, self._local_root, local, key)
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
                raise wrap_opendal_error(exc, f"upload {key}") from exc
        return sent

    @staticmethod
    def _copy_local(root: Path, local: Path, key: str) -> int:
        """Copy `local` to `root/key` (parent directories created, an existing file overwritten, as
        OpenDAL's fs service writes) with `shutil.copyfile`, which copies in the kernel on Linux
        (`os.sendfile`); returns the bytes copied.

        Measured on a 7.5 MB segment (10 s of 6 Mb/s): about 2 ms of CPU against about 16 ms through
        OpenDAL's streaming writer (1 MiB blocks through Python).

        Raises:
            FileNotFoundError: `local` does not exist.
            StorageError: `key` is not a plain relative path, or the target cannot be written.
        """
        try:
            target = root.joinpath(*path_parts(key))
        except UnsafePath as exc:
            raise StorageError(f"upload {key}: {exc}", retryable=False) from exc
        if not local.exists():
            raise FileNotFoundError(str(local))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
        except FileNotFoundError:
            if not local.exists():
                raise
            raise StorageError(f"upload {key}: the target directory vanished", retryable=True) from None
        except OSError as exc:
            raise StorageError(f"upload {key}: {exc.strerror or exc}", retryable=True) from exc
        return target.stat().st_size

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write `data` to `key` in one request (small objects; the sandbox's emulators use it).

        Raises:
            StorageError: the store refused or failed the write.
        """
        content_type = CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")
        try:
            await self._op.write(key, data, content_type=content_type)
        except OPENDAL_ERRORS as exc:
            raise wrap_opendal_error(exc, f"write {key}") from exc

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
            raise wrap_opendal_error(exc, f"stat {key}") from exc
        return ObjectInfo(key=key, size_bytes=meta.content_length, last_modified=meta.last_modified)

    async def read_head(self, key: str, max_bytes: int) -> bytes | None:
        """At most the first `max_bytes` bytes of `key` (READ_BYTES per request), None when it does
        not exist (a `stat` first): a small object (a playlist) is read whole, a large one never
        more than that.

        Raises:
            StorageError: any failure other than "not found" (also an object deleted between the
                `stat` and the read: retryable).
        """
        if await self.stat(key) is None:
            return None
        data = bytearray()
        try:
            reader = await self._op.open(key, "rb")
            try:
                while len(data) < max_bytes:
                    block = await reader.read(min(READ_BYTES, max_bytes - len(data)))
                    if not block:
                        break
                    data += block
            finally:
                await reader.close()
        except _READ_ERRORS as exc:
            raise wrap_opendal_error(exc, f"read {key}") from exc
        return bytes(data)

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
            raise wrap_opendal_error(exc, f"delete {key}") from exc

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
            raise wrap_opendal_error(exc, f"list {prefix}") from exc
        return sorted(found, key=lambda o: o.key)

    async def presign_read(self, key: str, expires_s: int) -> str:
        """A URL that GETs `key` without credentials for `expires_s` seconds (S3 SigV4 presigning
        allows at most 7 days, https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html).

        Raises:
            StorageError: the store cannot presign (e.g. a local volume) or refused.
        """
        try:
            request = await self._op.presign_read(key, expires_s)
        except OPENDAL_ERRORS as exc:
            raise wrap_opendal_error(exc, f"presign {key}") from exc
        return str(request.url)

    async def download(self, key: str, local: Path, *, on_bytes: Callable[[int], None] | None = None) -> int:
        """Stream `key` into the file `local` (overwritten), READ_BYTES at a time (bounded memory);
        `on_bytes(n)` after each block; returns the bytes written.

        Raises:
            StorageError: the object is missing (`retryable` False) or the read failed.
            OSError: `local` cannot be written.
        """
        written = 0
        try:
            reader = await self._op.open(key, "rb")
            try:
                with local.open("wb") as target:
                    while block := await reader.read(READ_BYTES):
                        target.write(block)
                        written += len(block)
                        if on_bytes is not None:
                            on_bytes(len(block))
            finally:
                await reader.close()
        except OPENDAL_ERRORS as exc:
            raise wrap_opendal_error(exc, f"read {key}") from exc
        return written
