"""Recorder Pods as observed (PodView, termination message) and the agent's status mapped to conditions."""

from __future__ import annotations

import json
from typing import Any

from recording_operator.api.agent import TERMINATION_MESSAGE_MAX_BYTES, RecorderStatus, TerminationMessage
from recording_operator.controllers.localrecording.observe import (
    INPUT_ERROR,
    agent_view,
    public_error,
    view_pod,
)
from tests.unit.controllers.localrecording.recordings import body, closed_entry, manifests


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
    assert lost.phase == "Reconnecting" and lost.input_healthy == ("False", "InputUnavailable", INPUT_ERROR)
    assert agent_view(status("Starting")).input_healthy[0] == "Unknown"
    # The agent's own Failed means "about to exit": the controller replaces the Pod or gives up.
    dying = agent_view(status("Failed", lastError="cannot start: overlay image: HTTP 404 Not Found"))
    assert dying.phase == "Reconnecting" and dying.ready == ("False", "RecorderFailed", INPUT_ERROR)


def test_ffmpeg_errors_are_no_oracle_in_the_status() -> None:
    """Connection refused / timed out / 401 from a probed host would tell which hosts and ports
    answer: the status gets one generic text; storage and policy errors stay as they are."""
    for text in ("Connection refused", "Connection timed out", "HTTP error 401 Unauthorized",
                 "cannot start: overlay image: HTTP 403 Forbidden"):  # fmt: skip
        assert public_error(text) == INPUT_ERROR
    kept = "upload of rec-00001.mp4 failed: NoSuchBucket"
    assert public_error(kept) == kept
    refused = "cannot start: input.url: 169.254.169.254 is a link-local address (private destinations are not allowed)"
    assert public_error(refused) == refused
    assert public_error(None) is None


def test_the_termination_message_carries_the_newest_stored_files_within_kubelets_limit() -> None:
    agent = RecorderStatus.model_validate(
        {
            "recording": {"namespace": "team-a", "name": "standup"},
            "startedAt": "2026-11-21T12:00:00Z",
            "files": [closed_entry(i) for i in range(40)] + [closed_entry(40, uploaded=False)],
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
    message = json.dumps({"files": [closed_entry(7)]})
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
