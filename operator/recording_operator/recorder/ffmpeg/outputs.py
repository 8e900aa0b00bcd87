"""FFmpeg argv of the outputs (segment muxer, HLS, continuous file, concat join) and file naming.

Rules, measured with Debian's FFmpeg 5.1.9 (https://ffmpeg.org/ffmpeg-formats.html, sections
"segment", "hls", "mov, mp4, ismv", "concat"):

- MP4 is written fragmented (`+frag_keyframe+empty_moov+default_base_moof`): a plain MP4 has no
  `moov` atom after SIGKILL and will not open; fragmented MP4, MPEG-TS, MKV and FLV still play.
- `-flush_packets 1`: without it FFmpeg keeps up to ~256 KiB in its AVIO buffers and SIGKILL loses
  them (a 128 kb/s MP3 recording was 0 bytes after 8 s; with the flag 124 KB and playable).
- The segment muxer's csv `-segment_list` with `+live` gets a line only when a segment is closed: it
  is the "file closed" signal; only files listed there are stored or deleted.
- Numbering continues across FFmpeg restarts: `-segment_start_number N`, or for HLS an event
  playlist with `-hls_flags +append_list` (which also writes `EXT-X-DISCONTINUITY`).
- One final file from parts: the concat demuxer (`-f concat -safe 0 -i list.ffconcat -c copy`)
  gives monotonic DTS; a plain `cat` of TS parts gave backwards DTS and a wrong duration.

FFmpeg writes into a parts directory under names it can number itself (`seg_000007.mp4`); the agent
renames each closed file to the user's `fileNameTemplate` when it stores it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from recording_operator.api.v1alpha1.localrecording import EXTENSIONS, PRIMARY_OUTPUT_NAME, LocalRecordingSpec
from recording_operator.recorder.ffmpeg.codecs import DEFAULT_HLS_TIME_S, fmt_num, segment_seconds

#: FFmpeg muxer per output format (hls handled separately).
MUXERS = {"mp4": "mp4", "mkv": "matroska", "flv": "flv", "mpegts": "mpegts", "mp3": "mp3", "avi": "avi"}
#: fMP4 flags: every fragment self-contained, so a SIGKILLed file still plays (measured with FFmpeg 5.1.9).
FRAGMENTED_MP4 = "+frag_keyframe+empty_moov+default_base_moof"
#: `-segment_time` of a continuous recording (s): longer than any recording (about 31 years).
CONTINUOUS_SEGMENT_S = 1_000_000_000
PART_PREFIX = "seg_"
PART_RE = re.compile(r"^seg_(\d{6,})\.([a-z0-9]+)$")
HLS_PLAYLIST = "index.m3u8"
SEGMENT_LIST = "segments.csv"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_PLACEHOLDER = re.compile(r"\{(recording|namespace|output|index|start)(?::([^}]*))?\}")
_STRFTIME_OK = re.compile(r"^([A-Za-z0-9_.-]|%[YmdHMSj])*$")


class TemplateError(ValueError):
    """`fileNameTemplate` is malformed or renders to an unsafe name."""


def part_name(index: int, fmt: str) -> str:
    """FFmpeg-side file name of part `index`: `seg_000007.mp4`."""
    return f"{PART_PREFIX}{index:06d}.{EXTENSIONS[fmt]}"


def parse_part_name(name: str) -> int | None:
    """The index in a part name, or None when `name` is not a part."""
    match = PART_RE.match(name)
    return int(match.group(1)) if match else None


def output_args(
    spec: LocalRecordingSpec, *, parts_dir: Path, start_index: int, hls_list_size: int = 0
) -> list[str]:
    """Muxer options and output path (https://ffmpeg.org/ffmpeg-formats.html#segment, #hls).

    Segmented: the segment muxer numbering from `start_index` with the csv list
    `parts_dir/segments.csv`. Continuous: the same muxer with a `segment_time` no recording reaches,
    so one file `parts_dir/seg_<start_index>.<ext>`: measured on 5.1.9, a plain `-f mp4`/`-f flv`
    output fails on ADTS AAC copied from MPEG-TS ("Malformed AAC bitstream", after ~0.2 s) while the
    segment muxer's inner muxer inserts `aac_adtstoasc` itself; a fixed `-bsf:a aac_adtstoasc` would
    break mp3/opus sources. hls: an event playlist `parts_dir/index.m3u8` with `append_list`
    (numbering continues across restarts). `output.segmentAtClockTime` adds `-segment_atclocktime 1`
    (cuts at wall-clock multiples of `segment_time`; measured on 5.1.9: a run started at 11:12:54
    with 10 s segments cut at :13:00 and every 10 s after). `hls_list_size` > 0: a live playlist, a
    sliding window of that many segments (no `hls_playlist_type`), instead of the event playlist.
    """
    fmt = spec.output.format
    seconds = segment_seconds(spec)
    flush = ["-flush_packets", "1"]
    if fmt == "hls":
        return [
            *flush,
            "-f", "hls",
            "-hls_time", fmt_num(seconds or DEFAULT_HLS_TIME_S),
            "-hls_list_size", str(hls_list_size),
            *(["-hls_playlist_type", "event"] if hls_list_size == 0 else []),
            "-hls_flags", "+append_list+program_date_time+independent_segments+temp_file",
            "-hls_segment_type", "mpegts",
            "-start_number", str(start_index),
            "-hls_segment_filename", str(parts_dir / f"{PART_PREFIX}%06d.ts"),
            str(parts_dir / HLS_PLAYLIST),
        ]  # fmt: skip
    args = [
        *flush,
        "-f", "segment",
        "-segment_time", fmt_num(seconds if seconds is not None else CONTINUOUS_SEGMENT_S),
        "-reset_timestamps", "1",
        "-segment_format", MUXERS[fmt],
        "-segment_list", str(parts_dir / SEGMENT_LIST),
        "-segment_list_type", "csv",
        "-segment_list_flags", "+live",
        "-segment_start_number", str(start_index),
    ]  # fmt: skip
    if spec.output.segmentAtClockTime and seconds is not None:
        args += ["-segment_atclocktime", "1"]
    inner = "flush_packets=1"
    if fmt == "mp4":
        inner = f"movflags={FRAGMENTED_MP4}:frag_duration=1000000:{inner}"
    args += ["-segment_format_options", inner]
    return [*args, str(parts_dir / f"{PART_PREFIX}%06d.{EXTENSIONS[fmt]}")]


def thumbnail_args(interval_s: float, width: int | None, *, parts_dir: Path, start_index: int) -> list[str]:
    """A jpg thumbnail of the input picture every `interval_s` seconds, `width` pixels wide (height
    keeping the aspect ratio, even), as `parts_dir/seg_<n>.jpg` from `start_index`.

    The image2 muxer (https://ffmpeg.org/ffmpeg-formats.html#image2-1) with `atomic_writing`: a file
    appears under its name only when complete (written as `<name>.tmp`, then renamed), so a listed
    jpg is closed. Thumbnails need decoding: `fps=1/N` keeps one frame per interval (the first at the
    start), `scale` resizes it, mjpeg encodes it (`yuvj420p`: FFmpeg 5.1's mjpeg encoder refuses
    limited-range yuv420p).
    """
    chain = f"fps=1/{fmt_num(interval_s)}"
    if width is not None:
        chain += f",scale={width}:-2"
    return [
        "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", chain,
        "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p",
        "-f", "image2", "-atomic_writing", "1",
        "-start_number", str(start_index),
        str(parts_dir / f"{PART_PREFIX}%06d.jpg"),
    ]  # fmt: skip


def concat_argv(list_path: Path, output: Path, fmt: str, *, ffmpeg: str = "ffmpeg") -> list[str]:
    """Join parts listed in an agent-written ffconcat file (https://ffmpeg.org/ffmpeg-formats.html#concat-1;
    `-safe 0` only for our own list)."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    args += ["-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", str(list_path)]
    args += ["-map", "0", "-c", "copy"]
    if fmt == "mp4":
        args += ["-movflags", "+faststart"]
    return [*args, "-f", MUXERS[fmt], str(output)]


def render_file_name(
    template: str,
    *,
    recording: str,
    namespace: str,
    index: int,
    start: datetime,
    extension: str,
    output: str = PRIMARY_OUTPUT_NAME,
) -> str:
    """Render `fileNameTemplate` to a safe file name with `extension` (`{output}`: `output`).

    `{index}` is zero-padded to 5 digits; `{start}` defaults to `%Y%m%dT%H%M%SZ` (UTC).

    Raises:
        TemplateError: unknown placeholder, disallowed strftime code, or an unsafe result
            (anything but letters, digits, `.`, `_`, `-`; leading dot; path separators).
    """
    start_utc = start.astimezone(UTC)

    def sub(match: re.Match[str]) -> str:
        key, fmt = match.group(1), match.group(2)
        if key == "start":
            fmt = fmt or "%Y%m%dT%H%M%SZ"
            if not _STRFTIME_OK.match(fmt):
                raise TemplateError(f"strftime format {fmt!r} not allowed")
            return start_utc.strftime(fmt)
        if fmt is not None:
            raise TemplateError(f"{{{key}}} takes no format")
        return {"recording": recording, "namespace": namespace, "output": output, "index": f"{index:05d}"}[
            key
        ]

    rendered = _PLACEHOLDER.sub(sub, template)
    name = f"{rendered}.{extension}"
    if "{" in rendered or "}" in rendered or not _SAFE_NAME.match(name) or len(name) > 255:
        raise TemplateError(f"fileNameTemplate renders to an unsafe file name {name!r}")
    return name


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
