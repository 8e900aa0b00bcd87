"""CloudTranscoder decisions: instanceIds, the config body, plans and sequenceIds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from recording_operator.api.v1alpha1.cloudtranscoder import CloudTranscoderSpec
from recording_operator.controllers.cloudtranscoder.decide import (
    Plan,
    budget_route,
    config_digest,
    default_instance_id,
    first_create_route,
    max_lifetime_s,
    next_sequence_id,
    observe,
    plan,
    token_needs,
    transcoder_config,
)

SAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "manifests" / "samples" / "cloudtranscoder.yaml").read_text()
)["spec"]


def spec(**changes: Any) -> CloudTranscoderSpec:
    data = copy.deepcopy(SAMPLE)
    data.update(changes)
    return CloudTranscoderSpec.model_validate(data)


def test_default_instance_id_fits_agoras_alphabet_and_length() -> None:
    assert default_instance_id("media", "studio.mix") == "media-studio_mix"
    long = default_instance_id("n" * 63, "x" * 253)
    assert len(long) == 64 and long != default_instance_id("n" * 63, "x" * 252 + "y")


def test_config_uses_agora_names_and_puts_tokens_in_rtc_token() -> None:
    data = copy.deepcopy(SAMPLE)
    data["outputs"][0]["rtc"]["token"] = {"secretRef": {"name": "t", "key": "k"}}
    s = CloudTranscoderSpec.model_validate(data)
    [need] = token_needs(s)
    assert need.location == ("outputs", 0) and need.uid == 9393 and need.publisher
    config = transcoder_config(s, {("outputs", 0): "007secret"})
    assert config["outputs"][0]["rtc"] == {
        "rtcChannel": "studio-mixed",
        "rtcUid": 9393,
        "rtcToken": "007secret",
    }
    assert config["videoInputs"][1]["region"] == {"x": 640, "y": 0, "width": 640, "height": 720, "zOrder": 2}
    assert "restartPolicy" not in config and "deletionPolicy" not in config and "appId" not in config
    # Token values never change the digest; the spec does.
    assert config_digest(s, {"t": "1"}) == config_digest(s, {"t": "1"})
    assert config_digest(s, {"t": "1"}) != config_digest(s, {"t": "2"})
    assert config_digest(spec(idleTimeout=60), {}) != config_digest(spec(), {})
    assert config_digest(spec(restartPolicy="OnExit"), {}) == config_digest(spec(), {})


def test_plan_and_sequence_ids() -> None:
    running = {
        "phase": "IN_PROGRESS",
        "taskId": "t",
        "builderToken": "b",
        "sequenceId": 0,
        "configDigest": "d0",
    }
    assert plan(observe({}), 1, "d0") is Plan.CREATE
    assert plan(observe(running), 1, "d0") is Plan.NOTHING
    assert plan(observe(running), 2, "d1") is Plan.UPDATE
    assert next_sequence_id(observe(running), "d1") == 1
    in_flight = {**running, "sequenceId": 1, "pendingDigest": "d1"}
    assert plan(observe(in_flight), 2, "d1") is Plan.UPDATE
    assert next_sequence_id(observe(in_flight), "d1") == 1  # same config: re-send the same sequenceId
    assert next_sequence_id(observe(in_flight), "d2") == 2  # newer config: the next one
    creating = {"phase": "Creating", "builderToken": "b", "builderTokenCreateTs": 1}
    assert plan(observe(creating), 1, "d0") is Plan.RESUME_CREATE
    exited = {"phase": "Exited", "taskId": "t", "observedGeneration": 3, "exitReason": "ProviderEnded"}
    assert plan(observe(exited), 3, "d0") is Plan.NOTHING
    assert plan(observe(exited), 4, "d0") is Plan.CREATE
    failed = {
        "conditions": [
            {"type": "Synced", "status": "False", "reason": "InvalidSpec", "observedGeneration": 5}
        ]
    }
    assert plan(observe(failed), 5, "d0") is Plan.NOTHING


def test_minted_tokens_bound_the_task_lifetime() -> None:
    assert max_lifetime_s(spec(), None) is None
    assert max_lifetime_s(spec(), 60.0) == 60.0
    data = copy.deepcopy(SAMPLE)
    data["outputs"][0]["rtc"]["token"] = {"appCertificateSecretRef": {"name": "a", "key": "c"}}
    minted = CloudTranscoderSpec.model_validate(data)
    assert max_lifetime_s(minted, None) == 84600
    assert max_lifetime_s(minted, 90000.0) == 84600


def test_only_a_new_transcoders_first_create_waits_at_its_accounts_gate() -> None:
    body = {
        "metadata": {"namespace": "live", "name": "t"},
        "spec": {"credentialsSecretRef": {"name": "agora-rest"}},
    }
    assert budget_route(body) == ("agora_transcoder", "live/agora-rest")
    assert first_create_route(body) == ("agora_transcoder", "live/agora-rest")
    assert first_create_route({**body, "status": {"phase": "CREATED"}}) is None
