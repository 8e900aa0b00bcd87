"""The recorder Pods a poll sees come from the Pod index, corrected by what this process did
since the watch last spoke: Pods it released are not seen again, Pods it created are."""

from __future__ import annotations

import time

from recording_operator.controllers.localrecording.driver import CREATED_TTL_S, RecorderMemory, indexed_pods


def pod(name: str, uid: str) -> dict[str, object]:
    return {"metadata": {"name": name, "uid": uid}}


def test_a_released_pod_the_watch_still_shows_is_not_collected_twice() -> None:
    memory = RecorderMemory()
    memory.released.add("u1")
    seen = indexed_pods(memory, [pod("rec-0", "u1"), pod("rec-1", "u2")])
    assert [p["metadata"]["name"] for p in seen] == ["rec-1"]  # type: ignore[index]
    # Once the watch no longer shows it, it is forgotten.
    indexed_pods(memory, [pod("rec-1", "u2")])
    assert memory.released == set()


def test_a_created_pod_counts_until_the_watch_shows_it() -> None:
    memory = RecorderMemory()
    memory.created["rec-2"] = (time.monotonic(), pod("rec-2", "u3"))
    assert [p["metadata"]["name"] for p in indexed_pods(memory, [])] == ["rec-2"]  # type: ignore[index]
    assert [p["metadata"]["name"] for p in indexed_pods(memory, [pod("rec-2", "u3")])] == ["rec-2"]  # type: ignore[index]
    assert memory.created == {}


def test_a_created_pod_never_shown_is_not_kept_forever() -> None:
    memory = RecorderMemory()
    memory.created["rec-3"] = (time.monotonic() - CREATED_TTL_S - 1, pod("rec-3", "u4"))
    assert indexed_pods(memory, []) == []
