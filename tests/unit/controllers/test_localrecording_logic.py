"""The recorder Pod, ConfigMap, Service and RecordedFile manifests, resource sizing and status mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recording_operator.api.agent import (
    TERMINATION_MESSAGE_MAX_BYTES,
    RecorderConfig,
    RecorderStatus,
    TerminationMessage,
)
from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers.localrecording.manifests import (
    POD_FINALIZER,
    Restarts,
    StoredFile,
    after_failure,
    agent_view,
    check_input,
    config_map_manifest,
    default_resources,
    file_name_pattern,
    files_summary,
    plan_recorder,
    pod_manifest,
    pod_spec_hash,
    recorded_file_manifest,
    restarts_from_status,
    service_manifest,
    session_expired,
    stored_files_from_listing,
    view_pod,
    with_reported,
)

IMAGE = "ghcr.io/mediaops/recording-recorder:1.0"


def body(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "input": {"url": "srt://source.example:9000", "passphraseSecretRef": {"name": "srt", "key": "pass"}},
        "output": {"format": "mp4", "segmentDuration": "10s"},
        "storage": {"vendor": "s3", "bucket": "rec", "region": "us-east-1", "prefix": ["teama"],
                    "credentialsSecretRef": {"name": "s3"}},
    }  # fmt: skip
    base.update(spec)
    return {
        "metadata": {"name": "standup", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": base,
    }


def manifests(b: dict[str, Any], first_index: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = LocalRecordingSpec.model_validate(b["spec"])
    plan = plan_recorder(b, spec, first_index)
    return pod_manifest(b, spec, plan, image=IMAGE), config_map_manifest(b, plan)


def test_pod_is_locked_down() -> None:
    pod, _ = manifests(body())
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["runAsUser"] == 65532
    assert container["image"] == IMAGE
    assert container["command"] + container["args"] == [
        "recording-operator", "record", "--config", "/etc/recorder/config.json",
    ]  # fmt: skip
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/lib/recorder"]]
    assert volumes[mounts["/etc/recorder"]]["configMap"]["name"] == "standup-recorder"
    assert POD_FINALIZER in pod["metadata"]["finalizers"]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert spec["terminationGracePeriodSeconds"] >= 40


def test_credentials_only_through_secret_key_refs() -> None:
    pod, config_map = manifests(body())
    env = pod["spec"]["containers"][0]["env"]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert secret_env["STORAGE_ACCESS_KEY"] == {"name": "s3", "key": "accessKey"}
    assert secret_env["STORAGE_SECRET_KEY"] == {"name": "s3", "key": "secretKey"}
    assert secret_env["STORAGE_SESSION_TOKEN"] == {"name": "s3", "key": "stsToken", "optional": True}
    assert secret_env["SRT_PASSPHRASE"] == {"name": "srt", "key": "pass"}
    plain = {e["name"] for e in env if "value" in e}
    assert not plain & {"STORAGE_ACCESS_KEY", "STORAGE_SECRET_KEY", "SRT_PASSPHRASE"}
    config = RecorderConfig.model_validate_json(config_map["data"]["config.json"])
    assert config.recording.name == "standup" and config.numbering.nextIndex == 0
    assert "passphrase" not in json.dumps(config_map["data"]).replace("passphraseSecretRef", "")


def test_gcs_maps_the_service_account_key_and_volume_needs_none() -> None:
    gcs = body(storage={"vendor": "gcs", "bucket": "b", "credentialsSecretRef": {"name": "g"}})
    env = manifests(gcs)[0]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env if "valueFrom" in e] == ["STORAGE_CREDENTIAL", "SRT_PASSPHRASE"]
    volume = body(storage={"vendor": "volume", "volume": {"claimName": "recs", "subPath": "team"}})
    pod = manifests(volume)[0]
    assert {v["name"]: v for v in pod["spec"]["volumes"]}["recordings"]["persistentVolumeClaim"] == {
        "claimName": "recs"
    }
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "recordings")
    assert mount == {"name": "recordings", "mountPath": "/recordings", "subPath": "team"}


def test_listen_inputs_get_a_service_of_the_requested_type() -> None:
    b = body(input={"listen": {"protocol": "rtmp", "port": 1935}}, pod={"serviceType": "LoadBalancer"})
    spec = LocalRecordingSpec.model_validate(b["spec"])
    service = service_manifest(b, spec)
    assert service is not None
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [
        {"name": "input", "port": 1935, "targetPort": "input", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["recording.mediaops.io/recording"] == "standup"
    pod = manifests(b)[0]
    assert {"name": "input", "containerPort": 1935, "protocol": "TCP"} in pod["spec"]["containers"][0][
        "ports"
    ]
    srt = body(input={"listen": {"protocol": "srt", "port": 9000}})
    srt_service = service_manifest(srt, LocalRecordingSpec.model_validate(srt["spec"]))
    assert srt_service is not None and srt_service["spec"]["ports"][0]["protocol"] == "UDP"
    assert service_manifest(body(), LocalRecordingSpec.model_validate(body()["spec"])) is None


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


def test_user_resources_override_the_defaults_key_by_key() -> None:
    pod = manifests(body(pod={"resources": {"limits": {"memory": "2Gi"}}}))[0]
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["limits"]["memory"] == "2Gi" and resources["requests"]["cpu"] == "50m"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:/a|/b",
        "subfile:,,start,0,end,0,:/etc/x",
        "data:,x",
        "pipe:0",
        "gopher://x",
    ],
)
def test_the_controller_rejects_unsafe_input_urls(url: str) -> None:
    spec = LocalRecordingSpec.model_construct(**LocalRecordingSpec.model_validate(body()["spec"]).__dict__)
    spec.input = spec.input.model_copy(update={"url": url})
    with pytest.raises(SpecError) as error:
        check_input(spec)
    assert error.value.reason == "InvalidSpec"


def test_ca_config_map_key_is_mounted_read_only_and_named_to_the_agent() -> None:
    tls = {"caConfigMapRef": {"name": "source-ca", "key": "root.pem"}, "serverName": "origin.example"}
    pod, config_map = manifests(body(input={"url": "rtmps://origin.example/live/key", "tls": tls}))
    (container,) = pod["spec"]["containers"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/recorder-tls"]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["configMap"] == {
        "name": "source-ca",
        "items": [{"key": "root.pem", "path": "ca.crt"}],
    }
    env = {e["name"]: e for e in container["env"]}
    assert env["RECORDER_TLS_CA_FILE"] == {
        "name": "RECORDER_TLS_CA_FILE",
        "value": "/etc/recorder-tls/ca.crt",
    }
    config = RecorderConfig.model_validate_json(config_map["data"]["config.json"])
    assert config.spec.input.tls is not None
    assert config.spec.input.tls.model_dump(exclude_none=True) == {**tls, "insecureSkipVerify": False}


def test_no_ca_volume_without_ca_config_map_ref() -> None:
    pod, _ = manifests(body(input={"url": "https://origin.example/live.ts"}))
    (container,) = pod["spec"]["containers"]
    assert all(m["mountPath"] != "/etc/recorder-tls" for m in container["volumeMounts"])
    assert "RECORDER_TLS_CA_FILE" not in {e["name"] for e in container["env"]}


@pytest.mark.parametrize(
    "url", ["https://cdn.example/live/index.m3u8", "https://cdn.example/m.mpd", "rtsps://cam/s"]
)
def test_the_controller_rejects_tls_verification_ffmpeg_cannot_do(url: str) -> None:
    """Objects stored before the CRD rule: the controller refuses them instead of recording unverified."""
    spec = LocalRecordingSpec.model_validate(body(input={"url": url})["spec"])
    with pytest.raises(SpecError) as error:
        check_input(spec)
    assert error.value.reason == "InvalidSpec" and "insecureSkipVerify" in str(error.value)
    insecure = LocalRecordingSpec.model_validate(
        body(input={"url": url, "tls": {"insecureSkipVerify": True}})["spec"]
    )
    check_input(insecure)


def test_controller_fields_do_not_replace_the_pod() -> None:
    spec = body()["spec"]
    assert pod_spec_hash(spec) == pod_spec_hash({**spec, "active": False, "maxDuration": "1h"})
    assert pod_spec_hash(spec) != pod_spec_hash({**spec, "output": {"format": "mkv"}})


def test_numbering_continues_in_a_new_pod() -> None:
    pod0, _ = manifests(body(), first_index=0)
    pod7, config_map = manifests(body(), first_index=7)
    assert pod0["metadata"]["name"] != pod7["metadata"]["name"]
    assert json.loads(config_map["data"]["config.json"])["numbering"] == {"nextIndex": 7}


def test_pod_view_reads_the_agent_url_and_exit_code() -> None:
    pod, _ = manifests(body())
    assert view_pod(pod).agent_url is None
    pod["status"] = {
        "phase": "Failed",
        "podIP": "10.1.2.3",
        "containerStatuses": [{"name": "recorder", "state": {"terminated": {"exitCode": 137}}}],
    }
    view = view_pod(pod)
    assert view.agent_url == "http://10.1.2.3:8090" and view.terminated and view.exit_code == 137


def test_agent_phases_map_to_conditions() -> None:
    def status(phase: str, **extra: Any) -> RecorderStatus:
        return RecorderStatus.model_validate(
            {
                "recording": {"namespace": "n", "name": "r"},
                "phase": phase,
                "startedAt": "2026-01-01T00:00:00Z",
                **extra,
            }
        )

    recording = agent_view(status("Recording"))
    assert (
        recording.phase == "Recording"
        and recording.input_healthy[0] == "True"
        and recording.ready[0] == "True"
    )
    lost = agent_view(status("Reconnecting", lastError="Connection refused"))
    assert lost.phase == "Reconnecting" and lost.input_healthy == (
        "False",
        "InputUnavailable",
        "Connection refused",
    )
    assert agent_view(status("Starting")).input_healthy[0] == "Unknown"
    # The agent's own Failed means "about to exit": the controller replaces the Pod or gives up.
    dying = agent_view(status("Failed", lastError="cannot start: overlay"))
    assert dying.phase == "Reconnecting" and dying.ready == (
        "False",
        "RecorderFailed",
        "cannot start: overlay",
    )


def test_recorded_file_from_an_agent_entry() -> None:
    b = body(retention={"deleteAfter": "24h"}, deletionPolicy="Orphan")
    spec = LocalRecordingSpec.model_validate(b["spec"])
    file = StoredFile(index=3, key="teama/standup-00003.mp4", size_bytes=1000, format="mp4", duration_ms=2000,
                      started_at="2026-11-21T12:00:00Z", closed_at=datetime(2026, 11, 21, 12, 0, 2, tzinfo=UTC))  # fmt: skip
    manifest = recorded_file_manifest(b, spec, file, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert manifest["metadata"]["name"] == "standup-00003"
    assert manifest["metadata"]["labels"] == {
        "recording.mediaops.io/recording": "standup",
        "recording.mediaops.io/file-index": "00003",
    }
    assert manifest["spec"]["location"] == {
        "vendor": "s3", "bucket": "rec", "key": "teama/standup-00003.mp4", "region": "us-east-1",
    }  # fmt: skip
    assert manifest["spec"]["expiresAt"] == "2026-11-22T12:00:02Z"
    assert manifest["spec"]["deletionPolicy"] == "Orphan"
    assert manifest["spec"]["credentialsSecretRef"] == {"name": "s3"}
    summary = files_summary([manifest])
    assert summary == {"count": 1, "totalBytes": 1000, "latest": "teama/standup-00003.mp4",
                       "names": ["teama/standup-00003.mp4"]}  # fmt: skip


def test_files_are_found_in_the_bucket_by_the_name_template() -> None:
    spec = LocalRecordingSpec.model_validate(body()["spec"])
    pattern = file_name_pattern(
        spec.output.fileNameTemplate, recording="standup", namespace="team-a", extension="mp4"
    )
    assert pattern.fullmatch("standup-20261121-120000-00012.mp4")
    assert not pattern.fullmatch("other-20261121-120000-00012.mp4")
    objects = [
        ("teama/standup-20261121-120000-00001.mp4", 10, None),
        ("teama/standup-20261121-120010-00002.mp4", 20, None),
        ("teama/standup-20261121-120010-00002.ts", 20, None),
        ("teama/sub/standup-20261121-120010-00003.mp4", 20, None),
    ]
    found = stored_files_from_listing(
        spec, recording="standup", namespace="team-a", prefix="teama/", objects=objects, min_index=2
    )
    assert [(f.index, f.key, f.size_bytes) for f in found] == [
        (2, "teama/standup-20261121-120010-00002.mp4", 20)
    ]


NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def test_restart_counting_lives_in_the_status_and_a_spec_change_resets_it() -> None:
    status = {"observedGeneration": 3, "consecutiveFailures": 2, "nextRetryAt": "2026-11-21T12:00:05Z"}
    restarts = restarts_from_status(status, 3)
    assert restarts == Restarts(failures=2, retry_at=NOW + timedelta(seconds=5))
    assert restarts.wait_s(NOW) == 5.0 and restarts.wait_s(NOW + timedelta(seconds=9)) == 0.0
    assert restarts.status_fields() == {"consecutiveFailures": 2, "nextRetryAt": "2026-11-21T12:00:05Z"}
    assert restarts_from_status(status, 4) == Restarts()  # the spec changed: a fresh budget
    assert restarts_from_status({"observedGeneration": 3}, 3) == Restarts()
    assert (
        restarts_from_status({**status, "consecutiveFailures": "x", "nextRetryAt": "soon"}, 3) == Restarts()
    )
    assert Restarts().status_fields() == {"consecutiveFailures": None, "nextRetryAt": None}


def test_failures_back_off_then_give_up_after_max_restarts() -> None:
    first = after_failure(Restarts(), max_restarts=2, delay_s=1.2, now=NOW)
    assert first == Restarts(failures=1, retry_at=NOW + timedelta(seconds=2))  # rounded up to the second
    second = after_failure(first, max_restarts=2, delay_s=2.0, now=NOW)
    assert second.failures == 2 and second.retry_at == NOW + timedelta(seconds=2)
    assert not second.gave_up(2)
    third = after_failure(second, max_restarts=2, delay_s=4.0, now=NOW)
    assert third == Restarts(failures=3) and third.gave_up(2) and third.wait_s(NOW) == 0.0
    # What a restarted operator reads back is what it wrote.
    status = {"observedGeneration": 1, **second.status_fields()}
    assert restarts_from_status(status, 1) == second
    assert after_failure(Restarts(), max_restarts=0, delay_s=1.0, now=NOW).gave_up(0)


def test_max_duration_counts_the_running_session_only() -> None:
    spec = LocalRecordingSpec.model_validate(body(maxDuration="1h")["spec"])
    started = {"startedAt": "2026-11-21T10:00:00Z"}
    assert session_expired(spec, {**started, "phase": "Recording"}, NOW)
    assert session_expired(spec, {**started, "phase": "Reconnecting"}, NOW)
    assert not session_expired(spec, {**started, "phase": "Recording"}, NOW - timedelta(hours=1, seconds=1))
    # Stopped by maxDuration: stays stopped, whatever the spec says meanwhile.
    expired = {**started, "phase": "Stopped", "stopReason": "MaxDurationReached"}
    assert session_expired(spec, expired, NOW)
    no_limit = LocalRecordingSpec.model_validate(body()["spec"])
    assert session_expired(no_limit, expired, NOW)
    # Stopped on request (active: false) or Failed: an old startedAt must not keep a new session from starting.
    assert not session_expired(spec, {**started, "phase": "Stopped", "stopReason": "Requested"}, NOW)
    assert not session_expired(spec, {**started, "phase": "Failed", "stopReason": "RecorderFailed"}, NOW)
    assert not session_expired(spec, {"phase": None}, NOW)


def test_files_found_in_the_bucket_keep_what_the_agent_reported() -> None:
    listed = [
        StoredFile(index=4, key="p/r-00004.mp4", size_bytes=10, format="mp4"),
        StoredFile(index=5, key="p/r-00005.mp4", size_bytes=20, format="mp4"),
        StoredFile(index=6, key="p/r-00006.mp4", size_bytes=30, format="mp4"),
    ]
    reported = {
        5: StoredFile(index=5, key="p/r-00005.mp4", size_bytes=20, format="mp4", duration_ms=1980,
                      started_at="2026-11-21T12:00:02Z", closed_at=NOW),
        6: StoredFile(index=6, key="p/other-00006.mp4", size_bytes=30, format="mp4", duration_ms=2000),
    }  # fmt: skip
    merged = with_reported(listed, reported)
    assert [f.duration_ms for f in merged] == [None, 1980, None]
    assert merged[1].started_at == "2026-11-21T12:00:02Z" and merged[1].closed_at == NOW
    # Unknown stays unknown: the RecordedFile has no durationMs rather than 0.
    spec = LocalRecordingSpec.model_validate(body()["spec"])
    manifest = recorded_file_manifest(body(), spec, merged[0], now=NOW)
    assert "durationMs" not in manifest["spec"]
    assert recorded_file_manifest(body(), spec, merged[1], now=NOW)["spec"]["durationMs"] == 1980


def _closed(index: int, *, uploaded: bool = True) -> dict[str, Any]:
    return {
        "index": index,
        "name": f"standup-{index:05d}.mp4",
        "key": f"teama/standup-{index:05d}.mp4",
        "location": f"s3://rec/teama/standup-{index:05d}.mp4",
        "format": "mp4",
        "sizeBytes": 1000 + index,
        "durationMs": 10_000,
        "startedAt": "2026-11-21T12:00:00Z",
        "uploaded": uploaded,
    }


def test_the_termination_message_carries_the_newest_stored_files_within_kubelets_limit() -> None:
    agent = RecorderStatus.model_validate(
        {
            "recording": {"namespace": "team-a", "name": "standup"},
            "startedAt": "2026-11-21T12:00:00Z",
            "files": [_closed(i) for i in range(40)] + [_closed(40, uploaded=False)],
        }
    )
    text = TerminationMessage.of(agent)
    assert len(text.encode()) <= TERMINATION_MESSAGE_MAX_BYTES
    files = TerminationMessage.parse(text)
    assert files and files[-1].index == 39 and [f.index for f in files] == list(range(40 - len(files), 40))
    assert TerminationMessage.parse("Error: out of memory") == [] and TerminationMessage.parse(None) == []


def test_files_stored_on_exit_are_read_from_the_pod() -> None:
    pod, _ = manifests(body())
    container = pod["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert {"name": "RECORDER_TERMINATION_LOG", "value": "/dev/termination-log"} in container["env"]
    message = json.dumps({"files": [_closed(7)]})
    pod["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "recorder", "state": {"terminated": {"exitCode": 0, "message": message}}}
        ],
    }
    (stored,) = view_pod(pod).stored_on_exit
    assert (stored.index, stored.key, stored.size_bytes, stored.duration_ms) == (
        7,
        "teama/standup-00007.mp4",
        1007,
        10_000,
    )
