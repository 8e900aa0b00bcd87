"""Cloudflare RealtimeKit recordings over the official `cloudflare` SDK (`AsyncCloudflare`).

Knows nothing of Kubernetes.

Retries: the SDK's own retries are off (they would bypass the request budget, and the SDK even
retries 409); this client retries instead. Every attempt first takes a token of the app's budget
(`providers.budget`: 250 requests per 10 s for all RealtimeKit APIs, 1,000 per 60 s for the
Recordings APIs, [limits]); a 429 means the call was not served, so any call is retried through
the budget (which pauses for the answer's `Retry-After`, else a full-jitter backoff). A start is
never retried otherwise (a retried start whose first attempt reached the server would start a
second recording), nor are pause/resume/stop and webhook writes; reads (get, active, webhooks
list) are retried `read_retries` times on 408, ≥500 and transport failures with full-jitter
backoff from 0.5 s, as the SDK would [cloudflare-python].

Sources (Cloudflare API reference, RealtimeKit recordings; [name] in a docstring cites that page):
[recordings] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/
[start] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_recordings/
[start track] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/start_track_recording/
[active] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/get_active_recordings/
[get] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/get_one_recording/
[action] https://developers.cloudflare.com/api/resources/realtime_kit/subresources/recordings/methods/pause_resume_stop_recording/
[webhooks] https://developers.cloudflare.com/realtime/realtimekit/webhooks/
[cloudflare-python] https://github.com/cloudflare/cloudflare-python (retries: README, section "Retries")
[limits] https://developers.cloudflare.com/realtime/realtimekit/rate-limits/
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from recording_operator.providers.budget import Budget, Priority, full_jitter, parse_retry_after

log = logging.getLogger(__name__)

#: Budget scope of every RealtimeKit call (250 requests per 10 s, [limits]).
ALL_SCOPE = "realtimekit"
#: Budget scope of the Recordings APIs (1,000 requests per 60 s, [limits]).
RECORDINGS_SCOPE = "realtimekit_recordings"
#: HTTP 429 answers one call waits out through the budget before its error is raised.
MAX_RATE_LIMITED = 20
#: Endpoints that only read (retried on 408/≥500/transport failures).
READS = frozenset({"get", "active", "webhooks"})

#: RealtimeKit recording statuses [recordings].
ACTIVE_STATUSES = frozenset({"INVOKED", "RECORDING", "PAUSED"})
ENDED_STATUSES = frozenset({"UPLOADING", "UPLOADED", "ERRORED"})


class RealtimeKitError(Exception):
    """A failed RealtimeKit call.

    Attributes:
        http_status: HTTP status, or None for transport failures and timeouts.
        message: the error text from Cloudflare's error envelope [recordings], or the transport error.
        retryable: 429, ≥500, 408, transport errors and timeouts [recordings, cloudflare-python].
        endpoint: `start` | `startTrack` | `get` | `active` | `action`.
    """

    def __init__(self, endpoint: str, http_status: int | None, message: str, *, retryable: bool) -> None:
        super().__init__(f"RealtimeKit {endpoint}: HTTP {http_status}: {message}")
        self.endpoint = endpoint
        self.http_status = http_status
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class RecordingFile:
    """One downloadable output: file name, URL (presigned, RealtimeKit bucket) and its expiry."""

    file_name: str
    download_url: str | None
    expires_at: str | None
    size_bytes: int | None = None
    layer: str | None = None


@dataclass(frozen=True)
class RecordingState:
    """The provider's Recording object [recordings], normalised for composite and track recordings.

    Times are ISO-8601 strings as RealtimeKit sends them; `duration_s` in seconds;
    `file_size_bytes` in bytes (the API sends a number, webhooks a string).
    """

    id: str
    status: str
    invoked_time: str | None = None
    started_time: str | None = None
    stopped_time: str | None = None
    output_file_name: str | None = None
    duration_s: int | None = None
    file_size_bytes: int | None = None
    stop_reason: str | None = None
    files: list[RecordingFile] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """INVOKED, RECORDING or PAUSED."""
        return self.status in ACTIVE_STATUSES


def parse_recording(data: Mapping[str, Any]) -> RecordingState:
    """Build a RecordingState from a `data` (or track `data.recording`) object of [recordings]."""
    expiry = data.get("download_url_expiry")
    size = data.get("file_size")
    files: list[RecordingFile] = []
    download = data.get("download_url")
    if isinstance(download, str):
        files.append(
            RecordingFile(
                str(data.get("output_file_name") or download.rsplit("/", 1)[-1]),
                download,
                expiry,
                int(size) if size is not None else None,
            )
        )
    elif isinstance(
        download, list
    ):  # track recordings: [{layer_name, download_urls: {file: {download_url}}}]
        for layer in download:
            for name, entry in (layer.get("download_urls") or {}).items():
                files.append(
                    RecordingFile(
                        name, (entry or {}).get("download_url"), expiry, None, layer.get("layer_name")
                    )
                )
    audio = data.get("audio_download_url")
    if isinstance(audio, str):
        files.append(RecordingFile(audio.rsplit("/", 1)[-1].split("?")[0], audio, expiry))
    stop_reason = data.get("stop_reason")
    return RecordingState(
        id=str(data["id"]),
        status=str(data["status"]),
        invoked_time=data.get("invoked_time"),
        started_time=data.get("started_time"),
        stopped_time=data.get("stopped_time"),
        output_file_name=data.get("output_file_name"),
        duration_s=data.get("recording_duration"),
        file_size_bytes=int(size) if size is not None else None,
        stop_reason=(stop_reason or {}).get("reason") if isinstance(stop_reason, dict) else None,
        files=files,
        raw=dict(data),
    )


class RealtimeKitClient:
    """RealtimeKit recordings: start (composite or track), get, active, pause/resume/stop.

    Args:
        api_token: Cloudflare API token with the Realtime permission (Bearer, [recordings]). Never logged.
        base_url: API base, default `https://api.cloudflare.com/client/v4`; the sandbox serves
            `<emulator>/client/v4` (setting `REALTIMEKIT_BASE_URL`).
        timeout_s: per-request timeout in seconds.
        start_timeout_s: timeout in seconds of a start (composite or track), sent once: when its
            answer is lost the caller adopts the meeting's active recording (default: `timeout_s`).
        read_retries: retries of reads (get, active, webhooks list) on 408, ≥500 and transport
            failures; writes are never retried on those.
        budget: the process's request budget, keyed by `account_id/app_id`; none: no pacing (a
            429 is then retried like a read failure, reads only).
    """

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = "https://api.cloudflare.com/client/v4",
        timeout_s: float = 30.0,
        start_timeout_s: float | None = None,
        read_retries: int = 2,
        budget: Budget | None = None,
    ) -> None:
        # Imported here: the SDK costs tens of MB of operator memory, paid only once RealtimeKit is used.
        from cloudflare import AsyncCloudflare

        self._sdk = AsyncCloudflare(api_token=api_token, base_url=base_url, timeout=timeout_s, max_retries=0)
        self._writes = self._sdk
        self._starts = self._sdk.with_options(max_retries=0, timeout=start_timeout_s or timeout_s)
        self._read_retries = read_retries
        self._budget = budget
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"RealtimeKitClient(base_url={str(self._sdk.base_url)!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._sdk.close()

    async def start_composite(
        self, account_id: str, app_id: str, meeting_id: str, params: Mapping[str, Any]
    ) -> RecordingState:
        """POST recordings [start]: `params` holds the body fields besides `meeting_id`
        (allow_multiple_recordings, max_seconds, file_name_prefix, audio_config, video_config,
        realtimekit_bucket_config, storage_config, rtmp_out_config, url). Never retried.

        Raises:
            RealtimeKitError: 409 when the meeting already has an active recording (emulator,
                UNCONFIRMED upstream), other 4xx terminal, 429/5xx/transport retryable.
        """
        known = {
            "allow_multiple_recordings",
            "audio_config",
            "file_name_prefix",
            "interactive_config",
            "max_seconds",
            "realtimekit_bucket_config",
            "rtmp_out_config",
            "storage_config",
            "url",
            "video_config",
        }
        kwargs = {k: v for k, v in params.items() if k in known}
        extra = {k: v for k, v in params.items() if k not in known} or None
        response = await self._call(
            "start",
            account_id,
            app_id,
            Priority.START,
            lambda: self._starts.realtime_kit.recordings.with_raw_response.start_recordings(
                app_id, account_id=account_id, meeting_id=meeting_id, extra_body=extra, **kwargs
            ),
        )
        return parse_recording(response["data"])

    async def start_track(
        self,
        account_id: str,
        app_id: str,
        meeting_id: str,
        *,
        layers: Mapping[str, Mapping[str, Any]] | None = None,
        user_ids: list[str] | None = None,
        max_seconds: int | None = None,
    ) -> RecordingState:
        """POST recordings/track ([start track], current shape): audio-only WebM per peer into the
        RealtimeKit bucket; needs an active meeting session. Never retried.

        `max_seconds` (s, "maximum seconds this recording should be active for (beta)") is in the
        start-track body of the SDK reference but not in the installed SDK's typed parameters: it is
        sent as an extra body field.

        Raises:
            RealtimeKitError: as `start_composite`.
        """
        kwargs: dict[str, Any] = {}
        if layers is not None:
            kwargs["layers"] = {k: dict(v) for k, v in layers.items()}
        if user_ids is not None:
            kwargs["user_ids"] = user_ids
        extra = {"max_seconds": max_seconds} if max_seconds is not None else None
        response = await self._call(
            "startTrack",
            account_id,
            app_id,
            Priority.START,
            lambda: self._starts.realtime_kit.recordings.with_raw_response.start_track_recording(
                app_id, account_id=account_id, meeting_id=meeting_id, extra_body=extra, **kwargs
            ),
        )
        data = response["data"]
        return parse_recording(data.get("recording", data))

    async def get(self, account_id: str, app_id: str, recording_id: str) -> RecordingState:
        """GET recordings/{id} [get].

        Raises:
            RealtimeKitError: 404 unknown recording; 429/5xx/transport retryable.
        """
        response = await self._call(
            "get",
            account_id,
            app_id,
            Priority.QUERY,
            lambda: self._sdk.realtime_kit.recordings.with_raw_response.get_one_recording(
                recording_id, account_id=account_id, app_id=app_id
            ),
        )
        return parse_recording(response["data"])

    async def active(self, account_id: str, app_id: str, meeting_id: str) -> RecordingState | None:
        """GET active-recording/{meeting_id} [active]; None when the meeting records nothing (404)."""
        try:
            response = await self._call(
                "active",
                account_id,
                app_id,
                Priority.QUERY,
                lambda: self._sdk.realtime_kit.recordings.with_raw_response.get_active_recordings(
                    meeting_id, account_id=account_id, app_id=app_id
                ),
            )
        except RealtimeKitError as exc:
            if exc.http_status == 404:
                return None
            raise
        return parse_recording(response["data"])

    async def action(
        self, account_id: str, app_id: str, recording_id: str, action: Literal["stop", "pause", "resume"]
    ) -> RecordingState:
        """PUT recordings/{id} `{"action": ...}` [action]. Never retried inside the SDK.

        Raises:
            RealtimeKitError: 400 invalid transition (pause only from RECORDING, resume only
                from PAUSED), 404 unknown; 429/5xx/transport retryable.
        """
        response = await self._call(
            "action",
            account_id,
            app_id,
            Priority.STOP if action == "stop" else Priority.UPDATE,
            lambda: self._writes.realtime_kit.recordings.with_raw_response.pause_resume_stop_recording(
                recording_id, account_id=account_id, app_id=app_id, action=action
            ),
        )
        return parse_recording(response["data"])

    async def webhooks(self, account_id: str, app_id: str) -> list[dict[str, Any]]:
        """GET webhooks [webhooks]: the app's webhook configurations `{id, name, url, events, enabled}`.

        Raises:
            RealtimeKitError: the call failed.
        """
        response = await self._call(
            "webhooks",
            account_id,
            app_id,
            Priority.UPDATE,
            lambda: self._sdk.realtime_kit.webhooks.with_raw_response.get_webhooks(
                app_id, account_id=account_id
            ),
        )
        data = response.get("data")
        return [w for w in data if isinstance(w, dict)] if isinstance(data, list) else []

    async def create_webhook(
        self, account_id: str, app_id: str, *, name: str, url: str, events: list[Any]
    ) -> dict[str, Any]:
        """POST webhooks `{name, url, events, enabled: true}` [webhooks]; returns the created webhook.

        Raises:
            RealtimeKitError: the call failed (never retried inside the SDK: a retry could create two).
        """
        response = await self._call(
            "createWebhook",
            account_id,
            app_id,
            Priority.UPDATE,
            lambda: self._writes.realtime_kit.webhooks.with_raw_response.create_webhook(
                app_id, account_id=account_id, name=name, url=url, events=events, enabled=True
            ),
        )
        data: dict[str, Any] = response.get("data") or {}
        return data

    async def edit_webhook(
        self, account_id: str, app_id: str, webhook_id: str, *, url: str, events: list[Any]
    ) -> dict[str, Any]:
        """PATCH webhooks/{id} `{url, events, enabled: true}` [webhooks]; returns the webhook.

        Raises:
            RealtimeKitError: the call failed.
        """
        response = await self._call(
            "editWebhook",
            account_id,
            app_id,
            Priority.UPDATE,
            lambda: self._writes.realtime_kit.webhooks.with_raw_response.edit_webhook(
                webhook_id, account_id=account_id, app_id=app_id, url=url, events=events, enabled=True
            ),
        )
        data: dict[str, Any] = response.get("data") or {}
        return data

    async def _call(
        self,
        endpoint: str,
        account_id: str,
        app_id: str,
        priority: Priority,
        send: Callable[[], Awaitable[Any]],
    ) -> dict[str, Any]:
        """One logical call: budget token, attempt, retries (module docstring).

        Raises:
            RealtimeKitError: the last attempt's error once retries are spent or not allowed.
        """
        scopes = (
            (ALL_SCOPE,)
            if endpoint in ("webhooks", "createWebhook", "editWebhook")
            else (
                ALL_SCOPE,
                RECORDINGS_SCOPE,
            )
        )
        import cloudflare

        key = f"{account_id}/{app_id}"
        rate_limited = retried = 0
        while True:
            if self._budget is not None:
                await self._budget.acquire(scopes, key, priority)
            try:
                try:
                    response = await send()
                finally:
                    if self._budget is not None:
                        self._budget.release(scopes, key)
                break
            except cloudflare.APIStatusError as exc:
                error = RealtimeKitError(
                    endpoint,
                    exc.status_code,
                    _error_message(exc.body, exc.message),
                    retryable=exc.status_code in (408, 429) or exc.status_code >= 500,
                )
                if exc.status_code == 429 and self._budget is not None:
                    if rate_limited >= MAX_RATE_LIMITED:
                        raise error from None
                    rate_limited += 1
                    retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
                    self._budget.throttled(scopes, key, retry_after)
                    log.info("realtimekit %s: HTTP 429; retried when the budget allows", endpoint)
                    continue
            except (cloudflare.APIConnectionError, httpx.HTTPError) as exc:
                error = RealtimeKitError(endpoint, None, type(exc).__name__, retryable=True)
            if endpoint not in READS or not error.retryable or retried >= self._read_retries:
                raise error from None
            await asyncio.sleep(full_jitter(retried, 0.5, 8.0, self._rng))
            retried += 1
        # The raw JSON, not the SDK's model: its `download_url: str` cannot hold the list that
        # track recordings return [recordings].
        result: dict[str, Any] = await response.json()
        return result


def _error_message(body: object, fallback: str) -> str:
    """Cloudflare's `{errors: [{code, message}]}` or RealtimeKit's `{error: {code, message}}` [recordings]."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", fallback))
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", fallback))
    return fallback
