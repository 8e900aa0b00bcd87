"""Parser of FFmpeg's `-progress` key=value stream (https://ffmpeg.org/ffmpeg.html#Advanced-options,
option `-progress`; shapes measured with Debian's FFmpeg 5.1.9).

A block is a run of `key=value` lines ending with `progress=continue` or `progress=end`. Gotchas
handled: `out_time_ms` is in microseconds too (trac #7345), so only `out_time_us` is used; any value
may be `N/A`; `speed` is space-padded (`speed=   1x`); `bitrate` carries a unit (`1951.8kbits/s`);
`total_size` lags the disk (AVIO buffering), so file sizes come from the filesystem instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressBlock:
    """One parsed block; None where FFmpeg printed `N/A` or omitted the key (no video: no frame/fps)."""

    frame: int | None
    fps: float | None
    bitrate_kbps: float | None
    total_size_bytes: int | None
    out_time_us: int | None
    dup_frames: int | None
    drop_frames: int | None
    speed: float | None
    progress: str

    @property
    def out_time_ms(self) -> int | None:
        """Media time written, ms (`out_time_us // 1000`)."""
        return None if self.out_time_us is None else self.out_time_us // 1000


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or raw == "N/A":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _float(raw: str | None, suffix: str = "") -> float | None:
    if raw is None:
        return None
    raw = raw.strip()
    if suffix and raw.endswith(suffix):
        raw = raw[: -len(suffix)].strip()
    if not raw or raw == "N/A":
        return None
    try:
        return float(raw)
    except ValueError:
        return None


class ProgressParser:
    """Feed lines with `feed`; it returns a ProgressBlock when a block ends, else None."""

    def __init__(self) -> None:
        """Start with an empty block."""
        self._values: dict[str, str] = {}

    def feed(self, line: str) -> ProgressBlock | None:
        """Consume one line (with or without newline); lines without `=` are ignored."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        key = key.strip()
        if key != "progress":
            self._values[key] = value
            return None
        values, self._values = self._values, {}
        us = _int(values.get("out_time_us"))
        if us is not None and us < 0:  # older builds: INT64_MIN before the first packet
            us = None
        return ProgressBlock(
            frame=_int(values.get("frame")),
            fps=_float(values.get("fps")),
            bitrate_kbps=_float(values.get("bitrate"), "kbits/s"),
            total_size_bytes=_int(values.get("total_size")),
            out_time_us=us,
            dup_frames=_int(values.get("dup_frames")),
            drop_frames=_int(values.get("drop_frames")),
            speed=_float(values.get("speed"), "x"),
            progress=value.strip(),
        )
