"""Every vendor the recordings use maps to one OpenDAL store; Agora's region table becomes a CRD rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage import StorageCredentials, Store, UnsupportedStorage, vendor_endpoint
from tests.unit.api.schema_rules import violations
from tests.unit.api.test_cel_rules import SAMPLE, SPEC_SCHEMA

KEYS = StorageCredentials(access_key="AKID", secret_key="secret")


@pytest.mark.parametrize(
    ("vendor", "region", "endpoint"),
    [
        ("aliyun", "CN_Hangzhou", "https://oss-cn-hangzhou.aliyuncs.com"),
        ("aliyun", "us-west-1", "https://oss-us-west-1.aliyuncs.com"),
        ("tencent", "AP_Beijing", "https://cos.ap-beijing.myqcloud.com"),
        ("tencent", "na-siliconvalley", "https://cos.na-siliconvalley.myqcloud.com"),
        ("huawei", "CN_North_4", "https://obs.cn-north-4.myhuaweicloud.com"),
        ("baidu", "Baoding", "https://s3.bd.bcebos.com"),
        ("baidu", "Guangzhou", "https://s3.gz.bcebos.com"),
    ],
)
def test_s3_compatible_vendor_endpoints(vendor: str, region: str, endpoint: str) -> None:
    assert vendor_endpoint(vendor, region) == endpoint
    store = Store.from_spec(StorageSpec(vendor=vendor, region=region, bucket="b"), KEYS)  # type: ignore[arg-type]
    assert store.uri("k") == "s3://b/k"


def test_explicit_endpoint_and_s3_override() -> None:
    spec = StorageSpec(vendor="aliyun", region="cn-hangzhou", bucket="b", endpoint="https://oss-internal")
    assert Store.from_spec(spec, KEYS).uri("x") == "s3://b/x"
    s3 = StorageSpec(vendor="s3", region="us-east-1", bucket="b")
    assert Store.from_spec(s3, KEYS, s3_endpoint="http://127.0.0.1:9").uri("x") == "s3://b/x"


def test_vendor_without_region_is_refused() -> None:
    with pytest.raises(UnsupportedStorage):
        Store.from_spec(StorageSpec(vendor="tencent", bucket="b"), KEYS)


def test_credentials_from_secret_keys_and_repr() -> None:
    creds = StorageCredentials.from_secret(
        "s3", {"accessKey": "AKID", "secretKey": "s3cr3t", "stsToken": "t"}
    )
    assert (creds.access_key, creds.secret_key, creds.session_token) == ("AKID", "s3cr3t", "t")
    assert "s3cr3t" not in repr(creds)
    azure = StorageCredentials.from_secret(
        "azure", {"connectionString": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5"}
    )
    assert (azure.access_key, azure.secret_key) == ("acct", "a2V5")
    gcs = StorageCredentials.from_secret("gcs", {"serviceAccountJson": "{}"})
    assert gcs.credential == "{}"


def _spec(vendor: str, region: str | None) -> dict[str, Any]:
    spec = copy.deepcopy(SAMPLE)
    spec["storage"]["vendor"] = vendor
    if region is None:
        spec["storage"].pop("region", None)
    else:
        spec["storage"]["region"] = region
    return spec


@pytest.mark.parametrize(
    ("vendor", "region"),
    [
        ("s3", "us-east-1"),
        ("s3", "EU_SOUTH_1"),
        ("aliyun", "cn-hangzhou"),
        ("tencent", "AP_Beijing_1"),
        ("huawei", "cn-north-4"),
        ("baidu", "baoding"),
        ("azure", None),
        ("gcs", None),
    ],
)
def test_agora_regions_of_the_vendor_pass(vendor: str, region: str | None) -> None:
    assert not [v for v in violations(SPEC_SCHEMA, _spec(vendor, region)) if "region" in v]


@pytest.mark.parametrize(
    ("vendor", "region"),
    [
        ("s3", "us-east-9"),
        ("s3", "cn-hangzhou"),  # an Alibaba region, not an S3 one
        ("aliyun", "us-east-2"),
        ("tencent", "eu-west-1"),
        ("huawei", "cn-north-2"),
        ("baidu", "beijing"),  # BOS has it, Agora's table does not
        ("s3", None),
    ],
)
def test_region_the_vendor_does_not_have_is_a_schema_error(vendor: str, region: str | None) -> None:
    found = violations(SPEC_SCHEMA, _spec(vendor, region))
    assert any(f"Agora has no {vendor} storage region" in v for v in found), found


def test_realtimekit_storage_regions_are_not_agora_checked() -> None:
    spec = _spec("s3", "ap-south-9")
    spec["provider"] = "realtimekit"
    del spec["agora"]
    spec["storage"]["credentialsSecretRef"] = {"name": "s3"}
    spec["realtimeKit"] = {"accountId": "a", "appId": "b", "meetingId": "c", "type": "composite"}
    assert not [v for v in violations(SPEC_SCHEMA, spec) if "Agora has no" in v]
