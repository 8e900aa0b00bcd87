"""The Pod ``log`` subresource: ``GET /api/v1/namespaces/<ns>/pods/<name>/log``.

Served as kube-apiserver serves it (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
pod-v1/#read-log-of-the-specified-pod, "read log of the specified Pod"): ``text/plain`` output of
the Pod's container; ``container`` names it (required when the Pod has several, 400 when it is not
one of the Pod's), ``follow=true`` streams until the container ends, ``tailLines`` keeps the last
lines, ``limitBytes`` caps the answer, ``previous=true`` asks for a restarted container's output
(the sandbox never restarts containers: 400 as for a container that did not restart). A container
that has not started yet answers 400 ``... is waiting to start: ContainerCreating``.

The sandbox Pod runner writes each Pod's output to :func:`pod_log_path`; ``timestamps``,
``sinceSeconds`` and ``sinceTime`` need per-line times the runner does not record, and are
refused with 400 rather than ignored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from recording_sandbox.kube.errors import bad_request

FOLLOW_POLL_S = 0.2
_DONE_PHASES = ("Succeeded", "Failed")


def pod_log_path(log_dir: Path, namespace: str, name: str) -> Path:
    """Where the Pod runner keeps the output of Pod ``namespace/name`` (its current incarnation)."""
    return log_dir / f"{namespace}_{name}.log"


def _positive(query: Any, key: str) -> int | None:
    text = query.get(key)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f'invalid value for {key}: "{text}"') from None
    if value < 0 or (key == "limitBytes" and value == 0):
        raise bad_request(
            f"{key}: Invalid value: {value}: must be greater than {0 if key == 'limitBytes' else -1}"
        )
    return value


def container_of(pod: dict[str, Any], query: Any) -> str:
    """The container whose log is asked for; raises 400 as kube-apiserver does."""
    name = pod["metadata"]["name"]
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = query.get("container")
    if not wanted:
        if len(containers) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        return containers[0]
    if wanted not in containers:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def check_options(pod: dict[str, Any], container: str, query: Any) -> None:
    """Refuse what cannot be answered (see the module docstring); 400 ``BadRequest``."""
    name = pod["metadata"]["name"]
    for key in ("timestamps", "sinceSeconds", "sinceTime"):
        if key in query and query.get(key, "").lower() not in ("", "false"):
            raise bad_request(
                f"{key} is not supported by the sandbox: its Pod runner keeps no per-line times"
            )
    if query.get("previous", "").lower() in ("true", "1"):
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if not any(status.get("name") == container for status in statuses):
        reason = (
            "ContainerCreating"
            if (pod.get("status") or {}).get("phase") != "Failed"
            else "CreateContainerError"
        )
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _read_from(path: Path, offset: int) -> bytes:
    """The file's bytes from ``offset`` (empty when it does not exist yet)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    if lines == 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


async def serve(request: web.Request, path: Path, pod_running: Any, query: Any) -> web.StreamResponse:
    """Answer the log of one container from its file; ``pod_running()`` tells whether to keep following."""
    tail_lines = _positive(query, "tailLines")
    limit = _positive(query, "limitBytes")
    follow = query.get("follow", "").lower() in ("true", "1")
    data = _read_from(path, 0)
    first = _tail(data, tail_lines)
    if limit is not None:
        first = first[:limit]
    if not follow:
        return web.Response(body=first, content_type="text/plain")
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    sent = len(first)
    if first:
        await response.write(first)
    offset = len(data)
    try:
        while limit is None or sent < limit:
            more = _read_from(path, offset)
            if more:
                offset += len(more)
                if limit is not None:
                    more = more[: limit - sent]
                sent += len(more)
                await response.write(more)
                continue
            if not pod_running():
                break
            await asyncio.sleep(FOLLOW_POLL_S)
    except ConnectionError:
        pass
    return response


__all__ = ["check_options", "container_of", "pod_log_path", "serve"]
