"""Reading what the muxers report as closed: the segment muxer's csv list and the HLS event playlist."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from recording_operator.recorder.segments import read_playlist, read_segment_list, stored_playlist


def test_segment_list_rows_in_order_and_bad_rows_skipped(tmp_path: Path) -> None:
    (tmp_path / "segments.csv").write_text(
        "seg_000003.mp4,0.000000,10.010000\nbroken\nx,a,b\nseg_000004.mp4,10.01,20\n"
    )
    assert read_segment_list(tmp_path) == [("seg_000003.mp4", 0.0, 10.01), ("seg_000004.mp4", 10.01, 20.0)]


def test_missing_lists_are_empty(tmp_path: Path) -> None:
    assert read_segment_list(tmp_path) == []
    assert read_playlist(tmp_path) == []


def test_playlist_parts_with_duration_and_program_date_time(tmp_path: Path) -> None:
    (tmp_path / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:00.000+0000\n#EXTINF:6.006000,\nseg_000007.ts\n"
        "#EXTINF:5.5,\nseg_000008.ts\n#EXTINF:1,\nother.ts\n"
    )
    assert read_playlist(tmp_path) == [
        (7, "seg_000007.ts", 6.006, datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        (8, "seg_000008.ts", 5.5, None),
    ]


def test_the_stored_playlist_ends_at_the_first_segment_not_stored() -> None:
    text = "#EXTM3U\n#EXTINF:6,\nseg_000007.ts\n#EXTINF:6,\nseg_000008.ts\n#EXT-X-ENDLIST"
    out = stored_playlist(text, {"seg_000007.ts": "rec-00007.ts"})
    assert out == "#EXTM3U\n#EXTINF:6,\nrec-00007.ts\n"
    both = {"seg_000007.ts": "rec-00007.ts", "seg_000008.ts": "rec-00009.ts"}
    assert (
        stored_playlist(text, both)
        == "#EXTM3U\n#EXTINF:6,\nrec-00007.ts\n#EXTINF:6,\nrec-00009.ts\n#EXT-X-ENDLIST\n"
    )
