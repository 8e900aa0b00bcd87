"""CloudTranscoder: an Agora Cloud Transcoder task (https://docs.agora.io/en/cloud-transcoding/rest-api/create) declared as a resource.

The spec mirrors `services.cloudTranscoder.config.transcoder` of Agora's create body (https://docs.agora.io/en/cloud-transcoding/rest-api/create) with
Agora's own field names (`audioInputs`, `videoInputs`, `canvas`, `waterMarks`, `outputs`, `rtc`,
`rtcChannel`, `rtcUid`, `region`, `zOrder`, `audioOption`, `videoOption` …), so a user can paste
from Agora's documentation. The one departure: `rtcToken` is never written in the spec; each `rtc`
entry has `token`, which names a Secret holding a token or the App Certificate to mint one.

Ranges and enums are those of https://docs.agora.io/en/cloud-transcoding/rest-api/create, enforced by the CRD schema: canvas, region and output sizes
[120, 3840] px, x/y [0, 3840] px, video `zOrder` [2, 100], watermark `zOrder` [0, 100], `fps`
[1, 30], `bitrate` [1, 10000] kbps, `idleTimeout` [1, 86400] s, `instanceId` `[A-Za-z0-9_-]{1,64}`,
`profileType` and `codec` enums; `videoOption.mode: RAW` allows one video input; a task pushes to
one RTC channel at most and never to a CDN and an RTC channel together (https://docs.agora.io/en/cloud-transcoding/rest-api/create).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from recording_operator.api.v1alpha1.common import (
    Condition,
    DeletionPolicy,
    LocalObjectReference,
    Model,
    SecretKeySelector,
    SessionDuration,
)

#: `instanceId` rule of https://docs.agora.io/en/cloud-transcoding/rest-api/acquire.
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: Agora channel names (same character set as Cloud Recording's `cname`: code 1013 of
#: https://docs.agora.io/en/cloud-recording/reference/common-errors), ≤64 bytes for RTC.
CHANNEL_PATTERN = r"^[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+$"
#: jpg or png URLs (https://docs.agora.io/en/cloud-transcoding/rest-api/create `placeholderImageUrl`, `backgroundImage`, `waterMarks[].imageUrl`).
IMAGE_URL_PATTERN = r"^https?://.+\.(jpg|png|JPG|PNG)$"

ProfileType = Literal[
    "AUDIO_PROFILE_DEFAULT",
    "AUDIO_PROFILE_SPEECH_STANDARD",
    "AUDIO_PROFILE_MUSIC_STANDARD",
    "AUDIO_PROFILE_MUSIC_STANDARD_STEREO",
    "AUDIO_PROFILE_MUSIC_HIGH_QUALITY",
    "AUDIO_PROFILE_MUSIC_HIGH_QUALITY_STEREO",
]


def _immutable(what: str) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": "self == oldSelf", "message": f"{what} is immutable"}]}


class TokenSource(Model):
    """Where an RTC token comes from: exactly one of `secretRef` and `appCertificateSecretRef`.

    - `secretRef`: a Secret key holding a ready token. It must outlive the task: Agora cannot be
      given a new one while the task runs.
    - `appCertificateSecretRef`: a Secret key holding the project's App Certificate; the operator
      mints an AccessToken2 RTC token (Agora's `RtcTokenBuilder2`) for this channel and uid, valid
      24 h (AccessToken2's maximum); the task is ended (and, with `restartPolicy: OnExit`, created
      again with fresh tokens) before that. Minted tokens are never stored nor logged.
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

    secretRef: SecretKeySelector | None = Field(default=None, description="Secret key holding an RTC token.")
    appCertificateSecretRef: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the App Certificate; the operator mints the token."
    )


class RtcEndpoint(Model):
    """An RTC channel and uid (https://docs.agora.io/en/cloud-transcoding/rest-api/create `rtc{rtcChannel, rtcUid, rtcToken}`)."""

    rtcChannel: str = Field(
        min_length=1, max_length=64, pattern=CHANNEL_PATTERN, description="RTC channel name."
    )
    rtcUid: int = Field(
        ge=0,
        le=4294967295,
        description="Input: the host uid to subscribe to (0: the whole channel's audio, Go SDK). Output: the "
        "transcoder's uid in the output channel, unused by anyone else there.",
    )
    token: TokenSource | None = Field(
        default=None,
        description="RTC token (needed when the project has an App Certificate). Input tokens are for uid 0 "
        "(the transcoder's input uid is random, https://docs.agora.io/en/cloud-transcoding/rest-api/create); the output token is for `rtcUid`.",
    )


class AudioInput(Model):
    """One audio source (https://docs.agora.io/en/cloud-transcoding/rest-api/create `audioInputs[]`): an RTC host or a CDN stream; several are mixed."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.rtc) != has(self.streamUrl)",
                    "message": "set exactly one of rtc and streamUrl",
                },
                {
                    "rule": "!has(self.rtc) || (!has(self.volume) && !has(self.repeat))",
                    "message": "volume and repeat apply to streamUrl inputs only",
                },
            ]
        }
    }

    rtc: RtcEndpoint | None = Field(default=None, description="An RTC host.")
    streamUrl: str | None = Field(
        default=None, min_length=1, max_length=2048, description="A CDN stream URL."
    )
    volume: int | None = Field(default=None, ge=0, le=200, description="CDN inputs: volume, default 100.")
    repeat: int | None = Field(
        default=None,
        ge=-1,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": "self != 0", "message": "repeat 0 is invalid"}]
        },
        description="CDN inputs: -1 loops, n plays n times (default 1); 0 is invalid.",
    )


#: kubectl parses manifests as YAML 1.1 (sigs.k8s.io/yaml over go-yaml v2, https://yaml.org/type/bool.html):
#: an unquoted key `y` is the boolean true there, so a `y:` field arrives as the JSON key "true".
YAML_Y_NOTE = (
    '{what} Quote the key in YAML manifests ("y": 0): kubectl reads YAML 1.1, where an unquoted y is '
    'the boolean true, so y: 0 would arrive as the unknown field "true" and y as missing.'
)


class Region(Model):
    """Where an input is drawn on the canvas, in px (https://docs.agora.io/en/cloud-transcoding/rest-api/create `videoInputs[].region`)."""

    x: int = Field(ge=0, le=3840, description="Left edge on the canvas, px.")
    y: int = Field(
        ge=0,
        le=3840,
        description=YAML_Y_NOTE.format(what="Top edge on the canvas, px."),
    )
    width: int = Field(ge=120, le=3840, description="Width, px.")
    height: int = Field(ge=120, le=3840, description="Height, px.")
    zOrder: int = Field(
        ge=2,
        le=100,
        description="Layer, 2 (just above the placeholder) to 100. Older Agora pages gave [0, 100] with 0 the "
        "lowest layer (and spelled the key zorder); the current create reference starts at 2.",
    )


class VideoInput(Model):
    """One video source and its window on the canvas (https://docs.agora.io/en/cloud-transcoding/rest-api/create `videoInputs[]`); several are composited."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.rtc) != has(self.streamUrl)",
                    "message": "set exactly one of rtc and streamUrl",
                },
                {
                    "rule": "!has(self.rtc) || !has(self.repeat)",
                    "message": "repeat applies to streamUrl inputs only",
                },
            ]
        }
    }

    rtc: RtcEndpoint | None = Field(default=None, description="An RTC host.")
    streamUrl: str | None = Field(
        default=None, min_length=1, max_length=2048, description="A CDN stream URL."
    )
    repeat: int | None = Field(
        default=None,
        ge=-1,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": "self != 0", "message": "repeat 0 is invalid"}]
        },
        description="CDN inputs: -1 loops, n plays n times (default 1); 0 is invalid.",
    )
    placeholderImageUrl: str | None = Field(
        default=None,
        max_length=2048,
        pattern=IMAGE_URL_PATTERN,
        description="Shown while the user is offline; a .jpg or .png URL.",
    )
    region: Region


class Canvas(Model):
    """The output picture (https://docs.agora.io/en/cloud-transcoding/rest-api/create `canvas`)."""

    width: int = Field(ge=120, le=3840, description="Width, px.")
    height: int = Field(ge=120, le=3840, description="Height, px.")
    color: int = Field(
        default=0, ge=0, le=16777215, description="Background RGB as a decimal integer; 0 black."
    )
    backgroundImage: str | None = Field(
        default=None, max_length=2048, pattern=IMAGE_URL_PATTERN, description="A .jpg or .png URL."
    )
    fillMode: Literal["FILL", "FIT"] | None = Field(
        default=None, description="FILL (default): scale and centre-crop; FIT: scale to fit."
    )


class WaterMarkRegion(Model):
    """A watermark's window, px (https://docs.agora.io/en/cloud-transcoding/rest-api/create: zOrder [0, 100])."""

    x: int = Field(ge=0, le=3840)
    y: int = Field(ge=0, le=3840, description=YAML_Y_NOTE.format(what="Top edge of the watermark, px."))
    width: int = Field(ge=120, le=3840)
    height: int = Field(ge=120, le=3840)
    zOrder: int = Field(ge=0, le=100)


class WaterMark(Model):
    """An image over the canvas (https://docs.agora.io/en/cloud-transcoding/rest-api/create `waterMarks[]`, the spelling of Agora's examples and Go SDK)."""

    imageUrl: str = Field(max_length=2048, pattern=IMAGE_URL_PATTERN, description="A .jpg or .png URL.")
    region: WaterMarkRegion
    fillMode: Literal["FILL", "FIT"] | None = None


class AudioOption(Model):
    """Output audio (https://docs.agora.io/en/cloud-transcoding/rest-api/create `outputs[].audioOption`)."""

    profileType: ProfileType = Field(
        default="AUDIO_PROFILE_DEFAULT",
        description="AUDIO_PROFILE_DEFAULT 48 kHz mono 64 kbps; SPEECH_STANDARD 32 kHz 18 kbps; MUSIC_STANDARD "
        "48 kHz mono 64 kbps; MUSIC_STANDARD_STEREO 80 kbps; MUSIC_HIGH_QUALITY mono 96 kbps; "
        "MUSIC_HIGH_QUALITY_STEREO 128 kbps.",
    )


class VideoOption(Model):
    """Output video (https://docs.agora.io/en/cloud-transcoding/rest-api/create `outputs[].videoOption`); Agora's quota page caps output at 1920×1080, 30 fps."""

    width: int | None = Field(default=None, ge=120, le=3840, description="Width, px.")
    height: int | None = Field(default=None, ge=120, le=3840, description="Height, px.")
    fps: int | None = Field(default=None, ge=1, le=30, description="Frames per second, default 15.")
    bitrate: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="kbps; absent: the server picks one (e.g. 1920×1080@30 → 6300).",
    )
    codec: Literal["H264", "VP8"] | None = Field(
        default=None,
        description="H264 or VP8 (the current create reference; an older page listed H265 only).",
    )
    mode: Literal["RAW"] | None = Field(
        default=None, description="RAW: pass the single video input through without transcoding."
    )


class Output(Model):
    """Where the result goes (https://docs.agora.io/en/cloud-transcoding/rest-api/create `outputs[]`): one RTC channel, or CDN stream URLs."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.rtc) != has(self.streamUrl)",
                    "message": "set exactly one of rtc and streamUrl",
                }
            ]
        }
    }

    rtc: RtcEndpoint | None = Field(
        default=None, description="The output RTC channel and the transcoder's uid."
    )
    streamUrl: str | None = Field(default=None, min_length=1, max_length=2048, description="A CDN push URL.")
    audioOption: AudioOption | None = None
    videoOption: VideoOption | None = None


def _rtc_channels(field: str) -> str:
    return f"(has(self.{field}) ? self.{field}.filter(i, has(i.rtc)).map(i, i.rtc.rtcChannel) : [])"


_INPUT_CHANNELS = f"({_rtc_channels('audioInputs')} + {_rtc_channels('videoInputs')})"


class CloudTranscoderSpec(Model):
    """Desired state of a CloudTranscoder (https://docs.agora.io/en/cloud-transcoding/rest-api/create).

    Every spec edit while the task runs is sent as one `update` (PATCH, `updateMask
    services.cloudTranscoder.config`, the next `sequenceId`) with the whole config (https://docs.agora.io/en/cloud-transcoding/rest-api/update).
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "size(self.outputs.filter(o, has(o.rtc))) <= 1",
                    "message": "a task pushes to one RTC channel at most (https://docs.agora.io/en/cloud-transcoding/rest-api/create)",
                },
                {
                    "rule": "self.outputs.all(o, has(o.rtc)) || self.outputs.all(o, !has(o.rtc))",
                    "message": "a task cannot push to a CDN and an RTC channel together (https://docs.agora.io/en/cloud-transcoding/rest-api/create)",
                },
                {
                    "rule": "!self.outputs.exists(o, has(o.videoOption) && has(o.videoOption.mode) && "
                    "o.videoOption.mode == 'RAW') || !has(self.videoInputs) || size(self.videoInputs) <= 1",
                    "message": "videoOption.mode RAW allows one video input",
                },
                {
                    "rule": "!has(self.streamProcessMode) || ((!has(self.audioInputs) || size(self.audioInputs) <= 1) "
                    "&& (!has(self.videoInputs) || size(self.videoInputs) <= 1))",
                    "message": "streamProcessMode allows one audio input and one video input",
                },
                {
                    "rule": f"size({_INPUT_CHANNELS}) == 0 || {_INPUT_CHANNELS}.all(c, c == {_INPUT_CHANNELS}[0])",
                    "message": "all RTC inputs must come from one channel (https://docs.agora.io/en/cloud-transcoding/rest-api/create)",
                },
                {
                    "rule": "(has(self.audioInputs) && size(self.audioInputs) > 0) || "
                    "(has(self.videoInputs) && size(self.videoInputs) > 0)",
                    "message": "set at least one audio or video input",
                },
            ]
        }
    }

    appId: str = Field(
        min_length=1,
        max_length=64,
        description="Agora App ID; immutable.",
        json_schema_extra=_immutable("appId"),
    )
    credentialsSecretRef: LocalObjectReference = Field(
        description="Secret with the Agora RESTful API credentials (`customerId`, `customerSecret`)."
    )
    instanceId: str | None = Field(
        default=None,
        pattern=INSTANCE_ID_PATTERN,
        description="Agora instanceId (one task per instanceId, https://docs.agora.io/en/cloud-transcoding/rest-api/acquire); default: derived from namespace and "
        "name (≤64 characters of [A-Za-z0-9_-]); immutable.",
        json_schema_extra=_immutable("instanceId"),
    )
    idleTimeout: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="Seconds after every input host has left before Agora destroys the task; default 300, "
        "1..86400 (older Agora pages spelled the key idleTimeOut).",
    )
    streamProcessMode: Literal["heterogeneous-single", "single"] | None = Field(
        default=None,
        description="Unset: mix. heterogeneous-single: RTC↔CDN single stream; single: RTC relay (one input each).",
    )
    canvas: Canvas
    audioInputs: list[AudioInput] | None = Field(
        default=None, max_length=17, description="Mixed audio sources."
    )
    videoInputs: list[VideoInput] | None = Field(
        default=None, max_length=17, description="Composited video sources and their windows."
    )
    waterMarks: list[WaterMark] | None = Field(
        default=None, max_length=8, description="Images over the canvas."
    )
    outputs: list[Output] = Field(min_length=1, max_length=8, description="One RTC output, or CDN outputs.")
    restartPolicy: Literal["Never", "OnExit"] = Field(
        default="Never",
        description="Never: a task Agora ended (idle past idleTimeout) stays Exited until the spec changes. "
        "OnExit: the operator creates a new task when Agora ended it or maxDuration was reached.",
    )
    maxDuration: SessionDuration | None = Field(
        default=None,
        description="Delete the task after this long. With minted tokens the operator ends a task after "
        "23h30m at the latest (tokens live 24 h).",
    )
    deletionPolicy: DeletionPolicy = Field(
        default="Delete",
        description="Delete: deleting the resource deletes the task. Orphan: leave it running.",
    )


class CloudTranscoderStatus(Model):
    """Observed state of a CloudTranscoder."""

    observedGeneration: int | None = None
    phase: (
        Literal[
            "Pending",
            "Creating",
            "IDLE",
            "PREPARED",
            "STARTING",
            "CREATED",
            "STARTED",
            "IN_PROGRESS",
            "STOPPING",
            "STOPPED",
            "EXIT",
            "FAILURE_STOP",
            "Exited",
            "Failed",
        ]
        | None
    ) = Field(
        default=None,
        description="Pending/Creating before the task exists; then Agora's task status (https://docs.agora.io/en/cloud-transcoding/rest-api/query, IN_PROGRESS = "
        "running); Exited once the task is gone (see exitReason); Failed on a terminal create failure.",
    )
    serviceStatus: str | None = Field(
        default=None, description="Agora `services.cloudTranscoder.status` as last seen (for Agora support)."
    )
    message: str | None = Field(
        default=None,
        max_length=1024,
        description="Agora `services.cloudTranscoder.message` as last seen (e.g. OnSlaveServiceQueryUpdated; "
        "https://docs.agora.io/en/cloud-transcoding/rest-api/query).",
    )
    instanceId: str | None = Field(default=None, description="The instanceId the task was created under.")
    taskId: str | None = Field(default=None, description="Agora task ID.")
    builderToken: str | None = Field(
        default=None,
        description="The builderToken bound to the task (a task handle used with the REST credentials on "
        "query/update/delete, https://docs.agora.io/en/cloud-transcoding/rest-api/acquire; not an RTC token).",
    )
    builderTokenCreateTs: int | None = Field(
        default=None, description="When builderToken was acquired (Unix s)."
    )
    createTs: int | None = Field(default=None, description="Task creation time at Agora (Unix s).")
    createdAt: str | None = Field(
        default=None, description="When the operator saw the task created (RFC 3339)."
    )
    sequenceId: int | None = Field(
        default=None,
        description="sequenceId of the last update sent (written before the call, so a restart re-sends it).",
    )
    configDigest: str | None = Field(
        default=None, description="Digest of the spec configuration Agora has (after sequenceId)."
    )
    pendingDigest: str | None = Field(
        default=None, description="Digest of the configuration of an update in flight under sequenceId."
    )
    exitedAt: str | None = None
    exitReason: str | None = Field(
        default=None,
        description="ProviderEnded (Agora destroyed it, e.g. idle), MaxDurationReached, Deleted.",
    )
    tasks: int | None = Field(default=None, ge=0, description="Tasks created for this resource so far.")
    conditions: list[Condition] | None = None
