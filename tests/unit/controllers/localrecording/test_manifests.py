"""The recorder Pod, ConfigMap and Service manifests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recording_operator.api.agent import RecorderConfig, url_with_credentials
from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec
from recording_operator.controllers.localrecording.manifests import (
    POD_FINALIZER,
    SPEC_HASH_ANNOTATION,
    STOP_GRACE_MAX_S,
    STORE_ONLY_ANNOTATION,
    agent_token_secret_manifest,
    agent_token_secret_name,
    config_map_manifest,
    pending_bytes_at_stop,
    plan_recorder,
    pod_manifest,
    pod_spec_hash,
    service_manifest,
    stop_grace_s,
    termination_grace_s,
    work_claim_manifest,
    work_claim_of,
    work_size_limit,
)
from recording_operator.settings import recorder_pod_defaults
from tests.unit.controllers.localrecording.recordings import IMAGE, body, manifests


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
    work = {m["mountPath"]: m for m in container["volumeMounts"]}["/var/lib/recorder"]
    assert volumes[work["name"]]["persistentVolumeClaim"] == {"claimName": "standup-work"}
    assert work["subPath"] == "uid-1"  # one directory per recording (a recreated one starts empty)
    assert volumes[mounts["/etc/recorder"]]["configMap"]["name"] == "standup-recorder"
    assert POD_FINALIZER in pod["metadata"]["finalizers"]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    # 20 s FFmpeg finalize + 2 × 10 s segments at 8128 kbit/s (20.3 MB) at 20 Mbit/s (9 s) + 10 s margin.
    assert spec["terminationGracePeriodSeconds"] == 39


def test_the_work_claim_is_created_unless_the_spec_names_one_or_asks_for_an_empty_dir() -> None:
    claim = work_claim_manifest(body(), LocalRecordingSpec.model_validate(body()["spec"]))
    assert claim is not None
    assert claim["metadata"]["name"] == "standup-work"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    own = body(pod={"workVolume": {"claimName": "shared"}})
    assert work_claim_manifest(own, LocalRecordingSpec.model_validate(own["spec"])) is None
    pod, _ = manifests(own)
    assert {"name": "work", "persistentVolumeClaim": {"claimName": "shared"}} in pod["spec"]["volumes"]
    empty = body(pod={"workVolume": {"emptyDir": True}})
    assert work_claim_manifest(empty, LocalRecordingSpec.model_validate(empty["spec"])) is None
    pod, _ = manifests(empty)
    # A storage outage evicts the Pod at its sizeLimit instead of filling the node's disk.
    assert {"name": "work", "emptyDir": {"sizeLimit": "1024Mi"}} in pod["spec"]["volumes"]
    hour = body(pod={"workVolume": {"emptyDir": True}}, output={"format": "mp4", "segmentDuration": "1h"})
    assert (
        work_size_limit(LocalRecordingSpec.model_validate(hour["spec"])) == "27906Mi"
    )  # 8 × 1 h at 8128 kbit/s


def test_the_grace_period_grows_with_the_bytes_left_to_store() -> None:
    spec = LocalRecordingSpec.model_validate(body()["spec"])
    assert termination_grace_s(spec, 20, pending_bytes=0) == 30
    # 1 GB at 20 Mbit/s is 400 s of upload: far beyond a flat 40 s.
    assert termination_grace_s(spec, 20, pending_bytes=1_000_000_000) == 430
    slow = LocalRecordingSpec.model_validate(body(pod={"uploadRateMbps": 2})["spec"])
    assert termination_grace_s(slow, 20, pending_bytes=1_000_000_000) == 4030
    continuous = LocalRecordingSpec.model_validate(
        body(output={"format": "mp4", "continuous": True}, maxDuration="2h")["spec"]
    )
    assert pending_bytes_at_stop(continuous) == 2 * 7200 * 8128 * 1000 // 8
    # Each additional media output has its own open and uploading files; thumbnails count for nothing.
    extras = [{"name": "live", "format": "hls"}, {"name": "ts", "format": "mpegts", "segmentDuration": "30s"},
              {"name": "thumbs", "format": "jpg"}]  # fmt: skip
    several = LocalRecordingSpec.model_validate(
        body(output={"format": "mp4", "segmentDuration": "10s"}, additionalOutputs=extras)["spec"]
    )
    assert pending_bytes_at_stop(several) == 2 * (10 + 6 + 30) * 8128 * 1000 // 8


def test_a_stop_grace_is_sized_from_the_bytes_the_agent_reports_and_bounded() -> None:
    slow = LocalRecordingSpec.model_validate(body(pod={"uploadRateMbps": 2})["spec"])
    # 30 MB at 2 Mbit/s: 120 s of upload, plus FFmpeg's finalize and the margin.
    assert stop_grace_s(slow, 20, 30_000_000) == 150
    assert stop_grace_s(slow, 20, 0) == 30
    assert stop_grace_s(slow, 20, 10**13) == STOP_GRACE_MAX_S


def test_credentials_only_through_secret_key_refs() -> None:
    pod, config_map = manifests(body())
    env = pod["spec"]["containers"][0]["env"]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert secret_env["STORAGE_ACCESS_KEY"] == {"name": "s3", "key": "accessKey"}
    assert secret_env["STORAGE_SECRET_KEY"] == {"name": "s3", "key": "secretKey"}
    assert secret_env["STORAGE_SESSION_TOKEN"] == {"name": "s3", "key": "stsToken", "optional": True}
    assert secret_env["SRT_PASSPHRASE"] == {"name": "srt", "key": "pass"}
    assert secret_env["RECORDER_AGENT_TOKEN"] == {"name": "standup-agent-token", "key": "token"}
    plain = {e["name"] for e in env if "value" in e}
    assert not plain & {"STORAGE_ACCESS_KEY", "STORAGE_SECRET_KEY", "SRT_PASSPHRASE"}
    config = RecorderConfig.model_validate_json(config_map["data"]["config.json"])
    assert config.recording.name == "standup" and config.numbering.nextIndex == 0
    assert "passphrase" not in json.dumps(config_map["data"]).replace("passphraseSecretRef", "")


def test_gcs_maps_the_service_account_key_and_volume_needs_none() -> None:
    gcs = body(storage={"vendor": "gcs", "bucket": "b", "credentialsSecretRef": {"name": "g"}})
    env = manifests(gcs)[0]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env if "valueFrom" in e] == [
        "RECORDER_AGENT_TOKEN", "STORAGE_CREDENTIAL", "SRT_PASSPHRASE"
    ]  # fmt: skip
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


def test_controller_fields_do_not_replace_the_pod() -> None:
    spec = body()["spec"]
    assert pod_spec_hash(spec) == pod_spec_hash({**spec, "active": False, "maxDuration": "1h"})
    assert pod_spec_hash(spec) != pod_spec_hash({**spec, "output": {"format": "mkv"}})


def test_numbering_continues_in_a_new_pod() -> None:
    pod0, _ = manifests(body(), first_index=0)
    pod7, config_map = manifests(body(), first_index=7)
    assert pod0["metadata"]["name"] != pod7["metadata"]["name"]
    assert json.loads(config_map["data"]["config.json"])["numbering"] == {"nextIndex": 7}


def test_a_store_only_pod_numbers_from_the_next_index_and_says_so_to_the_agent() -> None:
    b = body()
    spec = LocalRecordingSpec.model_validate(b["spec"])
    recorder = plan_recorder(b, spec, 7)
    store = plan_recorder(b, spec, 7, store_only=True)
    again = plan_recorder(b, spec, 7, attempt=1, store_only=True)
    assert len({recorder.pod_name, store.pod_name, again.pod_name}) == 3
    pod = pod_manifest(b, spec, store, image=IMAGE)
    assert pod["metadata"]["annotations"][STORE_ONLY_ANNOTATION] == "true"
    assert (
        STORE_ONLY_ANNOTATION not in pod_manifest(b, spec, recorder, image=IMAGE)["metadata"]["annotations"]
    )
    config = json.loads(config_map_manifest(b, store)["data"]["config.json"])
    assert (config["storeOnly"], config["numbering"]) == (True, {"nextIndex": 7})
    assert RecorderConfig.model_validate(json.loads(recorder.config.to_json())).storeOnly is False


def test_the_work_claim_is_the_operators_or_the_named_one_never_an_empty_dir() -> None:
    def claim_of(b: dict[str, Any]) -> str | None:
        return work_claim_of("standup", LocalRecordingSpec.model_validate(b["spec"]))

    assert claim_of(body()) == "standup-work"
    assert claim_of(body(pod={"workVolume": {"claimName": "shared"}})) == "shared"
    assert claim_of(body(pod={"workVolume": {"emptyDir": True}})) is None


def test_operator_pod_defaults_fill_what_the_recording_leaves_open() -> None:
    b = body(pod={"nodeSelector": {"zone": "a"}, "tolerations": [{"key": "gpu", "operator": "Exists"}],
                  "resources": {"limits": {"cpu": "3"}}})  # fmt: skip
    spec = LocalRecordingSpec.model_validate(b["spec"])
    plan = plan_recorder(b, spec, 0)
    defaults = recorder_pod_defaults(
        json.dumps(
            {
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"zone": "b", "media": "true"},
                "tolerations": [{"key": "media", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {}},
                "resources": {"requests": {"memory": "1Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}},
                "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                                SPEC_HASH_ANNOTATION: "forged"},
                "labels": {"team": "media", "app.kubernetes.io/component": "other"},
                "priorityClassName": "media-high",
            }
        )
    )  # fmt: skip
    pod = pod_manifest(b, spec, plan, image=IMAGE, defaults=defaults)
    pod_spec = pod["spec"]
    assert pod_spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod_spec["priorityClassName"] == "media-high" and pod_spec["affinity"] == {"nodeAffinity": {}}
    # The recording's own choices win: its zone, its toleration after the default one, its CPU limit.
    assert pod_spec["nodeSelector"] == {"zone": "a", "media": "true"}
    assert [t["key"] for t in pod_spec["tolerations"]] == ["media", "gpu"]
    resources = pod_spec["containers"][0]["resources"]
    assert resources["limits"]["cpu"] == "3" and resources["limits"]["memory"] == "4Gi"
    assert resources["requests"]["memory"] == "1Gi"
    # The operator's own labels and annotations cannot be overridden by defaults.
    meta = pod["metadata"]
    assert meta["labels"]["team"] == "media" and meta["labels"]["app.kubernetes.io/component"] == "recorder"
    assert meta["annotations"][SPEC_HASH_ANNOTATION] == plan.spec_hash
    assert meta["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    # Without defaults nothing is added.
    plain = pod_manifest(b, spec, plan, image=IMAGE)["spec"]
    assert "imagePullSecrets" not in plain and plain["nodeSelector"] == {"zone": "a"}


def test_pod_defaults_reject_what_the_operator_would_not_apply() -> None:
    for raw, message in [
        ("[1]", "JSON object"),
        ('{"hostNetwork": true}', "unknown field 'hostNetwork'"),
        ('{"nodeSelector": "a"}', "nodeSelector must be a JSON dict"),
        ("{not json", "not JSON"),
    ]:
        with pytest.raises(ValueError, match=message):
            recorder_pod_defaults(raw)
    assert recorder_pod_defaults("  ") == {}


def test_the_agent_token_secret_is_owned_by_the_recording_and_opted_in() -> None:
    secret = agent_token_secret_manifest(body(), "t0ken")
    assert secret["metadata"]["name"] == agent_token_secret_name("standup") == "standup-agent-token"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert secret["metadata"]["labels"]["recording.mediaops.io/use"] == "true"
    assert secret["stringData"] == {"token": "t0ken"}


def test_source_credentials_only_through_secret_key_refs() -> None:
    b = body(input={"url": "rtsp://cam.example/stream", "credentialsSecretRef": {"name": "cam"}})
    pod, config_map = manifests(b)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for variable, key in (("RECORDER_INPUT_USERNAME", "username"), ("RECORDER_INPUT_PASSWORD", "password"),
                          ("RECORDER_INPUT_STREAM_KEY", "streamKey")):  # fmt: skip
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "cam", "key": key, "optional": True}
    config = RecorderConfig.model_validate_json(config_map["data"]["config.json"])
    assert config.spec.input.url == "rtsp://cam.example/stream"


def test_credentials_are_added_to_the_url_for_ffmpeg_only() -> None:
    assert url_with_credentials("rtsp://cam.example:554/s", username="u", password="p@ss:/") == (
        "rtsp://u:p%40ss%3A%2F@cam.example:554/s"
    )
    assert (
        url_with_credentials("rtmp://live.example/app", stream_key="k/1") == "rtmp://live.example/app/k%2F1"
    )
    assert url_with_credentials("rtmp://live.example/app/", stream_key="k") == "rtmp://live.example/app/k"
    assert url_with_credentials("https://h/a.m3u8?x=1") == "https://h/a.m3u8?x=1"
