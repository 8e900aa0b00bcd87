"""The tenant policy's decisions: which Secrets recordings may use, which recorder images may run."""

from __future__ import annotations

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers._kit.policy import (
    check_provider_storage,
    image_problem,
    secret_use_problem,
)
from recording_operator.settings import Settings

DEFAULT = "ghcr.io/mediaops/recording-recorder:1.0"


def secret(labels: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "metadata": {"name": "prod-db", "namespace": "team-a", "labels": labels or {}},
        "data": {"p": "aHVudGVy"},
    }


def test_a_secret_needs_the_label_or_an_opted_in_namespace() -> None:
    problem = secret_use_problem(secret(), "team-a", ())
    assert problem is not None
    assert "team-a/prod-db" in problem and "recording.mediaops.io/use=true" in problem
    assert "aHVudGVy" not in problem
    assert secret_use_problem(secret({"recording.mediaops.io/use": "false"}), "team-a", ()) is not None
    assert secret_use_problem(secret({"recording.mediaops.io/use": "true"}), "team-a", ()) is None
    assert secret_use_problem(secret(), "team-a", ("team-a",)) is None
    assert secret_use_problem(secret(), "team-a", ("team-b",)) is not None
    assert secret_use_problem(secret(), "team-a", ("*",)) is None


def test_only_the_shipped_image_or_listed_ones_may_record() -> None:
    assert image_problem(DEFAULT, default_image=DEFAULT, allowed=()) is None
    assert image_problem("attacker/recorder:1", default_image=DEFAULT, allowed=()) is not None
    allowed = ("registry.corp/media/", "ghcr.io/mediaops/recording-recorder:", "quay.io/x/y:2")
    assert image_problem("registry.corp/media/recorder:3", default_image=DEFAULT, allowed=allowed) is None
    assert (
        image_problem("ghcr.io/mediaops/recording-recorder:2.0", default_image=DEFAULT, allowed=allowed)
        is None
    )
    assert image_problem("quay.io/x/y:2", default_image=DEFAULT, allowed=allowed) is None
    assert image_problem("quay.io/x/y:3", default_image=DEFAULT, allowed=allowed) is not None
    assert image_problem("registry.corp/mediaevil/r:1", default_image=DEFAULT, allowed=allowed) is not None


def test_policy_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECORDING_SECRET_NAMESPACES", raising=False)
    assert Settings.from_env().secret_namespaces == ()
    monkeypatch.setenv("RECORDING_SECRET_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("RECORDER_ALLOWED_IMAGES", "registry.corp/media/")
    settings = Settings.from_env()
    assert settings.secret_namespaces == ("team-a", "team-b")
    assert settings.recorder_allowed_images == ("registry.corp/media/",)


def test_a_provider_storage_endpoint_passes_the_policy_before_credentials_go_out() -> None:
    """RealtimeKit sftp / Agora s3-compatible: the operator sends the storage Secret to the endpoint."""
    sftp = StorageSpec(vendor="sftp", endpoint="sftp://10.0.0.5:22", credentialsSecretRef={"name": "sftp"})
    with pytest.raises(SpecError) as refused:
        check_provider_storage(sftp, Settings())
    assert refused.value.reason == "PolicyViolation" and "10.0.0.5" in str(refused.value)
    check_provider_storage(sftp, Settings(allow_private_destinations=True))
    listed = Settings(storage_allowed_endpoints=("sftp://files.corp.example:22",))
    with pytest.raises(SpecError):
        check_provider_storage(StorageSpec(vendor="sftp", endpoint="sftp://attacker.example:22"), listed)
    check_provider_storage(StorageSpec(vendor="sftp", endpoint="sftp://files.corp.example:22"), listed)
