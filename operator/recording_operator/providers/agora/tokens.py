"""RTC tokens minted from an App Certificate with Agora's own AccessToken2 builder. No Kubernetes here.

The signing is done by `RtcTokenBuilder2` / `AccessToken2` as shipped by Agora's
`agora-rest-client-python` package (MIT, https://pypi.org/project/agora-rest-client-python/), not
by code of ours.

Lifetime rules (the contracts are silent on a maximum; AccessToken2's builder documents that a
privilege is valid for at most 24 h, and Agora cannot be handed a new token while a Cloud Recording
or Cloud Transcoder task runs, [start]):

- Cloud Recording: a session cannot outlive ``resourceExpiredHour`` [acquire], so the token is
  minted for ``resourceExpiredHour · 3600 + 600`` s; the CRD requires ``resourceExpiredHour ≤ 23``
  when minting, which keeps that within 24 h.
- Cloud Transcoder: a task has no provider-side maximum lifetime (only ``idleTimeout``:
  https://docs.agora.io/en/cloud-transcoding/rest-api/create), so
  tokens are minted for the 24 h maximum and the operator ends the task after
  :data:`TRANSCODER_MINTED_TASK_MAX_S` (23 h 30 min) at the latest, before any token can expire.

Minted tokens are returned to the caller only: never logged, stored in status, or put in errors.

Sources (Agora Cloud Recording RESTful API; [name] in a docstring cites that page):
[acquire] https://docs.agora.io/en/cloud-recording/rest-api/acquire
[start] https://docs.agora.io/en/cloud-recording/rest-api/start
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Final

TOKEN_MAX_LIFETIME_S: Final = 86_400
"""AccessToken2: a token and each privilege are valid for at most 24 h (RtcTokenBuilder2 docs)."""
RECORDING_TOKEN_MARGIN_S: Final = 600
"""Extra validity beyond ``resourceExpiredHour`` (start happens right after minting)."""
TRANSCODER_MINTED_TASK_MAX_S: Final = 84_600
"""A transcoder task whose tokens were minted is ended after 23 h 30 min (tokens live 24 h)."""

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

#: The name `agora_rest/utils` is loaded under (`_token_builder`).
_UTILS = "_agora_rest_token_utils"


def _token_builder() -> ModuleType:
    """Agora's `agora_rest.utils.RtcTokenBuilder2`, loaded once with its package `agora_rest/utils`
    under a name of its own (`_agora_rest_token_utils`), without running `agora_rest/__init__.py`.

    The token modules (`RtcTokenBuilder2`, `AccessToken2`, `Packer`) use the standard library only,
    but importing them as `agora_rest.utils…` first runs the package's `__init__`, which imports its
    Conversational AI REST client and `requests`: 187 modules and 6 to 10 MB of operator RSS
    (measured with CPython 3.11, depending on what else is loaded) the operator never uses.

    Raises:
        ImportError: agora-rest-client-python is not installed.
    """
    if _UTILS not in sys.modules:
        found = importlib.util.find_spec("agora_rest")  # finds the package without importing it
        if found is None or not found.submodule_search_locations:
            raise ImportError("agora-rest-client-python is not installed")
        utils = Path(next(iter(found.submodule_search_locations))) / "utils"
        spec = importlib.util.spec_from_file_location(
            _UTILS, utils / "__init__.py", submodule_search_locations=[str(utils)]
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load Agora's token builder from {utils}")
        package = importlib.util.module_from_spec(spec)
        sys.modules[_UTILS] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[_UTILS]
            raise
    return importlib.import_module(f"{_UTILS}.RtcTokenBuilder2")


class TokenError(ValueError):
    """A token cannot be minted (bad App ID / App Certificate shape, uid or lifetime).

    The message names what is wrong, never the certificate's value.
    """


def recording_token_lifetime_s(resource_expired_hour: int) -> int:
    """Seconds a minted Cloud Recording token must stay valid: ``resourceExpiredHour`` h + 10 min.

    Args:
        resource_expired_hour: the acquire ``resourceExpiredHour`` (h, [1, 720], [acquire]).

    Raises:
        TokenError: the session could outlive a 24 h AccessToken2 token (``resourceExpiredHour`` > 23).
    """
    seconds = resource_expired_hour * 3600 + RECORDING_TOKEN_MARGIN_S
    if seconds > TOKEN_MAX_LIFETIME_S:
        raise TokenError(
            f"resourceExpiredHour {resource_expired_hour} outlives a minted token (24 h at most): use "
            "resourceExpiredHour <= 23 or a token from secretRef"
        )
    return seconds


def mint_rtc_token(
    app_id: str, app_certificate: str, channel: str, uid: int, *, lifetime_s: int, publisher: bool
) -> str:
    """Mint an AccessToken2 RTC token (``007…``) with Agora's ``RtcTokenBuilder.build_token_with_uid``.

    Args:
        app_id: the project's App ID, 32 hex characters.
        app_certificate: the project's App Certificate, 32 hex characters (never logged).
        channel: the RTC channel name.
        uid: the uid the token is for, [0, 2^32-1]; 0 lets any uid join (the transcoder's input
            side uses a random uid, so its input tokens are for uid 0, Cloud Transcoding create page).
        lifetime_s: token and privilege validity in seconds from now, [1, 86400].
        publisher: ``True`` adds the publish privileges (the transcoder's output uid); ``False``
            grants joining only (recorder, transcoder inputs).

    Returns:
        The token text.

    Raises:
        TokenError: malformed App ID or certificate, uid out of range, or lifetime outside [1, 86400].
    """
    if not _HEX32.match(app_id):
        raise TokenError("appId must be 32 hexadecimal characters to mint a token")
    if not _HEX32.match(app_certificate.strip()):
        raise TokenError("the App Certificate must be 32 hexadecimal characters")
    if not 0 <= uid <= 4_294_967_295:
        raise TokenError(f"uid {uid} is outside [0, 4294967295]")
    if not 1 <= lifetime_s <= TOKEN_MAX_LIFETIME_S:
        raise TokenError(f"token lifetime {lifetime_s} s is outside [1, {TOKEN_MAX_LIFETIME_S}]")
    builder = _token_builder()
    role = builder.Role_Publisher if publisher else builder.Role_Subscriber
    token: str = builder.RtcTokenBuilder.build_token_with_uid(
        app_id, app_certificate.strip(), channel, uid, role, lifetime_s, lifetime_s
    )
    if not token:
        raise TokenError("the token builder refused the App ID or App Certificate")
    return token
