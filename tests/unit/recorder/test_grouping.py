"""`output.maxSize`: the grouping decisions, the chunk FFmpeg cuts, the quantity parser."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from recording_operator.api.v1alpha1.localrecording import MAX_SIZE_PATTERN, RecordingOutput, quantity_bytes
from recording_operator.recorder.ffmpeg import max_size_chunk_seconds
from recording_operator.recorder.grouping import ends_file, fits

MI = 2**20


def group(sizes: list[int], max_bytes: int) -> list[list[int]]:
    """The files consecutive parts of `sizes` make by size alone (what the agent's `_group_add` does)."""
    files: list[list[int]] = []
    open_file: list[int] = []
    for size in sizes:
        if not fits(sum(open_file), size, max_bytes):
            files.append(open_file)
            open_file = []
        open_file.append(size)
    return [*files, open_file] if open_file else files


def test_parts_fill_a_file_up_to_the_limit() -> None:
    assert group([400, 400, 400, 400, 400], 1000) == [[400, 400], [400, 400], [400]]
    assert group([500, 500, 500], 1000) == [[500, 500], [500]]  # exactly the limit fits


def test_a_part_larger_than_the_limit_is_a_file_of_its_own() -> None:
    assert group([300, 1500, 300, 300], 1000) == [[300], [1500], [300, 300]]
    assert fits(0, 5 * MI, MI)


@pytest.mark.parametrize(
    ("start", "end", "file_s", "ends"),
    [
        (0.0, 4.0, 5.0, False),
        (0.0, 6.0, 5.0, True),  # the first keyframe after 5 s ends the file, as a plain 5 s segment
        (6.0, 10.0, 5.0, True),  # exactly on the multiple
        (6.0, 9.999_9995, 5.0, True),  # the segment list's microseconds
        (10.0, 12.0, 5.0, False),
        (0.0, 3600.0, None, False),  # by size only
    ],
)
def test_a_file_ends_where_a_segment_would(
    start: float, end: float, file_s: float | None, ends: bool
) -> None:
    assert ends_file(start, end, file_s) is ends


@pytest.mark.parametrize(
    ("file_s", "chunk"), [(None, 2.0), (60.0, 2.0), (5.0, 1.666667), (1.0, 1.0), (3.0, 1.5), (2.0, 2.0)]
)
def test_chunk_divides_the_segment_duration(file_s: float | None, chunk: float) -> None:
    assert max_size_chunk_seconds(file_s) == chunk


@pytest.mark.parametrize(
    ("text", "size"), [("1Mi", MI), ("500Mi", 500 * MI), ("2G", 2_000_000_000), ("1Ti", 2**40)]
)
def test_quantity_bytes(text: str, size: int) -> None:
    assert quantity_bytes(text) == size


@pytest.mark.parametrize("text", ["1.5Gi", "1e9", "500MB", "0Mi", "", "12", "64k"])
def test_quantity_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        quantity_bytes(text)


@pytest.mark.parametrize("unit", ["Mi", "M", "Gi", "G", "Ti", "T"])
def test_the_max_size_pattern_is_exactly_1mi_to_1ti(unit: str) -> None:
    """Around every bound of every unit: the pattern accepts a size iff 1Mi ≤ size ≤ 1Ti."""
    low, high = quantity_bytes("1Mi"), quantity_bytes("1Ti")
    factor = quantity_bytes(f"1{unit}")
    edges = {1, low // factor, low // factor + 1, high // factor, high // factor + 1}
    for edge in edges:
        for n in range(max(1, edge - 12), edge + 12):
            text = f"{n}{unit}"
            inside = low <= n * factor <= high
            assert (re.fullmatch(MAX_SIZE_PATTERN, text) is not None) is inside, text
            if inside:
                RecordingOutput(maxSize=text)
            else:
                with pytest.raises(ValidationError):
                    RecordingOutput(maxSize=text)
