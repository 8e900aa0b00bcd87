"""CloudRecording: a provider-side recording session (Agora Cloud Recording).

The `agora` block mirrors the body of Agora's `start` request (https://docs.agora.io/en/cloud-recording/rest-api/start) with
Agora's own field names, so a user can paste from Agora's documentation. `storageConfig` and
`token` are not pasted: they are built from `spec.storage` and Secrets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

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
    SessionDuration,
    StorageSpec,
)
from recording_operator.api.v1alpha1.storage_regions import REGION_CODES

IMMUTABLE = "self == oldSelf"


def _region_rules() -> list[Any]:
    """One CEL rule per Agora vendor with a region table (https://docs.agora.io/en/cloud-recording/reference/region-vendor): the region name
    must be one of the vendor's, matched case-insensitively with `-` and `_` alike (as
    `api.v1alpha1.storage_regions.agora_storage_codes` maps it)."""
    rules = []
    for vendor, table in REGION_CODES.items():
        names = sorted(table, key=lambda n: table[n])
        pattern = "(?i)^(" + "|".join(n.replace("_", "[-_]") for n in names) + ")$"
        rules.append(
            {
                "rule": f"self.provider != 'agora' || self.storage.vendor != '{vendor}' || "
                f"(has(self.storage.region) && self.storage.region.matches('{pattern}'))",
                "message": f"Agora has no {vendor} storage region of that name; use one of "
                + ", ".join(n.replace("_", "-") for n in names),
            }
        )
    return rules


#: An Agora user ID as a string: a decimal in 1..2^32−1 (https://docs.agora.io/en/cloud-recording/rest-api/start:
#: "uid … a 32-bit unsigned integer"; 0 is not a user). The pattern bounds the digits, the CEL rule the value.
UID_PATTERN = r"^[1-9][0-9]{0,9}$"
UID_RANGE_RULE: dict[str, Any] = {
    "rule": "int(self) <= 4294967295",
    "message": "a uid must be in 1..4294967295",
}

#: Agora UID lists: uids (as above) or `#allstream#` (https://docs.agora.io/en/cloud-recording/rest-api/start).
UidEntry = Annotated[
    str,
    Field(
        pattern=r"^([1-9][0-9]{0,9}|#allstream#)$",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == '#allstream#' || int(self) <= 4294967295",
                    "message": "a uid must be in 1..4294967295",
                }
            ]
        },
    ),
]
UidList = Annotated[list[UidEntry], Field(max_length=32)]


def _immutable(what: str) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": IMMUTABLE, "message": f"{what} is immutable"}]}


class LayoutRegion(Model):
    """One window of a custom mix layout (`mixedVideoLayout: 3`); coordinates are fractions of the canvas."""

    uid: str | None = Field(
        default=None,
        pattern=UID_PATTERN,
        description="User shown in this window (1..4294967295).",
        json_schema_extra={"x-kubernetes-validations": [UID_RANGE_RULE]},
    )
    x_axis: float = Field(ge=0, le=1, description="Left edge, fraction of the canvas width.")
    y_axis: float = Field(ge=0, le=1, description="Top edge, fraction of the canvas height.")
    width: float = Field(ge=0, le=1, description="Width, fraction of the canvas width.")
    height: float = Field(ge=0, le=1, description="Height, fraction of the canvas height.")
    alpha: float | None = Field(default=None, ge=0, le=1, description="Opacity, default 1.")
    render_mode: Literal[0, 1] | None = Field(default=None, description="0 crop to fill, 1 fit.")


class BackgroundConfig(Model):
    """Per-user background image shown while that user sends no video."""

    uid: str = Field(
        pattern=UID_PATTERN,
        description="User ID (1..4294967295).",
        json_schema_extra={"x-kubernetes-validations": [UID_RANGE_RULE]},
    )
    image_url: str = Field(
        pattern=r"^https://", max_length=2048, description="HTTPS URL of a JPG/BMP, ≤6 MB."
    )
    render_mode: Literal[0, 1] | None = Field(default=None, description="0 crop to fill, 1 fit.")


class LayoutFields(Model):
    """The mix layout; sent whole by `updateLayout` (a full overwrite, https://docs.agora.io/en/cloud-recording/rest-api/update-layout)."""

    maxResolutionUid: str | None = Field(
        default=None,
        pattern=UID_PATTERN,
        description="Large window's user (vertical layout), 1..4294967295.",
        json_schema_extra={"x-kubernetes-validations": [UID_RANGE_RULE]},
    )
    mixedVideoLayout: Literal[0, 1, 2, 3] | None = Field(
        default=None, description="0 floating, 1 adaptive, 2 vertical (needs maxResolutionUid), 3 custom."
    )
    backgroundColor: str | None = Field(
        default=None, pattern=r"^#[0-9A-Fa-f]{6}$", description="Canvas colour `#RRGGBB`, default #000000."
    )
    backgroundImage: str | None = Field(default=None, max_length=2048, description="Canvas background URL.")
    defaultUserBackgroundImage: str | None = Field(
        default=None, max_length=2048, description="Shown for a user without video."
    )
    layoutConfig: list[LayoutRegion] | None = Field(
        default=None, max_length=17, description="Custom layout windows (mixedVideoLayout 3), ≤17."
    )
    backgroundConfig: list[BackgroundConfig] | None = Field(default=None, max_length=17)


class TranscodingConfig(LayoutFields):
    """Mixed-stream output (mix mode only): canvas size, fps, bitrate and layout (https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.mixedVideoLayout) || self.mixedVideoLayout != 2 || has(self.maxResolutionUid)",
                    "message": "mixedVideoLayout 2 (vertical) needs maxResolutionUid",
                },
                {
                    "rule": "!has(self.mixedVideoLayout) || self.mixedVideoLayout != 3 || has(self.layoutConfig)",
                    "message": "mixedVideoLayout 3 (custom) needs layoutConfig",
                },
                {
                    "rule": "(has(self.width) ? self.width : 360) * (has(self.height) ? self.height : 640)"
                    " <= 1920 * 1080",
                    "message": "width × height must not exceed 1920 × 1080",
                },
            ]
        }
    }

    width: int | None = Field(default=None, ge=16, le=1920, description="Canvas width in px, default 360.")
    height: int | None = Field(default=None, ge=16, le=1920, description="Canvas height in px, default 640.")
    fps: int | None = Field(default=None, ge=1, le=30, description="Frames per second, default 15.")
    bitrate: int | None = Field(
        default=None, ge=1, le=10000, description="Video bitrate in kbps, default 500."
    )


_EXCLUSIVE_LIST_RULES: list[Any] = [
    {
        "rule": f"!(has(self.subscribe{k}Uids) && has(self.unsubscribe{k}Uids))",
        "message": f"subscribe{k}Uids and unsubscribe{k}Uids are mutually exclusive",
    }
    for k in ("Audio", "Video")
]


class RecordingConfig(Model):
    """Which streams are recorded and how (individual and mix modes, https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                *_EXCLUSIVE_LIST_RULES,
                {
                    "rule": "!has(self.streamMode) || self.streamMode != 'original' || "
                    "(has(self.streamTypes) && self.streamTypes == 0)",
                    "message": "streamMode original (non-transcoded audio) needs streamTypes 0",
                },
                {
                    "rule": "!(has(self.streamTypes) && self.streamTypes == 1) || "
                    "!(has(self.subscribeAudioUids) || has(self.unsubscribeAudioUids))",
                    "message": "audio subscription lists need streamTypes 0 or 2 (streamTypes 1 records video only)",
                },
                {
                    "rule": "!(has(self.streamTypes) && self.streamTypes == 0) || "
                    "!(has(self.subscribeVideoUids) || has(self.unsubscribeVideoUids))",
                    "message": "video subscription lists need streamTypes 1 or 2 (streamTypes 0 records audio only)",
                },
            ]
        }
    }

    channelType: Literal[0, 1] = Field(default=0, description="0 communication, 1 live broadcast.")
    decryptionMode: Literal[0, 1, 2, 3, 4, 5, 6, 7, 8] | None = Field(
        default=None,
        description="The channel's encryption, as set in the RTC SDK: 0 none (default), 1 AES_128_XTS, "
        "2 AES_128_ECB, 3 AES_256_XTS, 4 SM4_128_ECB, 5 AES_128_GCM, 6 AES_256_GCM, 7 AES_128_GCM2, "
        "8 AES_256_GCM2. Not 0 needs spec.agora.encryption.secretRef; 7 and 8 also saltRef.",
    )
    maxIdleTime: int | None = Field(
        default=None,
        ge=5,
        le=2592000,
        description="Seconds without users before Agora ends the task (default 30).",
    )
    streamTypes: Literal[0, 1, 2] | None = Field(
        default=None, description="0 audio, 1 video, 2 both (default)."
    )
    videoStreamType: Literal[0, 1] | None = Field(default=None, description="0 high stream (default), 1 low.")
    subscribeAudioUids: UidList | None = Field(
        default=None, description="Audio of these users; `#allstream#`."
    )
    unsubscribeAudioUids: UidList | None = Field(default=None, description="Audio of everyone but these.")
    subscribeVideoUids: UidList | None = Field(
        default=None, description="Video of these users; `#allstream#`."
    )
    unsubscribeVideoUids: UidList | None = Field(default=None, description="Video of everyone but these.")
    subscribeUidGroup: Literal[0, 1, 2, 3, 4, 5] | None = Field(
        default=None, description="Individual mode (required there): 0 = 1–2 UIDs, 1 = 3–7, … 5 = 33–49."
    )
    streamMode: Literal["default", "standard", "original"] | None = Field(
        default=None, description="Individual mode output stream mode; original needs streamTypes 0."
    )
    audioProfile: Literal[0, 1, 2] | None = Field(default=None, description="Mix mode audio profile.")
    transcodingConfig: TranscodingConfig | None = Field(default=None, description="Mix mode only.")


class RecordingFileConfig(Model):
    """Output file types (https://docs.agora.io/en/cloud-recording/rest-api/start): `[hls]` (default) or `[hls, mp4]`; `[mp4]` alone is an Agora error."""

    avFileType: list[Literal["hls", "mp4"]] | None = Field(
        default=None,
        min_length=1,
        max_length=2,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "'hls' in self",
                    "message": "avFileType must include hls; [mp4] alone is rejected by Agora",
                },
                {"rule": "self.size() < 2 || self[0] != self[1]", "message": "avFileType lists a type twice"},
            ]
        },
    )


class SnapshotConfig(Model):
    """Screenshots (individual mode only, https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    captureInterval: int | None = Field(
        default=None, ge=5, le=3600, description="Seconds between screenshots."
    )
    fileType: list[Literal["jpg"]] = Field(min_length=1, max_length=1, description="Must be [jpg].")


class RtmpOutput(Model):
    """One CDN push target."""

    rtmpUrl: str = Field(pattern=r"^rtmps?://", max_length=2048, description="rtmp:// or rtmps:// URL.")


class ServiceParam(Model):
    """`serviceParam` of an extension service: web page recording or CDN push (https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.videoWidth) || !has(self.videoHeight) || "
                    "self.videoWidth * self.videoHeight <= 1920 * 1080",
                    "message": "videoWidth × videoHeight must not exceed 1920 × 1080",
                }
            ]
        }
    }

    url: str | None = Field(
        default=None, max_length=4096, description="web_recorder_service: page to record."
    )
    audioProfile: Literal[0, 1, 2] | None = None
    videoWidth: int | None = Field(default=None, ge=1, le=1920)
    videoHeight: int | None = Field(default=None, ge=1, le=1920)
    maxRecordingHour: int | None = Field(default=None, ge=1, le=720, description="Hours before Agora stops.")
    videoBitrate: int | None = Field(
        default=None, ge=1, description="kbps; default 2000 at ≥1280×720, else 1500."
    )
    videoFps: int | None = Field(default=None, ge=5, le=60)
    mobile: bool | None = None
    maxVideoDuration: int | None = Field(default=None, ge=30, le=240, description="Minutes per MP4 file.")
    readyTimeout: int | None = Field(default=None, ge=0, le=60, description="Seconds; 0 = off.")
    outputs: list[RtmpOutput] | None = Field(default=None, max_length=1, description="rtmp_publish_service.")


class ExtensionService(Model):
    """An extension service (web mode)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.serviceName != 'web_recorder_service' || (has(self.serviceParam.url) && "
                    "has(self.serviceParam.audioProfile) && has(self.serviceParam.videoWidth) && "
                    "has(self.serviceParam.videoHeight) && has(self.serviceParam.maxRecordingHour))",
                    "message": "web_recorder_service needs url, audioProfile, videoWidth, videoHeight and "
                    "maxRecordingHour",
                },
                {
                    "rule": "self.serviceName != 'rtmp_publish_service' || has(self.serviceParam.outputs)",
                    "message": "rtmp_publish_service needs outputs",
                },
            ]
        }
    }

    serviceName: Literal["web_recorder_service", "rtmp_publish_service"]
    errorHandlePolicy: Literal["error_abort", "error_ignore"] | None = None
    serviceParam: ServiceParam


class ExtensionServiceConfig(Model):
    """Web page recording and CDN push (web mode, https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    errorHandlePolicy: Literal["error_abort"] | None = None
    extensionServices: list[ExtensionService] = Field(min_length=1, max_length=2)


class RtcToken(Model):
    """The RTC token the recorder joins with (needed when the project has an App Certificate).

    Exactly one of `secretRef` (a ready token that outlives the recording: Agora cannot be given a
    new one, https://docs.agora.io/en/cloud-recording/rest-api/start) and `appCertificateSecretRef` (the App Certificate: the operator mints an
    AccessToken2 token for `channel` and `uid`, valid `resourceExpiredHour` + 10 min, never stored
    nor logged; AccessToken2 tokens live at most 24 h, so minting needs `resourceExpiredHour` ≤ 23).
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.secretRef) != has(self.appCertificateSecretRef)",
                    "message": "set exactly one of secretRef and appCertificateSecretRef",
                }
            ]
        }
    }

    secretRef: SecretKeySelector | None = Field(
        default=None, description="Secret key holding a token that outlives the recording."
    )
    appCertificateSecretRef: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the App Certificate; the operator mints the token."
    )


class ChannelEncryption(Model):
    """The key (and salt) of an encrypted channel, from Secrets: sent as `recordingConfig.secret` and
    `recordingConfig.salt` (https://docs.agora.io/en/cloud-recording/rest-api/start); never stored nor logged."""

    secretRef: SecretKeySelector = Field(description="Secret key holding the encryption key (`secret`).")
    saltRef: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the salt: base64 of 32 bytes; needed by decryptionMode 7 and 8.",
    )


#: A free-form object in the CRD (`x-kubernetes-preserve-unknown-fields`), any JSON object in the model.
Schemaless = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
]


class AgoraRecordingSpec(Model):
    """Agora Cloud Recording parameters (Agora `acquire` and `start`: https://docs.agora.io/en/cloud-recording/rest-api/acquire,
    https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.mode != 'web' || has(self.extensionServiceConfig)",
                    "message": "web mode requires extensionServiceConfig",
                },
                {
                    "rule": "self.mode == 'web' || !has(self.extensionServiceConfig)",
                    "message": "extensionServiceConfig is for web mode only",
                },
                {
                    "rule": "self.mode != 'individual' || (has(self.recordingConfig) && "
                    "has(self.recordingConfig.subscribeUidGroup))",
                    "message": "individual mode requires recordingConfig.subscribeUidGroup",
                },
                {
                    "rule": "self.mode == 'individual' || !has(self.snapshotConfig)",
                    "message": "snapshotConfig is for individual mode only",
                },
                {
                    "rule": "self.mode == 'mix' || !has(self.recordingConfig) || "
                    "!has(self.recordingConfig.transcodingConfig)",
                    "message": "recordingConfig.transcodingConfig is for mix mode only",
                },
                {
                    "rule": "self.mode != 'web' || !has(self.recordingConfig)",
                    "message": "recordingConfig is not used in web mode",
                },
                {"rule": "int(self.uid) <= 4294967295", "message": "uid must be at most 4294967295"},
                {
                    "rule": "(has(self.recordingConfig) && has(self.recordingConfig.decryptionMode) && "
                    "self.recordingConfig.decryptionMode != 0) == has(self.encryption)",
                    "message": "recordingConfig.decryptionMode other than 0 needs encryption.secretRef, and "
                    "encryption needs a decryptionMode other than 0",
                },
                {
                    "rule": "!has(self.recordingConfig) || !has(self.recordingConfig.decryptionMode) || "
                    "self.recordingConfig.decryptionMode < 7 || "
                    "(has(self.encryption) && has(self.encryption.saltRef))",
                    "message": "decryptionMode 7 and 8 (GCM2) need encryption.saltRef",
                },
                {
                    "rule": "self.mode != 'individual' || !has(self.recordingFileConfig) || "
                    "!has(self.recordingFileConfig.avFileType) || !('mp4' in self.recordingFileConfig.avFileType)",
                    "message": "individual mode records avFileType [hls] only (Agora: use the default there)",
                },
                {
                    "rule": "!has(self.snapshotConfig) || !has(self.recordingConfig) || "
                    "!has(self.recordingConfig.streamTypes) || self.recordingConfig.streamTypes != 0",
                    "message": "snapshotConfig needs recordingConfig.streamTypes 1 or 2",
                },
                {
                    "rule": "!has(self.snapshotConfig) || !has(self.recordingConfig) || "
                    "!has(self.recordingConfig.subscribeAudioUids) || has(self.recordingConfig.subscribeVideoUids)",
                    "message": "with snapshotConfig, subscribeAudioUids needs subscribeVideoUids too",
                },
                {
                    "rule": "!has(self.token) || !has(self.token.appCertificateSecretRef) || "
                    "self.resourceExpiredHour <= 23",
                    "message": "a minted token lives at most 24 h: appCertificateSecretRef needs "
                    "resourceExpiredHour <= 23",
                },
            ]
        }
    }

    appId: str = Field(min_length=1, max_length=64, json_schema_extra=_immutable("appId"))
    channel: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+$",
        description="Channel name (Agora `cname`); immutable.",
        json_schema_extra=_immutable("channel"),
    )
    uid: str = Field(
        pattern=r"^[1-9][0-9]{0,9}$",
        description="The recorder's UID in the channel, a decimal in 1..4294967295 unused by anyone else; immutable.",
        json_schema_extra=_immutable("uid"),
    )
    mode: Literal["individual", "mix", "web"] = Field(
        default="mix", description="Recording mode; immutable.", json_schema_extra=_immutable("mode")
    )
    region: Literal["CN", "AP", "EU", "NA"] | None = Field(
        default=None, description="acquire `clientRequest.region`; the storage region must match it."
    )
    resourceExpiredHour: int = Field(
        default=72,
        ge=1,
        le=720,
        description="Hours after start during which the session can be queried/stopped.",
    )
    token: RtcToken | None = Field(default=None, description="RTC token (individual and mix modes).")
    encryption: ChannelEncryption | None = Field(
        default=None, description="Key and salt of an encrypted channel (recordingConfig.decryptionMode)."
    )
    recordingConfig: RecordingConfig | None = None
    recordingFileConfig: RecordingFileConfig | None = None
    snapshotConfig: SnapshotConfig | None = None
    extensionServiceConfig: ExtensionServiceConfig | None = None
    excludeResourceIds: list[Annotated[str, Field(min_length=1, max_length=1024)]] | None = Field(
        default=None,
        max_length=16,
        description="acquire `clientRequest.excludeResourceIds`: resourceIds of other sessions whose region this "
        "one should avoid (redundant recordings of one channel, https://docs.agora.io/en/cloud-recording/rest-api/acquire).",
    )
    extraClientRequest: Schemaless | None = Field(
        default=None,
        description="Start `clientRequest` fields this CRD does not model yet, merged last (objects merged key by "
        "key, anything else replaced); each start posts a Warning Event naming the keys. Not checked by the "
        "schema: Agora's answer tells.",
    )


class RealtimeKitAudioConfig(Model):
    """Composite audio (RealtimeKit `audio_config`, https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/); a separate audio file only when given."""

    channel: Literal["mono", "stereo"] | None = Field(default=None, description="Default stereo.")
    codec: Literal["MP3", "AAC"] | None = Field(
        default=None, description="Default AAC (forced vorbis with VP8/VP9)."
    )
    export_file: bool | None = None


class RealtimeKitWatermark(Model):
    """An image over the composite video."""

    url: str = Field(pattern=r"^https?://", max_length=2048)
    position: Literal["left top", "right top", "left bottom", "right bottom"] | None = None
    size: dict[str, int] | None = Field(default=None, description="`{width, height}` in px.")


class RealtimeKitVideoConfig(Model):
    """Composite video (RealtimeKit `video_config`, https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/): H264 → MP4, VP8/VP9 → WebM."""

    codec: Literal["H264", "VP8", "VP9"] | None = Field(default=None, description="Default H264.")
    width: int | None = Field(default=None, ge=1, le=1920, description="px, default 1280.")
    height: int | None = Field(default=None, ge=1, le=1920, description="px, default 720.")
    export_file: bool | None = None
    watermark: RealtimeKitWatermark | None = None


class RealtimeKitComposite(Model):
    """A composite recording: RealtimeKit's own start fields (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/), pasted as documented."""

    max_seconds: int | None = Field(
        default=None, ge=60, le=86400, description="Auto-stop after this many seconds."
    )
    file_name_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+$", max_length=128)
    allow_multiple_recordings: bool | None = None
    audio_config: RealtimeKitAudioConfig | None = None
    video_config: RealtimeKitVideoConfig | None = None
    rtmp_out_config: dict[str, str] | None = Field(default=None, description="`{rtmp_url}`: livestream too.")
    url: str | None = Field(
        default=None, max_length=4096, description="Record this page instead of the default UI."
    )


class RealtimeKitTrackLayer(Model):
    """A track-recording layer (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_track_recording/): audio only today."""

    file_name_prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_]+$",
        max_length=128,
        description="Prefix of this layer's files: letters, digits and _.",
    )
    media_kind: Literal["audio"] | None = None


class RealtimeKitTrack(Model):
    """A track recording (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_track_recording/): one audio WebM per peer in the RealtimeKit bucket."""

    layers: dict[str, RealtimeKitTrackLayer] | None = Field(
        default=None, description="Default: one layer `default`."
    )
    user_ids: list[Annotated[str, Field(max_length=256)]] | None = Field(
        default=None, max_length=100, description="Record only these participants (current and future)."
    )
    max_seconds: int | None = Field(
        default=None,
        ge=60,
        le=86400,
        description="Auto-stop after this many seconds (beta in RealtimeKit's start-track reference; "
        "default and maximum 86400).",
    )


class RealtimeKitArchive(Model):
    """Copies of the RealtimeKit-bucket files in object storage of your own: RealtimeKit's download URLs
    expire 7 days after the upload (https://developers.cloudflare.com/realtime/realtimekit/recording-guide/monitor-status/),
    so each UPLOADED file is copied at once and its RecordedFile points at the copy."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.storage.vendor in ['s3', 's3-compatible', 'gcs', 'azure']",
                    "message": "archive.storage is object storage: s3, s3-compatible, gcs or azure",
                },
                {
                    "rule": "has(self.storage.bucket) && has(self.storage.credentialsSecretRef)",
                    "message": "archive.storage needs bucket and credentialsSecretRef",
                },
            ]
        }
    }

    storage: StorageSpec = Field(
        description="Where the copies go: `<prefix>/<recordingId>/<file name>` in the bucket."
    )


class RealtimeKitRecordingSpec(Model):
    """Cloudflare RealtimeKit recording parameters (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/)."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'composite' || !has(self.track)",
                    "message": "track settings need type track",
                },
                {
                    "rule": "self.type != 'track' || !has(self.composite)",
                    "message": "composite settings need type composite",
                },
            ]
        }
    }

    accountId: str = Field(min_length=1, max_length=32, json_schema_extra=_immutable("accountId"))
    appId: str = Field(min_length=1, max_length=32, json_schema_extra=_immutable("appId"))
    meetingId: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="The meeting to record (a UUID); immutable.",
        json_schema_extra=_immutable("meetingId"),
    )
    type: Literal["composite", "track"] = Field(
        default="composite",
        description="composite: one mixed file; track: audio per peer. Immutable.",
        json_schema_extra=_immutable("type"),
    )
    composite: RealtimeKitComposite | None = None
    track: RealtimeKitTrack | None = None
    archive: RealtimeKitArchive | None = Field(
        default=None,
        description="Copy each uploaded file out of the RealtimeKit bucket before its link dies.",
    )


class RecordingStorageSpec(StorageSpec):
    """`spec.storage` of a CloudRecording: the common storage fields plus Agora's upload options
    (`storageConfig.extensionParams`, https://docs.agora.io/en/cloud-recording/rest-api/start)."""

    sse: Literal["kms", "aes256"] | None = Field(
        default=None,
        description="Agora: server-side encryption of the uploaded files (`storageConfig.extensionParams.sse`, "
        "Amazon S3 only): buckets whose policy requires KMS or AES256 reject uploads without it.",
    )
    tag: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Agora: tag content applied to the uploaded files (`storageConfig.extensionParams.tag`, "
        "Amazon S3 and Alibaba Cloud only).",
    )


class FileRetention(Model):
    """Automatic deletion of recorded files."""

    deleteAfter: RetentionDuration = Field(
        description="Delete each file this long after the operator first saw it reported, e.g. 168h "
        "(at most 87600h, ten years)."
    )


def _guard_storage(rules: list[Any]) -> list[Any]:
    """CloudRecordingSpec rules with `spec.storage` optional (RealtimeKit defaults it): each rule that
    reads `self.storage` holds when it is absent, and Agora must set it."""
    guarded: list[Any] = [
        {
            "rule": "self.provider != 'agora' || has(self.storage)",
            "message": "provider agora needs spec.storage",
        }
    ]
    for rule in rules:
        if "self.storage" in rule["rule"]:
            rule = {**rule, "rule": f"!has(self.storage) || ({rule['rule']})"}
        guarded.append(rule)
    return guarded


class CloudRecordingSpec(Model):
    """Desired state of a CloudRecording."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": _guard_storage(
                [
                    {
                        "rule": "self.provider != 'agora' || has(self.agora)",
                        "message": "provider agora needs spec.agora",
                    },
                    {
                        "rule": "self.state != 'Paused' || self.provider != 'agora' || self.agora.mode == 'web'",
                        "message": "state Paused is supported in Agora web mode only (onhold)",
                    },
                    {
                        "rule": "self.provider != 'agora' || self.storage.vendor in "
                        "['s3', 's3-compatible', 'aliyun', 'tencent', 'azure', 'gcs', 'huawei', 'baidu']",
                        "message": "Agora stores to s3, s3-compatible, aliyun, tencent, azure, gcs, huawei or baidu",
                    },
                    {
                        "rule": "self.provider != 'agora' || (has(self.storage.bucket) && "
                        "has(self.storage.credentialsSecretRef))",
                        "message": "Agora storage needs bucket and credentialsSecretRef",
                    },
                    {
                        "rule": "self.storage.vendor != 's3-compatible' || has(self.storage.endpoint)",
                        "message": "s3-compatible storage needs endpoint",
                    },
                    {
                        "rule": "!has(self.storage.sse) || (self.provider == 'agora' && self.storage.vendor == 's3')",
                        "message": "storage.sse is Agora's extensionParams.sse, for Amazon S3 (vendor s3) only",
                    },
                    {
                        "rule": "!has(self.storage.tag) || "
                        "(self.provider == 'agora' && self.storage.vendor in ['s3', 'aliyun'])",
                        "message": "storage.tag is Agora's extensionParams.tag, for Amazon S3 and Alibaba Cloud only",
                    },
                    {
                        "rule": "self.provider != 'realtimekit' || has(self.realtimeKit)",
                        "message": "provider realtimekit needs spec.realtimeKit",
                    },
                    {
                        "rule": "!has(self.realtimeKit) || !has(self.realtimeKit.archive) || "
                        "self.storage.vendor == 'realtimekit-bucket'",
                        "message": "realtimeKit.archive copies out of the RealtimeKit bucket: it needs storage "
                        "realtimekit-bucket (the default)",
                    },
                    {
                        "rule": "self.provider != 'realtimekit' || self.storage.vendor in "
                        "['realtimekit-bucket', 's3', 'azure', 'digitalocean', 'gcs', 'sftp']",
                        "message": "RealtimeKit stores to realtimekit-bucket, s3, azure, digitalocean, gcs or sftp",
                    },
                    {
                        "rule": "self.provider != 'realtimekit' || self.realtimeKit.type != 'track' || "
                        "self.storage.vendor == 'realtimekit-bucket'",
                        "message": "RealtimeKit track recordings are written to the realtimekit-bucket only",
                    },
                    {
                        "rule": "self.provider != 'realtimekit' || self.storage.vendor == 'realtimekit-bucket' || "
                        "has(self.storage.credentialsSecretRef)",
                        "message": "RealtimeKit external storage needs credentialsSecretRef",
                    },
                    *_region_rules(),
                ]
            )
        }
    }

    provider: Literal["agora", "realtimekit"] = Field(
        default="agora", description="Recording service; immutable.", json_schema_extra=_immutable("provider")
    )
    state: Literal["Recording", "Paused", "Stopped"] = Field(
        default="Recording",
        description="Recording runs a session; Stopped stops it and keeps the resource and files; back to "
        "Recording starts a new session. Paused: RealtimeKit pause, or Agora web mode `onhold`.",
    )
    maxDuration: SessionDuration | None = Field(
        default=None,
        description="Stop each session after this long (at most 720h, Agora's longest maxRecordingHour).",
    )
    restartPolicy: Literal["Never", "OnExit"] = Field(
        default="Never",
        description="Never: a session the provider ended (Agora: idle past maxIdleTime, maxRecordingHour, "
        "resourceExpiredHour; or a start that never reached status 4/5, StartTimedOut) stays Stopped until "
        "the spec changes. OnExit: while state is Recording or Paused, such a session is followed by a new "
        "one (new acquire and sid; the old one is kept in status.sessions), after a backoff that doubles "
        "with each consecutive restart (status.restartCount).",
    )
    deletionPolicy: DeletionPolicy = Field(
        default="Delete",
        description="Delete: deleting the resource stops the session and deletes its RecordedFiles (and their "
        "stored files) before it goes. Orphan: leave the session running and the files (objects and data) alone.",
    )
    files: FileDefaults | None = Field(
        default=None,
        description="Defaults for the RecordedFiles of new files (absent: deletionPolicy Delete).",
    )
    credentialsSecretRef: LocalObjectReference = Field(
        description="Secret with the provider's REST credentials (Agora: `customerId`, `customerSecret`; "
        "RealtimeKit: `apiToken`, a Cloudflare API token with the Realtime permission)."
    )
    storage: RecordingStorageSpec = Field(
        default_factory=lambda: RecordingStorageSpec(vendor="realtimekit-bucket"),
        description="Where the files land. Required for Agora; RealtimeKit defaults to its own bucket "
        "(vendor realtimekit-bucket, as the API does when no storage_config is given).",
    )
    retention: FileRetention | None = Field(
        default=None,
        description="Automatic deletion of the recorded files (each RecordedFile's expiresAt); absent: keep.",
    )
    agora: AgoraRecordingSpec | None = None
    realtimeKit: RealtimeKitRecordingSpec | None = None


class SessionRecord(Model):
    """A finished session, kept in `status.sessions` (most recent last)."""

    resourceId: str | None = None
    sid: str | None = None
    recordingId: str | None = None
    startedAt: str | None = None
    stoppedAt: str | None = None
    stopReason: str | None = None
    fileCount: int | None = None


class AppliedConfig(Model):
    """Digests of the configuration last accepted by the provider, to turn spec edits into update calls."""

    streamSubscribe: str | None = Field(default=None, description="Digest of the subscription lists.")
    layout: str | None = Field(default=None, description="Digest of the mix layout.")
    storage: str | None = Field(default=None, description="Digest of the storage configuration.")
    onhold: bool | None = Field(default=None, description="Web mode onhold as last sent.")


#: Bound of `status.unpublishedFiles` (a notice lists a few files; creates failing for many notices in a
#: row would grow it).
MAX_UNPUBLISHED_FILES = 256


class CloudRecordingStatus(Model):
    """Observed state of a CloudRecording."""

    observedGeneration: int | None = None
    phase: Literal["Pending", "Starting", "Recording", "Paused", "Stopping", "Stopped", "Failed"] | None = (
        None
    )
    resourceId: str | None = Field(default=None, description="Agora resource ID of the current session.")
    sid: str | None = Field(default=None, description="Agora session ID of the current session.")
    recordingId: str | None = Field(
        default=None, description="RealtimeKit recording ID of the current session."
    )
    recordingStatus: str | None = Field(
        default=None,
        description="RealtimeKit status as last seen: INVOKED, RECORDING, PAUSED, UPLOADING, UPLOADED, ERRORED.",
    )
    startedAt: str | None = None
    stoppedAt: str | None = None
    stopReason: str | None = None
    providerStatus: int | None = Field(
        default=None, description="Agora serverResponse.status as last queried."
    )
    uploadingStatus: str | None = Field(default=None, description="Agora stop `uploadingStatus`.")
    recorderUid: str | None = Field(
        default=None,
        description="Agora: the recorder's UID after a high-availability failover (NCS `session_failover` "
        "`newUid`, https://docs.agora.io/en/cloud-recording/develop/receive-notifications).",
    )
    uploadProgress: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Agora: uploaded/recorded × 10000 as last notified (NCS `uploading_progress`).",
    )
    rtmpPublishStatus: Literal["connecting", "publishing", "onhold", "disconnected"] | None = Field(
        default=None,
        description="Agora web mode CDN push (rtmp_publish_service / rtmpPublishConfig): the status of the "
        "output as last notified (NCS rtmp_publish_status, event 100); condition CdnPublishing says the same.",
    )
    lastNoticeAt: str | None = Field(
        default=None, description="When the provider last sent a callback that changed this status."
    )
    notFoundSince: str | None = Field(
        default=None,
        description="Agora: when the current session first answered 404 (query, update or stop). Agora answers "
        "404 for up to 90 s while it migrates a live session (https://docs.agora.io/en/cloud-recording/"
        "rest-api/status-codes); the session counts as ended once it has answered 404 for "
        "RECORDING_NOT_FOUND_WINDOW since this time, across operator restarts. Cleared when it answers again.",
    )
    files: FilesSummary | None = None
    unpublishedFiles: list[str] | None = Field(
        default=None,
        max_length=MAX_UNPUBLISHED_FILES,
        description="Agora file names (fileName, with the fileNamePrefix path) a provider notice reported whose "
        "RecordedFile could not be created yet (the notice's status is written anyway): the next reconcile "
        "or timer tick creates them, then clears the list.",
    )
    deletedFiles: list[str] | None = Field(
        default=None, max_length=MAX_DELETED_FILES, description=DELETED_FILES_DESCRIPTION
    )
    sessions: list[SessionRecord] | None = Field(
        default=None, max_length=10, description="Past sessions, ≤10."
    )
    restartCount: int | None = Field(
        default=None,
        ge=0,
        description="restartPolicy OnExit: consecutive restarts after provider-ended sessions (reset when a "
        "restarted session ran 10 minutes or the spec starts a session).",
    )
    applied: AppliedConfig | None = None
    conditions: list[Condition] | None = None
