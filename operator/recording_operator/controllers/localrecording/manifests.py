"""The recorder's Kubernetes objects: the Pod, its ConfigMap (the agent's config) and the Service of a
listening input, with their names, labels, annotations and owner reference.

Pure functions of the LocalRecording object (no I/O). The agent reads what these manifests give it
as described in `recording_operator.api.agent` (config file, environment, port); resource requests
come from `sizing`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recording_operator.api.agent import (
    AGENT_TOKEN_KEY,
    CONFIG_FILE_KEY,
    DEFAULT_CONFIG_PATH,
    DEFAULT_TLS_CA_DIR,
    DEFAULT_TLS_CA_PATH,
    DEFAULT_VOLUME_DIR,
    DEFAULT_WORK_DIR,
    ENV_AGENT_TOKEN,
    ENV_INPUT_PASSWORD,
    ENV_INPUT_STREAM_KEY,
    ENV_INPUT_USERNAME,
    ENV_SRT_PASSPHRASE,
    ENV_STORAGE_ACCESS_KEY,
    ENV_STORAGE_CREDENTIAL,
    ENV_STORAGE_SECRET_KEY,
    ENV_STORAGE_SESSION_TOKEN,
    ENV_TERMINATION_LOG,
    ENV_TLS_CA_FILE,
    ENV_VOLUME_DIR,
    ENV_WORK_DIR,
    HEALTH_PATH,
    HTTP_PORT,
    HTTP_PORT_NAME,
    TLS_CA_FILE_NAME,
    AgentTuning,
    Numbering,
    RecorderConfig,
    RecordingIdentity,
)
from recording_operator.api.destinations import DestinationPolicy
from recording_operator.api.v1alpha1.common import (
    API_VERSION,
    GROUP,
    SECRET_USE_LABEL,
    StorageSpec,
    parse_duration,
)
from recording_operator.api.v1alpha1.localrecording import (
    DEFAULT_SEGMENT_DURATION,
    DEFAULT_UPLOAD_RATE_MBPS,
    LocalRecordingSpec,
    WorkVolume,
    is_continuous,
)
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL
from recording_operator.controllers._kit.pods import container_security_context, pod_security_context
from recording_operator.controllers._kit.recovery import RESTART_REQUESTED_AT
from recording_operator.controllers._kit.status import digest
from recording_operator.controllers.localrecording.sizing import resources

KIND = "LocalRecording"
#: Kubernetes' default `terminationMessagePath` (kubelet mounts it writable under a read-only root).
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: Finalizer the controller puts on recorder Pods: a terminated Pod (and its exit code) stays readable
#: until the controller has collected the recording's last files (the Job controller does the same).
POD_FINALIZER = f"{GROUP}/recorder"
#: Pod annotations written by the controller.
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"
FIRST_INDEX_ANNOTATION = f"{GROUP}/first-index"
STOP_REASON_ANNOTATION = f"{GROUP}/stop-reason"
#: Annotation (`"true"`) of a store-only recorder Pod (`RecorderConfig.storeOnly`).
STORE_ONLY_ANNOTATION = f"{GROUP}/store-only"
COMPONENT_LABEL = "app.kubernetes.io/component"
#: Labels of every recorder Pod (the recorder NetworkPolicies select the first two).
POD_LABELS = {COMPONENT_LABEL: "recorder", "app.kubernetes.io/part-of": "recording-operator"}
CONTAINER = "recorder"


#: Where the scratch /tmp is mounted.
TMP_DIR = "/tmp"
#: Seconds added to the upload time in the stop grace period: connection set-up, the store's
#: answer, the agent's exit (the bytes themselves are sized from `pod.uploadRateMbps`).
UPLOAD_MARGIN_S = 10
#: Bitrate assumed for a source whose bitrate the spec does not fix (kbit/s): a 1080p H.264 contribution feed.
ASSUMED_SOURCE_KBPS = 8000
#: Media a continuous file without `maxDuration` is assumed to hold at stop, for the grace period (s).
ASSUMED_CONTINUOUS_S = 3600.0
#: Spec fields the controller handles itself: changing them does not replace the recorder Pod.
CONTROLLER_FIELDS = ("active", "maxDuration", "deletionPolicy", "retention", "files")


def work_claim_name(name: str) -> str:
    """The work volume claim the operator creates for recording `name`."""
    return dns_name(name, "work", 253)


def media_kbps(spec: LocalRecordingSpec) -> int:
    """The recording's bitrate as far as the spec tells it (kbit/s): the video and audio bitrates of
    `transcoding`, else ASSUMED_SOURCE_KBPS for the video (stream copy keeps the source's rate)."""
    video = spec.transcoding.video if spec.transcoding else None
    audio = spec.transcoding.audio if spec.transcoding else None
    kbps = (
        0
        if spec.output.format == "mp3"
        else (video.bitrateKbps if video and video.bitrateKbps else ASSUMED_SOURCE_KBPS)
    )
    return kbps + (audio.bitrateKbps if audio and audio.bitrateKbps else 128)


def pending_bytes_at_stop(spec: LocalRecordingSpec) -> int:
    """Bytes the agent may still have to store when it is stopped: two files (the open one and the
    one before it, still uploading) of `segment_s` seconds at `media_kbps`, per media output (each
    additional one at its own segment length; jpg thumbnails are negligible); a continuous file holds
    up to `maxDuration` (ASSUMED_CONTINUOUS_S when unset)."""
    seconds = file_seconds(spec)
    for extra in spec.additionalOutputs or []:
        if extra.format != "jpg":
            default = (
                6.0 if extra.format == "hls" else parse_duration(DEFAULT_SEGMENT_DURATION).total_seconds()
            )
            seconds += (
                parse_duration(extra.segmentDuration).total_seconds() if extra.segmentDuration else default
            )
    return int(2 * seconds * media_kbps(spec) * 1000 / 8)


def file_seconds(spec: LocalRecordingSpec) -> float:
    """Longest media a file of this spec holds (s): the segment duration, or for a continuous file
    `maxDuration` (ASSUMED_CONTINUOUS_S when unset)."""
    if spec.output.format == "hls":
        return (
            parse_duration(spec.output.segmentDuration).total_seconds()
            if spec.output.segmentDuration
            else 6.0
        )
    if is_continuous(spec):
        if spec.maxDuration:
            return parse_duration(spec.maxDuration).total_seconds()
        return ASSUMED_CONTINUOUS_S
    return parse_duration(spec.output.segmentDuration or DEFAULT_SEGMENT_DURATION).total_seconds()


def termination_grace_s(
    spec: LocalRecordingSpec, stop_grace_s: float, pending_bytes: int | None = None
) -> int:
    """`terminationGracePeriodSeconds` of a recorder Pod: FFmpeg's finalize (`stop_grace_s`), the
    `pending_bytes` (default `pending_bytes_at_stop`) at `pod.uploadRateMbps`, and UPLOAD_MARGIN_S."""
    rate_mbps = spec.pod.uploadRateMbps if spec.pod else DEFAULT_UPLOAD_RATE_MBPS
    pending = pending_bytes_at_stop(spec) if pending_bytes is None else pending_bytes
    upload_s = math.ceil(pending * 8 / (rate_mbps * 1_000_000))
    return math.ceil(stop_grace_s) + upload_s + UPLOAD_MARGIN_S


#: Longest grace period a stop gives a recorder Pod (s): the bytes still to store never hold a Pod longer.
STOP_GRACE_MAX_S = 6 * 3600


def stop_grace_s(spec: LocalRecordingSpec, stop_grace_s: float, pending_bytes: int) -> int:
    """DeleteOptions `gracePeriodSeconds` (s) of a recorder Pod being stopped: FFmpeg's finalize
    (`stop_grace_s`), plus the `pending_bytes` (bytes) its agent reports still to store at
    `pod.uploadRateMbps`, plus UPLOAD_MARGIN_S; at most STOP_GRACE_MAX_S. E.g. 20 s finalize and
    30 MB at 2 Mbit/s → 20 + 120 + 10 = 150 s."""
    return min(STOP_GRACE_MAX_S, termination_grace_s(spec, stop_grace_s, max(0, pending_bytes)))


#: Files a work emptyDir holds at most while storage fails (then kubelet evicts the Pod), and its floor (MiB).
WORK_LIMIT_FILES = 8
WORK_LIMIT_MIN_MIB = 1024


def work_size_limit(spec: LocalRecordingSpec) -> str:
    """`sizeLimit` of a work emptyDir: WORK_LIMIT_FILES files of `file_seconds` at `media_kbps`
    (at least WORK_LIMIT_MIN_MIB), so that a storage outage evicts the recorder Pod instead of
    filling the node's disk; e.g. 60 s files at 8128 kbit/s → "1024Mi" (8 × 58 MiB = 465 MiB < floor)."""
    mib = math.ceil(WORK_LIMIT_FILES * file_seconds(spec) * media_kbps(spec) * 1000 / 8 / 2**20)
    return f"{max(mib, WORK_LIMIT_MIN_MIB)}Mi"


def work_volume(body: Mapping[str, Any], spec: LocalRecordingSpec) -> tuple[dict[str, Any], str | None]:
    """The Pod's `work` volume and the subPath it mounts: the recording's claim (or `workVolume.claimName`)
    under the sub-directory of the recording's uid, or an emptyDir (`workVolume.emptyDir`)."""
    work = spec.pod.workVolume if spec.pod and spec.pod.workVolume else WorkVolume()
    if work.emptyDir:
        return {"name": "work", "emptyDir": {"sizeLimit": work_size_limit(spec)}}, None
    claim = work.claimName or work_claim_name(body["metadata"]["name"])
    return {"name": "work", "persistentVolumeClaim": {"claimName": claim}}, body["metadata"].get(
        "uid"
    ) or None


def work_claim_of(name: str, spec: LocalRecordingSpec) -> str | None:
    """The PersistentVolumeClaim recording `name`'s work volume is (it outlives the Pod):
    `spec.pod.workVolume.claimName` or the operator's (`work_claim_name`); None for an emptyDir
    (it goes with the Pod)."""
    work = spec.pod.workVolume if spec.pod and spec.pod.workVolume else WorkVolume()
    if work.emptyDir:
        return None
    return work.claimName or work_claim_name(name)


def work_claim_manifest(body: Mapping[str, Any], spec: LocalRecordingSpec) -> dict[str, Any] | None:
    """The work volume claim the operator creates (ReadWriteOnce, owned by the recording, so it goes
    with it), or None when the spec names its own claim or asks for an emptyDir."""
    work = spec.pod.workVolume if spec.pod and spec.pod.workVolume else WorkVolume()
    if work.emptyDir or work.claimName:
        return None
    name = body["metadata"]["name"]
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": work.size}},
    }
    if work.storageClassName:
        claim_spec["storageClassName"] = work.storageClassName
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": work_claim_name(name),
            "namespace": body["metadata"]["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": claim_spec,
    }


def pod_spec_hash(spec_dict: Mapping[str, Any], restart: str | None = None) -> str:
    """Digest of the spec fields that shape the recorder Pod (all but CONTROLLER_FIELDS), and of
    `restart` (the RESTART_REQUESTED_AT value) when one is set: a new value makes the current Pod
    outdated, so it is replaced exactly as after a spec change (stopped gracefully, its files stored,
    numbering continued). Without a restart value the digest is the spec's alone."""
    fields = {k: v for k, v in spec_dict.items() if k not in CONTROLLER_FIELDS}
    return digest(fields if restart is None else {"spec": fields, "restart": restart})


def restart_requested_at(body: Mapping[str, Any]) -> str | None:
    """The LocalRecording `body`'s RESTART_REQUESTED_AT annotation value (None when unset or empty)."""
    return ((body.get("metadata") or {}).get("annotations") or {}).get(RESTART_REQUESTED_AT) or None


def recorder_hash(body: Mapping[str, Any]) -> str:
    """`pod_spec_hash` of the LocalRecording `body`: its spec and its RESTART_REQUESTED_AT annotation."""
    return pod_spec_hash(dict(body.get("spec") or {}), restart_requested_at(body))


# --- names and references ------------------------------------------------------------------------


def dns_name(base: str, suffix: str, limit: int = 63) -> str:
    """`<base>-<suffix>` within `limit` characters (63 for Pod and Service names, 253 for other
    objects): `base` is cut and stripped of a trailing `-`/`.`, the suffix is always kept whole."""
    return f"{base[: limit - len(suffix) - 1].rstrip('-.')}-{suffix}"


def pod_name(name: str, spec_hash: str, first_index: int, attempt: int = 0) -> str:
    """Recorder Pod name: unique per Pod spec, starting index and `attempt` (failures in a row before
    it: a Pod replacing a killed one that stored nothing starts at the same index) (≤ 63 characters)."""
    parts: list[object] = [spec_hash, first_index] + ([attempt] if attempt else [])
    return dns_name(name, f"rec-{digest(parts)[:8]}")


def config_map_name(name: str) -> str:
    """The recorder ConfigMap (one per recording, rewritten before each new Pod)."""
    return dns_name(name, "recorder", 253)


def agent_token_secret_name(name: str) -> str:
    """The Secret holding the token of recording `name`'s agent (one per recording, kept across Pods)."""
    return dns_name(name, "agent-token", 253)


def agent_token_secret_manifest(body: Mapping[str, Any], token: str) -> dict[str, Any]:
    """The Secret the operator creates with the agent's bearer token (`ENV_AGENT_TOKEN`): owned by
    the LocalRecording (goes with it), labelled SECRET_USE_LABEL (the operator reads it back after a
    restart), never shown anywhere but in the Pod's environment."""
    name = body["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": agent_token_secret_name(name),
            "namespace": body["metadata"]["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name, SECRET_USE_LABEL: "true"},
            "ownerReferences": [owner_reference(body)],
        },
        "stringData": {AGENT_TOKEN_KEY: token},
    }


def service_name(name: str) -> str:
    """The Service publishers push to (`input.listen` only)."""
    return dns_name(name, "recorder")


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to the LocalRecording `body` (controller owner; cascade deletion)."""
    meta = body.get("metadata", {})
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_selector(name: str) -> str:
    """Label selector of the recording's recorder Pods."""
    return f"{RECORDING_LABEL}={name},{COMPONENT_LABEL}=recorder"


# --- manifests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecorderPlan:
    """What one recorder Pod is made of (names, hash, the agent config)."""

    pod_name: str
    config_map_name: str
    spec_hash: str
    first_index: int
    config: RecorderConfig


def plan_recorder(
    body: Mapping[str, Any],
    spec: LocalRecordingSpec,
    first_index: int,
    *,
    attempt: int = 0,
    policy: DestinationPolicy | None = None,
    store_only: bool = False,
) -> RecorderPlan:
    """The next recorder Pod of the LocalRecording `body`, numbering from `first_index`, after
    `attempt` failed Pods in a row (`pod_name`); with `store_only` a Pod that only stores what the
    work volume holds (`RecorderConfig.storeOnly`; `attempt` is then its store-only attempt).

    `policy`: the destination policy the agent applies again (default: no private destinations).
    `maxDuration` is left out of the agent's config: the controller enforces it across Pod
    replacements (it counts from `status.startedAt`).
    """
    meta = body.get("metadata", {})
    spec_hash = recorder_hash(body)
    config = RecorderConfig(
        recording=RecordingIdentity(namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid", "")),
        spec=spec.model_copy(update={"maxDuration": None}),
        numbering=Numbering(nextIndex=first_index),
        agent=AgentTuning(),
        policy=policy or DestinationPolicy(),
        storeOnly=store_only,
    )
    name = pod_name(meta["name"], f"store-{spec_hash}" if store_only else spec_hash, first_index, attempt)
    return RecorderPlan(
        pod_name=name,
        config_map_name=config_map_name(meta["name"]),
        spec_hash=spec_hash,
        first_index=first_index,
        config=config,
    )


def config_map_manifest(body: Mapping[str, Any], plan: RecorderPlan) -> dict[str, Any]:
    """The ConfigMap holding the agent's `config.json` (no secrets: those come from Secrets)."""
    name = body["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan.config_map_name,
            "namespace": body["metadata"]["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name},
            "ownerReferences": [owner_reference(body)],
        },
        "data": {CONFIG_FILE_KEY: plan.config.to_json()},
    }


def _secret_env(env: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": env, "valueFrom": {"secretKeyRef": ref}}


def storage_secret_keys(storage: StorageSpec) -> list[tuple[str, str, bool]]:
    """`(environment variable, Secret key, optional)` for the storage credentials of `storage.vendor`.

    s3 / s3-compatible / azure: `accessKey`, `secretKey` (+ optional `stsToken`); gcs:
    `serviceAccountJson`; volume: none (the keys `StorageCredentials.from_secret` reads).
    """
    if storage.credentialsSecretRef is None or storage.vendor == "volume":
        return []
    if storage.vendor == "gcs":
        return [(ENV_STORAGE_CREDENTIAL, "serviceAccountJson", False)]
    keys = [(ENV_STORAGE_ACCESS_KEY, "accessKey", False), (ENV_STORAGE_SECRET_KEY, "secretKey", False)]
    if storage.vendor in ("s3", "s3-compatible"):
        keys.append((ENV_STORAGE_SESSION_TOKEN, "stsToken", True))
    return keys


#: `(environment variable, Secret key)` of `input.credentialsSecretRef`.
INPUT_CREDENTIAL_ENV = (
    (ENV_INPUT_USERNAME, "username"),
    (ENV_INPUT_PASSWORD, "password"),
    (ENV_INPUT_STREAM_KEY, "streamKey"),
)


def _listen_protocol(protocol: str) -> str:
    return "TCP" if protocol == "rtmp" else "UDP"


def apply_pod_defaults(
    pod: dict[str, Any], spec: LocalRecordingSpec, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Fill `pod` (a recorder Pod manifest) from the operator's recorder Pod defaults, in place.

    `defaults` has the shape of `RECORDER_POD_DEFAULTS` (see `recording_operator.settings`). The
    LocalRecording's own choices win: its `spec.pod.nodeSelector` keys over the default ones, its
    `spec.pod.tolerations` after the default ones, its `spec.pod.resources` (and the sizing from its
    output) over default `resources` key by key; the operator's own labels and annotations over the
    default ones. `imagePullSecrets`, `affinity`, `priorityClassName` and `runtimeClassName` come only
    from the defaults. Returns `pod`.
    """
    pod_spec = pod["spec"]
    meta = pod["metadata"]
    for key in ("imagePullSecrets", "affinity", "priorityClassName", "runtimeClassName"):
        if defaults.get(key):
            pod_spec[key] = defaults[key]
    if defaults.get("nodeSelector"):
        pod_spec["nodeSelector"] = {**defaults["nodeSelector"], **pod_spec.get("nodeSelector", {})}
    if defaults.get("tolerations"):
        pod_spec["tolerations"] = [*defaults["tolerations"], *pod_spec.get("tolerations", [])]
    if defaults.get("labels"):
        meta["labels"] = {**defaults["labels"], **meta["labels"]}
    if defaults.get("annotations"):
        meta["annotations"] = {**defaults["annotations"], **meta["annotations"]}
    default_resources = defaults.get("resources") or {}
    if default_resources:
        container = pod_spec["containers"][0]
        own = spec.pod.resources if spec.pod else None
        merged: dict[str, dict[str, str]] = {}
        for part in ("requests", "limits"):
            chosen = dict(container["resources"].get(part, {}))
            chosen.update(default_resources.get(part) or {})
            chosen.update((getattr(own, part, None) or {}) if own is not None else {})
            if chosen:
                merged[part] = chosen
        container["resources"] = merged
    return pod


def pod_manifest(
    body: Mapping[str, Any],
    spec: LocalRecordingSpec,
    plan: RecorderPlan,
    *,
    image: str,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The recorder Pod: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault,
    no service-account token, secrets only through `secretKeyRef` (the agent's token from
    `agent_token_secret_name`), config from the ConfigMap, and
    the `input.tls.caConfigMapRef` key as the read-only file DEFAULT_TLS_CA_PATH (`$RECORDER_TLS_CA_FILE`).

    `restartPolicy: Never`: the agent restarts FFmpeg itself; a failed agent is replaced by the
    controller (with backoff, numbering continued). The Pod carries POD_FINALIZER. The work dir is
    the recording's work volume (`work_volume`), so the next Pod stores what a killed one left;
    the grace period is `termination_grace_s`. `defaults` (the operator's `RECORDER_POD_DEFAULTS`)
    fill what the LocalRecording leaves open (`apply_pod_defaults`).
    """
    meta = body["metadata"]
    name = meta["name"]
    storage = spec.storage
    env: list[dict[str, Any]] = [
        {"name": ENV_WORK_DIR, "value": DEFAULT_WORK_DIR},
        {"name": "TMPDIR", "value": TMP_DIR},
        {"name": ENV_TERMINATION_LOG, "value": TERMINATION_MESSAGE_PATH},
        _secret_env(ENV_AGENT_TOKEN, agent_token_secret_name(name), AGENT_TOKEN_KEY),
    ]
    for variable, key, optional in storage_secret_keys(storage):
        assert storage.credentialsSecretRef is not None
        env.append(_secret_env(variable, storage.credentialsSecretRef.name, key, optional=optional))
    if spec.input.passphraseSecretRef is not None:
        ref = spec.input.passphraseSecretRef
        env.append(_secret_env(ENV_SRT_PASSPHRASE, ref.name, ref.key))
    if spec.input.credentialsSecretRef is not None:
        # Each key optional: a source may need a user name and password, or only a stream key.
        for variable, key in INPUT_CREDENTIAL_ENV:
            env.append(_secret_env(variable, spec.input.credentialsSecretRef.name, key, optional=True))
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": DEFAULT_CONFIG_PATH.rsplit("/", 1)[0], "readOnly": True},
        {"name": "work", "mountPath": DEFAULT_WORK_DIR},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    work, work_sub_path = work_volume(body, spec)
    if work_sub_path:
        mounts[1]["subPath"] = work_sub_path
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": plan.config_map_name}},
        work,
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    tls = spec.input.tls
    if tls is not None and tls.caConfigMapRef is not None:
        # Only the one key, as DEFAULT_TLS_CA_PATH; kubelet refuses to start the Pod while the key is
        # missing (the controller checks it first: ConfigMapNotFound).
        env.append({"name": ENV_TLS_CA_FILE, "value": DEFAULT_TLS_CA_PATH})
        mounts.append({"name": "tls-ca", "mountPath": DEFAULT_TLS_CA_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "tls-ca",
                "configMap": {
                    "name": tls.caConfigMapRef.name,
                    "items": [{"key": tls.caConfigMapRef.key, "path": TLS_CA_FILE_NAME}],
                },
            }
        )
    if storage.vendor == "volume" and storage.volume is not None:
        env.append({"name": ENV_VOLUME_DIR, "value": DEFAULT_VOLUME_DIR})
        mount: dict[str, Any] = {"name": "recordings", "mountPath": DEFAULT_VOLUME_DIR}
        if storage.volume.subPath:
            mount["subPath"] = storage.volume.subPath
        mounts.append(mount)
        volumes.append(
            {"name": "recordings", "persistentVolumeClaim": {"claimName": storage.volume.claimName}}
        )
    ports: list[dict[str, Any]] = [{"name": HTTP_PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"}]
    if spec.input.listen is not None:
        listen = spec.input.listen
        ports.append(
            {"name": "input", "containerPort": listen.port, "protocol": _listen_protocol(listen.protocol)}
        )
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": (spec.pod.image if spec.pod and spec.pod.image else image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["recording-operator", "record"],
        "args": ["--config", DEFAULT_CONFIG_PATH],
        "env": env,
        "ports": ports,
        "resources": resources(spec),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
        # The agent writes its newest stored files here on exit (TerminationMessage): the files it
        # stored after the last /status poll are read from the Pod, even after an operator restart.
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "File",
        "readinessProbe": {"httpGet": {"path": HEALTH_PATH, "port": HTTP_PORT_NAME}, "periodSeconds": 5},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": termination_grace_s(spec, plan.config.agent.stopGraceS),
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if spec.pod and spec.pod.nodeSelector:
        pod_spec["nodeSelector"] = dict(spec.pod.nodeSelector)
    if spec.pod and spec.pod.tolerations:
        pod_spec["tolerations"] = [t.model_dump(exclude_none=True) for t in spec.pod.tolerations]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": plan.pod_name,
            "namespace": meta["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name},
            "annotations": {
                SPEC_HASH_ANNOTATION: plan.spec_hash,
                FIRST_INDEX_ANNOTATION: str(plan.first_index),
                **({STORE_ONLY_ANNOTATION: "true"} if plan.config.storeOnly else {}),
                **({RESTART_REQUESTED_AT: restart} if (restart := restart_requested_at(body)) else {}),
            },
            "ownerReferences": [owner_reference(body)],
            "finalizers": [POD_FINALIZER],
        },
        "spec": pod_spec,
    }
    return apply_pod_defaults(pod, spec, defaults or {})


def service_manifest(body: Mapping[str, Any], spec: LocalRecordingSpec) -> dict[str, Any] | None:
    """The Service publishers push to (`input.listen`), type `spec.pod.serviceType`; None for pull inputs."""
    listen = spec.input.listen
    if listen is None:
        return None
    name = body["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(name),
            "namespace": body["metadata"]["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            "type": spec.pod.serviceType if spec.pod else "ClusterIP",
            "selector": {RECORDING_LABEL: name, COMPONENT_LABEL: "recorder"},
            "ports": [
                {
                    "name": "input",
                    "port": listen.port,
                    "targetPort": "input",
                    "protocol": _listen_protocol(listen.protocol),
                }
            ],
        },
    }
