"""Agora's numeric storage vendor and region codes (`storageConfig` of Agora's `start`,
https://docs.agora.io/en/cloud-recording/rest-api/start, and the region table of
https://docs.agora.io/en/cloud-recording/reference/region-vendor).

`storageConfig.vendor` and `storageConfig.region` are integers in Agora's API; users write names.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Our `spec.storage.vendor` names → Agora vendor codes (https://docs.agora.io/en/cloud-recording/rest-api/start).
VENDOR_CODES: Mapping[str, int] = {
    "s3": 1,
    "aliyun": 2,
    "tencent": 3,
    "azure": 5,
    "gcs": 6,
    "huawei": 7,
    "baidu": 8,
    "s3-compatible": 11,
}

_S3 = (
    "US_EAST_1 US_EAST_2 US_WEST_1 US_WEST_2 EU_WEST_1 EU_WEST_2 EU_WEST_3 EU_CENTRAL_1 AP_SOUTHEAST_1 "
    "AP_SOUTHEAST_2 AP_NORTHEAST_1 AP_NORTHEAST_2 SA_EAST_1 CA_CENTRAL_1 AP_SOUTH_1 CN_NORTH_1 CN_NORTHWEST_1"
).split()
_S3_LATER = {
    18: "AF_SOUTH_1",
    19: "AP_EAST_1",
    20: "AP_NORTHEAST_3",
    21: "EU_NORTH_1",
    22: "ME_SOUTH_1",
    24: "AP_SOUTHEAST_3",
    25: "EU_SOUTH_1",
}
_ALIYUN = (
    "CN_Hangzhou CN_Shanghai CN_Qingdao CN_Beijing CN_Zhangjiakou CN_Huhehaote CN_Shenzhen CN_Hongkong US_West_1 "
    "US_East_1 AP_Southeast_1 AP_Southeast_2 AP_Southeast_3 AP_Southeast_5 AP_Northeast_1 AP_South_1 EU_Central_1 "
    "EU_West_1 EU_East_1 AP_Southeast_6 CN_Heyuan CN_Guangzhou CN_Chengdu CN_Nanjing CN_Fuzhou CN_Wulanchabu "
    "CN_Northeast_2 CN_Southeast_7"
).split()
_TENCENT = (
    "AP_Beijing_1 AP_Beijing AP_Shanghai AP_Guangzhou AP_Chengdu AP_Chongqing AP_Shenzhen_FSI AP_Shanghai_FSI "
    "AP_Beijing_FSI AP_Hongkong AP_Singapore AP_Mumbai AP_Seoul AP_Bangkok AP_Tokyo NA_Siliconvalley NA_Ashburn "
    "NA_Toronto EU_Frankfurt EU_Moscow"
).split()
_HUAWEI = (
    "CN_North_1 CN_North_4 CN_East_2 CN_East_3 CN_South_1 CN_Southwest_2 AP_Southeast_1 AP_Southeast_2 "
    "AP_Southeast_3 AF_South_1 SA_Argentina_1 SA_Peru_1 NA_Mexico_1 SA_Brazil_1 LA_South_2 SA_Chile_1"
).split()
_BAIDU = {1: "Baoding", 2: "Suzhou", 3: "Guangzhou", 4: "Hongkong", 5: "Singapore", 6: "Wuhan", 7: "Shanghai"}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


#: vendor name → {normalised region name → Agora region code}; vendors absent here have only region 0.
REGION_CODES: Mapping[str, Mapping[str, int]] = {
    "s3": {**{_key(n): i for i, n in enumerate(_S3)}, **{_key(n): i for i, n in _S3_LATER.items()}},
    "aliyun": {_key(n): i for i, n in enumerate(_ALIYUN)},
    "tencent": {_key(n): i for i, n in enumerate(_TENCENT)},
    "huawei": {_key(n): i for i, n in enumerate(_HUAWEI)},
    "baidu": {_key(n): i for i, n in _BAIDU.items()},
}


class UnknownStorageRegion(ValueError):
    """The vendor has no region of that name, or the vendor is not one Agora stores to."""


def agora_storage_codes(vendor: str, region: str | None) -> tuple[int, int]:
    """Map a vendor name and region name to Agora's `(vendor, region)` codes.

    Region names match case-insensitively with `-` and `_` alike (`us-east-1` = `US_EAST_1`).
    azure, gcs and s3-compatible always use region 0 (https://docs.agora.io/en/cloud-recording/reference/region-vendor).

    Raises:
        UnknownStorageRegion: vendor not supported by Agora, region missing, or not in the vendor's table.
    """
    if vendor not in VENDOR_CODES:
        raise UnknownStorageRegion(
            f"Agora cannot store to vendor {vendor!r}; use one of {', '.join(sorted(VENDOR_CODES))}"
        )
    table = REGION_CODES.get(vendor)
    if table is None:
        return VENDOR_CODES[vendor], 0
    if not region:
        raise UnknownStorageRegion(f"storage vendor {vendor!r} needs a region")
    code = table.get(_key(region))
    if code is None:
        raise UnknownStorageRegion(f"storage vendor {vendor!r} has no region {region!r}")
    return VENDOR_CODES[vendor], code
