"""Deleting a provider HLS session's slices with its playlist (the RecordedFile finalizer calls this
before it deletes the playlist itself).

A CloudRecording's `.m3u8` RecordedFile stands for the whole session: Agora uploads the `.ts`
(or `.webm`) slices beside the playlist and reports only the M3U8 file name
(https://docs.agora.io/en/cloud-recording/rest-api/query, `fileList`;
https://docs.agora.io/en/cloud-recording/develop/manage-files, "Naming conventions"), so no
RecordedFile of their own would ever delete them.

Order and retries: the playlist is read (at most `MAX_PLAYLIST_BYTES`), the slices it names are
deleted, and only then the caller deletes the playlist: a process that dies in between finds the
playlist again on the retry and finishes (deleting a missing slice counts as done). When the
playlist is already gone (deleted by hand, or a retry after the playlist went), or too large to
read, the slices are found by listing `<dir>/<stem>_` and keeping the keys of the documented
`<stem>_<utc>.ts` form. Every key passes `decide.is_session_slice` first: nothing outside the
playlist's directory and session stem is ever deleted.
"""

from __future__ import annotations

import asyncio

from recording_operator.controllers.recordedfile.decide import (
    MAX_PLAYLIST_BYTES,
    is_session_slice,
    playlist_slice_keys,
    slice_listing_prefix,
)
from recording_operator.storage import Store

#: Slice deletions in flight at once.
DELETE_CONCURRENCY = 8


async def session_slice_keys(store: Store, playlist_key: str) -> list[str]:
    """The keys of the session's slices: those the playlist names, or, when it is missing or larger
    than MAX_PLAYLIST_BYTES, those a listing of `<dir>/<stem>_` finds with Agora's slice names.

    Raises:
        StorageError: the read or the listing failed.
    """
    data = await store.read_head(playlist_key, MAX_PLAYLIST_BYTES + 1)
    if data is not None and len(data) <= MAX_PLAYLIST_BYTES:
        return playlist_slice_keys(playlist_key, data.decode("utf-8", errors="replace"))
    listed = await store.list(slice_listing_prefix(playlist_key))
    return [o.key for o in listed if is_session_slice(o.key, playlist_key, named=False)]


async def delete_session_slices(store: Store, playlist_key: str) -> int:
    """Delete the slices of the playlist at `playlist_key` (not the playlist), DELETE_CONCURRENCY at
    a time; returns how many keys were deleted (a key already gone counts).

    Raises:
        StorageError: a read, listing or delete failed (the caller retries; the playlist is kept,
            so the retry finds the same slices).
    """
    keys = await session_slice_keys(store, playlist_key)
    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def delete(key: str) -> None:
        async with limit:
            await store.delete(key)

    # Every delete ends before this returns or raises (none left running behind a retry).
    results = await asyncio.gather(*(delete(key) for key in keys), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return len(keys)
