"""Object storage for recorded files, through Apache OpenDAL (`opendal`, AsyncOperator).

Kubernetes-free: a `Store` is built from the API's `StorageSpec` plus `StorageCredentials` (the
recorder agent reads those from environment variables).

Modules: `store` (the `Store` and its objects), `vendors` (vendor → OpenDAL service, options and
endpoints), `credentials` (`StorageCredentials`), `errors` (`StorageError`, `UnsupportedStorage`),
`volume` (the `volume` vendor's claim handling).
"""

from recording_operator.storage.credentials import (
    ENV_ACCESS_KEY,
    ENV_CREDENTIAL,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    StorageCredentials,
)
from recording_operator.storage.errors import StorageError, UnsupportedStorage
from recording_operator.storage.store import ObjectInfo, Store
from recording_operator.storage.vendors import (
    DEFAULT_CHUNK_BYTES,
    S3_COMPATIBLE_ENDPOINTS,
    SUPPORTED_VENDORS,
    vendor_endpoint,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ENV_ACCESS_KEY",
    "ENV_CREDENTIAL",
    "ENV_SECRET_KEY",
    "ENV_SESSION_TOKEN",
    "S3_COMPATIBLE_ENDPOINTS",
    "SUPPORTED_VENDORS",
    "ObjectInfo",
    "StorageCredentials",
    "StorageError",
    "Store",
    "UnsupportedStorage",
    "vendor_endpoint",
]
