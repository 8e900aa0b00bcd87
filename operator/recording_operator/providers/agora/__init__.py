"""Agora REST clients (Cloud Recording, Cloud Transcoder) over async httpx; no Kubernetes imports.

Modules: ``client`` (the shared base: credentials, domains, transport, close), ``recording``
(Cloud Recording endpoints and answers), ``transcoder`` (Cloud Transcoder endpoints and answers),
``transport`` (failover and in-call retries), ``retry`` (both services' retry schedules),
``errors`` (the one error type and its classification), ``tokens`` (RTC tokens).
"""

from recording_operator.providers.agora.client import DEFAULT_BASE_URLS, AgoraClient, AgoraCredentials
from recording_operator.providers.agora.errors import (
    CODE_ALREADY_EXITING,
    CODE_ALREADY_STARTED,
    CODE_INVALID_PARAMETER,
    CODE_NO_RECORDED_DATA,
    CODE_NOT_FOUND,
    CODE_REQUEST_NOT_COMPLETED,
    CODE_REQUEST_TIMEOUT,
    CODE_RESOURCE_EXPIRED,
    CODE_RESOURCE_MISMATCH,
    CODE_RESOURCE_UNPARSEABLE,
    CODE_SID_MISMATCH,
    CODE_TASK_CONFLICT,
    AgoraError,
    is_retryable,
)
from recording_operator.providers.agora.recording import (
    AcquireResult,
    CloudRecordingClient,
    QueryResult,
    RecordingFile,
    StartResult,
    StopResult,
    parse_file_list,
    parse_query,
    parse_stop,
)
from recording_operator.providers.agora.retry import RetryPolicy

__all__ = [
    "CODE_ALREADY_EXITING",
    "CODE_ALREADY_STARTED",
    "CODE_INVALID_PARAMETER",
    "CODE_NOT_FOUND",
    "CODE_NO_RECORDED_DATA",
    "CODE_REQUEST_NOT_COMPLETED",
    "CODE_REQUEST_TIMEOUT",
    "CODE_RESOURCE_EXPIRED",
    "CODE_RESOURCE_MISMATCH",
    "CODE_RESOURCE_UNPARSEABLE",
    "CODE_SID_MISMATCH",
    "CODE_TASK_CONFLICT",
    "DEFAULT_BASE_URLS",
    "AcquireResult",
    "AgoraClient",
    "AgoraCredentials",
    "AgoraError",
    "CloudRecordingClient",
    "QueryResult",
    "RecordingFile",
    "RetryPolicy",
    "StartResult",
    "StopResult",
    "is_retryable",
    "parse_file_list",
    "parse_query",
    "parse_stop",
]
