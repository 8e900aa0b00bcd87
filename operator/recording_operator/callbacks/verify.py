"""Authenticity of provider callbacks, checked on the raw body bytes before anything is parsed.

- Agora NCS (https://docs.agora.io/en/cloud-recording/develop/receive-notifications, "Verify the
  signature"): `Agora-Signature-V2` is the lowercase hex HMAC-SHA256 of the raw body with the NCS
  secret, `Agora-Signature` the HMAC-SHA1. V2 is checked when present, else V1.
- RealtimeKit (https://developers.cloudflare.com/realtime/realtimekit/webhooks/): `rtk-signature`
  is the base64 RSA-SHA256 (RSASSA-PKCS1-v1_5) signature of the raw body, checked against the
  public key the webhooks document publishes.

Only `hmac` (constant-time comparison) and `cryptography` do the cryptography. `cryptography` is
imported when a RealtimeKit key is loaded (about 6 MB of operator RSS an Agora-only receiver does
not pay). Error messages name the header, never a signature, body or secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

AGORA_V2_HEADER = "Agora-Signature-V2"
AGORA_V1_HEADER = "Agora-Signature"
RTK_HEADER = "rtk-signature"


class SignatureError(Exception):
    """The callback is not authentic. `reason` is `unsigned` (no signature header) or `forged`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def agora_signature(secret: bytes, body: bytes, *, v2: bool = True) -> str:
    """The NCS signature of `body`: lowercase hex HMAC-SHA256 (`v2`) or HMAC-SHA1 with `secret`."""
    return hmac.new(secret, body, hashlib.sha256 if v2 else hashlib.sha1).hexdigest()


def verify_agora(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, bytes]) -> str:
    """Check an NCS callback against every configured NCS secret.

    Args:
        body: the raw request body.
        headers: the request headers (case-insensitive mapping).
        secrets: NCS secret per App ID (or `default`).

    Returns:
        The key of the secret that verifies the body (the App ID it is configured for).

    Raises:
        SignatureError: no signature header, no secret configured, or no secret verifies it.
    """
    v2 = headers.get(AGORA_V2_HEADER)
    v1 = headers.get(AGORA_V1_HEADER)
    if not v2 and not v1:
        raise SignatureError("unsigned", f"no {AGORA_V2_HEADER} or {AGORA_V1_HEADER} header")
    use_v2 = bool(v2)
    given = ((v2 if use_v2 else v1) or "").strip().lower()
    matched = None
    for app_id, secret in secrets.items():
        # Every secret is tried (no early exit on a match), so the time does not tell which one verified it.
        if hmac.compare_digest(agora_signature(secret, body, v2=use_v2), given) and matched is None:
            matched = app_id
    if matched is None:
        header = AGORA_V2_HEADER if use_v2 else AGORA_V1_HEADER
        raise SignatureError("forged", f"{header} does not verify with any configured NCS secret")
    return matched


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (SubjectPublicKeyInfo, as RealtimeKit's webhooks document serves it).

    Raises:
        ValueError: not a PEM RSA public key.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the RealtimeKit webhook key is not an RSA public key")
    return key


def verify_realtimekit(body: bytes, headers: Mapping[str, str], key: rsa.RSAPublicKey) -> None:
    """Check a RealtimeKit webhook's `rtk-signature` (base64 RSA-SHA256 PKCS#1 v1.5 over the raw body).

    Raises:
        SignatureError: the header is missing (`unsigned`), not base64, or does not verify (`forged`).
    """
    given = headers.get(RTK_HEADER)
    if not given:
        raise SignatureError("unsigned", f"no {RTK_HEADER} header")
    try:
        signature = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("forged", f"{RTK_HEADER} is not base64") from None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("forged", f"{RTK_HEADER} does not verify with the webhook public key") from None
