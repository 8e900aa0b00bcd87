"""Pure decisions for LocalRecording: the recorder Pod, its ConfigMap and Service, default resources,
RecordedFile objects, and what the status becomes from the agent's `/status`.

Nothing here performs I/O, so every rule is unit-testable without kopf, Kubernetes or HTTP.
Contract with the agent: `recorder/config.py` (config file, environment, port) and `recorder/status.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from recording_operator.api.agent import (
    CONFIG_FILE_KEY,
    DEFAULT_CONFIG_PATH,
    DEFAULT_TLS_CA_DIR,
    DEFAULT_TLS_CA_PATH,
    DEFAULT_VOLUME_DIR,
    DEFAULT_WORK_DIR,
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
    ClosedFile,
    Numbering,
    RecorderConfig,
    RecorderStatus,
    RecordingIdentity,
    TerminationMessage,
)
from recording_operator.api.v1alpha1.common import API_VERSION, GROUP, StorageSpec, parse_duration
from recording_operator.api.v1alpha1.localrecording import (
    EXTENSIONS,
    PULL_SCHEMES,
    LocalRecordingSpec,
    unverifiable_tls,
)
from recording_operator.api.v1alpha1.recordedfile import RECORDING_LABEL
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.pods import container_security_context, pod_security_context
from recording_operator.controllers._kit.status import digest

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
#: RecordedFile label with the file's `{index}` (5 digits), so numbering survives operator restarts.
FILE_INDEX_LABEL = f"{GROUP}/file-index"
COMPONENT_LABEL = "app.kubernetes.io/component"
#: Labels of every recorder Pod (the recorder NetworkPolicies select the first two).
POD_LABELS = {COMPONENT_LABEL: "recorder", "app.kubernetes.io/part-of": "recording-operator"}
CONTAINER = "recorder"


#: Where the work emptyDir and a scratch /tmp are mounted.
TMP_DIR = "/tmp"
#: Seconds the Pod gets after SIGTERM: FFmpeg's finalize (`stopGraceS`) plus the last uploads.
UPLOAD_GRACE_S = 40
#: Input URL schemes FFmpeg must never get from a user (recorder-notes.md §3.7).
FORBIDDEN_SCHEMES = ("file", "concat", "subfile", "data", "pipe")
#: Spec fields the controller handles itself: changing them does not replace the recorder Pod.
CONTROLLER_FIELDS = ("active", "maxDuration", "deletionPolicy", "retention")
#: `status.files.names` keeps this many names.
MAX_FILE_NAMES = 32


# --- validation ----------------------------------------------------------------------------------


def check_input(spec: LocalRecordingSpec) -> None:
    """The controller's own check of the input URL (the CRD schema already rejects these).

    Raises:
        SpecError: `InvalidSpec` for `file:`, `concat:`, `subfile:`, `data:`, `pipe:` or any scheme
            outside PULL_SCHEMES, for URLs with whitespace, `|` or `\\`, and for TLS verification
            of an input FFmpeg 5.1 cannot verify (HLS/DASH over https, rtsps: `ff.unverifiable_tls`).
    """
    url = spec.input.url
    if url is None:
        return
    scheme = urlsplit(url).scheme.lower() if "://" in url else url.split(":", 1)[0].lower()
    if scheme in FORBIDDEN_SCHEMES or scheme not in PULL_SCHEMES:
        raise SpecError(
            "InvalidSpec", f"input.url scheme {scheme!r} is not allowed (use one of {PULL_SCHEMES})"
        )
    if re.search(r"[\s|\\]", url):
        raise SpecError("InvalidSpec", "input.url must not contain whitespace, '|' or '\\'")
    problem = unverifiable_tls(spec.input)
    if problem:
        raise SpecError("InvalidSpec", problem)


def pod_spec_hash(spec_dict: Mapping[str, Any]) -> str:
    """Digest of the spec fields that shape the recorder Pod (all but CONTROLLER_FIELDS)."""
    return digest({k: v for k, v in spec_dict.items() if k not in CONTROLLER_FIELDS})


# --- names and references ------------------------------------------------------------------------


def _dns_name(base: str, suffix: str, limit: int = 63) -> str:
    return f"{base[: limit - len(suffix) - 1].rstrip('-.')}-{suffix}"


def pod_name(name: str, spec_hash: str, first_index: int) -> str:
    """Recorder Pod name: unique per Pod spec and starting index (≤ 63 characters)."""
    return _dns_name(name, f"rec-{digest([spec_hash, first_index])[:8]}")


def config_map_name(name: str) -> str:
    """The recorder ConfigMap (one per recording, rewritten before each new Pod)."""
    return _dns_name(name, "recorder", 253)


def service_name(name: str) -> str:
    """The Service publishers push to (`input.listen` only)."""
    return _dns_name(name, "recorder")


def recorded_file_name(name: str, index: int) -> str:
    """RecordedFile of the file with `{index}` `index`: `<recording>-<index, 5 digits>`."""
    return _dns_name(name, f"{index:05d}", 253)


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


# --- resources -----------------------------------------------------------------------------------

#: CPU cost relative to x264 `veryfast` (x264's presets roughly double the work every two steps).
PRESET_COST = {
    "ultrafast": 0.55,
    "superfast": 0.7,
    "veryfast": 1.0,
    "faster": 1.3,
    "fast": 1.6,
    "medium": 2.0,
    "slow": 3.0,
    "slower": 5.0,
    "veryslow": 8.0,
}
#: Measured CPU-seconds per media-second (recorder-notes.md §3.8, 2-core VM, synthetic source).
CPU_COPY = 0.01
CPU_X264_VERYFAST_1080P30 = 0.98
CPU_AUDIO = 0.03
HEVC_FACTOR = 2.5
#: Real footage costs more than the synthetic source measured: headroom on top of the estimate.
HEADROOM = 1.5
FULL_HD = 1920 * 1080


def _video_encoded(spec: LocalRecordingSpec) -> bool:
    return bool((spec.transcoding and spec.transcoding.video) or spec.overlay)


def _audio_encoded(spec: LocalRecordingSpec) -> bool:
    return bool((spec.transcoding and spec.transcoding.audio) or (spec.audio and spec.audio.channels))


def default_resources(spec: LocalRecordingSpec) -> dict[str, dict[str, str]]:
    """Requests and limits sized from the transcoding settings.

    Stream copy: 50m CPU, 128Mi (limits 500m, 256Mi). Video encoding: 0.98 CPU per 1080p30 x264
    `veryfast` rendition scaled by pixel rate and preset cost (hevc ×2.5), ×1.5 headroom; an unset size
    counts as 1080p30. Memory 160Mi + 240Mi per 1080p of pixels (hevc ×1.5). Limits: 2× requests
    (CPU at least 500m).
    """
    cpu = CPU_COPY
    memory_mi = 128.0
    video = spec.transcoding.video if spec.transcoding else None
    if _video_encoded(spec):
        width = (video.width if video else None) or 1920
        height = (video.height if video else None) or 1080
        fps = (video.fps if video else None) or 30.0
        preset = video.preset if video else "veryfast"
        hevc = bool(video and video.codec == "hevc")
        scale = width * height * fps / (FULL_HD * 30.0)
        cpu += CPU_X264_VERYFAST_1080P30 * scale * PRESET_COST[preset] * (HEVC_FACTOR if hevc else 1.0)
        memory_mi = 160.0 + 240.0 * (width * height / FULL_HD) * (1.5 if hevc else 1.0)
    if _audio_encoded(spec):
        cpu += CPU_AUDIO
        memory_mi = max(memory_mi, 160.0)
    cpu_m = max(50, int(round(cpu * HEADROOM * 1000, -1)))
    memory = max(128, int(memory_mi))
    return {
        "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory}Mi"},
        "limits": {"cpu": f"{max(500, 2 * cpu_m)}m", "memory": f"{2 * memory}Mi"},
    }


def resources(spec: LocalRecordingSpec) -> dict[str, dict[str, str]]:
    """`spec.pod.resources` over the defaults, key by key."""
    result = default_resources(spec)
    own = spec.pod.resources if spec.pod else None
    if own is not None:
        result["requests"].update(own.requests or {})
        result["limits"].update(own.limits or {})
    return result


# --- manifests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecorderPlan:
    """What one recorder Pod is made of (names, hash, the agent config)."""

    pod_name: str
    config_map_name: str
    spec_hash: str
    first_index: int
    config: RecorderConfig


def plan_recorder(body: Mapping[str, Any], spec: LocalRecordingSpec, first_index: int) -> RecorderPlan:
    """The next recorder Pod of the LocalRecording `body`, numbering from `first_index`.

    `maxDuration` is left out of the agent's config: the controller enforces it across Pod
    replacements (it counts from `status.startedAt`).
    """
    meta = body.get("metadata", {})
    spec_hash = pod_spec_hash(dict(body.get("spec") or {}))
    config = RecorderConfig(
        recording=RecordingIdentity(namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid", "")),
        spec=spec.model_copy(update={"maxDuration": None}),
        numbering=Numbering(nextIndex=first_index),
        agent=AgentTuning(),
    )
    return RecorderPlan(
        pod_name=pod_name(meta["name"], spec_hash, first_index),
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


def _listen_protocol(protocol: str) -> str:
    return "TCP" if protocol == "rtmp" else "UDP"


def pod_manifest(
    body: Mapping[str, Any], spec: LocalRecordingSpec, plan: RecorderPlan, *, image: str
) -> dict[str, Any]:
    """The recorder Pod: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault,
    no service-account token, secrets only through `secretKeyRef`, config from the ConfigMap, and
    the `input.tls.caConfigMapRef` key as the read-only file DEFAULT_TLS_CA_PATH (`$RECORDER_TLS_CA_FILE`).

    `restartPolicy: Never`: the agent restarts FFmpeg itself; a failed agent is replaced by the
    controller (with backoff, numbering continued). The Pod carries POD_FINALIZER.
    """
    meta = body["metadata"]
    name = meta["name"]
    storage = spec.storage
    env: list[dict[str, Any]] = [
        {"name": ENV_WORK_DIR, "value": DEFAULT_WORK_DIR},
        {"name": "TMPDIR", "value": TMP_DIR},
        {"name": ENV_TERMINATION_LOG, "value": TERMINATION_MESSAGE_PATH},
    ]
    for variable, key, optional in storage_secret_keys(storage):
        assert storage.credentialsSecretRef is not None
        env.append(_secret_env(variable, storage.credentialsSecretRef.name, key, optional=optional))
    if spec.input.passphraseSecretRef is not None:
        ref = spec.input.passphraseSecretRef
        env.append(_secret_env(ENV_SRT_PASSPHRASE, ref.name, ref.key))
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": DEFAULT_CONFIG_PATH.rsplit("/", 1)[0], "readOnly": True},
        {"name": "work", "mountPath": DEFAULT_WORK_DIR},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": plan.config_map_name}},
        {"name": "work", "emptyDir": {}},
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
        "terminationGracePeriodSeconds": int(plan.config.agent.stopGraceS) + UPLOAD_GRACE_S,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if spec.pod and spec.pod.nodeSelector:
        pod_spec["nodeSelector"] = dict(spec.pod.nodeSelector)
    if spec.pod and spec.pod.tolerations:
        pod_spec["tolerations"] = [t.model_dump(exclude_none=True) for t in spec.pod.tolerations]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": plan.pod_name,
            "namespace": meta["namespace"],
            "labels": {**POD_LABELS, RECORDING_LABEL: name},
            "annotations": {
                SPEC_HASH_ANNOTATION: plan.spec_hash,
                FIRST_INDEX_ANNOTATION: str(plan.first_index),
            },
            "ownerReferences": [owner_reference(body)],
            "finalizers": [POD_FINALIZER],
        },
        "spec": pod_spec,
    }


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


# --- Pods as observed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PodView:
    """What the controller needs from a recorder Pod object."""

    name: str
    phase: str
    deleting: bool
    spec_hash: str
    first_index: int
    exit_code: int | None
    ip: str | None
    stop_reason: str | None
    has_finalizer: bool
    #: Files the agent reported stored in its termination message (newest ones; see TerminationMessage).
    stored_on_exit: tuple[StoredFile, ...] = ()

    @property
    def terminated(self) -> bool:
        """The container has exited (Succeeded or Failed)."""
        return self.phase in ("Succeeded", "Failed")

    @property
    def agent_url(self) -> str | None:
        """`http://<podIP>:8090` of the agent (HTTP_PORT), when the Pod has an IP."""
        return f"http://{self.ip}:{HTTP_PORT}" if self.ip else None


def view_pod(pod: Mapping[str, Any]) -> PodView:
    """Read a Pod object (phase, exit code, IP, our annotations, the termination message's files)."""
    meta = pod.get("metadata", {})
    annotations = meta.get("annotations") or {}
    status = pod.get("status") or {}
    exit_code = None
    stored_on_exit: tuple[StoredFile, ...] = ()
    for container in status.get("containerStatuses") or ():
        terminated = (container.get("state") or {}).get("terminated")
        if container.get("name") == CONTAINER and terminated:
            exit_code = terminated.get("exitCode")
            files = TerminationMessage.parse(terminated.get("message"))
            stored_on_exit = tuple(StoredFile.from_agent(f) for f in files if f.uploaded)
    return PodView(
        name=meta.get("name", ""),
        phase=status.get("phase") or "Pending",
        deleting=bool(meta.get("deletionTimestamp")),
        spec_hash=annotations.get(SPEC_HASH_ANNOTATION, ""),
        first_index=int(annotations.get(FIRST_INDEX_ANNOTATION, "0") or 0),
        exit_code=exit_code,
        ip=status.get("podIP"),
        stop_reason=annotations.get(STOP_REASON_ANNOTATION),
        has_finalizer=POD_FINALIZER in (meta.get("finalizers") or ()),
        stored_on_exit=stored_on_exit,
    )


def pod_without_finalizer(pod: Mapping[str, Any]) -> list[str]:
    """The Pod's finalizers without POD_FINALIZER (for a merge patch)."""
    return [f for f in pod.get("metadata", {}).get("finalizers") or () if f != POD_FINALIZER]


# --- desired state -------------------------------------------------------------------------------


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 UTC timestamp as written by the controller (`2026-11-21T12:00:00Z`); None when
    absent or not in that form."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def max_duration_reached(spec: LocalRecordingSpec, started_at: str | None, now: datetime) -> bool:
    """True when `spec.maxDuration` has passed since `started_at` (RFC 3339)."""
    started = parse_time(started_at)
    if not spec.maxDuration or started is None:
        return False
    return now - started >= parse_duration(spec.maxDuration)


#: Phases in which a recording session is under way (`status.startedAt` belongs to it).
SESSION_PHASES = ("Starting", "Recording", "Reconnecting", "Stopping")


def session_expired(spec: LocalRecordingSpec, status: Mapping[str, Any], now: datetime) -> bool:
    """Whether `maxDuration` keeps the recorder from running.

    A session under way (SESSION_PHASES) expires once `maxDuration` passed since `status.startedAt`
    (raising `maxDuration` meanwhile extends it). A recording already `Stopped` with
    `stopReason: MaxDurationReached` stays stopped whatever the spec says, until `active: false`
    turns it into `Stopped`/`Requested`. Any other stopped, failed or pending recording starts a new
    session (with a new `startedAt`) when it runs again, so an old `startedAt` never counts.
    """
    phase = status.get("phase")
    if phase == "Stopped":
        return status.get("stopReason") == "MaxDurationReached"
    if phase not in SESSION_PHASES:
        return False
    return max_duration_reached(spec, status.get("startedAt"), now)


# --- restarts after recorder failures ------------------------------------------------------------


@dataclass(frozen=True)
class Restarts:
    """Consecutive recorder Pod failures and the earliest start of the next Pod.

    Kept in `status.consecutiveFailures` and `status.nextRetryAt` (not in the operator's memory),
    so an operator restart neither grants a crash-looping recorder a fresh budget nor skips its backoff.
    """

    failures: int = 0
    retry_at: datetime | None = None

    def gave_up(self, max_restarts: int) -> bool:
        """More failures in a row than `max_restarts` (`LOCALRECORDING_MAX_RESTARTS`) allows."""
        return self.failures > max_restarts

    def wait_s(self, now: datetime) -> float:
        """Seconds until the next Pod may start (0 when it may start now)."""
        if self.retry_at is None:
            return 0.0
        return max(0.0, (self.retry_at - now).total_seconds())

    def status_fields(self) -> dict[str, Any]:
        """`consecutiveFailures` and `nextRetryAt` for the status (None removes a field)."""
        return {
            "consecutiveFailures": self.failures or None,
            "nextRetryAt": _iso(self.retry_at) if self.retry_at is not None else None,
        }


def restarts_from_status(status: Mapping[str, Any], generation: int | None) -> Restarts:
    """The persisted `Restarts`, or none when the spec changed since the status was written
    (`observedGeneration` ≠ `generation`: a new spec gets a fresh budget). Malformed values count as absent."""
    if status.get("observedGeneration") != generation:
        return Restarts()
    failures = status.get("consecutiveFailures")
    count = failures if isinstance(failures, int) and not isinstance(failures, bool) and failures > 0 else 0
    return Restarts(failures=count, retry_at=parse_time(status.get("nextRetryAt")) if count else None)


def after_failure(restarts: Restarts, *, max_restarts: int, delay_s: float, now: datetime) -> Restarts:
    """One more recorder Pod failed: the count grows; the next Pod may start `delay_s` seconds from
    `now` (rounded up to the second the status can hold), or never once the count exceeds `max_restarts`."""
    failures = restarts.failures + 1
    if failures > max_restarts:
        return Restarts(failures=failures)
    retry_at = now + timedelta(seconds=delay_s)
    if retry_at.microsecond:
        retry_at = retry_at.replace(microsecond=0) + timedelta(seconds=1)
    return Restarts(failures=failures, retry_at=retry_at)


# --- status from the agent -----------------------------------------------------------------------


@dataclass(frozen=True)
class AgentView:
    """Phase and conditions for the status, from the agent's `/status`."""

    phase: str
    input_healthy: tuple[str, str, str]
    ready: tuple[str, str, str]
    recording: tuple[str, str, str]


def agent_view(agent: RecorderStatus) -> AgentView:
    """Map the agent's phase to the LocalRecording's phase and conditions.

    Recording → Ready, Recording and InputHealthy True; Reconnecting → InputHealthy False
    (`InputUnavailable`, the agent's last error); Starting → InputHealthy Unknown; Stopping/Stopped →
    Recording False; Failed → everything False (`RecorderFailed`) with phase Reconnecting: the agent
    is about to exit and only the controller decides that the recording is Failed (after
    LOCALRECORDING_MAX_RESTARTS failures in a row).
    """
    error = agent.lastError or "no progress from FFmpeg"
    if agent.phase == "Recording":
        return AgentView(
            "Recording",
            ("True", "ProgressFlowing", "FFmpeg reports progress"),
            ("True", "Recording", "the recorder is writing files"),
            ("True", "Recording", f"{agent.filesClosed} files closed, {agent.reconnects} reconnects"),
        )
    if agent.phase == "Reconnecting":
        return AgentView(
            "Reconnecting",
            ("False", "InputUnavailable", error),
            ("False", "Reconnecting", f"the recorder restarts FFmpeg ({agent.reconnects} reconnects)"),
            ("False", "Reconnecting", error),
        )
    if agent.phase == "Starting":
        return AgentView(
            "Starting",
            ("Unknown", "Connecting", "waiting for FFmpeg's first progress report"),
            ("False", "Starting", "the recorder is connecting to the input"),
            ("False", "Starting", "no progress yet"),
        )
    if agent.phase == "Failed":
        # The agent exits next; the controller replaces its Pod (or gives up): never Failed from here.
        return AgentView(
            "Reconnecting",
            ("False", "RecorderFailed", error),
            ("False", "RecorderFailed", error),
            ("False", "RecorderFailed", error),
        )
    return AgentView(
        "Stopping",
        ("Unknown", "Stopping", "the recorder is stopping"),
        ("False", "Stopping", "the recorder is storing its last files"),
        ("False", "Stopping", "the recorder is storing its last files"),
    )


def file_index(obj: Mapping[str, Any]) -> int | None:
    """A RecordedFile object's `{index}` (its FILE_INDEX_LABEL), None when it has none."""
    text = str((obj.get("metadata", {}).get("labels") or {}).get(FILE_INDEX_LABEL, ""))
    return int(text) if text.isdigit() else None


def files_summary(files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`status.files` from the recording's RecordedFile objects (ordered by their index label)."""
    ordered = sorted(files, key=lambda f: file_index(f) or 0)
    keys = [(f.get("spec", {}).get("location") or {}).get("key") or "" for f in ordered]
    summary: dict[str, Any] = {
        "count": len(ordered),
        "totalBytes": sum(int(f.get("spec", {}).get("sizeBytes") or 0) for f in ordered),
    }
    if keys:
        summary["latest"] = keys[-1]
        summary["names"] = keys[-MAX_FILE_NAMES:]
    return summary


# --- RecordedFiles -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """One stored file of the recording: from the agent's `/status`, or found in the bucket."""

    index: int
    key: str
    size_bytes: int
    format: str
    duration_ms: int | None = None
    started_at: str | None = None
    closed_at: datetime | None = None

    @classmethod
    def from_agent(cls, file: ClosedFile) -> StoredFile:
        """From one `/status` file entry."""
        closed = None
        if file.uploadedAt:
            closed = datetime.fromisoformat(file.uploadedAt.replace("Z", "+00:00"))
        return cls(
            index=file.index,
            key=file.key,
            size_bytes=file.sizeBytes,
            format=EXTENSIONS.get(file.format, file.format),
            duration_ms=file.durationMs,
            started_at=file.startedAt,
            closed_at=closed,
        )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded_file_manifest(
    body: Mapping[str, Any], spec: LocalRecordingSpec, file: StoredFile, *, now: datetime
) -> dict[str, Any]:
    """The RecordedFile of one stored file: name `<recording>-<index>`, labelled with the recording
    and the index, owned by the LocalRecording, `deletionPolicy` and `expiresAt` from the recording
    (`retention.deleteAfter` after the file was closed).
    """
    meta = body["metadata"]
    storage = spec.storage
    location: dict[str, Any]
    if storage.vendor == "volume" and storage.volume is not None:
        path = f"{storage.volume.subPath.rstrip('/')}/{file.key}" if storage.volume.subPath else file.key
        location = {"volume": {"claimName": storage.volume.claimName, "path": path}}
    else:
        location = {"vendor": storage.vendor, "bucket": storage.bucket, "key": file.key}
        if storage.region:
            location["region"] = storage.region
        if storage.endpoint:
            location["endpoint"] = storage.endpoint
    file_spec: dict[str, Any] = {
        "recordingRef": {"kind": KIND, "name": meta["name"]},
        "location": location,
        "format": file.format,
        "sizeBytes": file.size_bytes,
        "deletionPolicy": spec.deletionPolicy,
    }
    if storage.credentialsSecretRef is not None:
        file_spec["credentialsSecretRef"] = {"name": storage.credentialsSecretRef.name}
    if file.duration_ms is not None:
        file_spec["durationMs"] = file.duration_ms
    if file.started_at:
        file_spec["startedAt"] = file.started_at
    if spec.retention is not None:
        file_spec["expiresAt"] = _iso((file.closed_at or now) + parse_duration(spec.retention.deleteAfter))
    return {
        "apiVersion": API_VERSION,
        "kind": "RecordedFile",
        "metadata": {
            "name": recorded_file_name(meta["name"], file.index),
            "namespace": meta["namespace"],
            "labels": {RECORDING_LABEL: meta["name"], FILE_INDEX_LABEL: f"{file.index:05d}"},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": file_spec,
    }


# --- files found in the bucket -------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(recording|namespace|index|start)(?::([^}]*))?\}")
_STRFTIME_DIGITS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "j": 3}


def _strftime_pattern(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in _STRFTIME_DIGITS:
            out.append(rf"\d{{{_STRFTIME_DIGITS[fmt[i + 1]]}}}")
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def file_name_pattern(template: str, *, recording: str, namespace: str, extension: str) -> re.Pattern[str]:
    """A regex matching the names `render_file_name` gives this recording's files; group `index`."""
    parts, pos, seen_index = [], 0, False
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : match.start()]))
        key, fmt = match.group(1), match.group(2)
        if key == "recording":
            parts.append(re.escape(recording))
        elif key == "namespace":
            parts.append(re.escape(namespace))
        elif key == "index":
            parts.append(r"(?P<index>\d{5,})" if not seen_index else r"\d{5,}")
            seen_index = True
        else:
            parts.append(_strftime_pattern(fmt or "%Y%m%dT%H%M%SZ"))
        pos = match.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts) + re.escape(f".{extension}"))


def stored_files_from_listing(
    spec: LocalRecordingSpec,
    *,
    recording: str,
    namespace: str,
    prefix: str,
    objects: Sequence[tuple[str, int, datetime | None]],
    min_index: int,
) -> list[StoredFile]:
    """The recording's files among bucket objects `(key, size, last modified)` under `prefix`, with
    `{index}` ≥ `min_index` (files of the Pod being collected), by index. Durations are unknown.
    """
    extension = EXTENSIONS[spec.output.format]
    pattern = file_name_pattern(
        spec.output.fileNameTemplate, recording=recording, namespace=namespace, extension=extension
    )
    found: dict[int, StoredFile] = {}
    for key, size, modified in objects:
        if not key.startswith(prefix):
            continue
        match = pattern.fullmatch(key[len(prefix) :])
        if match is None:
            continue
        index = int(match.group("index"))
        if index >= min_index and index not in found:
            found[index] = StoredFile(
                index=index, key=key, size_bytes=size, format=extension, closed_at=modified
            )
    return [found[i] for i in sorted(found)]


def with_reported(listed: Sequence[StoredFile], reported: Mapping[int, StoredFile]) -> list[StoredFile]:
    """Files found in the bucket, completed with what the agent reported about the same file (same
    index and key) before it exited: duration, media start and upload time. A file the agent never
    reported keeps `duration_ms` None (the listing cannot tell it; the RecordedFile omits `durationMs`).
    """
    out = []
    for file in listed:
        known = reported.get(file.index)
        if known is not None and known.key == file.key:
            file = replace(
                file,
                duration_ms=known.duration_ms if known.duration_ms is not None else file.duration_ms,
                started_at=known.started_at or file.started_at,
                closed_at=known.closed_at or file.closed_at,
            )
        out.append(file)
    return out
