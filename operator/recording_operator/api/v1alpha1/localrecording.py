"""LocalRecording: one recorder Pod (FFmpeg + the recorder agent) capturing a live input into files.

Mirrors Callaba Engine's Recordings module (https://callaba.io/api-docs/recordings) in Kubernetes terms. Field names follow
FFmpeg's option names where a field maps to one (`preset`, `crf`, `pixelFormat` = `-pix_fmt`,
`sampleRate` = `-ar`, `streamid`, `segmentDuration` = `-segment_time`/`-hls_time`). The facts the
rules rest on were measured on Debian's FFmpeg 5.1 (options: https://ffmpeg.org/ffmpeg-formats.html,
https://ffmpeg.org/ffmpeg-protocols.html).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from recording_operator.api.v1alpha1.common import (
    DELETED_FILES_DESCRIPTION,
    MAX_DELETED_FILES,
    Condition,
    DeletionPolicy,
    FileDefaults,
    FilesSummary,
    LocalObjectReference,
    Model,
    RetentionDuration,
    SecretKeySelector,
    StorageSpec,
    duration_bounds,
)

#: Input URL schemes the recorder pulls from (https://ffmpeg.org/ffmpeg-protocols.html). `file:`,
#: `concat:`, `subfile:`, `data:`, `pipe:` and every other FFmpeg protocol are rejected by the CRD: measured
#: with Debian's FFmpeg 5.1, a user-supplied `concat:/etc/hostname|...` reads local files unless a
#: `-protocol_whitelist` excludes it.
PULL_SCHEMES = ("srt", "rtmp", "rtmps", "rtsp", "rtsps", "http", "https", "udp", "rtp", "rist")
#: Protocols the recorder can listen on (the Pod is the server; the operator creates a Service).
LISTEN_PROTOCOLS = ("srt", "rtmp", "udp", "rist")
INPUT_URL_PATTERN = r"^(" + "|".join(PULL_SCHEMES) + r")://[^\s\\|]+$"
#: Pull schemes that run over TLS and take `input.tls` (srt and rist have their own encryption).
TLS_SCHEMES = ("https", "rtmps", "rtsps")
#: CEL: the URL is HLS or DASH over https (the recorder's `input_kind`: path ends in .m3u8 / .mpd).
_HTTPS_MANIFEST = "self.url.matches('(?i)^https://[^?#]*\\\\.(m3u8|mpd)([?#]|$)')"
_INSECURE = "has(self.tls) && has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify"

#: `output.fileNameTemplate`: letters, digits, `.`, `_`, `-` and the placeholders `{recording}`,
#: `{namespace}`, `{output}`, `{index}`, `{start}` / `{start:<strftime>}` (codes %Y %m %d %H %M %S %j only).
#: No path separators, no spaces, no leading dot (the path-traversal guard of LiveKit Egress's `clean()`,
#: https://github.com/livekit/egress `pkg/config/output_file.go`).
FILE_NAME_TEMPLATE_PATTERN = (
    r"^([A-Za-z0-9_-]|\{(recording|namespace|output|index)\}|\{start(:([A-Za-z0-9_.-]|%[YmdHMSj])+)?\})"
    r"([A-Za-z0-9_.-]|\{(recording|namespace|output|index)\}|\{start(:([A-Za-z0-9_.-]|%[YmdHMSj])+)?\})*$"
)
#: The recorder agent's HTTP port (`api.agent.HTTP_PORT`; this module cannot import it): a listen input
#: on it would collide with the agent.
AGENT_PORT = 8090
#: Keys of `input.credentialsSecretRef` (all optional; at least one present).
INPUT_CREDENTIAL_KEYS = ("username", "password", "streamKey")
#: Schemes whose URL takes `input.credentialsSecretRef`.
CREDENTIAL_SCHEMES = ("rtmp", "rtmps", "rtsp", "rtsps", "http", "https")
DEFAULT_FILE_NAME_TEMPLATE = "{recording}-{start:%Y%m%d-%H%M%S}-{index}"
#: `additionalOutputs[].fileNameTemplate` when absent.
DEFAULT_ADDITIONAL_FILE_NAME_TEMPLATE = "{recording}-{output}-{start:%Y%m%d-%H%M%S}-{index}"
#: The output name of `spec.output` (its files' `recording.mediaops.io/output` label, `{output}`).
PRIMARY_OUTPUT_NAME = "main"
#: `additionalOutputs` at most: four outputs of one capture in all.
MAX_ADDITIONAL_OUTPUTS = 3
#: `additionalOutputs[].segmentDuration` of jpg thumbnails when absent: one picture every 10 s.
DEFAULT_THUMBNAIL_INTERVAL = "10s"
#: `output.segmentDuration` when absent (not hls): one stored file per minute, so a recorder killed with its
#: work volume lost risks at most one minute, and one whose work volume survives (the default) none
#: of what was flushed to disk.
DEFAULT_SEGMENT_DURATION = "60s"
#: `pod.workVolume.size` of the claim the operator creates.
DEFAULT_WORK_VOLUME_SIZE = "10Gi"
#: `pod.uploadRateMbps`: the upload rate assumed when sizing the stop grace period.
DEFAULT_UPLOAD_RATE_MBPS = 20

#: A size as a Kubernetes quantity with a binary or decimal suffix, M or more (no exponent, no fraction).
QUANTITY_PATTERN = r"^[1-9][0-9]{0,12}(Mi|Gi|Ti|M|G|T)$"
MAX_SIZE_MIN = "1Mi"
MAX_SIZE_MAX = "1Ti"
#: `output.maxSize`: a QUANTITY_PATTERN size from MAX_SIZE_MIN to MAX_SIZE_MAX, bounded by the pattern
#: itself (1..1048576Mi, 2..1099511M, 1..1024Gi, 1..1099G, 1Ti, 1T), so the API server needs no
#: `quantity()` CEL library.
MAX_SIZE_PATTERN = (
    r"^(([1-9][0-9]{0,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])Mi"
    r"|([2-9]|[1-9][0-9]{1,5}|10[0-8][0-9]{4}|109[0-8][0-9]{3}|1099[0-4][0-9]{2}|109950[0-9]|109951[01])M"
    r"|([1-9][0-9]{0,2}|10[01][0-9]|102[0-4])Gi|([1-9][0-9]{0,2}|10[0-9]{2})G|1Ti|1T)$"
)
_QUANTITY_FACTORS = {"Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(value: str) -> int:
    """Bytes of a QUANTITY_PATTERN size (`500Mi` → 524288000, `2G` → 2000000000).

    Raises:
        ValueError: `value` does not match QUANTITY_PATTERN.
    """
    if not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError(f"invalid size {value!r}: use e.g. 500Mi or 2G")
    digits = value.rstrip("MGTi")
    return int(digits) * _QUANTITY_FACTORS[value[len(digits) :]]


OutputFormat = Literal["mp4", "mkv", "flv", "mpegts", "hls", "mp3", "avi"]
#: Formats of `additionalOutputs[]`: segmented archives, an HLS live playlist, jpg thumbnails.
AdditionalOutputFormat = Literal["mp4", "mkv", "mpegts", "hls", "jpg"]
#: `h264`/`hevc` are the software encoders libx264/libx265; the others are FFmpeg's hardware encoders,
#: used only when the recorder image's FFmpeg lists them (`ffmpeg -encoders`) and the node has the device.
VideoCodec = Literal[
    "h264",
    "hevc",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_qsv",
    "hevc_qsv",
    "h264_amf",
    "hevc_amf",
    "h264_videotoolbox",
    "hevc_videotoolbox",
]
#: The software encoders' `-tune` values (x264 has all; x265 has no film/stillimage).
EncoderTune = Literal["film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim"]
#: A colour as FFmpeg's drawtext reads it: a name or #RRGGBB[AA], optionally `@alpha` (0..1)
#: (https://ffmpeg.org/ffmpeg-utils.html#Color).
COLOR_PATTERN = r"^([A-Za-z]{3,20}|#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?)(@(0(\.[0-9]{1,3})?|1(\.0{1,3})?))?$"
AudioCodec = Literal["aac", "mp3", "opus"]
X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
PixelFormat = Literal["yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "nv12"]
SampleRate = Literal[8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]


class ListenInput(Model):
    """The recorder is the server: a publisher pushes to the recorder Pod's Service on `port`."""

    protocol: Literal["srt", "rtmp", "udp", "rist"] = Field(
        description="srt (listener mode), rtmp (`-listen 1`), udp (MPEG-TS datagrams) or rist (`rist://@`)."
    )
    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": f"self.port != {AGENT_PORT}",
                    "message": f"listen.port {AGENT_PORT} is the recorder agent's own port",
                }
            ]
        }
    }

    port: int = Field(ge=1024, le=65535, description="Port the recorder listens on (non-root: ≥ 1024).")
    allowAnonymous: bool = Field(
        default=False,
        description=(
            "Accept unauthenticated publishers on a NodePort or LoadBalancer Service (rtmp, udp, rist: "
            "FFmpeg's listeners check no stream key; srt without passphraseSecretRef). Without it such a "
            "public listener is refused."
        ),
    )

    @model_validator(mode="after")
    def _not_agent_port(self) -> ListenInput:
        if self.port == AGENT_PORT:
            raise ValueError(f"listen.port {AGENT_PORT} is the recorder agent's own port")
        return self


class ConfigMapKeySelector(Model):
    """One key of a ConfigMap in the same namespace (core/v1 ConfigMapKeySelector without `optional`)."""

    name: str = Field(min_length=1, max_length=253, description="Name of the ConfigMap.")
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the ConfigMap's data (or binaryData).",
    )


class InputTLS(Model):
    """How the recorder verifies the TLS server of an https, rtmps or rtsps source.

    Names follow Go's crypto/tls `Config` and the Prometheus Operator's `SafeTLSConfig`. Absent, the
    source's certificate chain is verified against the recorder image's system trust store
    (`/etc/ssl/certs/ca-certificates.crt`) and its host name against the URL's host. What FFmpeg 5.1
    can verify per input kind (recorder/ffmpeg/inputs.py `tls_args`): progressive https and rtmps fully;
    HLS/DASH over https and rtsps not at all, so those need `insecureSkipVerify: true`.
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.insecureSkipVerify) && self.insecureSkipVerify) || "
                    "(!has(self.caConfigMapRef) && !has(self.serverName))",
                    "message": "tls.insecureSkipVerify turns verification off: remove caConfigMapRef and serverName",
                }
            ]
        }
    }

    insecureSkipVerify: bool = Field(
        default=False,
        description=(
            "Do not verify the source's certificate chain and host name (FFmpeg `tls_verify` 0): anyone "
            "on the path can impersonate the source. For test sources only; required for HLS/DASH over "
            "https and for rtsps, which FFmpeg 5.1 cannot verify."
        ),
    )
    caConfigMapRef: ConfigMapKeySelector | None = Field(
        default=None,
        description=(
            "A ConfigMap key holding PEM CA certificates to trust instead of the system's (FFmpeg "
            "`ca_file`), e.g. a private CA. Mounted read-only into the recorder Pod; a missing ConfigMap "
            "or key keeps the recording Pending (Synced=False, ConfigMapNotFound)."
        ),
    )
    serverName: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$",
        description=(
            "Host name the certificate must be valid for, and sent as SNI (FFmpeg `verifyhost`), instead "
            "of the URL's host: for a source reached by IP address or through a different name."
        ),
    )


class RecordingInput(Model):
    """The live source: exactly one of `url` (pull) and `listen` (push to the recorder)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.url) != has(self.listen)", "message": "set exactly one of url and listen"},
                {
                    "rule": "!has(self.url) || self.url.matches('^(" + "|".join(PULL_SCHEMES) + ")://')",
                    "message": "input.url scheme must be one of " + ", ".join(PULL_SCHEMES),
                },
                {
                    "rule": "!has(self.url) || !self.url.contains('passphrase=')",
                    "message": "put the SRT passphrase in passphraseSecretRef, not in the URL",
                },
                {
                    "rule": "!has(self.url) || self.url.startsWith('rist://') || "
                    "!self.url.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",
                    "message": "put the user name and password in credentialsSecretRef, not in the URL",
                },
                {
                    "rule": "!has(self.credentialsSecretRef) || (has(self.url) && self.url.matches('^("
                    + "|".join(CREDENTIAL_SCHEMES)
                    + ")://'))",
                    "message": "credentialsSecretRef is for rtmp(s), rtsp(s) and http(s) URLs",
                },
                {
                    "rule": "!has(self.passphraseSecretRef) || (has(self.url) && self.url.startsWith('srt://')) "
                    "|| (has(self.listen) && self.listen.protocol == 'srt')"
                    " || (has(self.listen) && self.listen.protocol == 'srt')",
                    "message": "passphraseSecretRef is for SRT inputs only",
                },
                {
                    "rule": "!has(self.streamid) || (has(self.url) && self.url.startsWith('srt://'))"
                    " || (has(self.listen) && self.listen.protocol == 'srt')",
                    "message": "streamid is for SRT inputs only",
                },
                {
                    "rule": "!has(self.latency) || (has(self.url) && self.url.startsWith('srt://'))"
                    " || (has(self.listen) && self.listen.protocol == 'srt')",
                    "message": "latency is for SRT inputs only",
                },
                {
                    "rule": "!has(self.srtStatistics) || (has(self.url) && self.url.startsWith('srt://'))"
                    " || (has(self.listen) && self.listen.protocol == 'srt')",
                    "message": "srtStatistics is for SRT inputs only",
                },
                {
                    "rule": "!has(self.sdp) || (has(self.url) && self.url.startsWith('rtp://'))",
                    "message": "sdp is for rtp:// inputs only",
                },
                {
                    "rule": "!has(self.tls) || (has(self.url) && self.url.matches('^("
                    + "|".join(TLS_SCHEMES)
                    + ")://'))",
                    "message": "tls is for " + ", ".join(TLS_SCHEMES) + " inputs only",
                },
                {
                    "rule": f"!has(self.url) || !self.url.startsWith('rtsps://') || ({_INSECURE})",
                    "message": "FFmpeg 5.1 cannot verify an rtsps source's certificate (its RTSP demuxer "
                    "passes no TLS options): set tls.insecureSkipVerify: true to record it unverified",
                },
                {
                    "rule": f"!has(self.url) || !{_HTTPS_MANIFEST} || ({_INSECURE})",
                    "message": "FFmpeg 5.1 verifies an HLS/DASH playlist's certificate but not its segments' "
                    "(the hls and dash demuxers do not pass tls_verify to segment requests): set "
                    "tls.insecureSkipVerify: true to record it unverified",
                },
            ]
        }
    }

    url: str | None = Field(
        default=None,
        max_length=4096,
        pattern=INPUT_URL_PATTERN,
        description=(
            "Pull URL: srt, rtmp, rtmps, rtsp, rtsps, http(s) (HLS `.m3u8`, DASH `.mpd` or progressive), "
            "udp, rtp or rist. Other FFmpeg protocols (file, concat, subfile, data, pipe, ...) are rejected."
        ),
    )
    listen: ListenInput | None = Field(default=None, description="Push: the recorder listens on a port.")
    passphraseSecretRef: SecretKeySelector | None = Field(
        default=None,
        description="SRT `passphrase` (10-79 characters), read from a Secret; never put it in the URL.",
    )
    credentialsSecretRef: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret with the source's credentials, never in the URL: `username` and `password` (the "
            "URL's userinfo, for rtsp(s), rtmp(s) and http(s)), `streamKey` (appended to an rtmp(s) URL's "
            "path as its last segment). The recorder adds them when it starts FFmpeg."
        ),
    )
    streamid: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[\x21-\x7e]+$",
        description="SRT `streamid` (printable ASCII, no spaces), e.g. `#!::r=live/cam1,m=request`.",
    )
    latency: Annotated[str, duration_bounds("60s")] | None = Field(
        default=None, description="SRT `latency` (receiver buffer); FFmpeg default 120ms."
    )
    srtStatistics: bool | None = Field(
        default=None,
        description=(
            "SRT inputs: receive the stream with libsrt's srt-live-transmit, which hands it to FFmpeg "
            "through a pipe and reports the link statistics in `status.stats.srt` (RTT, loss, "
            "retransmits, receive rate). Absent: true. false: FFmpeg receives SRT itself (no link "
            "statistics). `status.stats.srt.unavailableReason` says why a recording without them has none."
        ),
    )
    stallTimeout: Annotated[str, duration_bounds("1h")] = Field(
        default="10s",
        description="Restart FFmpeg when no progress block arrived for this long (stall watchdog).",
    )
    readTimeout: Annotated[str, duration_bounds("1h")] = Field(
        default="10s",
        description="Socket read timeout: `-rw_timeout` (rtmp, http), `timeout` (srt, rtsp, udp, rtp).",
    )
    rtspTransport: Literal["tcp", "udp"] = Field(default="tcp", description="`-rtsp_transport` for rtsp(s).")
    sdp: str | None = Field(
        default=None,
        max_length=8192,
        description="SDP describing an rtp:// session whose payload is not MPEG-TS (e.g. H.264 RTP).",
    )
    tls: InputTLS | None = Field(
        default=None,
        description=(
            "TLS verification of https, rtmps and rtsps sources. Absent: progressive https and rtmps are "
            "verified against the system trust store; HLS/DASH over https and rtsps are rejected (FFmpeg "
            "5.1 cannot verify them) unless tls.insecureSkipVerify is true."
        ),
    )


class RecordingOutput(Model):
    """Container and file layout."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.segmentAtClockTime) || !self.segmentAtClockTime || "
                    "(self.format != 'hls' && !(has(self.continuous) && self.continuous))",
                    "message": "segmentAtClockTime cuts segments: not with continuous or hls",
                },
                {
                    "rule": "!has(self.maxSize) || self.format in ['mp4', 'mkv', 'mpegts']",
                    "message": "maxSize joins short segments with the concat demuxer: for mp4, mkv and "
                    "mpegts only",
                },
                {
                    "rule": "!has(self.maxSize) || !has(self.continuous) || !self.continuous",
                    "message": "maxSize splits the recording into files: not with continuous",
                },
                {
                    "rule": "!has(self.maxSize) || !has(self.segmentAtClockTime) || !self.segmentAtClockTime",
                    "message": "maxSize closes files at part boundaries, not at wall-clock times: not with "
                    "segmentAtClockTime",
                },
            ]
        }
    }

    format: OutputFormat = Field(
        default="mp4",
        description=(
            "mp4 (fragmented while recording, so a killed recorder leaves a playable file), mkv, flv, "
            "mpegts, hls (event playlist), mp3 (audio only) or avi."
        ),
    )
    segmentDuration: Annotated[str, duration_bounds("24h", minimum="1s")] | None = Field(
        default=None,
        description=(
            "Split by time (`-segment_time`; hls `-hls_time`), 1s to 24h. Absent: 60s (hls: 6s). Each "
            "segment is stored as soon as it closes, so a killed recorder risks only the open one. "
            "With stream copy segments cut at the first keyframe after each multiple (≤ 1 GOP late)."
        ),
    )
    segmentAtClockTime: bool = Field(
        default=False,
        description=(
            "Cut at wall-clock multiples of segmentDuration (the segment muxer's `segment_atclocktime`: "
            "10m gives :00, :10, :20; the first file is shorter). Cuts still wait for a keyframe: "
            "with stream copy up to one GOP late, when transcoding up to one forced-keyframe step."
        ),
    )
    continuous: bool = Field(
        default=False,
        description=(
            "One continuous file per recorder session instead of segments (segmentDuration is ignored; "
            "not for hls). It is stored only when it closes: a recorder killed without a work volume "
            "that outlives its Pod loses up to the whole file."
        ),
    )
    maxSize: str | None = Field(
        default=None,
        pattern=MAX_SIZE_PATTERN,
        description=(
            "Split by size: each stored file is at most this size (a quantity, `500Mi`, `2G`; 1Mi to "
            "1Ti), mp4, mkv and mpegts only. FFmpeg cuts parts of about 2 s at keyframes and the "
            "recorder joins consecutive parts with the concat demuxer (stream copy, no gap) into one file, "
            "closed at the last part boundary before the limit; with segmentDuration a file also closes "
            "where a segment would (whichever comes first), without it only by size (and when the "
            "recorder stops or FFmpeg restarts). A single part larger than maxSize (a bitrate above "
            "maxSize per 2 s, or a long GOP) is stored alone. The parts of the open file wait on the work "
            "volume (room for about twice maxSize is needed while joining); a killed recorder's next Pod "
            "stores them as separate files."
        ),
    )
    fileNameTemplate: str = Field(
        default=DEFAULT_FILE_NAME_TEMPLATE,
        max_length=200,
        pattern=FILE_NAME_TEMPLATE_PATTERN,
        description=(
            "File name without extension: `{recording}`, `{namespace}`, `{index}` (5 digits, continues "
            "across restarts), `{start}` / `{start:%Y%m%d-%H%M%S}` (UTC); letters, digits, `.`, `_`, `-`."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.contains('{index}')", "message": "fileNameTemplate must contain {index}"}
            ]
        },
    )


_NOT_HLS_OR_JPG = "self.format != 'hls' && self.format != 'jpg'"


class AdditionalOutput(Model):
    """One more output of the same capture, written by the same FFmpeg process (one `-map` set and
    muxer per output, https://ffmpeg.org/ffmpeg.html#Stream-selection): a segmented archive (mp4,
    mkv, mpegts), an `hls` playlist players follow while recording, or `jpg` thumbnails.

    Media outputs (all but jpg) carry the same streams, transcoding, filters and overlays as
    `output`; each is encoded on its own, so a transcoded recording pays the encode once per media
    output. jpg thumbnails are the input picture (before filters and overlays), one every
    `segmentDuration` (FFmpeg's `fps=1/N` filter, `scale` to `width`, the image2 muxer).

    Numbering: every output takes its `{index}` from the recording's one file index, so a file's
    index is unique across outputs and Pods (RecordedFile `<recording>-<index>`, one
    `numbering.nextIndex` for the recorder); each output's files are in increasing `{index}`, with
    gaps where other outputs' files took numbers, and numbering continues after a recorder restart.
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": f"self.name != '{PRIMARY_OUTPUT_NAME}'",
                    "message": f"additionalOutputs name {PRIMARY_OUTPUT_NAME} is output's own: choose another",
                },
                {
                    "rule": "!has(self.width) || self.format == 'jpg'",
                    "message": "width is for jpg thumbnails only (media outputs take transcoding.video.width)",
                },
                {
                    "rule": "(!has(self.hlsPlaylistType) && !has(self.hlsListSize)) || self.format == 'hls'",
                    "message": "hlsPlaylistType and hlsListSize are for hls outputs only",
                },
                {
                    "rule": "!has(self.hlsListSize) || (has(self.hlsPlaylistType) && self.hlsPlaylistType == 'live')",
                    "message": "hlsListSize is the sliding window of hlsPlaylistType live (an event playlist keeps "
                    "every segment)",
                },
                {
                    "rule": f"!has(self.segmentAtClockTime) || !self.segmentAtClockTime || ({_NOT_HLS_OR_JPG})",
                    "message": "segmentAtClockTime is a segment muxer option: not for hls or jpg outputs",
                },
            ]
        }
    }

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description=f"The output's name (a DNS label, unique, not `{PRIMARY_OUTPUT_NAME}`, which is `output`'s): "
        "`{output}` in its file names and the `recording.mediaops.io/output` label of its RecordedFiles.",
    )
    format: AdditionalOutputFormat = Field(
        description=(
            "mp4 (fragmented), mkv or mpegts segments; hls (MPEG-TS segments and a playlist stored "
            "as `<recording>-<name>-<first index>.m3u8`, rewritten as segments are stored, with "
            "EXT-X-ENDLIST after the stop); jpg (thumbnails)."
        )
    )
    segmentDuration: Annotated[str, duration_bounds("24h", minimum="1s")] | None = Field(
        default=None,
        description="Segment length (`-segment_time`, hls `-hls_time`), jpg: one thumbnail every this long. "
        "Absent: 60s, hls 6s, jpg 10s.",
    )
    segmentAtClockTime: bool = Field(
        default=False, description="Cut at wall-clock multiples of segmentDuration (mp4, mkv, mpegts)."
    )
    hlsPlaylistType: Literal["event", "live"] | None = Field(
        default=None,
        description="hls: `event` (default; the playlist lists every segment, `-hls_playlist_type event`) or "
        "`live` (a sliding window of hlsListSize segments; every segment is still stored).",
    )
    hlsListSize: int | None = Field(
        default=None,
        ge=3,
        le=100,
        description="hls live: segments in the playlist (`-hls_list_size`; default 6).",
    )
    width: int | None = Field(
        default=None,
        ge=16,
        le=7680,
        multiple_of=2,
        description="jpg: thumbnail width in pixels, height keeping the aspect ratio; absent: the input's.",
    )
    fileNameTemplate: str = Field(
        default=DEFAULT_ADDITIONAL_FILE_NAME_TEMPLATE,
        max_length=200,
        pattern=FILE_NAME_TEMPLATE_PATTERN,
        description="As output.fileNameTemplate, and it must contain `{output}` (names of different "
        "outputs never collide, and a stored file is told apart by its name).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.contains('{index}') && self.contains('{output}')",
                    "message": "an additional output's fileNameTemplate must contain {index} and {output}",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _combinations(self) -> AdditionalOutput:
        if self.name == PRIMARY_OUTPUT_NAME:
            raise ValueError(f"additionalOutputs name {PRIMARY_OUTPUT_NAME!r} is output's own")
        if self.width is not None and self.format != "jpg":
            raise ValueError("width is for jpg thumbnails only")
        if (self.hlsPlaylistType or self.hlsListSize) and self.format != "hls":
            raise ValueError("hlsPlaylistType and hlsListSize are for hls outputs only")
        return self


class RateControl(Model):
    """Rate control with FFmpeg's options (https://ffmpeg.org/ffmpeg-codecs.html#libx264_002c-libx264rgb):
    CBR (`-b:v` = `-minrate` = `-maxrate`, `-bufsize`; libx264 adds `-x264-params nal-hrd=cbr`, nvenc
    `-rc cbr`), VBR (`-b:v`, optional `-maxrate`/`-bufsize` caps; nvenc `-rc vbr`) or CRF (`-crf`,
    optional `-maxrate`/`-bufsize` caps; software encoders only)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.mode == 'CRF' || has(self.bitrateKbps)",
                    "message": "CBR and VBR need bitrateKbps",
                },
                {"rule": "self.mode != 'CRF' || has(self.crf)", "message": "CRF needs crf"},
                {"rule": "self.mode == 'CRF' || !has(self.crf)", "message": "crf is for mode CRF only"},
                {
                    "rule": "self.mode != 'CBR' || !has(self.maxrateKbps) || self.maxrateKbps == self.bitrateKbps",
                    "message": "CBR: maxrateKbps is bitrateKbps (leave it out)",
                },
                {
                    "rule": "!has(self.maxrateKbps) || !has(self.bitrateKbps) || self.maxrateKbps >= self.bitrateKbps",
                    "message": "maxrateKbps must be at least bitrateKbps",
                },
                {
                    "rule": "self.mode != 'CRF' || has(self.maxrateKbps) || !has(self.bufsizeKbps)",
                    "message": "CRF: bufsizeKbps needs maxrateKbps",
                },
            ]
        }
    }

    mode: Literal["CBR", "VBR", "CRF"]
    bitrateKbps: int | None = Field(
        default=None, ge=100, le=100000, description="`-b:v` in kbit/s (CBR, VBR)."
    )
    maxrateKbps: int | None = Field(
        default=None, ge=100, le=200000, description="`-maxrate` in kbit/s (VBR, CRF cap; CBR: the bitrate)."
    )
    bufsizeKbps: int | None = Field(
        default=None,
        ge=100,
        le=400000,
        description="`-bufsize` (VBV buffer) in kbit; absent: 2 s of maxrate (CBR: of the bitrate).",
    )
    crf: int | None = Field(
        default=None, ge=0, le=51, description="`-crf` (CRF): lower is better, 23 default."
    )


class EncoderTuning(Model):
    """Encoder knobs under FFmpeg's names (https://ffmpeg.org/ffmpeg-codecs.html#Options-1)."""

    tune: EncoderTune | None = Field(
        default=None, description="`-tune` of libx264/libx265 (x265: not film or stillimage)."
    )
    gopFrames: int | None = Field(
        default=None,
        ge=1,
        le=1200,
        description="`-g`: a keyframe at least every this many frames (fixed GOP: scene cuts add none). "
        "The GOP in seconds is `keyframeInterval`.",
    )
    threads: int | None = Field(
        default=None, ge=0, le=64, description="`-threads` (cores the encoder uses; 0: automatic)."
    )
    slices: int | None = Field(default=None, ge=1, le=32, description="`-slices` per frame.")


class VideoTranscoding(Model):
    """Video re-encode (libx264 / libx265, or a hardware encoder the recorder image carries)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.rateControl) || (!has(self.bitrateKbps) && !has(self.crf))",
                    "message": "set rateControl or bitrateKbps/crf, not both",
                },
                {
                    "rule": "self.codec in ['h264', 'hevc'] || !has(self.crf)",
                    "message": "crf is for the software encoders (h264, hevc)",
                },
                {
                    "rule": "self.codec in ['h264', 'hevc'] || !has(self.rateControl) || "
                    "self.rateControl.mode != 'CRF'",
                    "message": "rateControl CRF is for the software encoders (h264, hevc)",
                },
                {
                    "rule": "self.codec in ['h264', 'hevc'] || !has(self.encoder) || !has(self.encoder.tune)",
                    "message": "encoder.tune is for the software encoders (h264, hevc)",
                },
                {
                    "rule": "self.codec != 'hevc' || !has(self.encoder) || !has(self.encoder.tune) || "
                    "!(self.encoder.tune in ['film', 'stillimage'])",
                    "message": "libx265 has no tune film or stillimage",
                },
                {
                    "rule": "!has(self.keyframeInterval) || !has(self.encoder) || !has(self.encoder.gopFrames)",
                    "message": "set the GOP in seconds (keyframeInterval) or in frames (encoder.gopFrames), not both",
                },
            ]
        }
    }

    codec: VideoCodec = Field(
        default="h264",
        description=(
            "h264 (libx264), hevc (libx265), or a hardware encoder (h264_nvenc, hevc_nvenc, h264_qsv, "
            "hevc_qsv, h264_amf, hevc_amf, h264_videotoolbox, hevc_videotoolbox): the recorder checks "
            "`ffmpeg -encoders` at start and fails with a message naming the encoder when its image lacks it."
        ),
    )
    bitrateKbps: int | None = Field(
        default=None, ge=100, le=100000, description="`-b:v` in kbit/s; with crf: the `-maxrate` cap."
    )
    preset: X264Preset = Field(default="veryfast", description="Encoder `-preset`.")
    crf: int | None = Field(default=None, ge=0, le=51, description="`-crf` constant quality.")
    keyframeInterval: Annotated[str, duration_bounds("60s")] | None = Field(
        default=None, description="Keyframe every this long (`-force_key_frames`, `-sc_threshold 0`)."
    )
    width: int | None = Field(default=None, ge=16, le=7680, multiple_of=2, description="Output width (px).")
    height: int | None = Field(default=None, ge=16, le=4320, multiple_of=2, description="Output height (px).")
    fps: float | None = Field(default=None, gt=0, le=120, description="Output frame rate (`fps` filter).")
    pixelFormat: PixelFormat | None = Field(default=None, description="`-pix_fmt`.")
    rateControl: RateControl | None = Field(
        default=None, description="CBR / VBR / CRF (replaces bitrateKbps/crf)."
    )
    encoder: EncoderTuning | None = None


class AudioTranscoding(Model):
    """Audio re-encode."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.codec != 'opus' || !has(self.sampleRate) || "
                    "self.sampleRate in [8000, 12000, 16000, 24000, 48000]",
                    "message": "opus supports sampleRate 8000, 12000, 16000, 24000 or 48000",
                }
            ]
        }
    }

    codec: AudioCodec = Field(default="aac", description="aac, mp3 (libmp3lame) or opus (libopus).")
    bitrateKbps: int | None = Field(default=None, ge=8, le=512, description="`-b:a` in kbit/s.")
    sampleRate: SampleRate | None = Field(default=None, description="`-ar` in Hz.")
    channels: int | None = Field(default=None, ge=1, le=8, description="`-ac` output channel count.")


class Transcoding(Model):
    """Re-encoding; a missing block means stream copy for that media type."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.video) || has(self.audio)", "message": "set video and/or audio"}
            ]
        }
    }

    video: VideoTranscoding | None = None
    audio: AudioTranscoding | None = None


class AudioSelection(Model):
    """Which audio track and which of its channels are recorded (Callaba's `modify_audio`)."""

    track: int = Field(
        default=0, ge=0, le=63, description="Audio stream index among the input's audio streams."
    )
    channels: list[Annotated[int, Field(ge=1, le=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="Input channel numbers, 1-based (`[1, 2]`); mixed with the `pan` filter (audio re-encoded).",
    )


class OverlayPosition(Model):
    """Top-left corner of the overlay, in pixels from the video's top-left corner."""

    x: int = Field(default=10, ge=0, le=7680)
    y: int = Field(default=10, ge=0, le=4320)


class Overlay(Model):
    """An image drawn over the video (forces a video re-encode)."""

    imageUrl: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="PNG/JPEG over http(s); the agent downloads it (≤ 10 MiB) and FFmpeg reads the local copy.",
    )
    position: OverlayPosition = Field(default_factory=OverlayPosition)


class Crop(Model):
    """A `crop` rectangle of the input picture, in pixels (`crop=w:h:x:y`)."""

    width: int = Field(ge=16, le=7680, multiple_of=2)
    height: int = Field(ge=16, le=4320, multiple_of=2)
    x: int = Field(default=0, ge=0, le=7680, description="Left edge.")
    y: int = Field(default=0, ge=0, le=4320, description="Top edge.")


class VideoFilters(Model):
    """Callaba's `modify_video`, applied in this order before `transcoding.video` width/height (scale)
    and fps: deinterlace (`yadif`), crop, rotate (`transpose`), flip (`hflip`/`vflip`)
    (https://ffmpeg.org/ffmpeg-filters.html). Needs `transcoding.video`."""

    deinterlace: bool = Field(default=False, description="`yadif`: one frame per frame.")
    crop: Crop | None = None
    rotate: Literal[0, 90, 180, 270] = Field(default=0, description="Clockwise, degrees.")
    flip: Literal["none", "horizontal", "vertical"] = Field(default="none", description="After rotate.")


class Loudnorm(Model):
    """EBU R128 normalization (`loudnorm`, single pass; https://ffmpeg.org/ffmpeg-filters.html#loudnorm)."""

    integratedLufs: float = Field(default=-23.0, ge=-70, le=-5, description="`I`: target loudness, LUFS.")
    truePeakDb: float = Field(default=-1.0, ge=-9, le=0, description="`TP`: maximum true peak, dBTP.")
    loudnessRange: float = Field(default=7.0, ge=1, le=50, description="`LRA`: loudness range, LU.")


class AudioFilters(Model):
    """Callaba's `modify_audio` beyond track/channel selection: gain (`volume`) and loudness
    normalization (`loudnorm`), after the channel `pan`; resampling and downmixing are
    `transcoding.audio.sampleRate` (`-ar`) and `channels` (`-ac`). Needs `transcoding.audio`."""

    volumeDb: float | None = Field(default=None, ge=-60, le=30, description="`volume`, dB (applied first).")
    loudnorm: Loudnorm | None = None


class TextClock(Model):
    """The wall-clock time of the recorder, drawn by drawtext's `localtime`/`gmtime` expansion."""

    format: str = Field(
        default="%Y-%m-%d %H:%M:%S",
        max_length=64,
        pattern=r"^([A-Za-z0-9 _.,/:-]|%[aAbBdHIjmMpSuwyYZz%])+$",
        description="strftime codes (%Y %m %d %H %M %S ...), letters, digits, space and `_.,/:-`.",
    )
    utc: bool = Field(default=True, description="UTC (`gmtime`); false: the Pod's local time (`localtime`).")


class TextTimecode(Model):
    """An SMPTE timecode counting frames (drawtext `timecode`, `timecode_rate`)."""

    start: str = Field(
        default="00:00:00:00",
        pattern=r"^[0-9]{2}:[0-5][0-9]:[0-5][0-9]:[0-9]{2}$",
        description="HH:MM:SS:FF (no drop-frame `;`: the rate is a whole number of frames).",
    )
    rate: int = Field(default=25, ge=1, le=120, description="Frames per second of the timecode.")


class TextOverlay(Model):
    """A text drawn over the video (drawtext, https://ffmpeg.org/ffmpeg-filters.html#drawtext-1): one of
    `text` (static, drawn as is), `clock` or `timecode`. Fonts come from fontconfig (DejaVu Sans in
    the recorder image)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.text) ? 1 : 0) + (has(self.clock) ? 1 : 0) + (has(self.timecode) ? 1 : 0) == 1",
                    "message": "a text overlay is exactly one of text, clock or timecode",
                }
            ]
        }
    }

    text: str | None = Field(default=None, min_length=1, max_length=256, description="Static text.")
    clock: TextClock | None = None
    timecode: TextTimecode | None = None
    position: OverlayPosition = Field(default_factory=OverlayPosition)
    fontSize: int = Field(default=24, ge=6, le=400, description="Pixels.")
    fontColor: str = Field(default="white", max_length=32, pattern=COLOR_PATTERN)
    box: bool = Field(default=False, description="A filled box behind the text.")
    boxColor: str = Field(default="black@0.5", max_length=32, pattern=COLOR_PATTERN)
    boxBorder: int = Field(default=4, ge=0, le=100, description="Box margin around the text, pixels.")


class Retention(Model):
    """Automatic deletion of recorded files."""

    deleteAfter: RetentionDuration = Field(
        description="Delete each file this long after it was closed, e.g. 168h (at most 87600h, ten years)."
    )


#: Taints of control-plane nodes a recorder must not tolerate (untrusted media next to etcd and the API server).
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


class Toleration(Model):
    """A core/v1 Toleration; never of the control-plane taints (nor every taint: `operator: Exists`
    without a key)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.key) ? !(self.key in ['"
                    + "', '".join(CONTROL_PLANE_TAINTS)
                    + "']) : !(has(self.operator) && self.operator == 'Exists')",
                    "message": "recorders do not run on control-plane nodes: no toleration of their taints "
                    "(nor operator Exists without a key)",
                }
            ]
        }
    }

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None

    @model_validator(mode="after")
    def _not_control_plane(self) -> Toleration:
        if self.key in CONTROL_PLANE_TAINTS or (self.key is None and self.operator == "Exists"):
            raise ValueError("recorders do not run on control-plane nodes: no toleration of their taints")
        return self


class ResourceRequirements(Model):
    """core/v1 ResourceRequirements; quantities as strings (`"500m"`, `"1Gi"`)."""

    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


class WorkVolume(Model):
    """Where the recorder writes media before it is stored.

    By default a PersistentVolumeClaim `<recording>-work` that the operator creates (owned by the
    recording, deleted with it) and every recorder Pod of the recording mounts in turn: what FFmpeg
    flushed to disk outlives a killed agent, an evicted Pod or a Pod deleted without grace, and the
    next Pod stores it. `emptyDir: true` keeps the media in the Pod only (lost with the Pod).
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.emptyDir) && self.emptyDir) || !has(self.claimName)",
                    "message": "workVolume: set claimName or emptyDir, not both",
                }
            ]
        }
    }

    claimName: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="An existing ReadWriteOnce claim to use (a sub-directory per recording) instead of creating one.",
    )
    storageClassName: str | None = Field(
        default=None,
        max_length=253,
        description="StorageClass of the created claim; absent: the cluster default.",
    )
    size: str = Field(
        default=DEFAULT_WORK_VOLUME_SIZE,
        pattern=r"^[0-9]+(Mi|Gi|Ti)$",
        description="Requested size of the created claim (Mi, Gi or Ti).",
    )
    emptyDir: bool = Field(
        default=False,
        description="Use the Pod's emptyDir: media not yet stored is lost when the Pod goes.",
    )


class RecorderPod(Model):
    """How the recorder Pod runs."""

    image: str | None = Field(
        default=None, max_length=1024, description="Recorder image; default: operator's."
    )
    resources: ResourceRequirements | None = None
    nodeSelector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    serviceType: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="Service type for `input.listen`."
    )
    workVolume: WorkVolume | None = Field(
        default=None,
        description="Where media waits before it is stored; absent: a claim the operator creates.",
    )
    uploadRateMbps: int = Field(
        default=DEFAULT_UPLOAD_RATE_MBPS,
        ge=1,
        le=100000,
        description=(
            "Upload rate the stop grace period is sized with (Mbit/s): a stopped recorder Pod gets FFmpeg's "
            "finalize time plus the bytes its recorder reports still to store at this rate (its "
            "terminationGracePeriodSeconds, set when it is created, assumes the spec's bitrate)."
        ),
    )


_MP3 = "self.output.format != 'mp3'"


class LocalRecordingSpec(Model):
    """Desired state of a LocalRecording."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": f"{_MP3} || !has(self.transcoding) || !has(self.transcoding.video)",
                    "message": "mp3 is audio only: remove transcoding.video",
                },
                {"rule": f"{_MP3} || !has(self.overlay)", "message": "mp3 is audio only: remove overlay"},
                {
                    "rule": "!has(self.videoFilters) || (has(self.transcoding) && has(self.transcoding.video))",
                    "message": "videoFilters need transcoding.video: stream copy cannot filter video",
                },
                {
                    "rule": "!has(self.textOverlays) || (has(self.transcoding) && has(self.transcoding.video))",
                    "message": "textOverlays need transcoding.video: stream copy cannot draw on video",
                },
                {
                    "rule": "!has(self.audioFilters) || (has(self.transcoding) && has(self.transcoding.audio)) || "
                    "self.output.format == 'mp3'",
                    "message": "audioFilters need transcoding.audio: stream copy cannot filter audio",
                },
                {
                    "rule": f"{_MP3} || !has(self.transcoding) || !has(self.transcoding.audio) || "
                    "self.transcoding.audio.codec == 'mp3'",
                    "message": "mp3 output needs transcoding.audio.codec mp3",
                },
                {
                    "rule": "self.output.format != 'flv' || !has(self.transcoding) || "
                    "((!has(self.transcoding.video) || self.transcoding.video.codec.startsWith('h264')) && "
                    "(!has(self.transcoding.audio) || self.transcoding.audio.codec != 'opus'))",
                    "message": "flv carries h264 video and aac/mp3 audio only",
                },
                {
                    "rule": "!has(self.output.maxSize) || !has(self.seamless) || !self.seamless || "
                    "has(self.output.segmentDuration)",
                    "message": "seamless without output.segmentDuration records one continuous file: "
                    "set segmentDuration to split it by maxSize",
                },
                {
                    "rule": "!has(self.additionalOutputs) || self.additionalOutputs.all(o, "
                    "self.additionalOutputs.exists_one(p, p.name == o.name))",
                    "message": "additionalOutputs names must be unique",
                },
                {
                    "rule": f"{_MP3} || !has(self.additionalOutputs) || "
                    "self.additionalOutputs.all(o, o.format != 'jpg')",
                    "message": "jpg thumbnails need video: output.format mp3 records audio only",
                },
                {
                    "rule": "self.storage.vendor in ['s3', 's3-compatible', 'gcs', 'azure', 'volume']",
                    "message": "LocalRecording stores to s3, s3-compatible, gcs, azure or volume",
                },
                {
                    "rule": "self.storage.vendor != 's3-compatible' || has(self.storage.endpoint)",
                    "message": "s3-compatible storage needs storage.endpoint",
                },
                {
                    "rule": "self.storage.vendor != 'volume' || has(self.storage.volume)",
                    "message": "vendor volume needs storage.volume",
                },
                {
                    "rule": "self.storage.vendor == 'volume' || has(self.storage.bucket)",
                    "message": "object storage needs storage.bucket",
                },
                {
                    "rule": "!has(self.input.listen) || !has(self.pod) || !has(self.pod.serviceType) || "
                    "self.pod.serviceType == 'ClusterIP' || (self.input.listen.protocol == 'srt' && "
                    "has(self.input.passphraseSecretRef)) || (has(self.input.listen.allowAnonymous) && "
                    "self.input.listen.allowAnonymous)",
                    "message": "a NodePort or LoadBalancer listener accepts publishers from outside the cluster: "
                    "use srt with passphraseSecretRef (FFmpeg's rtmp, udp and rist listeners check no key), "
                    "or set input.listen.allowAnonymous",
                },
            ]
        }
    }

    active: bool = Field(default=True, description="Run the recorder; false stops it and keeps the resource.")
    input: RecordingInput
    output: RecordingOutput = Field(default_factory=RecordingOutput)
    additionalOutputs: list[AdditionalOutput] | None = Field(
        default=None,
        max_length=MAX_ADDITIONAL_OUTPUTS,
        description=(
            "More outputs of the same capture in the same recorder Pod, each with its name, format, "
            "segment duration and file names, e.g. an hls playlist and jpg thumbnails beside an mp4 "
            f"archive. A list beside `output` (its name is `{PRIMARY_OUTPUT_NAME}`) rather than a list "
            "replacing it, so recordings with `output` alone keep their schema, file names and numbering."
        ),
    )
    transcoding: Transcoding | None = Field(default=None, description="Absent: stream copy.")
    audio: AudioSelection | None = Field(default=None, description="Audio track and channel selection.")
    overlay: Overlay | None = None
    videoFilters: VideoFilters | None = Field(
        default=None, description="Deinterlace, crop, rotate, flip (needs transcoding.video)."
    )
    audioFilters: AudioFilters | None = Field(
        default=None, description="Volume and loudness normalization (needs transcoding.audio)."
    )
    textOverlays: list[TextOverlay] | None = Field(
        default=None,
        max_length=8,
        description="Texts drawn over the video, in order (needs transcoding.video).",
    )
    seamless: bool = Field(
        default=False,
        description=(
            "One recording across input interruptions: a continuous recording's parts are joined into one "
            "file with the concat demuxer when it ends (segment numbering always continues). Without "
            "output.segmentDuration the recording is continuous (see output.continuous)."
        ),
    )
    storage: StorageSpec
    retention: Retention | None = Field(default=None, description="Absent: keep files.")
    deletionPolicy: DeletionPolicy = Field(
        default="Delete",
        description=(
            "What deleting the recording does: Delete deletes its RecordedFiles (each one's own "
            "deletionPolicy then decides about the stored file); Orphan leaves them, unowned."
        ),
    )
    files: FileDefaults | None = Field(
        default=None,
        description="Defaults for the RecordedFiles of new files (absent: deletionPolicy Delete).",
    )
    maxDuration: Annotated[str, duration_bounds("8760h")] | None = Field(
        default=None,
        description=(
            "Stop recording this long after status.startedAt (across Pod replacements and restarts); "
            "the recording then stays Stopped (MaxDurationReached) until active is set false and true again."
        ),
    )
    pod: RecorderPod | None = None


class InputStats(Model):
    """The input as FFmpeg described it when it opened it (its info-level stream dump): the first
    video and audio stream. The bitrate is what the source declares (FFmpeg's `kb/s`, summed over
    its streams; absent when none declares one, e.g. H.264 in MPEG-TS): FFmpeg 5.1 reports no
    measured input bitrate, and with stream copy `stats.bitrateKbps` is the input's media bitrate."""

    videoCodec: str | None = None
    width: int | None = Field(default=None, description="Pixels.")
    height: int | None = Field(default=None, description="Pixels.")
    fps: float | None = Field(default=None, description="Frames per second.")
    audioCodec: str | None = None
    sampleRate: int | None = Field(default=None, description="Hz.")
    channelLayout: str | None = Field(default=None, description="mono, stereo, 5.1, ...")
    declaredBitrateKbps: int | None = Field(default=None, description="kbit/s, as the source declares it.")


class SrtStats(Model):
    """The SRT link of the current session, from srt-live-transmit's periodic JSON report
    (https://github.com/Haivision/srt/blob/master/docs/apps/srt-live-transmit.md, options `-s`,
    `-pf:json`, `-statsout`); libsrt's names for each value are in the descriptions
    (https://github.com/Haivision/srt/blob/master/docs/API/statistics.md). srt-live-transmit 1.5.1
    reports the counters of each interval (libsrt clears them at each report): the counters here are
    their sums since the relay connected (the current session); rates, RTT and buffer are the last
    report's. All None, and `unavailableReason` set, when the input is received by FFmpeg itself."""

    rttMs: float | None = Field(default=None, description="Smoothed round-trip time, ms (`msRTT`).")
    bandwidthMbps: float | None = Field(
        default=None, description="Estimated link bandwidth, Mbit/s (`mbpsBandwidth`)."
    )
    receiveRateMbps: float | None = Field(
        default=None, description="Receiving rate over the last report interval, Mbit/s (`mbpsRecvRate`)."
    )
    packetsReceived: int | None = Field(default=None, ge=0, description="Packets received (`pktRecv`).")
    packetsLost: int | None = Field(
        default=None, ge=0, description="Packets detected missing, later recovered or not (`pktRcvLoss`)."
    )
    packetsRetransmitted: int | None = Field(
        default=None, ge=0, description="Retransmitted packets received (`pktRcvRetrans`)."
    )
    packetsDropped: int | None = Field(
        default=None, ge=0, description="Packets dropped as too late to play (`pktRcvDrop`)."
    )
    bytesReceived: int | None = Field(default=None, ge=0, description="Payload bytes received (`byteRecv`).")
    receiveBufferMs: int | None = Field(
        default=None, ge=0, description="Media held in the receive buffer, ms (`msRcvBuf`)."
    )
    latencyMs: int | None = Field(
        default=None, ge=0, description="Negotiated receiver latency, ms (`msRcvTsbPdDelay`)."
    )
    updatedAt: str | None = Field(default=None, description="When the last report arrived (RFC 3339).")
    unavailableReason: str | None = Field(
        default=None,
        description="Why this SRT input has no link statistics (srtStatistics false, srt-live-transmit "
        "missing, an option it cannot take); FFmpeg then receives SRT itself.",
    )


class RecordingStats(Model):
    """FFmpeg `-progress` values, as last reported (https://ffmpeg.org/ffmpeg.html#Advanced-options, `-progress`)."""

    bitrateKbps: float | None = Field(default=None, description="Output bitrate, kbit/s.")
    fps: float | None = Field(default=None, description="Encoding frames per second.")
    frame: int | None = Field(default=None, description="Frames written in the current FFmpeg session.")
    outTimeMs: int | None = Field(default=None, description="Media time written, ms (from `out_time_us`).")
    speed: float | None = Field(default=None, description="Media seconds per wall second (1.0 = real time).")
    totalSizeBytes: int | None = Field(default=None, description="Bytes of all files written (filesystem).")
    dropFrames: int | None = Field(
        default=None, description="Frames dropped to keep the output rate (`drop_frames`)."
    )
    dupFrames: int | None = Field(
        default=None, description="Frames duplicated to keep the output rate (`dup_frames`)."
    )
    input: InputStats | None = Field(
        default=None,
        description="The input's codecs, picture size, frame rate and audio format (current FFmpeg session).",
    )
    srt: SrtStats | None = Field(
        default=None, description="SRT inputs: the link's statistics (RTT, loss, retransmits, rate)."
    )
    progress: Literal["continue", "end"] | None = None
    reconnects: int = Field(default=0, ge=0, description="FFmpeg restarts since the recorder started.")
    updatedAt: str | None = Field(
        default=None, description="When the last progress block arrived (RFC 3339)."
    )


class OutputFilesSummary(Model):
    """The stored files of one output (`status.outputs`)."""

    name: str = Field(description=f"`{PRIMARY_OUTPUT_NAME}` (spec.output) or an additionalOutputs name.")
    count: int = Field(default=0, ge=0, description="Files with a RecordedFile.")
    totalBytes: int | None = Field(default=None, ge=0, description="Sum of their sizes in bytes.")
    latest: str | None = Field(default=None, description="The newest file (key with its prefix path).")


class LocalRecordingStatus(Model):
    """Observed state of a LocalRecording."""

    observedGeneration: int | None = None
    phase: (
        Literal["Pending", "Starting", "Recording", "Reconnecting", "Stopping", "Stopped", "Failed"] | None
    ) = None
    podName: str | None = None
    serviceName: str | None = Field(default=None, description="Service publishers push to (input.listen).")
    startedAt: str | None = Field(
        default=None, description="When the current recording session started (RFC 3339)."
    )
    stoppedAt: str | None = None
    stopReason: str | None = Field(
        default=None, description="Requested, MaxDurationReached, Deleted or RecorderFailed."
    )
    consecutiveFailures: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Recorder Pods that failed in a row since the recorder last recorded or the spec changed; "
            "the recording is Failed when it exceeds the operator's LOCALRECORDING_MAX_RESTARTS. "
            "Absent: none."
        ),
    )
    nextRetryAt: str | None = Field(
        default=None,
        description="When the controller starts the next recorder Pod after a failure (RFC 3339; phase Reconnecting).",
    )
    storeOnlyAttempts: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Set when a recorder Pod ended without storing everything while files stay on the work "
            "claim: the store-only recorder Pods run for them so far (one is run before the recording "
            "reports Stopped or its finalizer is released). Absent: nothing left to store."
        ),
    )
    stats: RecordingStats | None = None
    files: FilesSummary | None = None
    outputs: list[OutputFilesSummary] | None = Field(
        default=None,
        max_length=MAX_ADDITIONAL_OUTPUTS + 1,
        description="With additionalOutputs: `status.files` per output (`main` first).",
    )
    deletedFiles: list[str] | None = Field(
        default=None, max_length=MAX_DELETED_FILES, description=DELETED_FILES_DESCRIPTION
    )
    lastError: str | None = Field(default=None, max_length=4096)
    conditions: list[Condition] | None = None


# --- What the controller and the recorder both derive from a spec ---

#: File extension per output format (hls: its media segments).
EXTENSIONS = {
    "mp4": "mp4",
    "mkv": "mkv",
    "flv": "flv",
    "mpegts": "ts",
    "hls": "ts",
    "mp3": "mp3",
    "avi": "avi",
    "jpg": "jpg",
}
#: Input kinds: a pull URL's scheme (http(s) split into hls / dash / http, rtp with `sdp` = rtp-sdp) or a
#: listen protocol.
INPUT_KINDS = frozenset(
    {"srt", "rtmp", "rtmps", "rtsp", "rtsps", "hls", "dash", "http", "udp", "rtp", "rtp-sdp", "rist"}
)


def input_kind(inp: RecordingInput) -> str:
    """The input kind: one of INPUT_KINDS (the recorder has one `-protocol_whitelist` per kind).

    http(s) URLs whose path ends in `.m3u8` are `hls`, in `.mpd` `dash`, otherwise `http`;
    rtp with `sdp` is `rtp-sdp`; listen inputs are their protocol.

    Raises:
        ValueError: neither url nor listen is set, or the scheme is not allowed.
    """
    if inp.listen is not None:
        return inp.listen.protocol
    if inp.url is None:
        raise ValueError("input needs url or listen")
    parts = urlsplit(inp.url)
    scheme = parts.scheme
    if scheme in ("http", "https"):
        path = parts.path.lower()
        if path.endswith(".m3u8"):
            return "hls"
        if path.endswith(".mpd"):
            return "dash"
        return "http"
    if scheme == "rtp" and inp.sdp:
        return "rtp-sdp"
    if scheme not in INPUT_KINDS:
        raise ValueError(f"input scheme {scheme!r} is not allowed")
    return scheme


def uses_tls(inp: RecordingInput) -> bool:
    """True for pull URLs whose scheme runs over TLS (https, rtmps, rtsps)."""
    return inp.url is not None and urlsplit(inp.url).scheme in TLS_SCHEMES


def unverifiable_tls(inp: RecordingInput) -> str | None:
    """Why FFmpeg 5.1 cannot verify this TLS input's certificate, or None when it can (or none is asked).

    Verification is asked unless `tls.insecureSkipVerify`; FFmpeg 5.1 cannot give it for HLS/DASH over
    https (segments unverified) and rtsps (`tls_args`). The CRD rejects these specs; the controller
    and the agent check again for objects stored before the rule existed.
    """
    if not uses_tls(inp) or (inp.tls is not None and inp.tls.insecureSkipVerify):
        return None
    kind = input_kind(inp)
    if kind in ("hls", "dash"):
        return (
            "FFmpeg 5.1 verifies an HLS/DASH playlist's certificate but not its segments' (the hls and "
            "dash demuxers do not pass tls_verify to segment requests): set tls.insecureSkipVerify: true "
            "to record it unverified"
        )
    if kind == "rtsps":
        return (
            "FFmpeg 5.1 cannot verify an rtsps source's certificate (its RTSP demuxer passes no TLS "
            "options): set tls.insecureSkipVerify: true to record it unverified"
        )
    return None


class NamedOutput(NamedTuple):
    """One output of a recording as both the controller and the recorder see it."""

    name: str
    format: str
    fileNameTemplate: str


def named_outputs(spec: LocalRecordingSpec) -> list[NamedOutput]:
    """`output` (named PRIMARY_OUTPUT_NAME) and then `additionalOutputs`, in spec order."""
    found = [NamedOutput(PRIMARY_OUTPUT_NAME, spec.output.format, spec.output.fileNameTemplate)]
    for extra in spec.additionalOutputs or []:
        found.append(NamedOutput(extra.name, extra.format, extra.fileNameTemplate))
    return found


def is_continuous(spec: LocalRecordingSpec) -> bool:
    """One file per recorder session instead of segments: `output.continuous`, or `seamless` without
    a `segmentDuration` (one joined file is what seamless asks for). Never for hls."""
    output = spec.output
    return output.format != "hls" and (output.continuous or (spec.seamless and not output.segmentDuration))
