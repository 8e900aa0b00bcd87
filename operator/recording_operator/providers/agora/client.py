"""The base both Agora REST clients share: credentials, default domains, the transport with its
retries, answer decoding, the error raised for an unusable answer, and closing.

Both Agora REST services authenticate with HTTP Basic over the Customer ID / Customer Secret of the
Console's RESTful API page and are served from the same domains (Agora, *RESTful authentication*:
https://docs.agora.io/en/cloud-recording/rest-api/restful-authentication; domains and their retry
order: https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices, section
"Switch domain names"). :class:`CloudRecordingClient` and :class:`CloudTranscoderClient` subclass
:class:`AgoraClient` and keep only their endpoints and their reading of the answers (the two
services' error bodies differ).
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypedDict

import httpx

from recording_operator.providers.agora.errors import AgoraError
from recording_operator.providers.agora.transport import AgoraTransport, RetryPlan
from recording_operator.providers.budget import Budget, Priority

#: Budget scope of Cloud Recording calls: 10 requests/s per App ID
#: (https://docs.agora.io/en/cloud-recording/rest-api/overview).
RECORDING_SCOPE = "agora_recording"
#: Budget scope of Cloud Transcoder calls: 10 requests/s per account
#: (https://docs.agora.io/en/cloud-transcoding/overview/quota-limits).
TRANSCODER_SCOPE = "agora_transcoder"

#: Budget priority of each endpoint: ending a paid session first, then starting one, then
#: changing one, then looking at one.
ENDPOINT_PRIORITY: dict[str, Priority] = {
    "stop": Priority.STOP,
    "deleteTask": Priority.STOP,
    "acquire": Priority.START,
    "start": Priority.START,
    "builderTokens": Priority.START,
    "createTask": Priority.START,
    "update": Priority.UPDATE,
    "updateLayout": Priority.UPDATE,
    "updateTask": Priority.UPDATE,
    "query": Priority.QUERY,
    "queryTask": Priority.QUERY,
}


def budget_route(customer_id: str) -> Callable[[str, str], tuple[tuple[str, ...], str, Priority]]:
    """The budget route of an Agora client: Cloud Recording paths (``/v1/apps/{appid}/...``) are
    keyed by App ID, Cloud Transcoder paths (``/v1/projects/{appId}/rtsc/...``) by the account
    (a digest of the Customer ID, never the ID itself); priority from `ENDPOINT_PRIORITY`
    (unknown endpoints: query)."""
    account = hashlib.sha256(customer_id.encode()).hexdigest()[:16]

    def route(endpoint: str, path: str) -> tuple[tuple[str, ...], str, Priority]:
        priority = ENDPOINT_PRIORITY.get(endpoint, Priority.QUERY)
        parts = path.split("/")
        if len(parts) > 3 and parts[1:3] == ["v1", "apps"]:
            return (RECORDING_SCOPE,), parts[3], priority
        return (TRANSCODER_SCOPE,), account, priority

    return route


DEFAULT_BASE_URLS: tuple[str, ...] = ("https://api.agora.io", "https://api.sd-rtn.com")
"""Primary domains in Agora's retry order; outside mainland China ``api.agora.io`` first
(https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices)."""


@dataclass(frozen=True)
class AgoraCredentials:
    """Customer ID / Customer Secret of the Console's RESTful API page
    (https://docs.agora.io/en/cloud-recording/rest-api/restful-authentication).

    Read from a Kubernetes Secret with keys ``customerId`` and ``customerSecret``. ``repr()`` and
    ``str()`` never show the secret, and show only the first 4 characters of the ID.
    """

    customer_id: str
    customer_secret: str = field(repr=False)

    def __repr__(self) -> str:
        shown = self.customer_id[:4] + "…" if len(self.customer_id) > 4 else "…"
        return f"AgoraCredentials(customer_id={shown!r}, customer_secret='***')"

    __str__ = __repr__

    def basic_auth(self) -> httpx.BasicAuth:
        """The HTTP Basic auth object (``Authorization: Basic base64(id:secret)``)."""
        return httpx.BasicAuth(self.customer_id, self.customer_secret)


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every Agora client takes (see :class:`AgoraClient`)."""

    base_urls: Sequence[str]
    timeout_s: float
    start_timeout_s: float | None
    retry: RetryPlan | None
    transport: httpx.AsyncBaseTransport | None
    on_response: Callable[[str, str, float], None] | None
    budget: Budget | None


class AgoraClient:
    """An Agora REST client's connection: auth, failover domains, retries, observer, close.

    Args:
        credentials: Customer ID / Secret for HTTP Basic auth.
        base_urls: domains in failover order (the same domain again, then the other primary
            domain). With one URL (e.g. the sandbox emulator) only that one is used.
        timeout_s: per-attempt timeout in seconds.
        start_timeout_s: timeout in seconds of the one attempt of a call that starts something paid
            (Cloud Recording ``start``, Cloud Transcoder ``create``); such a call is never repeated
            once it may have reached Agora (default: 3 × ``timeout_s``).
        retry: the service's in-call retry schedule (default: the subclass's ``default_retry``);
            sleeps are ``asyncio.sleep`` and cancellable.
        transport: an httpx transport to use instead of the network (tests).
        on_response: optional observer called after every HTTP attempt as
            ``on_response(endpoint, status, seconds)``: ``endpoint`` is the endpoint name,
            ``status`` the HTTP status as text (``"200"``) or ``"timeout"`` / ``"transport_error"``,
            ``seconds`` the attempt's wall time. It must not block; an exception it raises is
            logged and ignored.
        budget: the process's request budget (`providers.budget`): every attempt waits for a
            token of its App ID (Cloud Recording) or account (Cloud Transcoder), stops first; a
            429 pauses that credential and is retried through the budget.

    Attributes:
        calls: HTTP attempts per endpoint name, including attempts that failed at the transport
            level (for tests and benchmarks).

    Credentials and the ``Authorization`` header are never logged nor put in errors.
    """

    #: The in-call retry schedule used when the caller passes none.
    default_retry: ClassVar[RetryPlan]

    def __init__(
        self,
        credentials: AgoraCredentials,
        *,
        base_urls: Sequence[str] = DEFAULT_BASE_URLS,
        timeout_s: float = 10.0,
        start_timeout_s: float | None = None,
        retry: RetryPlan | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: Callable[[str, str, float], None] | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s if start_timeout_s is not None else 3 * timeout_s
        self._transport = AgoraTransport(
            credentials.basic_auth(),
            base_urls=base_urls,
            timeout_s=timeout_s,
            retry=retry if retry is not None else self.default_retry,
            transport=transport,
            on_response=on_response,
            budget=budget,
            route=budget_route(credentials.customer_id),
        )

    @property
    def calls(self) -> collections.Counter[str]:
        """HTTP attempts per endpoint name, including transport failures (tests and benchmarks)."""
        return self._transport.calls

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_urls={self._transport.base_urls!r}, "
            f"credentials={self._credentials!r})"
        )

    __str__ = __repr__

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP connection pool."""
        await self._transport.aclose()


def decode_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's body as a JSON object, or ``None`` when it is empty, not JSON or not an object."""
    try:
        decoded: Any = response.json() if response.content else None
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def not_an_object(endpoint: str, http_status: int, attempt: int) -> AgoraError:
    """The error for a success status whose body is not a JSON object (never retried)."""
    return AgoraError(
        endpoint=endpoint,
        http_status=http_status,
        code=None,
        reason="answer is not a JSON object",
        retryable=False,
        attempts=attempt,
    )


def failure_reason(data: dict[str, Any] | None, response: httpx.Response) -> str:
    """The text of a failed answer: ``message`` or ``reason``, else the first 200 characters of
    the body, else the HTTP reason phrase."""
    if data is not None:
        return str(data.get("message") or data.get("reason") or response.reason_phrase)
    return response.text[:200] if response.text else response.reason_phrase
