"""The operator's Kubernetes client reaches an HTTPS API server with kopf's login: the CA from the
kubeconfig, the bearer token, and a refused certificate is a transport error, not an answer."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import kopf
import pytest
from aiohttp import web

from recording_operator.controllers._kit.kube import KubeApiError, KubeClient
from tests.support.recorder import self_signed_cert

TOKEN = "t0ken-for-tests"


def self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1, its own CA."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed_cert(Path(tmp))
        return cert.read_bytes(), key.read_bytes()


async def _answer(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"kind": "Status", "code": 401}, status=401)
    return web.json_response({"metadata": {"name": request.match_info["name"], "resourceVersion": "7"}})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, bytes]]:
    """An HTTPS server on 127.0.0.1 answering `GET /api/v1/namespaces/{ns}/pods/{name}`; yields its
    URL and its CA certificate (PEM)."""
    cert, key = self_signed()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tls.crt").write_bytes(cert)
        (Path(tmp) / "tls.key").write_bytes(key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(tmp) / "tls.crt", Path(tmp) / "tls.key")
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{namespace}/pods/{name}", _answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"https://127.0.0.1:{port}", cert
        finally:
            await runner.cleanup()


async def test_the_kubeconfigs_ca_and_token_reach_the_api_server(server: tuple[str, bytes]) -> None:
    url, ca = server
    kube = KubeClient(kopf.ConnectionInfo(server=url, ca_data=ca, token=TOKEN))
    try:
        obj = await kube.get_object("/api/v1/namespaces/team-a/pods/recorder-0")
    finally:
        await kube.aclose()
    assert obj == {"metadata": {"name": "recorder-0", "resourceVersion": "7"}}


async def test_a_certificate_the_ca_did_not_sign_is_refused(server: tuple[str, bytes]) -> None:
    url, _ = server
    other_ca, _ = self_signed()
    kube = KubeClient(kopf.ConnectionInfo(server=url, ca_data=other_ca, token=TOKEN))
    try:
        with pytest.raises(KubeApiError) as refused:
            await kube.get_object("/api/v1/namespaces/team-a/pods/recorder-0")
    finally:
        await kube.aclose()
    assert refused.value.status is None  # a transport failure: the server's answer was never read


async def test_a_wrong_token_is_the_api_servers_401(server: tuple[str, bytes]) -> None:
    url, ca = server
    kube = KubeClient(kopf.ConnectionInfo(server=url, ca_data=ca, token="not-" + TOKEN))
    try:
        with pytest.raises(KubeApiError) as refused:
            await kube.get_object("/api/v1/namespaces/team-a/pods/recorder-0")
    finally:
        await kube.aclose()
    assert refused.value.status == 401 and TOKEN not in str(refused.value)


def test_no_copy_of_an_inline_client_key_is_left_behind() -> None:
    # kopf's TLS context writes inline client keys to temporary files only while it loads them.
    cert, key = self_signed()
    before = set(Path(tempfile.gettempdir()).iterdir())

    async def build() -> None:
        conn = kopf.ConnectionInfo(
            server="https://127.0.0.1:1", ca_data=cert, certificate_data=cert, private_key_data=key
        )
        await KubeClient(conn).aclose()

    asyncio.run(build())
    copies = []
    for path in set(Path(tempfile.gettempdir()).iterdir()) - before:  # other tests may write here too
        try:
            if path.is_file() and key.strip() in path.read_bytes():
                copies.append(path)
        except OSError:
            continue
    assert copies == []
