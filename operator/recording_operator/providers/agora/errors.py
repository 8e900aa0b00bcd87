"""The single error type of the Agora Cloud Recording client and its classification rules.

Provider rules (Cloud Recording unless said otherwise):

- Non-200 bodies come in two forms [status codes]: gateway ``{"message": ...}`` and service
  ``{"code": <int>, "reason": ...}``. A non-2xx answer without a ``code`` key is a gateway error
  (the rule of Agora's Go REST SDK, https://github.com/AgoraIO-Community/agora-rest-client-go).
- A 2xx other than 200 that carries a ``code`` is a failure, not a success: ``201/7`` already
  started [status codes], ``206/65`` request not completed and ``206/435`` no recorded data
  [stop, status codes].
- Retryable [status codes]: HTTP 429, any 5xx, code 65 (network jitter, "retry with the same
  resourceId"), code 62 (request timeout), and transport failures/timeouts.
- Not retryable ([status codes] "40x: fix the request; do not retry"): 400/2, 401, 404, 432, 433, 1001,
  1003, 53, 49, 435, 201/7 and every other 4xx. They are raised with their ``code`` so the caller
  decides what they mean.

Sources (Agora Cloud Recording RESTful API; [name] in a docstring cites that page):
[query] https://docs.agora.io/en/cloud-recording/rest-api/query
[stop] https://docs.agora.io/en/cloud-recording/rest-api/stop
[status codes] https://docs.agora.io/en/cloud-recording/rest-api/status-codes
"""

from __future__ import annotations

from typing import Final

ENDPOINTS: Final = ("acquire", "start", "query", "update", "updateLayout", "stop")

# Service-level ``code`` values [status codes, stop].
CODE_INVALID_PARAMETER: Final = 2
"""400/2: invalid parameter; ``reason`` says which [status codes]."""
CODE_ALREADY_STARTED: Final = 7
"""201/7: ``start`` already called with this resourceId; the recording did start [status codes]."""
CODE_ALREADY_EXITING: Final = 49
"""400/49: ``stop`` while the task is already exiting (duplicate stop, kicked, idle) [stop]."""
CODE_TASK_CONFLICT: Final = 53
"""400/53: a task with the same appid+cname+uid is already running [status codes]."""
CODE_REQUEST_TIMEOUT: Final = 62
"""504/62 (500/62 on start): backend request timeout; retry [status codes]."""
CODE_REQUEST_NOT_COMPLETED: Final = 65
"""206/65: request not completed (network jitter); retry after 3 s, 6 s [status codes]."""
CODE_NOT_FOUND: Final = 404
"""404/404 ``failed to find worker``: task ended, never started, or HA migration [query, status codes]."""
CODE_RESOURCE_MISMATCH: Final = 432
"""432: appid/cname/uid do not match the resourceId [status codes]."""
CODE_RESOURCE_EXPIRED: Final = 433
"""433: resourceId expired (5 min after acquire); acquire a new one [status codes]."""
CODE_NO_RECORDED_DATA: Final = 435
"""206/435: nobody sent a stream, no files exist [stop]."""
CODE_RESOURCE_UNPARSEABLE: Final = 1001
"""1001: the resourceId cannot be parsed [status codes]."""
CODE_SID_MISMATCH: Final = 1003
"""1003: appid or sid does not match the resourceId [status codes]."""
CODE_INVALID_APPID: Final = 400
"""400/400 ``invalid_appid`` on ``acquire``: the App ID is invalid or Cloud Recording is not enabled
for it [status codes]."""

RETRYABLE_CODES: Final = frozenset({CODE_REQUEST_TIMEOUT, CODE_REQUEST_NOT_COMPLETED})


def is_retryable(http_status: int | None, code: int | None) -> bool:
    """Say whether a failed call may be repeated unchanged.

    Args:
        http_status: the HTTP status, or ``None`` for a transport failure or timeout.
        code: the body's service ``code``, or ``None`` (gateway or transport error).

    Returns:
        ``True`` for transport failures, HTTP 429, any 5xx, and codes 65/62; ``False`` otherwise
        ([status codes]: "40x: fix the request; do not retry").
    """
    if http_status is None:
        return True
    if code in RETRYABLE_CODES:
        return True
    return http_status == 429 or http_status >= 500


TRANSCODER_RETRYABLE_STATUSES: Final = frozenset({206, 429, 500, 502, 503, 504})
"""Cloud Transcoder HTTP statuses that may be repeated unchanged: 206 (create timed out), 429 and
500/502/503/504 (https://docs.agora.io/en/cloud-transcoding/reference/status-codes)."""


def is_retryable_status(http_status: int | None) -> bool:
    """Cloud Transcoder rule: transport failures (``None``), 206, 429 and 500/502/503/504 may be
    repeated unchanged; 400, 401, 403, 404, 409, 501 may not
    (https://docs.agora.io/en/cloud-transcoding/reference/status-codes)."""
    return http_status is None or http_status in TRANSCODER_RETRYABLE_STATUSES


class AgoraError(Exception):
    """A failed Agora Cloud Recording or Cloud Transcoder call [status codes].

    Attributes:
        http_status: HTTP status of the answer; ``None`` for transport failures and timeouts.
        code: the service-level body ``code`` (e.g. 2, 7, 49, 53, 65, 404, 432, 433, 435, 1001,
            1003); ``None`` for gateway errors (``{"message": ...}``) and transport errors.
        reason: the body ``reason`` or ``message``, or the transport error text. Never contains
            credentials or request headers.
        retryable: see :func:`is_retryable`.
        endpoint: ``"acquire" | "start" | "query" | "update" | "updateLayout" | "stop"``.
        gateway: ``True`` for a non-2xx answer with no ``code`` key (Go REST SDK rule).
        attempts: how many HTTP attempts the call made before giving up (>= 1).
        body: the decoded JSON body of the failing answer, if any (service errors may echo
            ``resourceId``, ``sid``, ``cname``, ``uid``: observed answers).
        maybe_delivered: ``False`` only when the request provably never left this process (the
            connection was refused or could not be opened in time); ``True`` for every answer and
            for timeouts or connections dropped after the request was sent: the provider may
            have acted on it.
    """

    http_status: int | None
    code: int | None
    reason: str
    retryable: bool
    endpoint: str
    gateway: bool
    attempts: int
    body: dict[str, object] | None
    maybe_delivered: bool

    def __init__(
        self,
        *,
        endpoint: str,
        http_status: int | None,
        code: int | None,
        reason: str,
        retryable: bool | None = None,
        gateway: bool = False,
        attempts: int = 1,
        body: dict[str, object] | None = None,
        maybe_delivered: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.maybe_delivered = maybe_delivered
        self.http_status = http_status
        self.code = code
        self.reason = reason
        self.retryable = is_retryable(http_status, code) if retryable is None else retryable
        self.gateway = gateway
        self.attempts = attempts
        self.body = body
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = "transport" if self.http_status is None else f"HTTP {self.http_status}"
        code = "" if self.code is None else f" code {self.code}"
        kind = " (gateway)" if self.gateway else ""
        again = "retryable" if self.retryable else "not retryable"
        return f"agora {self.endpoint}: {where}{code}{kind}: {self.reason} [{again}]"

    def __repr__(self) -> str:
        return (
            f"AgoraError(endpoint={self.endpoint!r}, http_status={self.http_status!r}, code={self.code!r}, "
            f"reason={self.reason!r}, retryable={self.retryable!r}, gateway={self.gateway!r}, "
            f"attempts={self.attempts!r})"
        )

    @property
    def summary(self) -> str:
        """One line for conditions and Events: `Agora <endpoint>: HTTP <status> code <code>: <reason>`."""
        code = f" code {self.code}" if self.code is not None else ""
        return f"Agora {self.endpoint}: HTTP {self.http_status}{code}: {self.reason}"

    @property
    def is_already_started(self) -> bool:
        """``start`` answered 201/7: the resourceId already started a recording [status codes]."""
        return self.code == CODE_ALREADY_STARTED

    @property
    def outcome_unknown(self) -> bool:
        """No answer, but the request may have reached the provider (timeout, dropped connection)."""
        return self.http_status is None and self.maybe_delivered

    @property
    def is_not_found(self) -> bool:
        """404 ``failed to find worker``: ended, never started, or HA migration [query, status codes]."""
        return self.http_status == 404 and not self.gateway

    @property
    def is_resource_expired(self) -> bool:
        """Code 433: the resourceId expired; acquire again [status codes]."""
        return self.code == CODE_RESOURCE_EXPIRED

    @property
    def is_already_exiting(self) -> bool:
        """400/49 on ``stop``: the task is already exiting [stop]."""
        return self.code == CODE_ALREADY_EXITING

    @property
    def is_no_recorded_data(self) -> bool:
        """206/435 on ``stop``: nobody streamed, no files [stop]."""
        return self.code == CODE_NO_RECORDED_DATA

    @property
    def is_not_enabled(self) -> bool:
        """Cloud Recording is not enabled for the App ID: HTTP 403 (Agora's Cloud Recording quick
        reference lists "403: Cloud Recording not enabled in Console; enable it in Agora Console"),
        the gateway's 400 ``"appid is invalid"`` ("enable the cloud recording service for this App
        ID", [status codes]) or ``acquire`` answering 400/400 ``invalid_appid`` [status codes]."""
        if self.http_status == 403:
            return True
        if self.http_status == 400 and self.gateway and "appid is invalid" in self.reason.lower():
            return True
        return self.endpoint == "acquire" and self.code == CODE_INVALID_APPID

    @property
    def is_resource_mismatch(self) -> bool:
        """Code 432: appid/cname/uid do not match the resourceId [status codes]; Agora's Cloud
        Recording quick reference reads it as "recording already in progress: query the existing
        recording first"."""
        return self.code == CODE_RESOURCE_MISMATCH

    @property
    def is_auth_failure(self) -> bool:
        """HTTP 401 from the gateway: wrong Customer ID / Customer Secret [status codes]."""
        return self.http_status == 401
