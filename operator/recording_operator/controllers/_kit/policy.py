"""The operator's tenant policy, as pure decisions: which Secrets a recording may use, which recorder
images a Pod may run, which destinations it may name (`api.destinations`, shared with the recorder
agent). No I/O; the callers read the objects, resolve names and act on the answer.

The contract: creating a recording is using the Secrets it names. A namespace user who may create a
LocalRecording (or CloudRecording, CloudTranscoder, RecordedFile) makes the operator read the Secrets
it names, and map them into a recorder Pod that runs in that namespace. So a Secret is used only when
its owner opted it in: the label SECRET_USE_LABEL=`"true"` on the Secret, or the namespace is listed
in `RECORDING_SECRET_NAMESPACES` (`*`: every namespace, the behaviour before the opt-in existed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from recording_operator.api.destinations import DestinationPolicy, host_problem, storage_hosts, url_host
from recording_operator.api.v1alpha1.common import SECRET_USE_LABEL, StorageSpec
from recording_operator.controllers._kit.errors import SpecError
from recording_operator.settings import Settings

#: Condition reason (and SpecError reason) of a spec the operator's policy refuses.
POLICY_VIOLATION = "PolicyViolation"
#: `RECORDING_SECRET_NAMESPACES` entry that opts in every namespace.
ALL_NAMESPACES = "*"


def secret_use_problem(secret: Mapping[str, Any], namespace: str, opted_in: Collection[str]) -> str | None:
    """Why the operator must not use `secret` (a Secret object of `namespace`), or None when it may:
    it carries SECRET_USE_LABEL=`"true"`, or `namespace` (or ALL_NAMESPACES) is in `opted_in`
    (`Settings.secret_namespaces`). The message names the Secret and the label to add, never a value.
    """
    if ALL_NAMESPACES in opted_in or namespace in opted_in:
        return None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(SECRET_USE_LABEL) == "true":
        return None
    name = (secret.get("metadata") or {}).get("name", "")
    return (
        f"Secret {namespace}/{name} is not opted in to recordings: label it "
        f"{SECRET_USE_LABEL}=true (kubectl label secret -n {namespace} {name} {SECRET_USE_LABEL}=true)"
    )


def image_problem(image: str, *, default_image: str, allowed: Collection[str]) -> str | None:
    """Why a recorder Pod must not run `image` (`spec.pod.image`), or None when it may: the shipped
    `default_image`, an image listed in `allowed` (`RECORDER_ALLOWED_IMAGES`), or one under a listed
    prefix ending in `/` or `:` (a registry path, or every tag of a repository). The recorder runs
    with the Secrets of its recording in its environment: an arbitrary image would receive them.
    """
    if image == default_image or image in allowed:
        return None
    if any(entry.endswith(("/", ":")) and image.startswith(entry) for entry in allowed):
        return None
    return f"image {image!r} is not an allowed recorder image (RECORDER_ALLOWED_IMAGES)"


def destination_policy(settings: Settings) -> DestinationPolicy:
    """The destination policy of `settings`: private destinations per
    `RECORDING_ALLOW_PRIVATE_DESTINATIONS`; the hosts of `STORAGE_ALLOWED_ENDPOINTS` and
    `STORAGE_S3_ENDPOINT` allowed whatever they resolve to (the operator's own configuration)."""
    endpoints = [*settings.storage_allowed_endpoints]
    if settings.storage_s3_endpoint:
        endpoints.append(settings.storage_s3_endpoint)
    return DestinationPolicy(
        allowPrivate=settings.allow_private_destinations, storageEndpoints=storage_hosts(endpoints)
    )


def storage_endpoint_problem(endpoint: str, settings: Settings) -> str | None:
    """Why a `storage.endpoint` (or a RecordedFile's `location.endpoint`) is refused, or None: when
    `STORAGE_ALLOWED_ENDPOINTS` is set only its hosts (and `STORAGE_S3_ENDPOINT`'s) are accepted;
    otherwise any host but a private one (unless allowed). Not resolved here (`resolved_problem`)."""
    policy = destination_policy(settings)
    url = endpoint if "://" in endpoint else f"https://{endpoint}"
    host = url_host(url)
    if policy.allows_storage(url):
        return None
    if settings.storage_allowed_endpoints:
        return f"storage endpoint {host!r} is not one of STORAGE_ALLOWED_ENDPOINTS"
    problem = None if policy.allowPrivate else host_problem(host)
    return f"storage endpoint: {problem} (private destinations are not allowed)" if problem else None


def check_provider_storage(storage: StorageSpec, settings: Settings) -> None:
    """A CloudRecording's `storage.endpoint` (Agora `extensionParams.endpoint`, a RealtimeKit sftp
    host): the provider, not the operator, connects to it, but the operator sends it the storage
    Secret's credentials, so it passes `storage_endpoint_problem` before the Secret is read.

    Raises:
        SpecError: `PolicyViolation`.
    """
    if storage.endpoint:
        problem = storage_endpoint_problem(storage.endpoint, settings)
        if problem is not None:
            raise SpecError(POLICY_VIOLATION, problem)
