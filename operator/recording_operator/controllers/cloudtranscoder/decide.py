"""Pure decisions for CloudTranscoder: the Agora config, the plan, sequenceIds and the status.

No I/O here: every rule is unit-testable without kopf, Kubernetes or HTTP. Provider rules cite
https://docs.agora.io/en/cloud-transcoding/get-started/rest-quickstart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from recording_operator.api.v1alpha1.cloudtranscoder import CloudTranscoderSpec, RtcEndpoint, TokenSource
from recording_operator.controllers._kit.conditions import terminal_failure_generation
from recording_operator.controllers._kit.status import digest
from recording_operator.providers.agora.tokens import TRANSCODER_MINTED_TASK_MAX_S
from recording_operator.providers.agora.transcoder import ENDED_STATUSES, STARTED_STATUSES

#: Phases in which a task exists (or may exist) at Agora and is deleted on resource deletion.
LIVE_PHASES = frozenset(
    {"Creating", "IDLE", "PREPARED", "STARTING", "CREATED", "STARTED", "IN_PROGRESS", "STOPPING"}
)


def default_instance_id(namespace: str, name: str) -> str:
    """``<namespace>-<name>`` mapped to Agora's instanceId alphabet (https://docs.agora.io/en/cloud-transcoding/rest-api/acquire: ≤64 of ``[A-Za-z0-9_-]``).

    Dots become ``_``; a result longer than 64 characters keeps its first 51 and appends ``-`` and
    12 hex characters of a SHA-256 of ``namespace/name``, so distinct resources never share one.
    """
    raw = re.sub(r"[^A-Za-z0-9_-]", "_", f"{namespace}-{name}")
    if len(raw) <= 64:
        return raw
    suffix = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:12]
    return f"{raw[:51]}-{suffix}"


def instance_id_of(spec: CloudTranscoderSpec, namespace: str, name: str) -> str:
    """``spec.instanceId`` or :func:`default_instance_id`."""
    return spec.instanceId or default_instance_id(namespace, name)


@dataclass(frozen=True)
class TokenNeed:
    """One `rtc` entry that needs a token.

    Attributes:
        location: ``(list name, index)`` of the entry in the spec (``audioInputs``, ``videoInputs``, ``outputs``).
        channel: the RTC channel. uid: the uid to mint for (0 for inputs, https://docs.agora.io/en/cloud-transcoding/rest-api/create; ``rtcUid`` for the output).
        publisher: mint with publish privileges (the output side).
        source: where the token comes from.
    """

    location: tuple[str, int]
    channel: str
    uid: int
    publisher: bool
    source: TokenSource


def token_needs(spec: CloudTranscoderSpec) -> list[TokenNeed]:
    """Every `rtc` entry with a `token`, in spec order (https://docs.agora.io/en/cloud-transcoding/rest-api/create token rules)."""
    needs: list[TokenNeed] = []
    groups: tuple[tuple[str, list[Any] | None, bool], ...] = (
        ("audioInputs", list(spec.audioInputs or []), False),
        ("videoInputs", list(spec.videoInputs or []), False),
        ("outputs", list(spec.outputs), True),
    )
    for key, entries, is_output in groups:
        for i, entry in enumerate(entries or []):
            rtc: RtcEndpoint | None = entry.rtc
            if rtc is None or rtc.token is None:
                continue
            needs.append(
                TokenNeed((key, i), rtc.rtcChannel, rtc.rtcUid if is_output else 0, is_output, rtc.token)
            )
    return needs


def uses_minted_tokens(spec: CloudTranscoderSpec) -> bool:
    """Whether any token is minted from an App Certificate."""
    return any(n.source.appCertificateSecretRef is not None for n in token_needs(spec))


def transcoder_config(spec: CloudTranscoderSpec, tokens: Mapping[tuple[str, int], str]) -> dict[str, Any]:
    """``services.cloudTranscoder.config.transcoder`` (https://docs.agora.io/en/cloud-transcoding/rest-api/create) from the spec and resolved tokens.

    Each `rtc.token` becomes `rtc.rtcToken` with the value in ``tokens[(list, index)]`` (entries
    without a token get none); unset optional fields are left out.
    """
    body: dict[str, Any] = spec.model_dump(
        exclude_none=True,
        include={
            "idleTimeout",
            "streamProcessMode",
            "canvas",
            "audioInputs",
            "videoInputs",
            "waterMarks",
            "outputs",
        },
    )
    for key in ("audioInputs", "videoInputs", "outputs"):
        for i, entry in enumerate(body.get(key) or []):
            rtc = entry.get("rtc")
            if rtc is None:
                continue
            rtc.pop("token", None)
            if (key, i) in tokens:
                rtc["rtcToken"] = tokens[(key, i)]
    return body


def config_digest(spec: CloudTranscoderSpec, secret_versions: Mapping[str, str | None]) -> str:
    """Digest of what the task's config is made of: the spec's config fields and token Secret versions.

    Token values (minted ones differ on every mint) never enter it; a rotated token Secret does,
    through its resourceVersion.
    """
    fields = transcoder_config(spec, {})
    refs = {
        f"{n.location[0]}[{n.location[1]}]": n.source.model_dump(exclude_none=True) for n in token_needs(spec)
    }
    return digest([fields, refs, dict(sorted(secret_versions.items()))])


@dataclass(frozen=True)
class Observed:
    """What status says about the Agora task."""

    phase: str | None
    task_id: str | None
    builder_token: str | None
    builder_token_create_ts: int | None
    sequence_id: int | None
    config_digest: str | None
    pending_digest: str | None
    observed_generation: int | None
    terminal_failure_generation: int | None
    exit_reason: str | None

    @property
    def live(self) -> bool:
        """A task exists (or may exist) at Agora."""
        return bool(self.task_id) and self.phase in LIVE_PHASES

    @property
    def creation_pending(self) -> bool:
        """A create was (or was about to be) sent with the persisted builderToken and no taskId was
        recorded: a task may run; creating again with that token answers with it
        (https://docs.agora.io/en/cloud-transcoding/reference/status-codes, 201)."""
        return bool(self.builder_token) and not self.task_id and self.phase == "Creating"


def observe(status: Mapping[str, Any] | None) -> Observed:
    """Read the task bookkeeping out of `status`."""
    status = status or {}
    terminal_gen = terminal_failure_generation(status)
    return Observed(
        phase=status.get("phase"),
        task_id=status.get("taskId"),
        builder_token=status.get("builderToken"),
        builder_token_create_ts=status.get("builderTokenCreateTs"),
        sequence_id=status.get("sequenceId"),
        config_digest=status.get("configDigest"),
        pending_digest=status.get("pendingDigest"),
        observed_generation=status.get("observedGeneration"),
        terminal_failure_generation=terminal_gen,
        exit_reason=status.get("exitReason"),
    )


class Plan(Enum):
    """The next step a reconcile takes."""

    NOTHING = "nothing"
    CREATE = "create"  # acquire a builderToken, then create
    RESUME_CREATE = "resume-create"  # a create may have reached Agora: repeat it with the same token
    UPDATE = "update"  # the spec changed while the task runs


def plan(obs: Observed, generation: int | None, desired_digest: str) -> Plan:
    """Decide the next step from the observed status and the desired config digest.

    Rules: a terminal failure is not retried until the generation changes; a create whose answer
    was lost is repeated with the same builderToken (Agora answers 201 with the task, https://docs.agora.io/en/cloud-transcoding/reference/status-codes) rather
    than with a new one (409 for the instanceId, https://docs.agora.io/en/cloud-transcoding/rest-api/create); a task that exited is not recreated until
    the spec changes (``restartPolicy: OnExit`` is the timer's business).
    """
    if obs.terminal_failure_generation is not None and obs.terminal_failure_generation == generation:
        return Plan.NOTHING
    if obs.live:
        if obs.pending_digest is not None or obs.config_digest != desired_digest:
            return Plan.UPDATE
        return Plan.NOTHING
    if obs.creation_pending:
        return Plan.RESUME_CREATE
    if obs.phase in ("Exited", "Failed") and obs.observed_generation == generation:
        return Plan.NOTHING
    return Plan.CREATE


def next_sequence_id(obs: Observed, desired_digest: str) -> int:
    """The ``sequenceId`` of the update that brings the task to ``desired_digest`` (https://docs.agora.io/en/cloud-transcoding/rest-api/update).

    An update already in flight for the same config (written before a call whose answer was lost,
    e.g. an operator restart) is re-sent with the **same** sequenceId, so Agora applies it at most
    once; any other update uses the last sequenceId + 1 (a create counts as 0).
    """
    last = obs.sequence_id if obs.sequence_id is not None else 0
    if obs.pending_digest is not None and obs.pending_digest == desired_digest:
        return last
    return last + 1


def phase_of(status: str | None) -> str:
    """Status ``phase`` from Agora's task status (https://docs.agora.io/en/cloud-transcoding/rest-api/query); unknown values read as IDLE."""
    known = LIVE_PHASES | ENDED_STATUSES | {"IDLE"}
    return status if status in known else "IDLE"


def ready_condition(task_status: str | None, task_id: str) -> tuple[str, str, str]:
    """``(status, reason, message)`` of Ready for a task status (https://docs.agora.io/en/cloud-transcoding/rest-api/query: STARTED/IN_PROGRESS = running)."""
    if task_status in STARTED_STATUSES:
        return "True", "Running", f"task {task_id} is {task_status}"
    if task_status in ENDED_STATUSES:
        return "False", "TaskEnded", f"task {task_id} is {task_status}"
    return "False", "Starting", f"task {task_id} is {task_status or 'starting'}"


def max_lifetime_s(spec: CloudTranscoderSpec, max_duration_s: float | None) -> float | None:
    """Seconds after which the operator ends the task: `maxDuration`, capped at 23 h 30 min when
    tokens are minted (they live 24 h, providers/agora/tokens.py); ``None`` = no limit."""
    limits = [x for x in (max_duration_s,) if x is not None]
    if uses_minted_tokens(spec):
        limits.append(float(TRANSCODER_MINTED_TASK_MAX_S))
    return min(limits) if limits else None


#: Budget scope of transcoder calls (10 requests/s per account,
#: https://docs.agora.io/en/cloud-transcoding/overview/quota-limits).
SCOPE = "agora_transcoder"


def budget_route(body: Mapping[str, Any]) -> tuple[str, str]:
    """The request budget (scope, key) of a transcoder's calls: Cloud Transcoder's budget is per
    account (10 requests/s, https://docs.agora.io/en/cloud-transcoding/overview/quota-limits), and
    the Secret holding its credentials (`namespace/name`) stands for the account here — the query
    planner's and the admission gate's key; the client's own budget keys by the account itself, so
    two Secrets of one account share its rate but count apart here."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    secret = (spec.get("credentialsSecretRef") or {}).get("name", "")
    return SCOPE, f"{meta.get('namespace', '')}/{secret}"


def first_create_route(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """`budget_route` of a transcoder the operator has not written a status for, whose first
    create is ahead (for `Budget.admission`); None otherwise."""
    return None if body.get("status") else budget_route(body)
