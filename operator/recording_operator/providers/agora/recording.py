"""Async client for the Agora Cloud Recording RESTful API.

Endpoints (base path ``/v1/apps/{appid}/cloud_recording``, [overview]):

- ``acquire``       POST ``/acquire`` [acquire]
- ``start``         POST ``/resourceid/{resourceid}/mode/{mode}/start`` [start]
- ``query``         GET  ``/resourceid/{resourceid}/sid/{sid}/mode/{mode}/query`` [query]
- ``update``        POST ``/resourceid/{resourceid}/sid/{sid}/mode/{mode}/update`` [update]
- ``updateLayout``  POST ``/resourceid/{resourceid}/sid/{sid}/mode/mix/updateLayout`` [updateLayout]
- ``stop``          POST ``/resourceid/{resourceid}/sid/{sid}/mode/{mode}/stop`` [stop]

Authentication is HTTP Basic with the Customer ID / Customer Secret [authentication]. The client knows
nothing of Kubernetes; every failure is an :class:`AgoraError` whose ``retryable`` flag drives the
caller's backoff.

Sources (Agora Cloud Recording RESTful API; [name] in a docstring cites that page):
[overview] https://docs.agora.io/en/cloud-recording/rest-api/overview
[authentication] https://docs.agora.io/en/cloud-recording/rest-api/restful-authentication
[best practices] https://docs.agora.io/en/cloud-recording/best-practices/integration-best-practices
[acquire] https://docs.agora.io/en/cloud-recording/rest-api/acquire
[start] https://docs.agora.io/en/cloud-recording/rest-api/start
[query] https://docs.agora.io/en/cloud-recording/rest-api/query
[update] https://docs.agora.io/en/cloud-recording/rest-api/update
[updateLayout] https://docs.agora.io/en/cloud-recording/rest-api/update-layout
[stop] https://docs.agora.io/en/cloud-recording/rest-api/stop
[status codes] https://docs.agora.io/en/cloud-recording/rest-api/status-codes
[manage files] https://docs.agora.io/en/cloud-recording/develop/manage-files
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack

import httpx

from recording_operator.providers.agora.client import (
    AgoraClient,
    AgoraCredentials,
    ClientOptions,
    decode_object,
    failure_reason,
    not_an_object,
)
from recording_operator.providers.agora.errors import AgoraError
from recording_operator.providers.agora.retry import RetryPolicy

log = logging.getLogger(__name__)

MODES: frozenset[str] = frozenset({"individual", "mix", "web"})
"""Recording modes [start]."""


@dataclass(frozen=True)
class RecordingFile:
    """One recorded file as reported by ``query`` or ``stop`` [query, stop].

    Attributes:
        file_name: object key in the customer's bucket, including the ``fileNamePrefix`` path
            (e.g. ``dir1/dir2/<sid>_<cname>.m3u8``, [manage files]).
        track_type: ``"audio" | "video" | "audio_and_video"``; ``None`` when not reported (string
            form and web mode).
        uid: the recorded user's UID (``"0"`` in mix); ``None`` when not reported.
        mixed_all_user: ``True`` when all users are mixed into this file; ``None`` if not reported.
        is_playable: whether the file can be played on its own; ``None`` if not reported.
        slice_start_time_ms: Unix time in ms when the file's first slice started. The query page
            documents the REST field in seconds and the notifications in ms: values below 10^11 are taken as
            seconds and converted.
    """

    file_name: str
    track_type: str | None = None
    uid: str | None = None
    mixed_all_user: bool | None = None
    is_playable: bool | None = None
    slice_start_time_ms: int | None = None


@dataclass(frozen=True)
class AcquireResult:
    """``acquire`` answer [acquire]: ``resource_id`` is valid 5 min and starts one session [acquire]."""

    resource_id: str
    cname: str | None
    uid: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class StartResult:
    """``start`` answer [start]: ``sid`` identifies the recording session."""

    sid: str
    resource_id: str
    cname: str | None
    uid: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class QueryResult:
    """``query`` answer, normalised over the per-mode ``serverResponse`` shapes [query].

    Attributes:
        status: ``serverResponse.status`` ([query]: 0..8, 20; 4 or 5 means running).
        file_list_mode: ``"string" | "json"`` or ``None`` (screenshots, web).
        files: the normalised file list (empty until the first slice exists, [query]).
        slice_start_time_ms: ``serverResponse.sliceStartTime`` (Unix ms).
        extension_service_state: web mode's ``extensionServiceState`` entries, as received.
        onhold: web mode's ``web_recorder_service`` ``onhold`` flag; ``None`` elsewhere.
        raw: the whole response body.
    """

    status: int | None
    file_list_mode: str | None
    files: list[RecordingFile]
    slice_start_time_ms: int | None
    extension_service_state: list[dict[str, Any]]
    onhold: bool | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class StopResult:
    """``stop`` answer [stop].

    Attributes:
        uploading_status: ``"uploaded" | "backuped" | "unknown"`` or ``None`` when absent (e.g.
            ``async_stop=true``). Web mode reads it from the ``upload_service`` entry.
        files: the normalised file list (web mode accepts the legacy ``playload`` key).
        raw: the whole response body.
    """

    uploading_status: str | None
    files: list[RecordingFile]
    raw: dict[str, Any]


def _as_ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value * 1000) if value < 1e11 else int(value)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _opt_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return None


def _web_recorder_payload(states: list[dict[str, Any]]) -> dict[str, Any] | None:
    for state in states:
        if state.get("serviceName") == "web_recorder_service":
            payload = state.get("payload", state.get("playload"))
            return payload if isinstance(payload, dict) else None
    return None


def parse_file_list(server_response: Mapping[str, Any]) -> list[RecordingFile]:
    """Normalise the three ``fileList`` forms of a ``serverResponse`` [query, stop].

    - ``fileListMode == "string"``: ``fileList`` is the M3U8 file name.
    - ``fileListMode == "json"``: an array of ``{fileName, trackType, uid, mixedAllUser,
      isPlayable, sliceStartTime}``.
    - web: ``extensionServiceState[serviceName=web_recorder_service].payload.fileList`` of
      ``{filename, sliceStartTime}`` (lower-case ``filename``; legacy stop docs spell the payload
      key ``playload``).
    """
    files: list[RecordingFile] = []
    file_list = server_response.get("fileList")
    if isinstance(file_list, str) and file_list:
        files.append(RecordingFile(file_name=file_list))
    elif isinstance(file_list, list):
        for entry in file_list:
            if isinstance(entry, str):
                files.append(RecordingFile(file_name=entry))
            elif isinstance(entry, dict) and (name := entry.get("fileName", entry.get("filename"))):
                files.append(
                    RecordingFile(
                        file_name=str(name),
                        track_type=_opt_str(entry.get("trackType")),
                        uid=_opt_str(entry.get("uid")),
                        mixed_all_user=_opt_bool(entry.get("mixedAllUser")),
                        is_playable=_opt_bool(entry.get("isPlayable")),
                        slice_start_time_ms=_as_ms(entry.get("sliceStartTime")),
                    )
                )
    states = server_response.get("extensionServiceState")
    if isinstance(states, list):
        payload = _web_recorder_payload([s for s in states if isinstance(s, dict)])
        web_files = payload.get("fileList") if payload else None
        if isinstance(web_files, list):
            for entry in web_files:
                if isinstance(entry, dict) and (name := entry.get("filename", entry.get("fileName"))):
                    files.append(
                        RecordingFile(
                            file_name=str(name), slice_start_time_ms=_as_ms(entry.get("sliceStartTime"))
                        )
                    )
    return files


def parse_query(body: dict[str, Any]) -> QueryResult:
    """Build a :class:`QueryResult` from a ``query`` 200 body [query]."""
    server_response = body.get("serverResponse")
    sr: dict[str, Any] = server_response if isinstance(server_response, dict) else {}
    states_raw = sr.get("extensionServiceState")
    states = [s for s in states_raw if isinstance(s, dict)] if isinstance(states_raw, list) else []
    payload = _web_recorder_payload(states)
    status = sr.get("status")
    mode = sr.get("fileListMode")
    return QueryResult(
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        file_list_mode=mode if isinstance(mode, str) else None,
        files=parse_file_list(sr),
        slice_start_time_ms=_as_ms(sr.get("sliceStartTime")),
        extension_service_state=states,
        onhold=_opt_bool(payload.get("onhold")) if payload else None,
        raw=body,
    )


def parse_stop(body: dict[str, Any]) -> StopResult:
    """Build a :class:`StopResult` from a ``stop`` 200 body [stop]."""
    server_response = body.get("serverResponse")
    sr: dict[str, Any] = server_response if isinstance(server_response, dict) else {}
    uploading = sr.get("uploadingStatus")
    states = sr.get("extensionServiceState")
    if uploading is None and isinstance(states, list):
        for state in states:
            if isinstance(state, dict) and state.get("serviceName") == "upload_service":
                payload = state.get("payload", state.get("playload"))
                if isinstance(payload, dict):
                    uploading = payload.get("uploadingStatus")
    return StopResult(
        uploading_status=uploading if isinstance(uploading, str) else None,
        files=parse_file_list(sr),
        raw=body,
    )


class CloudRecordingClient(AgoraClient):
    """Async client for Agora Cloud Recording.

    Takes :class:`AgoraClient`'s arguments (credentials [authentication], ``base_urls`` in the
    failover order of [best practices], ``timeout_s``, ``retry``, ``transport``, ``on_response``)
    and:

    Args:
        stop_timeout_s: per-attempt timeout in seconds for ``stop`` with ``async_stop=False``,
            which answers only after the upload, expected within ~20 s server side [stop];
            ``timeout_s`` covers every other call.

    The default ``retry`` is :class:`RetryPolicy` ``()``.

    Every method raises :class:`AgoraError` on failure. Credentials and the ``Authorization``
    header are never logged nor put in errors.
    """

    default_retry = RetryPolicy()

    def __init__(
        self, credentials: AgoraCredentials, *, stop_timeout_s: float = 30.0, **options: Unpack[ClientOptions]
    ) -> None:
        super().__init__(credentials, **options)
        self._stop_timeout_s = stop_timeout_s

    # -- endpoints ---------------------------------------------------------------------------

    async def acquire(
        self, app_id: str, cname: str, uid: str, client_request: Mapping[str, Any]
    ) -> AcquireResult:
        """Reserve a recording resource: POST ``/acquire`` [acquire].

        Args:
            app_id: the App ID (the channel's in individual/mix modes).
            cname: channel name. uid: recorder UID, a decimal string in [1, 2^32-1] [acquire].
            client_request: ``{scene?, resourceExpiredHour?, region?, excludeResourceIds?,
                startParameter?}``; may be ``{}`` [acquire]. ``scene`` must be 1 for web mode.

        Returns:
            :class:`AcquireResult`; the ``resource_id`` expires 5 min later ([acquire], code 433).

        Raises:
            AgoraError: e.g. 400/2 bad parameters, 400/406 ``vendor_over_load``, 5xx (retried).
        """
        body = {"cname": cname, "uid": uid, "clientRequest": dict(client_request)}
        data = await self._call("acquire", "POST", f"/v1/apps/{app_id}/cloud_recording/acquire", body)
        resource_id = data.get("resourceId")
        if not isinstance(resource_id, str) or not resource_id:
            raise AgoraError(
                endpoint="acquire", http_status=200, code=None, reason="answer has no resourceId", body=data
            )
        return AcquireResult(
            resource_id=resource_id,
            cname=_opt_str(data.get("cname")),
            uid=_opt_str(data.get("uid")),
            raw=data,
        )

    async def start(
        self,
        app_id: str,
        resource_id: str,
        mode: str,
        cname: str,
        uid: str,
        client_request: Mapping[str, Any],
    ) -> StartResult:
        """Start recording: POST ``/resourceid/{resourceid}/mode/{mode}/start`` [start].

        ``cname`` and ``uid`` must equal the acquire values (else code 432, [status codes]). 5xx answers are
        retried with the same resourceId after 3 s, 6 s, 9 s and 206/65 after 3 s, 6 s [status codes];
        a repeat of a start that did reach Agora answers 201/7, raised as ``AgoraError(code=7)``
        (``is_already_started``): the recording is running but its sid is not in that answer.
        A timeout or a connection dropped after sending is NOT repeated: the start may be running
        and Agora has no call that lists sessions, so its sid can then only come from the
        notification callbacks; the error says so (``outcome_unknown``). The one attempt waits
        ``start_timeout_s``. A connection refused before sending is retried. This client never
        re-acquires.

        Args:
            mode: ``"individual" | "mix" | "web"``.
            client_request: the start ``clientRequest`` (``storageConfig`` required, [start]).

        Returns:
            :class:`StartResult` with ``sid``.

        Raises:
            AgoraError: 201/7 already started, 400/2 invalid parameters (``reason`` says which),
                400/53 task conflict, 432 mismatch, 433 resourceId expired (re-acquire), 1001
                unparseable resourceId, 206/65 and 5xx once retries are spent; a timeout or
                dropped connection at once (``outcome_unknown``: the session may be running).
        """
        _check_mode(mode, "start")
        body = {"cname": cname, "uid": uid, "clientRequest": dict(client_request)}
        path = f"/v1/apps/{app_id}/cloud_recording/resourceid/{resource_id}/mode/{mode}/start"
        data = await self._call(
            "start", "POST", path, body, timeout_s=self._start_timeout_s, idempotent=False
        )
        sid = data.get("sid")
        if not isinstance(sid, str) or not sid:
            raise AgoraError(
                endpoint="start", http_status=200, code=None, reason="answer has no sid", body=data
            )
        return StartResult(
            sid=sid,
            resource_id=str(data.get("resourceId") or resource_id),
            cname=_opt_str(data.get("cname")),
            uid=_opt_str(data.get("uid")),
            raw=data,
        )

    async def query(self, app_id: str, resource_id: str, sid: str, mode: str) -> QueryResult:
        """Query a live session: GET ``/resourceid/{rid}/sid/{sid}/mode/{mode}/query`` [query].

        Agora suggests polling about every 2 min once running, and treating a start as failed if
        ``status`` is not 4/5 after 90 s [best practices]. 5xx answers are retried after 5, 10, 15, 30 s and
        206/65 after 3, 6 s [status codes]; a 404 is retried only if ``RetryPolicy.query_404`` says so.

        Returns:
            :class:`QueryResult`.

        Raises:
            AgoraError: 404/404 "failed to find worker" (ended, never started, or HA migration),
                400/2, 1003 sid/resource mismatch, 206/65 or 504/62 once retries are spent.
        """
        _check_mode(mode, "query")
        path = f"/v1/apps/{app_id}/cloud_recording/resourceid/{resource_id}/sid/{sid}/mode/{mode}/query"
        data = await self._call("query", "GET", path, None)
        return parse_query(data)

    async def update(
        self,
        app_id: str,
        resource_id: str,
        sid: str,
        mode: str,
        cname: str,
        uid: str,
        client_request: Mapping[str, Any],
    ) -> None:
        """Update a session: POST ``/resourceid/{rid}/sid/{sid}/mode/{mode}/update`` [update].

        ``client_request`` holds any of ``streamSubscribe`` (individual/mix), ``webRecordingConfig
        {onhold}`` (web), ``rtmpPublishConfig {outputs}`` (web) and ``storageConfig`` (any mode).
        Send one update at a time and wait for its answer [best practices].

        Raises:
            AgoraError: 400/2, 404, 206/65 or 504/62 once retries are spent.
        """
        _check_mode(mode, "update")
        body = {"cname": cname, "uid": uid, "clientRequest": dict(client_request)}
        path = f"/v1/apps/{app_id}/cloud_recording/resourceid/{resource_id}/sid/{sid}/mode/{mode}/update"
        await self._call("update", "POST", path, body)

    async def update_layout(
        self, app_id: str, resource_id: str, sid: str, cname: str, uid: str, client_request: Mapping[str, Any]
    ) -> None:
        """Replace the mix layout: POST ``/resourceid/{rid}/sid/{sid}/mode/mix/updateLayout`` [updateLayout].

        Mix mode only. A full overwrite: every field left out falls back to its default [updateLayout].

        Raises:
            AgoraError: 400/2 (e.g. not a mix session), 404, 206/65 or 504/62 once retries are spent.
        """
        body = {"cname": cname, "uid": uid, "clientRequest": dict(client_request)}
        path = f"/v1/apps/{app_id}/cloud_recording/resourceid/{resource_id}/sid/{sid}/mode/mix/updateLayout"
        await self._call("updateLayout", "POST", path, body)

    async def stop(
        self,
        app_id: str,
        resource_id: str,
        sid: str,
        mode: str,
        cname: str,
        uid: str,
        *,
        async_stop: bool = False,
    ) -> StopResult:
        """Stop a session: POST ``/resourceid/{rid}/sid/{sid}/mode/{mode}/stop`` [stop].

        With ``async_stop=False`` Agora answers after the upload (~20 s server side, [stop]), so the
        per-attempt timeout is ``stop_timeout_s``. 400/49 and 404 are never retried (the task is
        exiting or gone); note that a retry after a timeout may answer 400/49 or 404 because the
        first attempt did stop the task.

        Returns:
            :class:`StopResult` with ``uploading_status`` and ``files``.

        Raises:
            AgoraError: 206/435 no recorded data (the task stopped, no files), 400/49 already
                exiting, 404 gone, 400/2, 206/65 or 504/62 once retries are spent.
        """
        _check_mode(mode, "stop")
        body = {"cname": cname, "uid": uid, "clientRequest": {"async_stop": async_stop}}
        path = f"/v1/apps/{app_id}/cloud_recording/resourceid/{resource_id}/sid/{sid}/mode/{mode}/stop"
        timeout = self._timeout_s if async_stop else self._stop_timeout_s
        data = await self._call("stop", "POST", path, body, timeout_s=timeout)
        return parse_stop(data)

    # -- transport ---------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        timeout_s: float | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Send one logical call with in-call retries and base-URL failover [best practices, status codes]."""
        return await self._transport.call(
            endpoint, method, path, _interpret, body=body, timeout_s=timeout_s, idempotent=idempotent
        )


def _interpret(endpoint: str, response: httpx.Response, attempt: int) -> dict[str, Any]:
    """Turn an HTTP answer into a body dict or an :class:`AgoraError` [status codes]."""
    status = response.status_code
    data = decode_object(response)
    has_code = data is not None and "code" in data
    if status == 200 or (200 <= status < 300 and not has_code):
        if data is None:
            raise not_an_object(endpoint, status, attempt)
        return data
    if has_code and data is not None:
        raw_code = data.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        if code is None and isinstance(raw_code, str) and raw_code.isdigit():
            code = int(raw_code)
        reason = str(data.get("reason") or data.get("message") or "")
        raise AgoraError(
            endpoint=endpoint, http_status=status, code=code, reason=reason, attempts=attempt, body=data
        )
    raise AgoraError(
        endpoint=endpoint,
        http_status=status,
        code=None,
        reason=failure_reason(data, response),
        gateway=True,
        attempts=attempt,
        body=data,
    )


def _check_mode(mode: str, endpoint: str) -> None:
    """Reject a mode outside ``individual | mix | web`` [start] before sending anything.

    Raises:
        ValueError: a programming error, not a provider answer.
    """
    if mode not in MODES:
        raise ValueError(f"agora {endpoint}: mode must be one of individual, mix, web (got {mode!r})")
