"""RTC tokens minted with Agora's AccessToken2 builder: lifetime rules and refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest
from agora_rest.utils.AccessToken2 import AccessToken

from recording_operator.providers.agora.tokens import TokenError, mint_rtc_token, recording_token_lifetime_s

APP = "0123456789abcdef0123456789abcdef"
CERT = "fedcba9876543210fedcba9876543210"


def test_minted_token_is_an_access_token2_with_the_lifetime() -> None:
    token = mint_rtc_token(APP, CERT, "studio", 9393, lifetime_s=3600, publisher=True)
    parsed = AccessToken()
    assert token.startswith("007") and parsed.from_string(token)
    assert parsed._AccessToken__expire == 3600
    assert parsed._AccessToken__app_id == APP.encode()
    assert CERT not in token


def test_recording_lifetime_rule() -> None:
    assert recording_token_lifetime_s(2) == 2 * 3600 + 600
    assert recording_token_lifetime_s(23) == 23 * 3600 + 600
    with pytest.raises(TokenError, match="resourceExpiredHour 72"):
        recording_token_lifetime_s(72)


@pytest.mark.parametrize(
    ("app", "cert", "uid", "lifetime"),
    [("short", CERT, 1, 60), (APP, "not-hex", 1, 60), (APP, CERT, -1, 60), (APP, CERT, 1, 86401)],
)
def test_refusals_never_echo_the_certificate(app: str, cert: str, uid: int, lifetime: int) -> None:
    with pytest.raises(TokenError) as refused:
        mint_rtc_token(app, cert, "c", uid, lifetime_s=lifetime, publisher=False)
    assert CERT not in str(refused.value)


def test_minting_does_not_import_the_agora_rest_client() -> None:
    """The token builder is loaded without `agora_rest`'s package (its REST client and `requests`
    are megabytes of operator memory the operator never uses)."""
    code = (
        "import sys\n"
        "from recording_operator.providers.agora.tokens import mint_rtc_token\n"
        f"assert mint_rtc_token({APP!r}, {CERT!r}, 'studio', 1, lifetime_s=60, publisher=False)\n"
        "print(sorted(m for m in ('agora_rest', 'requests') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
