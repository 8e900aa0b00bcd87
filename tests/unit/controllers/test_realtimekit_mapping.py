"""spec.storage → RealtimeKit storage_config (https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/), without kopf or HTTP."""

from __future__ import annotations

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.controllers.cloudrecording.realtimekit import session_error, storage_params
from recording_operator.providers.realtimekit import RealtimeKitError


def test_bucket_only() -> None:
    assert storage_params(StorageSpec(vendor="realtimekit-bucket"), None) == {
        "realtimekit_bucket_config": {"enabled": True}
    }


def test_s3_maps_keys_region_and_path_and_turns_the_bucket_copy_off() -> None:
    storage = StorageSpec(vendor="s3", bucket="rec", region="ap-south-1", prefix=["team", "standup"])
    assert storage_params(storage, {"accessKey": "AK", "secretKey": "SK"}) == {
        "storage_config": {
            "bucket": "rec",
            "path": "team/standup",
            "type": "aws",
            "access_key": "AK",
            "secret": "SK",
            "region": "ap-south-1",
        },
        "realtimekit_bucket_config": {"enabled": False},
    }


def test_azure_gcs_and_sftp() -> None:
    azure = storage_params(StorageSpec(vendor="azure", bucket="container"), {"connectionString": "cs"})
    assert azure["storage_config"] | {} == {
        "bucket": "container",
        "type": "azure",
        "access_key": "cs",
        "secret": "",
        "region": "",
    }
    gcs = storage_params(StorageSpec(vendor="gcs", bucket="b"), {"serviceAccountJson": "{}"})
    assert gcs["storage_config"]["secret"] == "{}" and "access_key" not in gcs["storage_config"]
    key = storage_params(
        StorageSpec(vendor="sftp", endpoint="sftp://files.example:2222"),
        {"username": "u", "privateKey": "PEM"},
    )
    assert key["storage_config"] == {
        "type": "sftp",
        "host": "files.example",
        "port": 2222,
        "username": "u",
        "auth_method": "KEY",
        "private_key": "PEM",
    }
    password = storage_params(
        StorageSpec(vendor="sftp", endpoint="files.example"), {"username": "u", "password": "p"}
    )
    assert (
        password["storage_config"]["auth_method"] == "PASSWORD" and password["storage_config"]["port"] == 22
    )


def test_missing_keys_are_named_not_valued() -> None:
    with pytest.raises(SpecError) as missing:
        storage_params(StorageSpec(vendor="s3", bucket="b"), {"accessKey": "AK"})
    assert (
        missing.value.reason == "CredentialsNotFound"
        and "secretKey" in str(missing.value)
        and "AK" not in str(missing.value)
    )


@pytest.mark.parametrize(
    ("status", "retryable", "reason", "again"),
    [
        (503, True, "ProviderUnavailable", True),
        (401, False, "AuthFailed", False),
        (409, False, "TaskConflict", True),
        (422, False, "MeetingNotActive", True),
        (400, False, "InvalidSpec", False),
    ],
)
def test_errors_become_session_errors(status: int, retryable: bool, reason: str, again: bool) -> None:
    error = session_error(RealtimeKitError("start", status, "x", retryable=retryable))
    assert (error.reason, error.retryable) == (reason, again)
