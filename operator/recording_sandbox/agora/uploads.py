"""The emulators' "upload": small placeholder objects for the files they report, written into the
configured storage when it is reachable (the sandbox's S3 server), so cleanup is real end to end.

Agora writes to `storageConfig` (https://docs.agora.io/en/cloud-recording/rest-api/start): vendor 11 (S3-compatible) at `extensionParams.endpoint`,
and vendor 1 (Amazon S3) at `s3_endpoint`, the sandbox's stand-in for AWS (set by the sandbox
runner; unset: vendor 1 is not written). RealtimeKit writes `storage_config` of type `aws` (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/custom-cloud-storage/,
which has no endpoint field) to `s3_endpoint` likewise. Other vendors are not written. A refused or
unreachable write is counted in `failures` and tried again the next time the file is reported
(`write` returns how many failed, so a caller can retry them: an Agora stop then answers
`backuped`, server.py).
Agora's HLS playlists are real media playlists naming their `.ts` slices, written after the slices
and again whenever a slice is added (the Agora server: `AgoraState.playlists`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage import StorageCredentials, StorageError, Store, UnsupportedStorage

#: Size of a placeholder object in bytes (real bytes, so sizes and deletions are observable).
PLACEHOLDER_BYTES = 4096

logger = logging.getLogger(__name__)


def placeholder(key: str) -> bytes:
    """PLACEHOLDER_BYTES bytes naming the file (deterministic)."""
    head = f"sandbox recording placeholder: {key}\n".encode()
    return (head * (PLACEHOLDER_BYTES // len(head) + 1))[:PLACEHOLDER_BYTES]


class StorageWriter:
    """Writes placeholder objects once per (endpoint, bucket, key), and objects with given contents
    (HLS playlists) again whenever their contents change.

    Attributes:
        s3_endpoint: where "Amazon S3" objects go in the sandbox (None: not written).
        written: number of objects written; failures: writes refused or failed.
    """

    def __init__(self, s3_endpoint: str | None = None) -> None:
        self.s3_endpoint = s3_endpoint
        self.written = 0
        self.failures = 0
        #: (endpoint, bucket, key) → the sha256 of what was written there.
        self._done: dict[tuple[str, str, str], str] = {}

    async def write(
        self,
        endpoint: str | None,
        bucket: str | None,
        access_key: str,
        secret_key: str,
        keys: list[str],
        contents: Mapping[str, bytes] | None = None,
    ) -> int:
        """Write each of `keys` (in order) whose bytes differ from what was written before: its
        `contents` entry, else a placeholder; skip when there is no endpoint. Returns how many
        writes failed (0: every key is stored)."""
        if not endpoint or not bucket:
            return 0
        contents = contents or {}
        todo: list[tuple[str, bytes, str]] = []
        for key in dict.fromkeys(keys):
            if not key:
                continue
            data = contents.get(key)
            if data is None:
                data = placeholder(key)
            digest = hashlib.sha256(data).hexdigest()
            if self._done.get((endpoint, bucket, key)) != digest:
                todo.append((key, data, digest))
        if not todo:
            return 0
        try:
            store = Store.from_spec(
                StorageSpec(vendor="s3-compatible", bucket=bucket, endpoint=endpoint),
                StorageCredentials(access_key=access_key or None, secret_key=secret_key or None),
            )
        except UnsupportedStorage:
            self.failures += 1
            return len(todo)
        failed = 0
        for key, data, digest in todo:
            try:
                await store.put_bytes(key, data)
            except StorageError as exc:
                self.failures += 1
                failed += 1
                logger.info(f"emulated upload of {key} to {endpoint}/{bucket} failed: {exc}")
                continue
            self._done[(endpoint, bucket, key)] = digest
            self.written += 1
        return failed

    def agora_endpoint(self, storage_config: dict[str, object]) -> str | None:
        """Where an Agora storageConfig's files go here: vendor 11 → its endpoint, 1 → s3_endpoint."""
        vendor = storage_config.get("vendor")
        if vendor == 11:
            params = storage_config.get("extensionParams")
            endpoint = params.get("endpoint") if isinstance(params, dict) else None
            return str(endpoint) if endpoint else None
        if vendor == 1:
            return self.s3_endpoint
        return None
