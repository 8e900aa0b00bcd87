"""``KubeEmulator``: the Kubernetes API emulator as one object (store + HTTP server + helpers)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from recording_sandbox.kube.admission import CRD_KEY, NAMESPACE_KEY
from recording_sandbox.kube.resources import Registry, ResourceType
from recording_sandbox.kube.server import ApiServer
from recording_sandbox.kube.stats import RequestStats
from recording_sandbox.kube.store import Store

DUMMY_TOKEN = "sandbox-token"


def load_yaml_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Read every YAML document from files and from ``*.yaml``/``*.yml`` files of directories."""
    documents: list[dict[str, Any]] = []
    for path in paths:
        path = Path(path)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        for file in files:
            for document in yaml.safe_load_all(file.read_text()):
                if isinstance(document, dict):
                    documents.append(document)
    return documents


class KubeEmulator:
    """An in-process Kubernetes API server for kopf, the ``kubernetes`` client and kubectl.

    Objects live in memory; ``crd_paths`` (CRD YAML files or directories) are registered at
    construction; ``namespaces`` exist from the start. ``watch_window`` is how many recent
    changes are kept to resume watches from a resourceVersion (older ones answer 410).
    """

    bookmark_interval: float = 5.0
    """Seconds between BOOKMARK events for watches with ``allowWatchBookmarks``."""

    def __init__(
        self,
        *,
        crd_paths: Iterable[Path] = (),
        namespaces: Iterable[str] = ("default",),
        watch_window: int = 10_000,
    ) -> None:
        self.registry = Registry()
        self.store = Store(self.registry, watch_window=watch_window)
        self.stats = RequestStats()
        self.url = ""
        self._api = ApiServer(self.registry, self.store, self.stats)
        self._runner: web.AppRunner | None = None
        self._bookmarks: asyncio.Task[None] | None = None
        namespace_type = self._type(NAMESPACE_KEY)
        for namespace in namespaces:
            if self.store.find(namespace_type, None, namespace) is None:
                self.store.create(namespace_type, None, {"metadata": {"name": namespace}})
        for document in load_yaml_documents(crd_paths):
            if document.get("kind") == "CustomResourceDefinition":
                self.register_crd(document)

    def _type(self, key: tuple[str, str]) -> ResourceType:
        resource_type = self.registry.get(key)
        assert resource_type is not None
        return resource_type

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HTTP on ``host:port`` (0 picks a free port); return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        runner = web.AppRunner(
            self._api.application(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = int(runner.addresses[0][1])
        self.url = f"http://{host}:{bound_port}"
        self._api.server_address = f"{host}:{bound_port}"
        self._bookmarks = asyncio.create_task(self._bookmark_loop())
        return self.url

    async def _bookmark_loop(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            self.store.bookmark_all()

    async def stop(self) -> None:
        """End all watch streams and stop serving (idempotent)."""
        if self._bookmarks is not None:
            self._bookmarks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bookmarks
            self._bookmarks = None
        self.store.close_watchers()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def serve_pod_logs(self, log_dir: Path) -> None:
        """Serve the Pod ``log`` subresource from ``log_dir`` (the sandbox Pod runner's files)."""
        self._api.pod_log_dir = log_dir

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig (context ``sandbox``, plain http, dummy bearer token); return its path."""
        if not self.url:
            raise RuntimeError("start() the emulator before writing a kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": DUMMY_TOKEN}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace},
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def register_crd(self, crd: dict[str, Any]) -> None:
        """Create (or replace) a CustomResourceDefinition, as a POST/PUT of it would.

        Raises :class:`~recording_sandbox.kube.errors.ApiError` 422 for malformed CRDs.
        """
        crd_type = self._type(CRD_KEY)
        name = (crd.get("metadata") or {}).get("name", "")
        current = self.store.find(crd_type, None, name)
        if current is None:
            self.store.create(crd_type, None, crd)
        else:
            body = copy.deepcopy(crd)
            body.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.store.replace(crd_type, None, name, body, None)

    def get_object(
        self, group: str, version: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """Return a copy of an object (presented at ``version``), or ``None`` if absent."""
        resource_type = self.registry.lookup(group, version, plural)
        if resource_type is None:
            return None
        obj = self.store.find(resource_type, namespace if resource_type.namespaced else None, name)
        if obj is None:
            return None
        result = copy.deepcopy(obj)
        result["apiVersion"] = resource_type.api_version(version)
        return result

    def list_objects(
        self, group: str, version: str, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Return copies of all objects of a resource (in one namespace, or everywhere)."""
        resource_type = self.registry.lookup(group, version, plural)
        if resource_type is None:
            return []
        items, _, _ = self.store.select(resource_type, namespace if resource_type.namespaced else None)
        result = copy.deepcopy(items)
        for obj in result:
            obj["apiVersion"] = resource_type.api_version(version)
        return result
