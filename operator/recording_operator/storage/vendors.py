"""Which OpenDAL service and options serve each `storage.vendor`, and the S3-compatible endpoints.

| vendor          | OpenDAL service | bucket →   | credentials                                            |
|-----------------|-----------------|------------|--------------------------------------------------------|
| `s3`            | s3              | bucket     | access key / secret key (+ session token)              |
| `s3-compatible` | s3 (path style) | bucket     | same; `endpoint` required                              |
| `gcs`           | gcs             | bucket     | service-account JSON (`credential`)                    |
| `azure`         | azblob          | container  | access key = account name, secret key = account key    |
| `aliyun`        | s3 (OSS)        | bucket     | access key / secret key; endpoint from the region      |
| `tencent`       | s3 (COS)        | bucket     | same                                                   |
| `huawei`        | s3 (OBS)        | bucket     | same                                                   |
| `baidu`         | s3 (BOS)        | bucket     | same                                                   |
| `volume`        | fs              | —          | none: a local directory (the mounted PVC)              |

Alibaba OSS, Tencent COS, Huawei OBS and Baidu BOS are reached through their S3-compatible APIs
(virtual-hosted style) at the endpoint `vendor_endpoint` derives from the region name (the names
Agora's storage configuration uses, https://docs.agora.io/en/cloud-recording/reference/region-vendor,
e.g. `CN_Hangzhou` → `https://oss-cn-hangzhou.aliyuncs.com`); an explicit `storage.endpoint` wins.
`s3_endpoint` (operator setting `STORAGE_S3_ENDPOINT`) sends `vendor: s3` to another S3 endpoint (a
VPC or FIPS endpoint; the sandbox's S3 server).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import NamedTuple

import opendal

from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.storage.credentials import StorageCredentials
from recording_operator.storage.errors import UnsupportedStorage

#: Part size of streamed uploads (bytes); S3's multipart minimum is 5 MiB.
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
#: Write buffer of a `volume` (filesystem) store (bytes): no multipart minimum, so a smaller buffer
#: keeps the recorder agent's peak RSS down (8 MiB buffers cost it ~8 MB, bench/recorder_bench.py).
LOCAL_CHUNK_BYTES = 1024 * 1024


class VendorOperator(NamedTuple):
    """What `open_operator` builds: the operator, the key prefix (`""` or ending in `/`), the base of
    display URIs (e.g. `s3://bucket/`), the write buffer in bytes, and for `volume` the directory
    the operator is rooted at (None for object stores)."""

    operator: opendal.AsyncOperator
    prefix: str
    uri_base: str
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    local_root: Path | None = None


SUPPORTED_VENDORS = ("s3", "s3-compatible", "aliyun", "tencent", "huawei", "baidu", "gcs", "azure", "volume")

#: Vendors reached through their S3-compatible API: vendor → endpoint template ({region} filled in).
S3_COMPATIBLE_ENDPOINTS = {
    "aliyun": "https://oss-{region}.aliyuncs.com",
    "tencent": "https://cos.{region}.myqcloud.com",
    "huawei": "https://obs.{region}.myhuaweicloud.com",
    "baidu": "https://s3.{region}.bcebos.com",
}
#: Baidu BOS region IDs of the region names Agora uses (Baidu Smart Cloud in
#: https://docs.agora.io/en/cloud-recording/reference/region-vendor).
BAIDU_REGION_IDS = {
    "baoding": "bd",
    "suzhou": "su",
    "guangzhou": "gz",
    "hongkong": "hkg",
    "singapore": "sin",
    "wuhan": "fwh",
    "shanghai": "fsh",
    "beijing": "bj",
}


def vendor_endpoint(vendor: str, region: str | None) -> str:
    """The S3-compatible endpoint of an Alibaba OSS, Tencent COS, Huawei OBS or Baidu BOS region.

    `region` is a name as in https://docs.agora.io/en/cloud-recording/reference/region-vendor
    (`CN_Hangzhou`, `AP_Beijing`, `CN_North_4`,
    `Baoding`), matched case-insensitively with `_` and `-` alike, or the vendor's own region ID
    (`cn-hangzhou`, `ap-beijing`, `cn-north-4`, `bd`).

    Raises:
        UnsupportedStorage: the vendor has no S3-compatible endpoint here, or no region was given.
    """
    template = S3_COMPATIBLE_ENDPOINTS.get(vendor)
    if template is None:
        raise UnsupportedStorage(f"vendor {vendor} has no S3-compatible endpoint mapping")
    if not region:
        raise UnsupportedStorage(f"vendor {vendor} needs storage.region (or storage.endpoint)")
    region_id = region.strip().lower().replace("_", "-")
    if vendor == "baidu":
        region_id = BAIDU_REGION_IDS.get(region_id, region_id)
    return template.format(region=region_id)


def open_operator(
    spec: StorageSpec,
    credentials: StorageCredentials,
    *,
    volume_root: Path | None = None,
    s3_endpoint: str | None = None,
) -> VendorOperator:
    """The OpenDAL operator, key prefix, display-URI base and write buffer of `spec` (module table).

    Args and errors: as `Store.from_spec`, except that OpenDAL's own exceptions (e.g. an azure
    account key that is not base64) pass through unmapped.
    """
    prefix = "/".join(spec.prefix or [])
    prefix = f"{prefix}/" if prefix else ""
    options: dict[str, str]
    if spec.vendor == "volume":
        if volume_root is None:
            raise UnsupportedStorage("vendor volume needs the directory where the claim is mounted")
        volume_root.mkdir(parents=True, exist_ok=True)
        root = volume_root.resolve()
        op = opendal.AsyncOperator("fs", root=str(root))
        claim = spec.volume.claimName if spec.volume else "volume"
        sub = f"{spec.volume.subPath.strip('/')}/" if spec.volume and spec.volume.subPath else ""
        return VendorOperator(op, prefix, f"volume://{claim}/{sub}", LOCAL_CHUNK_BYTES, root)
    if not spec.bucket:
        raise UnsupportedStorage(f"vendor {spec.vendor} needs storage.bucket")
    if spec.vendor in ("s3", "s3-compatible", *S3_COMPATIBLE_ENDPOINTS):
        if spec.vendor == "s3-compatible" and not spec.endpoint:
            raise UnsupportedStorage("s3-compatible storage needs storage.endpoint")
        endpoint = spec.endpoint
        if endpoint is None and spec.vendor == "s3":
            endpoint = s3_endpoint
        region = spec.region or "us-east-1"
        if spec.vendor in S3_COMPATIBLE_ENDPOINTS:
            # OSS, COS, OBS and BOS serve their S3 API virtual-hosted style only.
            if endpoint is None:
                endpoint = vendor_endpoint(spec.vendor, spec.region)
            region = (spec.region or "auto").lower().replace("_", "-")
        options = {
            "bucket": spec.bucket,
            "region": region,
            "disable_config_load": "true",
            "disable_ec2_metadata": "true",
        }
        if endpoint:
            options["endpoint"] = endpoint
        if not endpoint or spec.vendor in S3_COMPATIBLE_ENDPOINTS:
            options["enable_virtual_host_style"] = "true"
        if credentials.access_key and credentials.secret_key:
            options["access_key_id"] = credentials.access_key
            options["secret_access_key"] = credentials.secret_key
        else:
            options["allow_anonymous"] = "true"
        if credentials.session_token:
            options["session_token"] = credentials.session_token
        op = opendal.AsyncOperator("s3", **options)
        return VendorOperator(op, prefix, f"s3://{spec.bucket}/")
    if spec.vendor == "gcs":
        options = {"bucket": spec.bucket, "disable_config_load": "true", "disable_vm_metadata": "true"}
        if spec.endpoint:
            options["endpoint"] = spec.endpoint
        if credentials.credential:
            options["credential"] = base64.b64encode(credentials.credential.encode()).decode()
        else:
            options["allow_anonymous"] = "true"
        return VendorOperator(opendal.AsyncOperator("gcs", **options), prefix, f"gs://{spec.bucket}/")
    if spec.vendor == "azure":
        if not credentials.access_key:
            raise UnsupportedStorage("azure needs the storage account name (STORAGE_ACCESS_KEY)")
        options = {
            "container": spec.bucket,
            "account_name": credentials.access_key,
            "endpoint": spec.endpoint or f"https://{credentials.access_key}.blob.core.windows.net",
        }
        if credentials.secret_key:
            options["account_key"] = credentials.secret_key
        return VendorOperator(
            opendal.AsyncOperator("azblob", **options),
            prefix,
            f"azblob://{credentials.access_key}/{spec.bucket}/",
        )
    raise UnsupportedStorage(f"vendor {spec.vendor} is not supported here (use one of {SUPPORTED_VENDORS})")
