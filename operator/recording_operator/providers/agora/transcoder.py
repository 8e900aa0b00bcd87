"""Async client for the Agora Cloud Transcoder RESTful API. No Kubernetes.

Endpoints (base path ``/v1/projects/{appId}/rtsc/cloud-transcoder``, [quickstart]), with the names used in
errors, the emulator's request log and its faults:

- ``builderTokens`` POST ``/builderTokens`` body ``{instanceId, services}`` [acquire]
- ``createTask``    POST ``/tasks?builderToken=`` body ``{services}`` [create]
- ``queryTask``     GET  ``/tasks/{taskId}?builderToken=`` [query]
- ``updateTask``    PATCH ``/tasks/{taskId}?builderToken=&sequenceId=&updateMask=services.cloudTranscoder.config``
  body: the whole create body [update]
- ``deleteTask``    DELETE ``/tasks/{taskId}?builderToken=`` [destroy]

Auth is HTTP Basic with the Customer ID / Secret [quickstart]. Error bodies are ``{"message"}`` and
Agora says to branch on the HTTP status only [quickstart], so :class:`AgoraError` carries ``code=None``
and the status. Classification [status codes]: 429, 500, 502, 503, 504, 206 (create timed out) and
transport failures are retryable; 400, 401, 403, 404, 409, 501 are not (404 and 409 have meanings
the caller acts on). In-call retries follow :class:`TranscoderRetryPolicy` [create, best practices].

Sources (Agora Cloud Transcoding RESTful API; [name] in a docstring cites that page):
[quickstart] https://docs.agora.io/en/cloud-transcoding/get-started/rest-quickstart
[acquire] https://docs.agora.io/en/cloud-transcoding/rest-api/acquire
[create] https://docs.agora.io/en/cloud-transcoding/rest-api/create
[query] https://docs.agora.io/en/cloud-transcoding/rest-api/query
[update] https://docs.agora.io/en/cloud-transcoding/rest-api/update
[destroy] https://docs.agora.io/en/cloud-transcoding/rest-api/destroy
[status codes] https://docs.agora.io/en/cloud-transcoding/reference/status-codes
[best practices] https://docs.agora.io/en/cloud-transcoding/best-practices/integration
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from recording_operator.providers.agora.client import (
    AgoraClient,
    decode_object,
    failure_reason,
    not_an_object,
)
from recording_operator.providers.agora.errors import AgoraError, is_retryable_status
from recording_operator.providers.agora.retry import TranscoderRetryPolicy

log = logging.getLogger(__name__)

ENDPOINTS: Final = ("builderTokens", "createTask", "queryTask", "updateTask", "deleteTask")
SERVICE_TYPE: Final = "cloudTranscoderV2"
"""``services.cloudTranscoder.serviceType`` of the current API [create]."""
UPDATE_MASK: Final = "services.cloudTranscoder.config"
"""The only documented ``updateMask``: a full replacement of the config [update]."""
STARTED_STATUSES: Final = frozenset({"STARTED", "IN_PROGRESS"})
"""[query]: startup counts as successful in these task statuses."""
ENDED_STATUSES: Final = frozenset({"STOPPED", "EXIT", "FAILURE_STOP"})
"""[query]: the task has stopped, normally or not."""
START_DEADLINE_S: Final = 90.0
"""[query]: a task not STARTED/IN_PROGRESS 90 s after its taskId was received has failed to start."""


def services_body(transcoder: Mapping[str, Any]) -> dict[str, Any]:
    """``{"services": {"cloudTranscoder": {"serviceType": "cloudTranscoderV2", "config": {"transcoder": …}}}}``.

    The create, update and builderTokens bodies all carry this shape [acquire, create, update].
    """
    return {
        "services": {
            "cloudTranscoder": {"serviceType": SERVICE_TYPE, "config": {"transcoder": dict(transcoder)}}
        }
    }


@dataclass(frozen=True)
class BuilderToken:
    """``builderTokens`` answer [acquire]: valid 5 min for ``create``; then bound to that one task."""

    token_name: str
    create_ts: int | None
    instance_id: str | None


@dataclass(frozen=True)
class TaskInfo:
    """A task object as answered by create, query and delete [create, query, destroy].

    Attributes:
        task_id: Agora's task ID (a UUID).
        create_ts: creation time, Unix s.
        status: task status ([query]: ``IDLE`` … ``IN_PROGRESS``, ``STOPPED``, ``EXIT``, ``FAILURE_STOP``).
        service_status: ``services.cloudTranscoder.status`` ([query], for Agora support only).
        sequence_id: the ``sequenceId`` Agora reports (it sends a string), or ``None``.
        message: ``services.cloudTranscoder.message`` (e.g. ``OnSlaveServiceQueryUpdated``).
        already_running: create answered 201: this builderToken already drives this task [status codes].
        raw: the whole body.
    """

    task_id: str
    create_ts: int | None
    status: str | None
    service_status: str | None
    sequence_id: int | None
    message: str | None
    already_running: bool
    raw: dict[str, Any]

    @property
    def started(self) -> bool:
        """[query]: the task reached STARTED or IN_PROGRESS."""
        return self.status in STARTED_STATUSES


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_task(body: Mapping[str, Any], *, endpoint: str, http_status: int = 200) -> TaskInfo:
    """Build a :class:`TaskInfo` from a task body [create].

    Raises:
        AgoraError: a 202 (accepted, not executed) without ``taskId`` (retryable: create again with
            the same builderToken); any other body without ``taskId`` (not retryable).
    """
    task_id = body.get("taskId")
    if (not isinstance(task_id, str) or not task_id) and http_status == 202:
        # 202 Accepted: "received, but the execution has not been completed; use GET to check"
        # (https://docs.agora.io/en/cloud-transcoding/reference/status-codes). Without a taskId there
        # is nothing to GET: the create is repeated with the same builderToken, which answers with
        # the task once it exists.
        raise AgoraError(
            endpoint=endpoint,
            http_status=202,
            code=None,
            reason="accepted (202) but not executed yet, and no taskId to query",
            retryable=True,
        )
    if not isinstance(task_id, str) or not task_id:
        raise AgoraError(
            endpoint=endpoint,
            http_status=http_status,
            code=None,
            reason="answer has no taskId",
            retryable=False,
        )
    services = body.get("services")
    service: Mapping[str, Any] = {}
    if isinstance(services, Mapping) and isinstance(services.get("cloudTranscoder"), Mapping):
        service = services["cloudTranscoder"]
    status = body.get("status")
    service_status = service.get("status")
    message = service.get("message")
    return TaskInfo(
        task_id=task_id,
        create_ts=_int_or_none(body.get("createTs")),
        status=status if isinstance(status, str) else None,
        service_status=service_status if isinstance(service_status, str) else None,
        sequence_id=_int_or_none(body.get("sequenceId")),
        message=message if isinstance(message, str) else None,
        already_running=http_status == 201,
        raw=dict(body),
    )


class CloudTranscoderClient(AgoraClient):
    """Async client for Agora Cloud Transcoder.

    Takes :class:`AgoraClient`'s arguments (credentials [quickstart], ``base_urls`` in failover
    order as for Cloud Recording, ``timeout_s``, ``retry``, ``transport``, ``on_response``); the
    default ``retry`` is :class:`TranscoderRetryPolicy` ``()``.

    Every method raises :class:`AgoraError` (``code`` is always ``None``; ``http_status`` decides).
    Credentials, builder tokens in URLs and RTC tokens in bodies are never logged.
    """

    default_retry = TranscoderRetryPolicy()

    @staticmethod
    def _base(app_id: str) -> str:
        return f"/v1/projects/{app_id}/rtsc/cloud-transcoder"

    async def acquire(self, app_id: str, instance_id: str, transcoder: Mapping[str, Any]) -> BuilderToken:
        """Acquire a builderToken: POST ``/builderTokens`` with ``{instanceId, services}`` [acquire].

        Args:
            instance_id: ≤64 characters of ``[A-Za-z0-9_-]``; one task per instanceId.
            transcoder: ``config.transcoder`` as for create ([acquire]: the current docs send it).

        Returns:
            :class:`BuilderToken`, valid 5 min; call :meth:`create` right away ([acquire]: within 2 s).

        Raises:
            AgoraError: 400 bad instanceId/body, 401 auth, 403 not enabled, 429/5xx once retries are spent.
        """
        body = {"instanceId": instance_id, **services_body(transcoder)}
        status, data = await self._call(
            "builderTokens", "POST", self._base(app_id) + "/builderTokens", {}, body
        )
        name = data.get("tokenName")
        if not isinstance(name, str) or not name:
            raise AgoraError(
                endpoint="builderTokens",
                http_status=status,
                code=None,
                reason="answer has no tokenName",
                retryable=False,
            )
        instance = data.get("instanceId")
        return BuilderToken(
            name, _int_or_none(data.get("createTs")), instance if isinstance(instance, str) else None
        )

    async def create(self, app_id: str, builder_token: str, transcoder: Mapping[str, Any]) -> TaskInfo:
        """Create the task: POST ``/tasks?builderToken=`` [create].

        206 (timeout) is retried after 3, 6, 9 s; 5xx after 5, 10, 15, 30 s (a retry of a create
        that did reach Agora answers 201 with the task, ``already_running=True``, [status codes]).
        A timeout or a connection dropped after sending is not repeated here (``outcome_unknown``):
        the caller creates again with the same, persisted builderToken, which answers with the task
        if the first create reached Agora. The one attempt waits ``start_timeout_s``.

        Returns:
            :class:`TaskInfo` with ``task_id`` and the initial ``status``.

        Raises:
            AgoraError: 400 invalid config or unknown/expired builderToken, 401, 403, 409 a task
                already exists for this instanceId (delete it first), 206/429/5xx once retries are spent.
        """
        status, data = await self._call(
            "createTask",
            "POST",
            self._base(app_id) + "/tasks",
            {"builderToken": builder_token},
            services_body(transcoder),
            timeout_s=self._start_timeout_s,
            idempotent=False,
        )
        return parse_task(data, endpoint="createTask", http_status=status)

    async def query(self, app_id: str, task_id: str, builder_token: str) -> TaskInfo:
        """Query the task: GET ``/tasks/{taskId}?builderToken=`` [query].

        Agora suggests querying about every 2 min, below ``idleTimeout`` [best practices].

        Raises:
            AgoraError: 404 not found (never created, deleted, or destroyed after ``idleTimeout``;
                Agora suggests confirming after 5, 10, 15 s), 400, 401, 429/5xx once retries are spent.
        """
        status, data = await self._call(
            "queryTask", "GET", f"{self._base(app_id)}/tasks/{task_id}", {"builderToken": builder_token}, None
        )
        return parse_task(data, endpoint="queryTask", http_status=status)

    async def update(
        self, app_id: str, task_id: str, builder_token: str, sequence_id: int, transcoder: Mapping[str, Any]
    ) -> None:
        """Replace the config: PATCH ``/tasks/{taskId}?builderToken=&sequenceId=&updateMask=…`` [update].

        ``sequence_id`` must be strictly larger than the last one Agora accepted (0, 1, 2 …); the body
        is the whole create body. Any 2xx (empty body) is success. Retries repeat the same
        ``sequence_id``, so an update that did reach Agora is not applied twice.

        Raises:
            ValueError: ``sequence_id`` < 0 (a programming error).
            AgoraError: 400 invalid config, 404 task gone, 401, 429/5xx once retries are spent.
        """
        if sequence_id < 0:
            raise ValueError("sequenceId must be >= 0")
        params = {"builderToken": builder_token, "sequenceId": str(sequence_id), "updateMask": UPDATE_MASK}
        await self._call(
            "updateTask",
            "PATCH",
            f"{self._base(app_id)}/tasks/{task_id}",
            params,
            services_body(transcoder),
            allow_empty=True,
        )

    async def delete(self, app_id: str, task_id: str, builder_token: str) -> TaskInfo | None:
        """Delete the task: DELETE ``/tasks/{taskId}?builderToken=`` [destroy].

        Returns:
            The final :class:`TaskInfo` (``STOPPED`` / ``serviceCompleted``), or ``None`` for an empty 2xx.

        Raises:
            AgoraError: 404 already gone (callers treat it as done), 400, 401, 429/5xx once retries are spent.
        """
        status, data = await self._call(
            "deleteTask",
            "DELETE",
            f"{self._base(app_id)}/tasks/{task_id}",
            {"builderToken": builder_token},
            None,
            allow_empty=True,
        )
        return parse_task(data, endpoint="deleteTask", http_status=status) if data else None

    # -- transport ---------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        method: str,
        path: str,
        params: Mapping[str, str],
        body: dict[str, Any] | None,
        *,
        allow_empty: bool = False,
        timeout_s: float | None = None,
        idempotent: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        """One logical call with in-call retries and base-URL failover; returns (HTTP status, body)."""

        def interpret(endpoint: str, response: httpx.Response, attempt: int) -> tuple[int, dict[str, Any]]:
            return _interpret(endpoint, response, attempt, allow_empty)

        return await self._transport.call(
            endpoint,
            method,
            path,
            interpret,
            params=params,
            body=body,
            timeout_s=timeout_s,
            idempotent=idempotent,
        )


def _interpret(
    endpoint: str, response: httpx.Response, attempt: int, allow_empty: bool
) -> tuple[int, dict[str, Any]]:
    """An HTTP answer as (status, body) or an :class:`AgoraError` [status codes].

    2xx other than 206 is success (201: the builderToken already drives a task; 202: accepted, the
    task shows up in query). 206 on create means it timed out [create] and is an error.
    """
    status = response.status_code
    data = decode_object(response)
    if 200 <= status < 300 and status != 206:
        if data is None:
            if allow_empty:
                return status, {}
            raise not_an_object(endpoint, status, attempt)
        return status, data
    raise AgoraError(
        endpoint=endpoint,
        http_status=status,
        code=None,
        reason=failure_reason(data, response),
        retryable=is_retryable_status(status),
        attempts=attempt,
        body=data,
    )
