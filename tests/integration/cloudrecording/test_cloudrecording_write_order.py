"""The sid is on the API server before the start-pending marker leaves it.

kopf sends its body patch (which removes the annotation) before its status patch. If the sid only
travelled with kopf's status patch, a crash or a refused status patch between the two would leave
the object with neither marker nor sid: the session would be lost. Every version of the object
the API server stored is watched here: none may lack both once the marker was written.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from tests.support.harness import GROUP_PATH, Agora, Cluster, recording
from tests.support.waiting import wait_for

PENDING = "recording.mediaops.io/start-pending"


class Versions:
    """Every version of the namespace's CloudRecordings, as the watch delivers them."""

    def __init__(self, cluster: Cluster) -> None:
        self.items: list[dict[str, Any]] = []
        self._client = httpx.Client(base_url=str(cluster.http.base_url), timeout=None)
        self._path = f"{GROUP_PATH}/namespaces/{cluster.namespace}/cloudrecordings"
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Versions:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self._path, params={"watch": "true"}) as response:
                for line in response.iter_lines():
                    if line.strip():
                        self.items.append(json.loads(line)["object"])
        except (httpx.HTTPError, RuntimeError):
            return  # closed by __exit__

    def of(self, name: str) -> list[dict[str, Any]]:
        return [o for o in list(self.items) if o.get("metadata", {}).get("name") == name]


def test_no_stored_version_lacks_both_the_marker_and_the_sid(cluster: Cluster, agora: Agora) -> None:
    body = recording()
    name = body["metadata"]["name"]
    with Versions(cluster) as versions:
        cluster.create(body)
        wait_for(
            lambda: any((o.get("status") or {}).get("phase") == "Recording" for o in versions.of(name)),
            what="Recording seen by the watch",
        )
        seen = versions.of(name)
    marked = next(i for i, o in enumerate(seen) if PENDING in (o["metadata"].get("annotations") or {}))
    for obj in seen[marked:]:
        has_marker = PENDING in (obj["metadata"].get("annotations") or {})
        has_sid = bool((obj.get("status") or {}).get("sid"))
        assert has_marker or has_sid, f"resourceVersion {obj['metadata']['resourceVersion']} lost the session"
    cluster.delete(name)
    wait_for(lambda: cluster.get(name) is None, what=f"{name} deleted")
