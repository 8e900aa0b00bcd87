"""Parser of FFmpeg's `-progress` key=value stream (https://ffmpeg.org/ffmpeg.html#Advanced-options,
option `-progress`; shapes measured with Debian's FFmpeg 5.1.9).

A block is a run of `key=value` lines ending with `progress=continue` or `progress=end`. Gotchas
handled: `out_time_ms` is in microseconds too (trac #7345), so only `out_time_us` is used; any value
may be `N/A`; `speed` is space-padded (`speed=   1x`); `bitrate` carries a unit (`1951.8kbits/s`);
`total_size` lags the disk (AVIO buffering), so file sizes come from the filesystem instead.

Also the stderr side: `split_level` (lines of `-loglevel level+info`) and `InputStreamParser` (the
input's codecs, size, frame rate, sample rate from FFmpeg's info-level dump when it opens the input).
"""

from __future__ import annotations

import re
from collections import deque
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


class ByteRate:
    """Output bitrate measured from bytes written over media time, for the blocks where FFmpeg
    prints `bitrate=N/A` — stream copy into the segment and HLS muxers reports no `total_size`
    (measured with Debian's FFmpeg 5.1), so FFmpeg cannot compute it.

    `feed(total_bytes, out_time_us)` takes the bytes written so far (stored + on disk) and FFmpeg's
    `out_time_us` and returns kbit/s (1000 bit/s) over the last `window_s` seconds of media, or None
    until at least `min_span_s` of media is covered. A media time that goes back (a new FFmpeg
    session) starts the window over; a sample whose byte count shrank is ignored.
    """

    def __init__(self, window_s: float = 10.0, min_span_s: float = 2.0) -> None:
        """`window_s`, `min_span_s`: seconds of media time."""
        self._window_us = int(window_s * 1e6)
        self._min_span_us = int(min_span_s * 1e6)
        self._samples: deque[tuple[int, int]] = deque()

    def feed(self, total_bytes: int, out_time_us: int) -> float | None:
        """Add a sample; returns the bitrate in kbit/s, or None while the window is too short."""
        if self._samples:
            last_us, last_bytes = self._samples[-1]
            if out_time_us < last_us:
                self._samples.clear()
            elif out_time_us == last_us or total_bytes < last_bytes:
                return self._rate()
        self._samples.append((out_time_us, total_bytes))
        while len(self._samples) > 2 and out_time_us - self._samples[1][0] >= self._window_us:
            self._samples.popleft()
        return self._rate()

    def _rate(self) -> float | None:
        (first_us, first_bytes), (last_us, last_bytes) = self._samples[0], self._samples[-1]
        span_us = last_us - first_us
        if span_us < self._min_span_us:
            return None
        return round((last_bytes - first_bytes) * 8 / 1000 / (span_us / 1e6), 1)


# --- FFmpeg's stderr with `-loglevel level+info` ---------------------------------------------------

#: FFmpeg's log levels as `-loglevel level+...` tags them (https://ffmpeg.org/ffmpeg.html#Generic-options).
LOG_LEVELS = ("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace")
#: Levels that are chatter, not problems: parsed for the input's description, never an error detail.
CHATTER = frozenset({"info", "verbose", "debug", "trace"})
_LEVEL_TAG = re.compile(r"\[(" + "|".join(LOG_LEVELS) + r")\] ")


def split_level(line: str) -> tuple[str | None, str]:
    """`(level, line without its level tag)` of a stderr line of `-loglevel level+...`, e.g.
    `[tls @ 0x5] [error] msg` → `("error", "[tls @ 0x5] msg")`; `(None, line)` without a tag."""
    match = _LEVEL_TAG.search(line)
    if match is None:
        return None, line
    return match.group(1), line[: match.start()] + line[match.end() :]


@dataclass
class InputStreams:
    """What FFmpeg printed about input #0 when it opened it (None: not said). Bitrates in kbit/s."""

    videoCodec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audioCodec: str | None = None
    sampleRate: int | None = None
    channelLayout: str | None = None
    declaredBitrateKbps: int | None = None


_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (Video|Audio): (\w+)(.*)$")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"\b(\d+(?:\.\d+)?) fps\b")
_KBPS = re.compile(r"\b(\d+) kb/s\b")
_HZ = re.compile(r"\b(\d+) Hz, ([\w.()]+)")


class InputStreamParser:
    """Reads input #0's stream lines from FFmpeg's info-level dump (`Input #0, ...` up to the next
    `Input #`/`Output #`/`Stream mapping:`); `streams` holds what was found (first video and first
    audio stream).

    Shapes (Debian's FFmpeg 5.1.9): `  Stream #0:0[0x100]: Video: h264 (High) (...), yuv420p(progressive),
    1920x1080 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn` and `  Stream #0:1[0x101]: Audio: aac (LC)
    (...), 48000 Hz, stereo, fltp, 130 kb/s`.
    """

    def __init__(self) -> None:
        """Nothing found yet."""
        self.streams = InputStreams()
        self._in_input = False
        self._seen_video = False
        self._seen_audio = False

    def feed(self, text: str) -> bool:
        """One stderr line (level tag removed); True when it changed `streams`."""
        stripped = text.strip()
        if stripped.startswith("Input #"):
            self._in_input = stripped.startswith("Input #0")
            return False
        if stripped.startswith(("Output #", "Stream mapping:")):
            self._in_input = False
            return False
        match = _STREAM.match(text) if self._in_input else None
        if match is None:
            return False
        kind, codec, rest = match.groups()
        kbps = _KBPS.search(rest)
        s = self.streams
        if kbps:
            s.declaredBitrateKbps = (s.declaredBitrateKbps or 0) + int(kbps.group(1))
        if kind == "Video" and not self._seen_video:
            self._seen_video = True
            s.videoCodec = codec
            if size := _SIZE.search(rest):
                s.width, s.height = int(size.group(1)), int(size.group(2))
            if fps := _FPS.search(rest):
                s.fps = float(fps.group(1))
        elif kind == "Audio" and not self._seen_audio:
            self._seen_audio = True
            s.audioCodec = codec
            if hz := _HZ.search(rest):
                s.sampleRate, s.channelLayout = int(hz.group(1)), hz.group(2)
        return True
