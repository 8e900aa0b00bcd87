"""Grouping the short parts of a recording with `output.maxSize` into stored files (pure, no I/O).

FFmpeg 5.1's segment muxer cuts by time only (`segment_time`, `segment_times`, `segment_frames`,
`segment_atclocktime`; https://ffmpeg.org/ffmpeg-formats.html#segment), and restarting FFmpeg at a
size limit would leave a gap. So FFmpeg cuts short keyframe-aligned parts, and the agent joins
consecutive closed parts into one file with the concat demuxer (stream copy): :func:`fits` decides
whether the next part still fits the open file, :func:`ends_file` whether a part ends it by time.
"""

from __future__ import annotations

import math

#: Tolerance on part times (s): the segment list prints microseconds.
_EPSILON_S = 1e-3


def fits(group_bytes: int, part_bytes: int, max_bytes: int) -> bool:
    """True when a part of `part_bytes` may join an open file already holding `group_bytes` (both
    bytes): the sum stays within `max_bytes`, or the file is still empty (a single part larger than
    `max_bytes` is stored alone rather than lost or split)."""
    return group_bytes == 0 or group_bytes + part_bytes <= max_bytes


def ends_file(file_start_s: float, part_end_s: float, file_s: float | None) -> bool:
    """True when the part ending at `part_end_s` closes the file that began at `file_start_s` (both
    seconds of the FFmpeg session's media time, as in the segment list) by time: it reaches the next
    multiple of `file_s` (the segmentDuration) after the file's start, where a plain segmented
    recording would have cut. `file_s` None: files close by size only, never by time."""
    if file_s is None:
        return False
    return math.floor((part_end_s + _EPSILON_S) / file_s) > math.floor((file_start_s + _EPSILON_S) / file_s)
