"""What FFmpeg's muxers report as closed, read from the parts directory (pure file reading, no FFmpeg).

- The segment muxer's csv list (`-segment_list segments.csv -segment_list_type csv
  -segment_list_flags +live`) gets a line `name,start,end` (seconds since the run's start) only
  when a segment is closed (measured with Debian's FFmpeg 5.1.9): a listed file is complete.
- The HLS muxer's event playlist lists a segment (`#EXTINF:<duration>,` and, with
  `program_date_time`, `#EXT-X-PROGRAM-DATE-TIME:`) once it is written
  (https://ffmpeg.org/ffmpeg-formats.html#hls-2).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from recording_operator.recorder.ffmpeg import HLS_PLAYLIST, SEGMENT_LIST, parse_part_name


def read_segment_list(parts_dir: Path) -> list[tuple[str, float, float]]:
    """(file name, start s, end s) of every closed segment in `parts_dir/segments.csv`, in order.

    A missing list is empty; rows that are short or carry no numbers are skipped.
    """
    path = parts_dir / SEGMENT_LIST
    if not path.exists():
        return []
    rows = []
    for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8", errors="replace"))):
        if len(row) >= 3:
            with contextlib.suppress(ValueError):
                rows.append((row[0], float(row[1]), float(row[2])))
    return rows


def read_playlist(parts_dir: Path) -> list[tuple[int, str, float, datetime | None]]:
    """(index, file name, duration s, program date time) of each part listed in
    `parts_dir/index.m3u8`, in order; entries that are not parts are skipped, a missing playlist
    is empty."""
    path = parts_dir / HLS_PLAYLIST
    if not path.exists():
        return []
    out = []
    duration = 0.0
    pdt: datetime | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#EXTINF:"):
            with contextlib.suppress(ValueError):
                duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            try:
                pdt = datetime.fromisoformat(line.split(":", 1)[1].strip())
            except ValueError:
                pdt = None
        elif line and not line.startswith("#"):
            index = parse_part_name(Path(line).name)
            if index is not None:
                out.append((index, Path(line).name, duration, pdt))
            pdt = None
    return out


def stored_playlist(text: str, stored: Mapping[str, str]) -> str:
    """The playlist `text` as far as its segments are stored: each segment URI replaced by its
    stored name from `stored` (part file name → stored name), and everything from the first segment
    not in `stored` on left out, with the tags that belong to it (`#EXTINF`, ...): segments are
    stored in playlist order, so what is missing is the playlist's end. `#EXT-X-ENDLIST` is kept only
    when every segment before it is stored. (RFC 8216 §4.3.3.4: a client follows a playlist without
    EXT-X-ENDLIST and reloads it.)"""
    lines: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = stored.get(Path(line).name)
            if name is None:
                return "\n".join(lines) + "\n"
            lines += [*pending, name]
            pending = []
        else:
            pending.append(line)
    return "\n".join(lines + pending) + "\n"
