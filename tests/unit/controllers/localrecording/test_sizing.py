"""Default recorder resources sized from the transcoding settings; the user's override."""

from __future__ import annotations

from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers.localrecording.sizing import default_resources
from tests.unit.controllers.localrecording.recordings import body, manifests


def cpu_m(resources: dict[str, dict[str, str]]) -> int:
    return int(resources["requests"]["cpu"].removesuffix("m"))


def test_resources_are_sized_from_transcoding() -> None:
    copy = default_resources(LocalRecordingSpec.model_validate(body()["spec"]))
    assert copy["requests"] == {"cpu": "50m", "memory": "128Mi"}
    hd = LocalRecordingSpec.model_validate(
        body(transcoding={"video": {"width": 1920, "height": 1080}})["spec"]
    )
    small = LocalRecordingSpec.model_validate(
        body(transcoding={"video": {"width": 640, "height": 360}})["spec"]
    )
    hevc = LocalRecordingSpec.model_validate(body(transcoding={"video": {"codec": "hevc"}})["spec"])
    audio = LocalRecordingSpec.model_validate(body(transcoding={"audio": {"codec": "aac"}})["spec"])
    assert 1000 <= cpu_m(default_resources(hd)) <= 2000  # ≈0.98 CPU/s measured, ×1.5 headroom
    assert cpu_m(default_resources(small)) < cpu_m(default_resources(hd))
    assert cpu_m(default_resources(hevc)) > 2 * cpu_m(default_resources(hd))
    assert 50 < cpu_m(default_resources(audio)) < 200
    # An hls output beside the archive is a second encode; thumbnails are not.
    extras = [{"name": "live", "format": "hls"}, {"name": "thumbs", "format": "jpg"}]
    two = LocalRecordingSpec.model_validate(
        body(transcoding={"video": {"width": 1920, "height": 1080}}, additionalOutputs=extras)["spec"]
    )
    assert (
        1.9 * cpu_m(default_resources(hd))
        <= cpu_m(default_resources(two))
        <= 2.1 * cpu_m(default_resources(hd))
    )


def test_user_resources_override_the_defaults_key_by_key() -> None:
    pod = manifests(body(pod={"resources": {"limits": {"memory": "2Gi"}}}))[0]
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["limits"]["memory"] == "2Gi" and resources["requests"]["cpu"] == "50m"
