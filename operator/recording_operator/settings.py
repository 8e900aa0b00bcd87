"""Operator settings, read once from the environment.

| variable | default | meaning |
|---|---|---|
| `REALTIMEKIT_BASE_URL` | `https://api.cloudflare.com/client/v4` | Cloudflare API base for RealtimeKit recordings |
| `AGORA_BASE_URL` | `https://api.agora.io,https://api.sd-rtn.com` | Agora REST base URLs, in failover order (comma-separated) |
| `AGORA_TIMEOUT` | `10` | seconds per Agora request (stop waits up to 3× this for uploads) |
| `AGORA_START_TIMEOUT` | `30` | seconds the one attempt of Agora `start`, Cloud Transcoder `create` and RealtimeKit start waits; never repeated once it may have reached the provider |
| `AGORA_RETRY_SCALE` | `1` | multiplier on Agora's documented in-call retry delays (tests use a small one) |
| `AGORA_RECORDING_QPS` | `10` | Cloud Recording requests per second per App ID the operator allows itself (Agora's limit, https://docs.agora.io/en/cloud-recording/rest-api/overview); `0` = unpaced |
| `AGORA_TRANSCODER_QPS` | `10` | Cloud Transcoder requests per second per account (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits); `0` = unpaced |
| `REALTIMEKIT_REQUESTS_PER_10S` | `250` | RealtimeKit requests per 10 s per app, all APIs (https://developers.cloudflare.com/realtime/realtimekit/rate-limits/); `0` = unpaced |
| `REALTIMEKIT_RECORDINGS_PER_60S` | `1000` | RealtimeKit Recordings API requests per 60 s per app (same page); `0` = unpaced |
| `PROVIDER_BUDGET_HEADROOM` | `1.0` | fraction of each limit above the operator uses, in (0, 1]: a call holds its slot from its send until a window after its answer, so the provider's count stays within the limit whatever the network's jitter; lower it when other clients share the credential |
| `CLOUDRECORDING_QUERY_INTERVAL` | `60` | seconds between `query` calls per active session |
| `CLOUDRECORDING_TICK` | `10` | seconds between timer ticks (query when due, `maxDuration` checks) |
| `RECORDING_NOT_FOUND_CONFIRM` | `5` | first delay (s) of the 404 confirmation backoff: re-queried after 1×, 2×, 3× … this until `RECORDING_NOT_FOUND_WINDOW` (Agora HA migration, https://docs.agora.io/en/cloud-recording/rest-api/status-codes) |
| `RECORDING_NOT_FOUND_WINDOW` | `90` | seconds Agora may answer 404 for a live session during its HA migration (https://docs.agora.io/en/cloud-recording/rest-api/status-codes): a 404 is confirmed with backoff (5, 10, 15 s …) until this long before the session counts as ended |
| `AGORA_START_CHECK` | `90` | seconds after `start` within which an Agora session must reach `serverResponse.status` 4 or 5; past it the session is stopped with reason `StartTimedOut` (https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices) |
| `OPERATOR_STATE_DIR` | unset | a directory that outlives the operator process (the Pod's `emptyDir`, kept across container restarts): start answers not yet written to status are journalled there (`start-answers.jsonl`), so a restart during an API outage still finds the session's id, and starts given up on (`orphaned-starts.jsonl`), so their sessions are still stopped (`CALLBACKS_STOP_UNKNOWN_SESSIONS`); unset = kept in memory only |
| `RECORDING_ADOPT_WAIT` | `120` | seconds a deleted CloudRecording whose start result is unknown waits for its session to be adopted (its sid from a callback) before the finalizer lets go with a Warning |
| `RECORDING_BACKUP_WAIT` | `300` | seconds a deleted CloudRecording (`deletionPolicy: Delete`) whose files Agora backed up (`uploadingStatus: backuped`) waits for their late upload before letting go with a Warning |
| `RECORDING_BACKOFF_BASE` / `RECORDING_BACKOFF_MAX` | `5` / `300` | retry delays (s) of retryable failures, doubled per attempt, ±20 % jitter |
| `RECORDING_SECRET_CACHE_TTL` | `10` | seconds a Secret read is reused (many resources share one Secret) |
| `CLOUDTRANSCODER_QUERY_INTERVAL` | `120` | seconds between `query` calls per transcoder task (Agora: about every 2 min, https://docs.agora.io/en/cloud-transcoding/overview/quota-limits) |
| `CLOUDTRANSCODER_TICK` | `10` | seconds between transcoder timer ticks (query when due, `maxDuration`, restarts) |
| `METRICS_PORT` | `8080` | port of the Prometheus endpoint `/metrics` on all addresses; `0` turns it off |
| `STORAGE_S3_ENDPOINT` | (AWS) | endpoint for `vendor: s3` objects whose location names none (VPC/FIPS endpoint; the sandbox's S3) |
| `RECORDEDFILE_AUDIT_INTERVAL` | `3600` | seconds between checks that stored files still exist (phase Missing); `0` turns them off |
| `RETENTION_DELETE_RATE` | `20` | expired RecordedFiles deleted per second at most (a mass expiry is paced, not a burst); `0` = unpaced |
| `RECORDING_CLOCK_OFFSET_S` | `0` | seconds added to the wall clock by the retention schedule (tests inject a future "now") |
| `RECORDER_IMAGE` | `ghcr.io/mediaops/recording-recorder:latest` | image of LocalRecording recorder Pods (`spec.pod.image` wins) |
| `RECORDER_POD_DEFAULTS` | `{}` | JSON object of recorder Pod defaults for every LocalRecording: `imagePullSecrets`, `nodeSelector`, `tolerations`, `affinity`, `resources`, `annotations`, `labels`, `priorityClassName`, `runtimeClassName` (the chart's `recorder.podDefaults`); a LocalRecording's own `spec.pod` fields win |
| `LOCALRECORDING_POLL_INTERVAL` | `5` | seconds between polls of each recorder agent's `/status` |
| `LOCALRECORDING_MAX_RESTARTS` | `5` | consecutive recorder Pod failures before a LocalRecording is `Failed` |
| `CALLBACKS_PORT` | `0` | port of the provider callback receiver (`/callbacks/...`); `0` turns it off |
| `CALLBACKS_AGORA_SECRETS_DIR` | (none) | directory with one file per App ID (file name) holding its NCS secret (a mounted Secret; a file `default` is tried for every App ID) |
| `CALLBACKS_REALTIMEKIT_PUBLIC_KEY_FILE` | (none) | PEM file of the RealtimeKit webhook public key |
| `CALLBACKS_TLS_CERT_FILE` / `CALLBACKS_TLS_KEY_FILE` | (none) | serve the receiver over HTTPS with this certificate (else plain HTTP behind the ingress) |
| `CALLBACKS_MAX_BODY_BYTES` | `65536` | larger callback bodies are refused (413) |
| `CALLBACKS_REPLAY_WINDOW` | `300` | seconds an Agora `notifyMs` may differ from now before the notice counts as a replay |
| `CALLBACKS_RATE` / `CALLBACKS_BURST` | `100` / `200` | callbacks per second per source address, and the burst allowed (429 beyond); `0` = unlimited |
| `CALLBACKS_PUBLIC_URL` | (none) | the receiver's base URL as the providers reach it (Ingress/HTTPRoute); needed for webhook registration |
| `REALTIMEKIT_WEBHOOK_ACCOUNT_ID` / `REALTIMEKIT_WEBHOOK_APP_ID` / `REALTIMEKIT_WEBHOOK_TOKEN_FILE` | (none) | when all set with `CALLBACKS_PUBLIC_URL`: the RealtimeKit app whose webhook the operator creates and keeps, and a file holding the API token |
| `CALLBACKS_UNMATCHED_GRACE` | `60` | seconds after the operator starts in which a CloudRecording notice that names no known recording answers 503 (the provider resends it, the receiver applies it again) instead of being counted `unmatched`: the watch may not have listed every recording yet |
| `CALLBACKS_QUERY_STRETCH` | `5` | while callbacks arrive for a CloudRecording, its query interval is multiplied by this |
| `CALLBACKS_STOP_UNKNOWN_SESSIONS` | `true` | an Agora notice naming a session no CloudRecording owns also stops it when the operator knows its resourceId: a start this operator sent and gave up on when its recording was deleted (journalled under `OPERATOR_STATE_DIR`, `orphaned-starts.jsonl`); Agora's notices carry no resourceId and `stop` needs one, so other unknown sessions are only reported; `false` only reports |
| `LOG_FORMAT` | `text` | `text` (one line per record) or `json` (one JSON object per line); both name the object a line is about (`controllers/_kit/logging.py`) |
| `LOG_LEVEL` | `INFO` | DEBUG, INFO, WARNING or ERROR; routine handler/timer successes are DEBUG, expected waits INFO, retried failures WARNING |
| `HOSTNAME` | (set by Kubernetes) | `reportingInstance` of the operator's Events |

Tenant policy (README "Security model"): what a recording's author can make the operator do.

| variable | default | meaning |
|---|---|---|
| `RECORDING_SECRET_NAMESPACES` | (none) | namespaces (comma-separated; `*` = all) whose every Secret recordings may use; elsewhere only Secrets labelled `recording.mediaops.io/use: "true"` |
| `RECORDING_ALLOW_PRIVATE_DESTINATIONS` | `false` | `true` lets `input.url`, `overlay.imageUrl` and storage endpoints name private, loopback, link-local and cluster-internal hosts (`api/destinations.py`) |
| `STORAGE_ALLOWED_ENDPOINTS` | (none) | storage endpoints (comma-separated URLs) recordings may name, private or not; when set, no other `storage.endpoint` is accepted. `STORAGE_S3_ENDPOINT` is always allowed |
| `RECORDER_ALLOWED_IMAGES` | (none) | images `spec.pod.image` may name besides `RECORDER_IMAGE` (comma-separated; an entry ending in `/` or `:` allows every image under it) |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recording_operator.providers.budget import Limit

#: The recorder Pod fields `RECORDER_POD_DEFAULTS` may set, with the JSON type each must have.
RECORDER_POD_DEFAULT_FIELDS: Mapping[str, type] = {
    "imagePullSecrets": list,
    "nodeSelector": dict,
    "tolerations": list,
    "affinity": dict,
    "resources": dict,
    "annotations": dict,
    "labels": dict,
    "priorityClassName": str,
    "runtimeClassName": str,
}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc
    if value < 0:
        raise ValueError(f"{name}={raw!r} must not be negative")
    return value


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit() or int(raw) > 65535:
        raise ValueError(f"{name}={raw!r} is not a port number (0-65535)")
    return int(raw)


def _urls(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    urls = tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())
    return urls or default


def _bool(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ValueError(f"{name}={raw!r} is not true or false")


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _text(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def recorder_pod_defaults(raw: str | None) -> dict[str, Any]:
    """Parse `RECORDER_POD_DEFAULTS`: a JSON object whose keys are RECORDER_POD_DEFAULT_FIELDS.

    Returns `{}` for an unset or blank value.

    Raises:
        ValueError: not JSON, not an object, an unknown key, or a value of the wrong JSON type
            (the operator refuses to start rather than create Pods other than the ones configured).
    """
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"RECORDER_POD_DEFAULTS is not JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(value, dict):
        raise ValueError("RECORDER_POD_DEFAULTS must be a JSON object")
    for key, item in value.items():
        expected = RECORDER_POD_DEFAULT_FIELDS.get(key)
        if expected is None:
            known = ", ".join(RECORDER_POD_DEFAULT_FIELDS)
            raise ValueError(f"RECORDER_POD_DEFAULTS has an unknown field {key!r} (known: {known})")
        if not isinstance(item, expected):
            raise ValueError(f"RECORDER_POD_DEFAULTS.{key} must be a JSON {expected.__name__}")
    return value


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings; see the module docstring for the environment variables."""

    agora_base_urls: tuple[str, ...] = ("https://api.agora.io", "https://api.sd-rtn.com")
    realtimekit_base_url: str = "https://api.cloudflare.com/client/v4"
    agora_timeout_s: float = 10.0
    agora_start_timeout_s: float = 30.0
    agora_retry_scale: float = 1.0
    agora_recording_qps: float = 10.0
    agora_transcoder_qps: float = 10.0
    realtimekit_requests_per_10s: float = 250.0
    realtimekit_recordings_per_60s: float = 1000.0
    provider_budget_headroom: float = 1.0
    query_interval_s: float = 60.0
    tick_s: float = 10.0
    not_found_confirm_s: float = 5.0
    not_found_window_s: float = 90.0
    start_check_s: float = 90.0
    adopt_wait_s: float = 120.0
    state_dir: str | None = None
    backup_wait_s: float = 300.0
    backoff_base_s: float = 5.0
    backoff_max_s: float = 300.0
    secret_cache_ttl_s: float = 10.0
    transcoder_query_interval_s: float = 120.0
    transcoder_tick_s: float = 10.0
    metrics_port: int = 8080
    storage_s3_endpoint: str | None = None
    audit_interval_s: float = 3600.0
    clock_offset_s: float = 0.0
    retention_delete_rate: float = 20.0
    recorder_image: str = "ghcr.io/mediaops/recording-recorder:latest"
    recorder_pod_defaults: Mapping[str, Any] = field(default_factory=dict)
    localrecording_poll_interval_s: float = 5.0
    localrecording_max_restarts: int = 5
    callbacks_port: int = 0
    callbacks_agora_secrets_dir: str | None = None
    callbacks_realtimekit_public_key_file: str | None = None
    callbacks_tls_cert_file: str | None = None
    callbacks_tls_key_file: str | None = None
    callbacks_max_body_bytes: int = 65536
    callbacks_replay_window_s: float = 300.0
    callbacks_rate: float = 100.0
    callbacks_burst: float = 200.0
    callbacks_query_stretch: float = 5.0
    callbacks_unmatched_grace_s: float = 60.0
    callbacks_stop_unknown_sessions: bool = True
    callbacks_public_url: str | None = None
    realtimekit_webhook_account_id: str | None = None
    realtimekit_webhook_app_id: str | None = None
    realtimekit_webhook_token_file: str | None = None
    # --- tenant policy ---
    secret_namespaces: tuple[str, ...] = ()
    recorder_allowed_images: tuple[str, ...] = ()
    allow_private_destinations: bool = False
    storage_allowed_endpoints: tuple[str, ...] = ()

    def budget_limits(self) -> dict[str, list[Limit]]:
        """The provider request limits per budget scope (`providers.budget`); a `0` setting leaves
        its scope out (unpaced)."""
        h = self.provider_budget_headroom
        limits = {
            "agora_recording": [(self.agora_recording_qps, 1.0)],
            "agora_transcoder": [(self.agora_transcoder_qps, 1.0)],
            "realtimekit": [(self.realtimekit_requests_per_10s, 10.0)],
            "realtimekit_recordings": [(self.realtimekit_recordings_per_60s, 60.0)],
        }
        return {
            scope: [Limit(n, w, h) for n, w in pairs if n > 0]
            for scope, pairs in limits.items()
            if any(n > 0 for n, _ in pairs)
        }

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment.

        Raises:
            ValueError: a numeric variable is not a non-negative number, or a port is out of range.
        """
        return cls(
            agora_base_urls=_urls("AGORA_BASE_URL", cls.agora_base_urls),
            realtimekit_base_url=_urls("REALTIMEKIT_BASE_URL", (cls.realtimekit_base_url,))[0],
            agora_timeout_s=_float("AGORA_TIMEOUT", cls.agora_timeout_s),
            agora_start_timeout_s=_float("AGORA_START_TIMEOUT", cls.agora_start_timeout_s),
            agora_retry_scale=_float("AGORA_RETRY_SCALE", cls.agora_retry_scale),
            agora_recording_qps=_float("AGORA_RECORDING_QPS", cls.agora_recording_qps),
            agora_transcoder_qps=_float("AGORA_TRANSCODER_QPS", cls.agora_transcoder_qps),
            realtimekit_requests_per_10s=_float(
                "REALTIMEKIT_REQUESTS_PER_10S", cls.realtimekit_requests_per_10s
            ),
            realtimekit_recordings_per_60s=_float(
                "REALTIMEKIT_RECORDINGS_PER_60S", cls.realtimekit_recordings_per_60s
            ),
            provider_budget_headroom=min(
                1.0, _float("PROVIDER_BUDGET_HEADROOM", cls.provider_budget_headroom) or 1.0
            ),
            query_interval_s=_float("CLOUDRECORDING_QUERY_INTERVAL", cls.query_interval_s),
            tick_s=max(0.2, _float("CLOUDRECORDING_TICK", cls.tick_s)),
            not_found_confirm_s=_float("RECORDING_NOT_FOUND_CONFIRM", cls.not_found_confirm_s),
            not_found_window_s=_float("RECORDING_NOT_FOUND_WINDOW", cls.not_found_window_s),
            start_check_s=_float("AGORA_START_CHECK", cls.start_check_s),
            adopt_wait_s=_float("RECORDING_ADOPT_WAIT", cls.adopt_wait_s),
            state_dir=os.environ.get("OPERATOR_STATE_DIR") or None,
            backup_wait_s=_float("RECORDING_BACKUP_WAIT", cls.backup_wait_s),
            backoff_base_s=_float("RECORDING_BACKOFF_BASE", cls.backoff_base_s),
            backoff_max_s=_float("RECORDING_BACKOFF_MAX", cls.backoff_max_s),
            secret_cache_ttl_s=_float("RECORDING_SECRET_CACHE_TTL", cls.secret_cache_ttl_s),
            transcoder_query_interval_s=_float(
                "CLOUDTRANSCODER_QUERY_INTERVAL", cls.transcoder_query_interval_s
            ),
            transcoder_tick_s=max(0.2, _float("CLOUDTRANSCODER_TICK", cls.transcoder_tick_s)),
            metrics_port=_port("METRICS_PORT", cls.metrics_port),
            storage_s3_endpoint=(os.environ.get("STORAGE_S3_ENDPOINT") or "").strip().rstrip("/") or None,
            audit_interval_s=_float("RECORDEDFILE_AUDIT_INTERVAL", cls.audit_interval_s),
            clock_offset_s=_float("RECORDING_CLOCK_OFFSET_S", cls.clock_offset_s),
            retention_delete_rate=_float("RETENTION_DELETE_RATE", cls.retention_delete_rate),
            recorder_image=os.environ.get("RECORDER_IMAGE", "").strip() or cls.recorder_image,
            recorder_pod_defaults=recorder_pod_defaults(os.environ.get("RECORDER_POD_DEFAULTS")),
            localrecording_poll_interval_s=max(
                0.2, _float("LOCALRECORDING_POLL_INTERVAL", cls.localrecording_poll_interval_s)
            ),
            localrecording_max_restarts=int(
                _float("LOCALRECORDING_MAX_RESTARTS", cls.localrecording_max_restarts)
            ),
            callbacks_port=_port("CALLBACKS_PORT", cls.callbacks_port),
            callbacks_agora_secrets_dir=_text("CALLBACKS_AGORA_SECRETS_DIR"),
            callbacks_realtimekit_public_key_file=_text("CALLBACKS_REALTIMEKIT_PUBLIC_KEY_FILE"),
            callbacks_tls_cert_file=_text("CALLBACKS_TLS_CERT_FILE"),
            callbacks_tls_key_file=_text("CALLBACKS_TLS_KEY_FILE"),
            callbacks_max_body_bytes=int(_float("CALLBACKS_MAX_BODY_BYTES", cls.callbacks_max_body_bytes)),
            callbacks_replay_window_s=_float("CALLBACKS_REPLAY_WINDOW", cls.callbacks_replay_window_s),
            callbacks_rate=_float("CALLBACKS_RATE", cls.callbacks_rate),
            callbacks_burst=_float("CALLBACKS_BURST", cls.callbacks_burst),
            callbacks_query_stretch=max(1.0, _float("CALLBACKS_QUERY_STRETCH", cls.callbacks_query_stretch)),
            callbacks_unmatched_grace_s=_float("CALLBACKS_UNMATCHED_GRACE", cls.callbacks_unmatched_grace_s),
            callbacks_stop_unknown_sessions=os.environ.get("CALLBACKS_STOP_UNKNOWN_SESSIONS", "true")
            .strip()
            .lower()
            in ("1", "true", "yes"),
            callbacks_public_url=(_text("CALLBACKS_PUBLIC_URL") or "").rstrip("/") or None,
            realtimekit_webhook_account_id=_text("REALTIMEKIT_WEBHOOK_ACCOUNT_ID"),
            realtimekit_webhook_app_id=_text("REALTIMEKIT_WEBHOOK_APP_ID"),
            realtimekit_webhook_token_file=_text("REALTIMEKIT_WEBHOOK_TOKEN_FILE"),
            secret_namespaces=_list("RECORDING_SECRET_NAMESPACES"),
            recorder_allowed_images=_list("RECORDER_ALLOWED_IMAGES"),
            allow_private_destinations=_bool("RECORDING_ALLOW_PRIVATE_DESTINATIONS"),
            storage_allowed_endpoints=_list("STORAGE_ALLOWED_ENDPOINTS"),
        )
