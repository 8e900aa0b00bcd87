"""What the controller observes: a recorder Pod read as a `PodView` (phase, exit code, agent URL, the
annotations the controller wrote, the files of its termination message), and the agent's `/status`
mapped to the LocalRecording's phase and conditions (`AgentView`).

Pure functions (no I/O); the handlers fetch the Pod and the agent's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recording_operator.api.agent import HTTP_PORT, RecorderStatus, TerminationMessage
from recording_operator.controllers._kit.recovery import RESTART_REQUESTED_AT
from recording_operator.controllers.localrecording.files import StoredFile
from recording_operator.controllers.localrecording.manifests import (
    CONTAINER,
    FIRST_INDEX_ANNOTATION,
    POD_FINALIZER,
    SPEC_HASH_ANNOTATION,
    STOP_REASON_ANNOTATION,
    STORE_ONLY_ANNOTATION,
)


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
    #: The recording's RESTART_REQUESTED_AT value when this Pod was created (None: none was set).
    restart_requested_at: str | None = None
    #: The agent's last error from its termination message (why it failed, when it says).
    exit_error: str | None = None
    #: The scheduler's message while the Pod cannot be scheduled (`PodScheduled=False`), else None.
    unschedulable: str | None = None
    #: Names of the PersistentVolumeClaims the Pod mounts.
    claims: tuple[str, ...] = ()
    #: A store-only Pod (`RecorderConfig.storeOnly`): stores what the work volume holds, records nothing.
    store_only: bool = False

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
    exit_error = None
    for container in status.get("containerStatuses") or ():
        terminated = (container.get("state") or {}).get("terminated")
        if container.get("name") == CONTAINER and terminated:
            exit_code = terminated.get("exitCode")
            files = TerminationMessage.parse(terminated.get("message"))
            stored_on_exit = tuple(StoredFile.from_agent(f) for f in files if f.uploaded)
            exit_error = TerminationMessage.parse_error(terminated.get("message"))
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
        restart_requested_at=annotations.get(RESTART_REQUESTED_AT),
        exit_error=exit_error,
        unschedulable=next(
            (
                str(c.get("message") or c.get("reason") or "unschedulable")
                for c in status.get("conditions") or ()
                if c.get("type") == "PodScheduled" and c.get("status") == "False"
            ),
            None,
        ),
        store_only=annotations.get(STORE_ONLY_ANNOTATION) == "true",
        claims=tuple(
            str(v["persistentVolumeClaim"].get("claimName", ""))
            for v in (pod.get("spec") or {}).get("volumes") or ()
            if isinstance(v.get("persistentVolumeClaim"), Mapping)
        ),
    )


def pod_without_finalizer(pod: Mapping[str, Any]) -> list[str]:
    """The Pod's finalizers without POD_FINALIZER (for a merge patch)."""
    return [f for f in pod.get("metadata", {}).get("finalizers") or () if f != POD_FINALIZER]


@dataclass(frozen=True)
class AgentView:
    """Phase and conditions for the status, from the agent's `/status`."""

    phase: str
    input_healthy: tuple[str, str, str]
    ready: tuple[str, str, str]
    recording: tuple[str, str, str]


#: What the status says instead of FFmpeg's or the overlay download's own error text.
INPUT_ERROR = "the recorder cannot read the input (its error is in the recorder Pod's log)"
#: Prefixes of agent errors the status shows as they are: storage (the recording's own bucket, behind
#: the destination policy; `decide.upload_failure` reads them) and the destination policy's refusals.
_PUBLIC_ERRORS = ("upload of", "storage.endpoint:", "input.url:", "overlay.imageUrl:")


def public_error(text: str | None) -> str | None:
    """The agent's `lastError` as the status may show it: FFmpeg's and the overlay download's own
    words would make the status an oracle for probing hosts and ports (which addresses answer, which
    refuse, which time out), so they become INPUT_ERROR and stay in the recorder Pod's log; storage
    errors and destination-policy refusals are kept."""
    if text is None:
        return None
    body = text.removeprefix("cannot start: ")
    return text if body.startswith(_PUBLIC_ERRORS) else INPUT_ERROR


def agent_view(agent: RecorderStatus) -> AgentView:
    """Map the agent's phase to the LocalRecording's phase and conditions.

    Recording → Ready, Recording and InputHealthy True; Reconnecting → InputHealthy False
    (`InputUnavailable`, the agent's last error as `public_error` shows it); Starting → InputHealthy Unknown; Stopping/Stopped →
    Recording False; Failed → everything False (`RecorderFailed`) with phase Reconnecting: the agent
    is about to exit and only the controller decides that the recording is Failed (after
    LOCALRECORDING_MAX_RESTARTS failures in a row).
    """
    error = public_error(agent.lastError) or "no progress from FFmpeg"
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
