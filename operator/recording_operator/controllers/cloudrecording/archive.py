"""RealtimeKit archive: copy the files RealtimeKit uploaded to its own bucket into object storage of
the user's (`spec.realtimeKit.archive`), before their download URLs expire (7 days after upload,
https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/).

Each file is downloaded from its `download_url` to a temporary file (memory stays bounded) and
uploaded with the storage layer (OpenDAL) to `<prefix>/<recordingId>/<file name>`. A copy is
idempotent (the same key is overwritten with the same bytes), so a crash between the copy and the
RecordedFile's creation only repeats the copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.controllers._kit.errors import ProviderFailure
from recording_operator.controllers.cloudrecording.driver import RecordingContext
from recording_operator.controllers.recordedfile.publication import FileRecord
from recording_operator.providers.realtimekit import RecordingState
from recording_operator.storage import StorageCredentials, StorageError, Store, UnsupportedStorage

#: Seconds one download may take before the copy is tried again at the next observation.
DOWNLOAD_TIMEOUT_S = 300.0


def archive_key(state: RecordingState, file_name: str) -> str:
    """The copy's name under the archive prefix: `<recordingId>/<file name>` (no directories from the URL)."""
    return f"{state.id}/{file_name.rsplit('/', 1)[-1]}"


async def archive_files(
    ctx: RecordingContext, storage: StorageSpec, state: RecordingState
) -> list[FileRecord]:
    """Copy every file of an UPLOADED recording that has a download URL into `storage`.

    Returns:
        One record per copied file, keyed in `storage` (size in bytes, start time of the recording);
        empty before UPLOADED.

    Raises:
        SecretNotFound, KubeApiError: the archive's credentials Secret could not be read.
        ProviderFailure: `ArchiveFailed` (retryable): a download or an upload failed, or the archive
            storage cannot be used; the RecordedFiles wait for the next observation.
    """
    if state.status != "UPLOADED":
        return []
    ref = storage.credentialsSecretRef
    secret = await ctx.runtime.kube.read_secret(ctx.namespace, ref.name) if ref is not None else None
    try:
        store = Store.from_spec(
            storage,
            StorageCredentials.from_secret(storage.vendor, secret),
            s3_endpoint=ctx.runtime.settings.storage_s3_endpoint,
        )
    except UnsupportedStorage as exc:
        raise ProviderFailure(
            "ArchiveFailed", f"the archive storage cannot be used: {exc}", retryable=True
        ) from exc
    records: list[FileRecord] = []
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as http:
        for file in state.files:
            if not file.download_url:
                continue
            key = store.key_for(archive_key(state, file.file_name))
            size = await _copy(http, store, file.download_url, key, file.file_name)
            records.append(FileRecord(key=key, size_bytes=size, started_at=state.started_time))
    return records


async def _copy(http: httpx.AsyncClient, store: Store, url: str, key: str, name: str) -> int:
    """Download `url` to a temporary file and upload it to `key`; returns the bytes copied.

    Raises:
        ProviderFailure: ArchiveFailed (the message names the file, never the signed URL).
    """
    with tempfile.TemporaryDirectory(prefix="rtk-archive-") as tmp:
        local = Path(tmp) / (name.rsplit("/", 1)[-1] or "file")
        try:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ProviderFailure(
                        "ArchiveFailed",
                        f"downloading {name} from the RealtimeKit bucket answered HTTP {response.status_code}",
                        retryable=True,
                    )
                with local.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise ProviderFailure(
                "ArchiveFailed", f"downloading {name} failed: {type(exc).__name__}", retryable=True
            ) from exc
        try:
            return await store.upload_file(local, key)
        except StorageError as exc:
            raise ProviderFailure(
                "ArchiveFailed", f"uploading {name} to the archive failed: {exc}", retryable=True
            ) from exc
