"""Storage secrets: from the recorder's environment or from a storage Secret's keys; never shown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from recording_operator.api.agent import ENV_STORAGE_ACCESS_KEY as ENV_ACCESS_KEY
from recording_operator.api.agent import ENV_STORAGE_CREDENTIAL as ENV_CREDENTIAL
from recording_operator.api.agent import ENV_STORAGE_SECRET_KEY as ENV_SECRET_KEY
from recording_operator.api.agent import ENV_STORAGE_SESSION_TOKEN as ENV_SESSION_TOKEN

__all__ = ["ENV_ACCESS_KEY", "ENV_CREDENTIAL", "ENV_SECRET_KEY", "ENV_SESSION_TOKEN", "StorageCredentials"]


@dataclass(frozen=True)
class StorageCredentials:
    """Secrets for object storage; `repr` never shows values.

    Attributes:
        access_key: S3 access key ID; azure: storage account name.
        secret_key: S3 secret access key; azure: account key.
        session_token: S3 STS session token (optional).
        credential: GCS service-account JSON (raw JSON text, not base64).
    """

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    credential: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageCredentials:
        """Read `STORAGE_ACCESS_KEY`, `STORAGE_SECRET_KEY`, `STORAGE_SESSION_TOKEN`, `STORAGE_CREDENTIAL`."""
        env = os.environ if environ is None else environ
        return cls(
            access_key=env.get(ENV_ACCESS_KEY) or None,
            secret_key=env.get(ENV_SECRET_KEY) or None,
            session_token=env.get(ENV_SESSION_TOKEN) or None,
            credential=env.get(ENV_CREDENTIAL) or None,
        )

    @classmethod
    def from_secret(cls, vendor: str, data: Mapping[str, str] | None) -> StorageCredentials:
        """Credentials from a storage Secret's decoded keys (values are never logged or echoed).

        Keys: `accessKey`, `secretKey`, optional `stsToken` (S3 and its compatibles; azure:
        account name and account key); gcs `serviceAccountJson` (or `credential`); azure
        `connectionString` (its `AccountName` and `AccountKey` are used when the key pair is absent).
        """
        data = data or {}
        access = data.get("accessKey") or None
        secret = data.get("secretKey") or None
        if vendor == "azure" and not (access and secret) and data.get("connectionString"):
            parts = dict(p.split("=", 1) for p in data["connectionString"].split(";") if "=" in p)
            access, secret = parts.get("AccountName") or None, parts.get("AccountKey") or None
        return cls(
            access_key=access,
            secret_key=secret,
            session_token=data.get("stsToken") or None,
            credential=data.get("serviceAccountJson") or data.get("credential") or None,
        )
