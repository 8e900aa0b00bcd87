"""The operator's Secret reads: only opted-in Secrets are used, and the cache forgets what it read."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from recording_operator.controllers._kit.kube import Answer, KubeClient, SecretNotOptedIn


def secret(name: str, *, labelled: bool) -> dict[str, object]:
    labels = {"recording.mediaops.io/use": "true"} if labelled else {}
    return {"metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
            "data": {"password": base64.b64encode(b"hunter2").decode()}}  # fmt: skip


def client(ttl_s: float, namespaces: tuple[str, ...] = ()) -> KubeClient:
    """A KubeClient whose API server answers every Secret GET (labelled unless named `plain-*`)."""

    async def answer(method: str, path: str, what: str, **_: object) -> Answer:
        name = path.rsplit("/", 1)[-1]
        return Answer(200, json.dumps(secret(name, labelled=not name.startswith("plain-"))).encode())

    kube = KubeClient.__new__(KubeClient)
    kube._send = answer  # type: ignore[method-assign]
    kube._ttl = ttl_s
    kube._secret_namespaces = frozenset(namespaces)
    kube._secrets = {}
    return kube


def test_an_unlabelled_secret_is_refused_and_never_cached() -> None:
    kube = client(60)
    with pytest.raises(SecretNotOptedIn) as refused:
        asyncio.run(kube.read_secret("team-a", "plain-db"))
    assert "recording.mediaops.io/use=true" in str(refused.value) and "hunter2" not in str(refused.value)
    assert kube._secrets == {}
    assert asyncio.run(client(60, ("team-a",)).read_secret("team-a", "plain-db")) == {"password": "hunter2"}


def test_expired_secrets_leave_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = client(10)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    for i in range(50):
        asyncio.run(kube.read_secret("team-a", f"s{i}"))
    assert len(kube._secrets) == 50
    now[0] += 11
    asyncio.run(kube.read_secret("team-a", "fresh"))
    assert list(kube._secrets) == [("team-a", "fresh")]
