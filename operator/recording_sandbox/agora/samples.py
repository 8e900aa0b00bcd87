"""Valid sample request bodies for the Agora emulator (tests, demos); shapes per https://docs.agora.io/en/cloud-recording/rest-api/start."""

from __future__ import annotations

from typing import Any


def sample_storage_config(prefix: list[str] | None = None) -> dict[str, Any]:
    """A valid S3-compatible (vendor 11) ``storageConfig`` pointing at a local endpoint (https://docs.agora.io/en/cloud-recording/rest-api/start)."""
    return {
        "vendor": 11,
        "region": 0,
        "bucket": "recordings",
        "accessKey": "sample-access-key",
        "secretKey": "sample-secret-key",
        "fileNamePrefix": list(prefix) if prefix is not None else ["rec", "demo"],
        "extensionParams": {"endpoint": "http://127.0.0.1:9000"},
    }


def sample_start_request(mode: str, *, mp4: bool = True, max_idle_s: int = 30) -> dict[str, Any]:
    """A valid ``start`` ``clientRequest`` for ``mode`` (``individual | mix | web``).

    Args:
        mode: the recording mode.
        mp4: ask for ``avFileType: ["hls", "mp4"]`` in mix and web modes (https://docs.agora.io/en/cloud-recording/rest-api/start).
        max_idle_s: ``recordingConfig.maxIdleTime`` in seconds (individual/mix).
    """
    request: dict[str, Any] = {"storageConfig": sample_storage_config()}
    if mode == "individual":
        request["recordingConfig"] = {
            "channelType": 1,
            "streamTypes": 2,
            "maxIdleTime": max_idle_s,
            "subscribeAudioUids": ["#allstream#"],
            "subscribeVideoUids": ["#allstream#"],
            "subscribeUidGroup": 0,
        }
        request["recordingFileConfig"] = {"avFileType": ["hls"]}
    elif mode == "mix":
        request["recordingConfig"] = {
            "channelType": 1,
            "streamTypes": 2,
            "maxIdleTime": max_idle_s,
            "audioProfile": 1,
            "transcodingConfig": {
                "width": 1280,
                "height": 720,
                "fps": 15,
                "bitrate": 1130,
                "mixedVideoLayout": 1,
            },
        }
        request["recordingFileConfig"] = {"avFileType": ["hls", "mp4"] if mp4 else ["hls"]}
    elif mode == "web":
        request["recordingFileConfig"] = {"avFileType": ["hls", "mp4"] if mp4 else ["hls"]}
        request["extensionServiceConfig"] = {
            "errorHandlePolicy": "error_abort",
            "extensionServices": [
                {
                    "serviceName": "web_recorder_service",
                    "errorHandlePolicy": "error_abort",
                    "serviceParam": {
                        "url": "https://example.com/page",
                        "audioProfile": 0,
                        "videoWidth": 1280,
                        "videoHeight": 720,
                        "maxRecordingHour": 1,
                        "maxVideoDuration": 30,
                    },
                }
            ],
        }
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return request
