"""Callback authenticity: Agora NCS HMAC signatures and RealtimeKit RSA signatures, on raw bytes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from recording_operator.callbacks.verify import (
    SignatureError,
    agora_signature,
    load_public_key,
    verify_agora,
    verify_realtimekit,
)

#: The sample of https://docs.agora.io/en/cloud-recording/develop/receive-notifications ("Verify the signature"):
#: secret `secret`, this exact body, and the digests the page prints.
AGORA_BODY = (
    b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)
AGORA_SHA1 = "033c62f40f687675f17f0f41f91a40c71c0f134c"
AGORA_SHA256 = "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"


def test_agora_documented_vectors() -> None:
    assert agora_signature(b"secret", AGORA_BODY, v2=False) == AGORA_SHA1
    assert agora_signature(b"secret", AGORA_BODY, v2=True) == AGORA_SHA256


def test_agora_v2_names_the_app_whose_secret_verifies() -> None:
    secrets = {"app-a": b"other", "app-b": b"secret"}
    assert verify_agora(AGORA_BODY, {"Agora-Signature-V2": AGORA_SHA256}, secrets) == "app-b"
    assert verify_agora(AGORA_BODY, {"Agora-Signature": AGORA_SHA1}, secrets) == "app-b"
    # Upper-case hex is the same signature.
    assert verify_agora(AGORA_BODY, {"Agora-Signature-V2": AGORA_SHA256.upper()}, secrets) == "app-b"


def test_agora_unsigned_and_forged() -> None:
    with pytest.raises(SignatureError) as unsigned:
        verify_agora(AGORA_BODY, {}, {"a": b"secret"})
    assert unsigned.value.reason == "unsigned"
    # One byte of the body changed: the signature no longer verifies.
    tampered = AGORA_BODY.replace(b'"b":2', b'"b":3')
    with pytest.raises(SignatureError) as forged:
        verify_agora(tampered, {"Agora-Signature-V2": AGORA_SHA256}, {"a": b"secret"})
    assert forged.value.reason == "forged"
    # A re-serialised body (spaces) is not the signed body.
    with pytest.raises(SignatureError):
        verify_agora(AGORA_BODY.replace(b",", b", "), {"Agora-Signature": AGORA_SHA1}, {"a": b"secret"})
    # V2 wins: a valid V1 does not excuse a wrong V2.
    with pytest.raises(SignatureError):
        verify_agora(
            AGORA_BODY, {"Agora-Signature-V2": "00" * 32, "Agora-Signature": AGORA_SHA1}, {"a": b"secret"}
        )
    # No secret configured: nothing verifies.
    with pytest.raises(SignatureError):
        verify_agora(AGORA_BODY, {"Agora-Signature-V2": AGORA_SHA256}, {})


def test_errors_never_carry_the_secret_or_signature() -> None:
    with pytest.raises(SignatureError) as forged:
        verify_agora(AGORA_BODY, {"Agora-Signature-V2": "ab" * 32}, {"a": b"s3cr3t-value"})
    assert "s3cr3t" not in str(forged.value) and "abab" not in str(forged.value)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_realtimekit_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = load_public_key(pem)
    body = b'{"event":"recording.statusUpdate","recording":{"id":"r1","status":"RECORDING"}}'
    verify_realtimekit(body, {"rtk-signature": _sign(rsa_key, body)}, public)
    for headers, reason in (
        ({}, "unsigned"),
        ({"rtk-signature": "not base64!"}, "forged"),
        ({"rtk-signature": _sign(rsa_key, body + b" ")}, "forged"),
    ):
        with pytest.raises(SignatureError) as err:
            verify_realtimekit(body, headers, public)
        assert err.value.reason == reason
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SignatureError):
        verify_realtimekit(body, {"rtk-signature": _sign(other, body)}, public)


def test_public_key_must_be_rsa() -> None:
    with pytest.raises(ValueError):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
