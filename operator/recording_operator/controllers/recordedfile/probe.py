"""Reaching a RecordedFile's stored object: its `Store` (credentials from the Secret named in the spec,
same namespace), whether it exists (`probe`), and the operator's clock for expiry decisions.
The phase rules themselves are in `decide`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from recording_operator.api.destinations import resolved_problem
from recording_operator.api.v1alpha1.common import StorageSpec
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec
from recording_operator.controllers._kit.policy import destination_policy, storage_endpoint_problem
from recording_operator.controllers._kit.runtime import Runtime
from recording_operator.controllers.recordedfile.decide import Probe, location_probe, stored_probe
from recording_operator.settings import Settings
from recording_operator.storage import StorageCredentials, Store, UnsupportedStorage


def clock_now(settings: Settings) -> float:
    """The operator's "now" for expiry decisions: Unix seconds + `RECORDING_CLOCK_OFFSET_S`."""
    return time.time() + settings.clock_offset_s


async def file_store(runtime: Runtime, namespace: str, spec: RecordedFileSpec) -> Store:
    """The Store of an object-storage location (`location.key`), with credentials from its Secret.

    Raises:
        SecretNotFound: the credentials Secret is missing.
        KubeApiError: the Secret could not be read.
        UnsupportedStorage: the vendor or location cannot be served, or its endpoint is refused by
            the destination policy (`policy.storage_endpoint_problem`, after DNS resolution) (terminal).
    """
    loc = spec.location
    if loc.vendor is None or loc.bucket is None or loc.key is None:
        raise UnsupportedStorage("the location is not an object-storage key")
    storage = StorageSpec(vendor=loc.vendor, bucket=loc.bucket, region=loc.region, endpoint=loc.endpoint)
    secret = spec.credentialsSecretRef.name if spec.credentialsSecretRef is not None else None
    return await storage_store(runtime, namespace, storage, secret)


async def storage_store(runtime: Runtime, namespace: str, storage: StorageSpec, secret: str | None) -> Store:
    """The Store of `storage` (vendor, bucket, region, endpoint; its prefix is the store's key
    prefix), with credentials from the Secret named `secret` in `namespace` (None: none).

    Raises:
        SecretNotFound, KubeApiError, UnsupportedStorage: as `file_store`.
    """
    if storage.endpoint:
        # The endpoint is where the operator sends its credentials and requests (stat, list,
        # delete), so it passes the destination policy first (a RecordedFile can be written by hand).
        endpoint = storage.endpoint if "://" in storage.endpoint else f"https://{storage.endpoint}"
        problem = storage_endpoint_problem(storage.endpoint, runtime.settings) or await resolved_problem(
            endpoint, destination_policy(runtime.settings), storage=True
        )
        if problem is not None:
            raise UnsupportedStorage(problem)
    data: Mapping[str, str] | None = None
    if secret is not None:
        data = await runtime.kube.read_secret(namespace, secret)
    return Store.from_spec(
        storage,
        StorageCredentials.from_secret(storage.vendor, data),
        s3_endpoint=runtime.settings.storage_s3_endpoint,
    )


async def probe(runtime: Runtime, namespace: str, spec: RecordedFileSpec, *, now: float) -> Probe:
    """Whether the stored file exists, as a phase: `url` and `volume` locations by `location_probe`
    (no request), an object-storage key by a `stat` (`stored_probe`).

    Raises:
        StorageError, UnsupportedStorage, SecretNotFound, KubeApiError: see `file_store`.
        ValueError: `location.expiresAt` of a `url` is not an RFC 3339 time.
    """
    known = location_probe(spec, now=now)
    if known is not None:
        return known
    store = await file_store(runtime, namespace, spec)
    key = spec.location.key
    assert key is not None
    info = await store.stat(key)
    return stored_probe(store.uri(key), info.size_bytes if info else None, exists=info is not None)
