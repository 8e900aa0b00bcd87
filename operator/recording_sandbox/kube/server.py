"""The HTTP front: routes Kubernetes API paths to the store with plain aiohttp (no DSL routing).

Each request is parsed from its path in O(1), counted in :class:`RequestStats`, and answered
with JSON (objects, lists with ``kind: <Kind>List``, ``Status`` errors, ``Table`` when asked)
or a chunked stream of JSON lines for watches.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from recording_sandbox.kube import apply, discovery, logs, openapi, requestoptions
from recording_sandbox.kube.errors import (
    ApiError,
    Cause,
    bad_request,
    endpoint_not_found,
    invalid,
    method_not_allowed,
    not_found,
)
from recording_sandbox.kube.faults import Fault, Faults
from recording_sandbox.kube.negotiation import decode_body, wants_json
from recording_sandbox.kube.patching import APPLY_PATCH
from recording_sandbox.kube.resources import Registry, ResourceType
from recording_sandbox.kube.reviews import REVIEW_KEYS, review
from recording_sandbox.kube.selectors import FieldSelector, LabelSelector
from recording_sandbox.kube.stats import RequestStats
from recording_sandbox.kube.store import Store
from recording_sandbox.kube.tables import render_table
from recording_sandbox.kube.watching import ERROR, Watcher, encode_line

logger = logging.getLogger(__name__)

WATCH_QUEUE_LIMIT = 20_000


@dataclass(frozen=True)
class Target:
    """A parsed resource path: ``/api(s)/<g>/<v>/[namespaces/<ns>/]<plural>[/<name>[/<sub>]]``."""

    resource_type: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` objects are presented in."""
        return self.resource_type.api_version(self.version)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def _present(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


class ApiServer:
    """The aiohttp request handler serving one :class:`Store`."""

    def __init__(self, registry: Registry, store: Store, stats: RequestStats) -> None:
        self.registry = registry
        self.store = store
        self.stats = stats
        self.faults = Faults()
        self.server_address = ""
        #: Where the sandbox Pod runner writes Pod output (``None``: no runner, logs are empty).
        self.pod_log_dir: Path | None = None
        #: The watch streams open over HTTP (not the sandbox's in-process watchers: Pod runner, Jobs).
        self.http_watchers: set[Watcher] = set()

    def application(self) -> web.Application:
        """Build the aiohttp application (one catch-all route)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request; API failures become ``Status`` bodies, crashes become 500s."""
        try:
            response = await self._dispatch(request)
            if not response.prepared:
                for warning in requestoptions.warning_headers():
                    response.headers.add("Warning", warning)
            return response
        except ApiError as exc:
            failed = _json(exc.to_status(), exc.code)
            for warning in requestoptions.warning_headers():
                failed.headers.add("Warning", warning)
            return failed
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            logger.exception("Kubernetes emulator failed on %s %s", request.method, request.path_qs)
            # kube-apiserver's wording for an unexpected failure (apierrors.NewInternalError), without
            # the exception's text: details stay in the sandbox log.
            message = (
                f"Internal error occurred: {type(exc).__name__} while serving {request.method} {request.path}"
            )
            return _json(ApiError(500, "InternalError", message).to_status(), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [part for part in request.path.split("/") if part]
        if not parts:
            return _json({"paths": ["/api", "/api/v1", "/apis", "/version"]})
        head = parts[0]
        if head in ("healthz", "livez", "readyz"):
            return web.Response(text="ok")
        if head == "version" and len(parts) == 1:
            return _json(discovery.VERSION_INFO)
        if head == "openapi":
            return self._openapi(request, parts[1:])
        if parts == ["_emulator", "faults"]:
            return await self._faults(request)
        if parts == ["_emulator", "watches"] and request.method == "DELETE":
            return _json({"cut": self.cut_watches()})
        if head == "api":
            if len(parts) == 1:
                return _json(discovery.core_versions(self.server_address))
            group, version, rest = "", parts[1], parts[2:]
        elif head == "apis":
            if len(parts) == 1:
                return _json(discovery.group_list(self.registry))
            if len(parts) == 2:
                document = discovery.group(self.registry, parts[1])
                if document is None:
                    raise endpoint_not_found(request.path)
                return _json(document)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise endpoint_not_found(request.path)
        if not rest:
            listing = discovery.resource_list(self.registry, group, version)
            if listing is None:
                raise endpoint_not_found(request.path)
            return _json(listing)
        target = self._target(request.path, group, version, rest)
        if target.subresource != "log" and not wants_json(request.headers.get("Accept", "")):
            # The sandbox answers JSON (also to clients listing it after protobuf, as kubectl does):
            # a client accepting neither gets kube-apiserver's 406.
            raise ApiError(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json, application/yaml",
            )
        return await self._serve(request, target)

    def _target(self, path: str, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            is_namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
            if not is_namespace_subresource:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise endpoint_not_found(path)
        resource_type = self.registry.lookup(group, version, rest[0])
        if resource_type is None or (namespace is not None and not resource_type.namespaced):
            raise endpoint_not_found(path)
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        is_log = subresource == "log" and resource_type.key == ("", "pods")
        if (
            subresource is not None
            and not is_log
            and (subresource != "status" or not resource_type.status_subresource)
        ):
            raise endpoint_not_found(path)
        return Target(resource_type, version, namespace, name, subresource)

    def _openapi(self, request: web.Request, parts: list[str]) -> web.Response:
        """``/openapi/v2`` (JSON) and ``/openapi/v3[/api/v1|/apis/<g>/<v>]`` (see openapi.py)."""
        if request.method != "GET":
            raise method_not_allowed()
        if parts == ["v2"]:
            if not wants_json(request.headers.get("Accept", "")):
                # kube-apiserver also serves v2 as protobuf; the sandbox serves JSON only, and says so.
                raise ApiError(
                    406, "NotAcceptable", "only the following media types are accepted: application/json"
                )
            return _json(openapi.swagger_document(self.registry))
        if parts == ["v3"]:
            return _json(openapi.discovery_document(self.registry))
        document = None
        if len(parts) == 3 and parts[:2] == ["v3", "api"]:
            document = openapi.group_version_document(self.registry, "", parts[2])
        elif len(parts) == 4 and parts[:2] == ["v3", "apis"]:
            document = openapi.group_version_document(self.registry, parts[2], parts[3])
        if document is None:
            raise endpoint_not_found(request.path)
        return _json(document)

    async def _faults(self, request: web.Request) -> web.Response:
        """``/_emulator/faults`` (see faults.py): GET lists, POST arms one, DELETE disarms all."""
        if request.method == "GET":
            return _json({"faults": self.faults.armed()})
        if request.method == "DELETE":
            self.faults.clear()
            return _json({"faults": []})
        if request.method != "POST":
            raise method_not_allowed()
        try:
            self.faults.add(Fault.from_json(await self._body(request)))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return _json({"faults": self.faults.armed()}, 201)

    async def _serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        rt = target.resource_type
        injected = self.faults.take(method, rt.plural, target.subresource)
        if injected is not None:
            raise injected
        query = request.query
        if rt.key in REVIEW_KEYS:
            if method != "POST" or target.name is not None:
                raise method_not_allowed()
            self.stats.record("create", rt.group, rt.plural, None)
            return _json(review(rt.key, target.api_version, await self._body(request, rt.kind)), 201)
        if target.subresource == "log":
            if method != "GET":
                raise method_not_allowed()
            self.stats.record("get", rt.group, rt.plural, "log")
            return await self._pod_log(request, target)
        if method == "GET":
            if target.name is not None:
                self.stats.record("get", rt.group, rt.plural, target.subresource)
                return self._get(request, target)
            if query.get("watch", "").lower() in ("true", "1"):
                self.stats.record("watch", rt.group, rt.plural, None)
                return await self._watch(request, target)
            self.stats.record("list", rt.group, rt.plural, None)
            return self._list(request, target)
        options_kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}
        requestoptions.begin(
            query, options_kind.get(method, "DeleteOptions"), request.headers.get("User-Agent", "")
        )
        if method == "POST":
            self.stats.record("create", rt.group, rt.plural, target.subresource)
            if target.name is not None:
                raise method_not_allowed()
            if rt.namespaced and target.namespace is None:
                raise endpoint_not_found(request.path)
            obj = self.store.create(rt, target.namespace, await self._body(request, rt.kind))
            return _json(_present(obj, target.api_version), 201)
        if target.name is None and method != "DELETE":
            raise method_not_allowed()
        assert target.name is not None or method == "DELETE"
        if rt.namespaced and target.namespace is None:
            raise endpoint_not_found(request.path)
        if method == "PUT":
            self.stats.record("update", rt.group, rt.plural, target.subresource)
            assert target.name is not None
            body = await self._body(request, rt.kind)
            obj = self.store.replace(rt, target.namespace, target.name, body, target.subresource)
            return _json(_present(obj, target.api_version))
        if method == "PATCH":
            self.stats.record("patch", rt.group, rt.plural, target.subresource)
            assert target.name is not None
            content_type = request.content_type
            body = await self._body(request, rt.kind)
            if content_type == APPLY_PATCH:
                obj, created = self._apply(request, target, body)
                return _json(_present(obj, target.api_version), 201 if created else 200)
            obj = self.store.patch(rt, target.namespace, target.name, content_type, body, target.subresource)
            return _json(_present(obj, target.api_version))
        if method == "DELETE":
            self.stats.record("delete", rt.group, rt.plural, target.subresource)
            return await self._delete(request, target)
        raise method_not_allowed()

    async def _pod_log(self, request: web.Request, target: Target) -> web.StreamResponse:
        """``GET pods/<name>/log`` (see logs.py) from the Pod runner's files."""
        assert target.name is not None
        rt, namespace, name = target.resource_type, target.namespace or "default", target.name
        pod = self.store.get(rt, namespace, name)
        container = logs.container_of(pod, request.query)
        logs.check_options(pod, container, request.query)
        uid = pod["metadata"]["uid"]

        def running() -> bool:
            current = self.store.find(rt, namespace, name)
            if current is None or current["metadata"]["uid"] != uid:
                return False
            return (current.get("status") or {}).get("phase") not in ("Succeeded", "Failed")

        if self.pod_log_dir is None:
            return web.Response(body=b"", content_type="text/plain")
        path = logs.pod_log_path(self.pod_log_dir, namespace, name)
        return await logs.serve(request, path, running, request.query)

    def _apply(self, request: web.Request, target: Target, body: Any) -> tuple[dict[str, Any], bool]:
        """Server-side apply (see apply.py); returns ``(object, created)``.

        Raises 422 without ``fieldManager``, 400 for a body that is not the named object of
        this resource, 409 ``Conflict`` (``FieldManagerConflict`` causes) unless ``force=true``.
        """
        rt = target.resource_type
        assert target.name is not None
        manager = request.query.get("fieldManager")
        if not manager:
            raise invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [Cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")],
            )
        if not isinstance(body, dict):
            raise bad_request("the body of an apply patch must be an object")
        if body.get("kind") != rt.kind or body.get("apiVersion") != target.api_version:
            raise bad_request(
                f"the apply patch must be a {rt.kind} of {target.api_version}, "
                f"got {body.get('kind')!r} of {body.get('apiVersion')!r}"
            )
        metadata: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        if metadata.get("name") not in (None, target.name):
            raise bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({target.name})"
            )
        force = request.query.get("force", "").lower() in ("true", "1")
        schema = rt.schema(target.version)
        live = self.store.find(rt, target.namespace, target.name)
        if live is not None:
            found = apply.conflicts(live, body, apply.field_set(body, schema), manager)
            if found and not force:
                raise apply.conflict_error(rt.kind, rt.group, rt.plural, target.name, found)
        merged, applied_paths = apply.applied_object(live, body, schema, manager)
        options = requestoptions.current()
        options.applied, options.force = applied_paths, force
        merged.setdefault("metadata", {})["name"] = target.name
        if live is None:
            if target.subresource is not None:
                raise not_found(rt.group, rt.plural, target.name)
            return self.store.create(rt, target.namespace, merged), True
        if not metadata.get("resourceVersion"):
            merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        obj = self.store.replace(rt, target.namespace, target.name, merged, target.subresource)
        return obj, False

    async def _body(self, request: web.Request, kind: str = "DeleteOptions") -> Any:
        return decode_body(request.headers.get("Content-Type", ""), await request.read(), kind)

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    def _table(
        self, request: web.Request, target: Target, items: list[dict[str, Any]], rv: str | None
    ) -> Any:
        include = request.query.get("includeObject", "Metadata")
        presented = [_present(obj, target.api_version) for obj in items]
        return render_table(target.resource_type.crd, presented, include_object=include, resource_version=rv)

    def _get(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None
        obj = self.store.get(target.resource_type, target.namespace, target.name)
        if self._wants_table(request):
            return _json(self._table(request, target, [obj], obj["metadata"]["resourceVersion"]))
        return _json(_present(obj, target.api_version))

    def _selectors(
        self, request: web.Request, target: Target
    ) -> tuple[LabelSelector | None, FieldSelector | None]:
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        fields = FieldSelector.parse(request.query.get("fieldSelector"), target.resource_type.key)
        return labels, fields

    def _list(self, request: web.Request, target: Target) -> web.Response:
        labels, fields = self._selectors(request, target)
        limit_text = request.query.get("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            raise bad_request(f"invalid limit: {limit_text}") from None
        items, rv, token = self.store.select(
            target.resource_type,
            target.namespace,
            labels=labels,
            fields=fields,
            limit=limit if limit and limit > 0 else None,
            continue_token=request.query.get("continue") or None,
        )
        if self._wants_table(request):
            table = self._table(request, target, items, rv)
            if token:
                table["metadata"]["continue"] = token
            return _json(table)
        metadata: dict[str, Any] = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        return _json(
            {
                "kind": target.resource_type.list_kind,
                "apiVersion": target.api_version,
                "metadata": metadata,
                "items": [_present(obj, target.api_version) for obj in items],
            }
        )

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        labels, fields = self._selectors(request, target)
        timeout_text = request.query.get("timeoutSeconds")
        try:
            timeout = float(timeout_text) if timeout_text else None
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {timeout_text}") from None
        rt = target.resource_type
        watcher = Watcher(
            key=rt.key,
            namespace=target.namespace,
            api_version=target.api_version,
            kind=rt.kind,
            labels=labels,
            fields=fields,
            bookmarks=request.query.get("allowWatchBookmarks", "").lower() in ("true", "1"),
            queue_limit=WATCH_QUEUE_LIMIT,
        )
        send_initial = request.query.get("sendInitialEvents", "").lower() in ("true", "1")
        try:
            self.store.watch(rt, watcher, request.query.get("resourceVersion"), send_initial=send_initial)
        except ApiError as exc:
            if exc.code != 410:
                raise
            watcher.put(encode_line(ERROR, exc.to_status()))
            watcher.close()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        self.http_watchers.add(watcher)
        try:
            async with asyncio.timeout(timeout):
                await self._pump(watcher, response, self._table_lines(request, target))
        except TimeoutError:
            pass
        except ConnectionError:
            pass
        finally:
            self.http_watchers.discard(watcher)
            self.store.unwatch(watcher)
            watcher.closed = True
        return response

    def _table_lines(self, request: web.Request, target: Target) -> Callable[[bytes], bytes] | None:
        """For watches asking ``as=Table`` (``kubectl get -w``): each event's object becomes a one-row
        ``Table``, as kube-apiserver sends them
        (https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables)."""
        if not self._wants_table(request):
            return None

        def transform(line: bytes) -> bytes:
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") not in ("ADDED", "MODIFIED", "DELETED") or obj.get("kind") == "Table":
                return line
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            return encode_line(event["type"], self._table(request, target, [obj], rv))

        return transform

    def cut_watches(self) -> int:
        """End every watch stream open over HTTP after the lines already queued, as an API server
        restart or a dropped connection does (clients re-list or watch again); returns how many."""
        cut = list(self.http_watchers)
        for watcher in cut:
            self.store.unwatch(watcher)
            watcher.close()
        return len(cut)

    @staticmethod
    async def _pump(
        watcher: Watcher, response: web.StreamResponse, transform: Callable[[bytes], bytes] | None = None
    ) -> None:
        queue = watcher.queue
        while True:
            line = await queue.get()
            if line is None:
                return
            chunks = [line]
            ended = False
            while not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    ended = True
                    break
                chunks.append(more)
            if transform is not None:
                chunks = [transform(chunk) for chunk in chunks]
            await response.write(b"".join(chunks))
            if ended:
                return

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        rt = target.resource_type
        options = await self._body(request) or {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        propagation = request.query.get("propagationPolicy") or options.get("propagationPolicy")
        grace_text = request.query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        try:
            grace = None if grace_text in (None, "") else int(grace_text)
        except (TypeError, ValueError):
            raise bad_request(f"gracePeriodSeconds must be an integer, not {grace_text!r}") from None
        for value in options.get("dryRun") or []:
            if value != "All":
                raise invalid(
                    "DeleteOptions",
                    "meta.k8s.io",
                    "",
                    [
                        Cause(
                            "dryRun",
                            f'Unsupported value: "{value}": supported values: "All"',
                            "FieldValueNotSupported",
                        )
                    ],
                )
            requestoptions.current().dry_run = True
        if target.name is None:
            labels, fields = self._selectors(request, target)
            deleted = self.store.delete_collection(rt, target.namespace, labels=labels, fields=fields)
            return _json(
                {
                    "kind": rt.list_kind,
                    "apiVersion": target.api_version,
                    "metadata": {"resourceVersion": str(self.store.resource_version)},
                    "items": [_present(obj, target.api_version) for obj in deleted],
                }
            )
        obj, removed = self.store.delete(
            rt,
            target.namespace,
            target.name,
            preconditions=options.get("preconditions"),
            propagation=propagation,
            grace_period_s=grace,
        )
        if removed and rt.builtin:
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": target.name,
                        "group": rt.group,
                        "kind": rt.plural,
                        "uid": obj["metadata"].get("uid"),
                    },
                }
            )
        return _json(_present(obj, target.api_version))
