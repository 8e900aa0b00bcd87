"""FFmpeg 5.1 filter chains of the LocalRecording's picture and sound changes (no I/O).

- video, before the encoder, in this order: `yadif` (deinterlace), `crop`, `transpose`/`hflip`/
  `vflip` (rotate, flip), `scale` and `fps` (`transcoding.video` width/height/fps), then the image
  overlay (done by the caller's graph) and the text overlays (`drawtext`);
- audio: `pan` (channel selection), `volume`, `loudnorm` (which works at 192 kHz; `-ar` brings the
  output back to 48 kHz, https://ffmpeg.org/ffmpeg-filters.html#loudnorm).

Filter names and options: https://ffmpeg.org/ffmpeg-filters.html. Text never goes through the
filtergraph parser: the agent writes each text into a file and drawtext reads it (`textfile`), so
quotes, colons, commas and brackets in a user's text need no escaping; static text is drawn as is
(`expansion=none`), a clock's file holds drawtext's own `%{gmtime:...}` expansion, in which `:`
separates arguments and is written `\\:`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec, TextOverlay


def fmt_num(value: float) -> str:
    """A number as FFmpeg reads it: `6` for 6.0, `0.5` for 0.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


#: Sample rate after `loudnorm` when `transcoding.audio.sampleRate` is absent (Hz).
LOUDNORM_OUTPUT_RATE = 48000


def pre_overlay_video_filters(spec: LocalRecordingSpec) -> list[str]:
    """The video filters applied before any overlay: deinterlace, crop, rotate, flip, scale, fps."""
    chain: list[str] = []
    modify = spec.videoFilters
    video = spec.transcoding.video if spec.transcoding else None
    if modify is not None:
        if modify.deinterlace:
            chain.append("yadif")
        if modify.crop is not None:
            c = modify.crop
            chain.append(f"crop={c.width}:{c.height}:{c.x}:{c.y}")
        chain += {0: [], 90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}[
            modify.rotate
        ]
        chain += {"none": [], "horizontal": ["hflip"], "vertical": ["vflip"]}[modify.flip]
    if video and (video.width or video.height):
        chain.append(f"scale={video.width or -2}:{video.height or -2}")
    if video and video.fps:
        chain.append(f"fps={fmt_num(video.fps)}")
    return chain


def text_file_content(overlay: TextOverlay) -> str | None:
    """What the agent writes into the overlay's `textfile`: the static text, or the clock's drawtext
    expansion (`%{gmtime:<format>}` / `%{localtime:<format>}`, `:` written `\\:`); None for a
    timecode (drawn from the `timecode` option, no file)."""
    if overlay.text is not None:
        return overlay.text
    if overlay.clock is not None:
        function = "gmtime" if overlay.clock.utc else "localtime"
        return "%{" + function + ":" + overlay.clock.format.replace(":", "\\:") + "}"
    return None


def drawtext(overlay: TextOverlay, text_file: Path | None) -> str:
    """One `drawtext` filter for `overlay`; `text_file` holds `text_file_content` (None for a timecode).

    Raises:
        ValueError: a text or clock overlay without its file, or a file path with characters the
            filtergraph parser would read (`'`, `\\`, `:`, `,`, `;`, `[`, `]`, whitespace).
    """
    options: list[str] = []
    if overlay.timecode is not None:
        # Two parsers read a filtergraph: the graph's (quotes keep `\:` for the next one) and the
        # option parser's (`\:` is a literal colon). The pattern of `timecode.start` allows only
        # digits and ':'.
        start = overlay.timecode.start.replace(":", "\\:")
        options += [f"timecode='{start}'", f"timecode_rate={overlay.timecode.rate}"]
    else:
        if text_file is None:
            raise ValueError("a text or clock overlay needs its text file")
        path = str(text_file)
        if any(ch in path for ch in "'\\:,;[] \t\n"):
            raise ValueError(f"text file path {path!r} has characters the filtergraph parser reads")
        options.append(f"textfile={path}")
        if overlay.text is not None:
            options.append("expansion=none")
    options += [
        f"x={overlay.position.x}",
        f"y={overlay.position.y}",
        f"fontsize={overlay.fontSize}",
        f"fontcolor={overlay.fontColor}",
    ]
    if overlay.box:
        options += ["box=1", f"boxcolor={overlay.boxColor}", f"boxborderw={overlay.boxBorder}"]
    return "drawtext=" + ":".join(options)


def text_overlay_filters(spec: LocalRecordingSpec, text_files: Sequence[Path | None]) -> list[str]:
    """The `drawtext` filters of `spec.textOverlays`, in order; `text_files[i]` is overlay i's file
    (missing entries count as None: a timecode needs none).

    Raises:
        ValueError: as `drawtext` (a text or clock overlay without its file).
    """
    overlays = spec.textOverlays or []
    files = [*text_files, *[None] * (len(overlays) - len(text_files))]
    return [drawtext(o, f) for o, f in zip(overlays, files, strict=False)]


def audio_filters(spec: LocalRecordingSpec) -> list[str]:
    """The audio filter chain: `pan` (audio.channels), `volume`, `loudnorm`."""
    chain: list[str] = []
    if spec.audio and spec.audio.channels:
        picks = spec.audio.channels
        layout = "mono" if len(picks) == 1 else "stereo" if len(picks) == 2 else f"{len(picks)}c"
        mapping = "|".join(f"c{i}=c{ch - 1}" for i, ch in enumerate(picks))
        chain.append(f"pan={layout}|{mapping}")
    modify = spec.audioFilters
    if modify is not None:
        if modify.volumeDb is not None:
            chain.append(f"volume={fmt_num(modify.volumeDb)}dB")
        if modify.loudnorm is not None:
            ln = modify.loudnorm
            chain.append(
                f"loudnorm=I={fmt_num(ln.integratedLufs)}:TP={fmt_num(ln.truePeakDb)}"
                f":LRA={fmt_num(ln.loudnessRange)}"
            )
    return chain


def output_sample_rate(spec: LocalRecordingSpec) -> int | None:
    """`-ar` (Hz): `transcoding.audio.sampleRate`, else LOUDNORM_OUTPUT_RATE after `loudnorm` (which
    outputs 192 kHz; the encoder would pick its nearest rate, 96 kHz for aac). An `aresample`
    filter right after loudnorm fails to negotiate a mono channel layout in FFmpeg 5.1.9 ("Cannot
    select channel layout"), the output option does not (measured with Debian's FFmpeg 5.1.9)."""
    audio = spec.transcoding.audio if spec.transcoding else None
    if audio and audio.sampleRate:
        return audio.sampleRate
    if spec.audioFilters and spec.audioFilters.loudnorm:
        return LOUDNORM_OUTPUT_RATE
    return None
