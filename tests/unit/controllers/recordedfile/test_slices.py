"""HLS sessions of a provider: which keys a playlist names, the prefix guard, and the deletion of a
session's slices with its playlist (on a real directory through the volume store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers.recordedfile.decide import (
    MAX_PLAYLIST_BYTES,
    cascades_slices,
    is_session_slice,
    playlist_slice_keys,
    slice_listing_prefix,
)
from recording_operator.controllers.recordedfile.slices import delete_session_slices
from recording_operator.storage import StorageCredentials, Store

PLAYLIST = "rec/demo/sid1_room.m3u8"
SLICES = ["rec/demo/sid1_room_20250101000000000.ts", "rec/demo/sid1_room_20250101000010000.ts"]
TEXT = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:10
#EXTINF:10.000,
sid1_room_20250101000000000.ts
#EXTINF:4.500,
sid1_room_20250101000010000.ts
#EXT-X-ENDLIST
"""


def _spec(kind: str, key: str) -> RecordedFileSpec:
    raw: dict[str, Any] = {
        "recordingRef": {"kind": kind, "name": "r"},
        "location": {"vendor": "s3", "bucket": "b", "key": key},
    }
    return RecordedFileSpec.model_validate(raw)


def test_only_a_cloud_recordings_playlist_cascades() -> None:
    assert cascades_slices(_spec("CloudRecording", PLAYLIST))
    assert not cascades_slices(_spec("LocalRecording", "rec/demo/standup-00001.m3u8"))
    assert not cascades_slices(_spec("CloudRecording", "rec/demo/sid1_room_0.mp4"))


def test_playlist_names_its_slices_in_order_once() -> None:
    assert playlist_slice_keys(PLAYLIST, TEXT) == SLICES
    assert playlist_slice_keys(PLAYLIST, TEXT + SLICES[0].rsplit("/", 1)[1] + "\n") == SLICES
    assert playlist_slice_keys(PLAYLIST, TEXT.replace("\n", "\r\n")) == SLICES
    # Agora's individual recording: the stem is the whole playlist name.
    individual = "p/sid1_room__uid_s_7__uid_e_audio.m3u8"
    text = "#EXTM3U\n#EXTINF:10,\nsid1_room__uid_s_7__uid_e_audio_20250101000000000.ts\n"
    assert playlist_slice_keys(individual, text) == ["p/sid1_room__uid_s_7__uid_e_audio_20250101000000000.ts"]
    assert playlist_slice_keys("top.m3u8", "#EXTM3U\ntop_1.webm\n") == ["top_1.webm"]


@pytest.mark.parametrize(
    "uri",
    [
        "../demo/sid1_room_20250101000000000.ts",  # a path, even back into the same directory
        "sub/sid1_room_20250101000000000.ts",  # another directory
        "/rec/demo/sid1_room_20250101000000000.ts",  # absolute
        "https://cdn.example.com/sid1_room_20250101000000000.ts",  # a URL
        "sid1_room_20250101000000000.ts?token=x",  # a query
        "sid2_room_20250101000000000.ts",  # another session
        "sid1_room.m3u8",  # the playlist itself
        "sid1_room_0.mp4",  # the session's MP4 (a RecordedFile of its own)
        "sid1_roomx_20250101000000000.ts",  # a stem that merely starts like ours
        "other.ts",
    ],
)
def test_playlist_lines_outside_the_session_are_never_keys(uri: str) -> None:
    assert playlist_slice_keys(PLAYLIST, f"#EXTM3U\n#EXTINF:10,\n{uri}\n") == []


def test_listing_guard_needs_the_documented_slice_name() -> None:
    assert slice_listing_prefix(PLAYLIST) == "rec/demo/sid1_room_"
    assert all(is_session_slice(k, PLAYLIST, named=False) for k in SLICES)
    for key in (
        "rec/demo/sid1_room_neighbour.ts",  # named by the playlist only would do; listed: no
        "rec/demo/sid1_room_0.mp4",
        "rec/demo/sid1_room_2025010100000000.ts",  # 16 digits
        "rec/demo/sub/sid1_room_20250101000000000.ts",
        "rec/other/sid1_room_20250101000000000.ts",
        "rec/demo/sid1_room.m3u8",
    ):
        assert not is_session_slice(key, PLAYLIST, named=False), key
    assert is_session_slice("rec/demo/sid1_room_neighbour.ts", PLAYLIST, named=True)


def _store(tmp_path: Path) -> Store:
    spec = StorageSpec(vendor="volume", volume={"claimName": "rec"})
    return Store.from_spec(spec, StorageCredentials(), volume_root=tmp_path)


NEIGHBOURS = [
    "rec/demo/sid1_room_0.mp4",
    "rec/demo/sid1_room_neighbour.ts",
    "rec/demo/sid2_room.m3u8",
    "rec/demo/sid2_room_20250101000000000.ts",
    "rec/demo/sub/sid1_room_20250101000000000.ts",
]


async def _put(store: Store, keys: list[str], playlist: bytes | None = TEXT.encode()) -> None:
    for key in keys:
        await store.put_bytes(key, b"slice")
    if playlist is not None:
        await store.put_bytes(PLAYLIST, playlist)


async def _left(store: Store) -> set[str]:
    return {o.key for o in await store.list("")}


async def test_slices_named_by_the_playlist_are_deleted_and_nothing_else(tmp_path: Path) -> None:
    store = _store(tmp_path)
    await _put(store, SLICES + NEIGHBOURS)
    assert await delete_session_slices(store, PLAYLIST) == 2
    assert await _left(store) == {PLAYLIST, *NEIGHBOURS}  # the caller deletes the playlist last
    # A retry (the process died before the playlist went) finds the same keys and is done.
    assert await delete_session_slices(store, PLAYLIST) == 2
    assert await _left(store) == {PLAYLIST, *NEIGHBOURS}


async def test_without_the_playlist_the_slices_are_listed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    await _put(store, SLICES + NEIGHBOURS, playlist=None)
    assert await delete_session_slices(store, PLAYLIST) == 2
    assert await _left(store) == set(NEIGHBOURS)
    assert await delete_session_slices(store, PLAYLIST) == 0


async def test_an_oversized_playlist_is_not_parsed_but_listed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    named = "rec/demo/sid1_room_neighbour.ts"
    huge = (TEXT + "neighbour\n" * (MAX_PLAYLIST_BYTES // 10)).replace("#EXT-X-ENDLIST", named[9:])
    await _put(store, SLICES + NEIGHBOURS, playlist=huge.encode())
    assert await delete_session_slices(store, PLAYLIST) == 2
    assert await _left(store) == {PLAYLIST, *NEIGHBOURS}
