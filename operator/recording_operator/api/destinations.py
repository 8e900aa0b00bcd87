"""Where a recording may make the operator and its recorder connect: the address check both sides
run (the controller before it creates a Pod or calls a storage endpoint, the recorder agent before it
starts FFmpeg, downloads an overlay or uploads), so that a recording's author cannot reach through
them what they cannot reach themselves (the cloud metadata service at 169.254.169.254, the API
server, cluster Services, the node's loopback).

A destination is refused unless the policy allows private destinations when its host is
- an IP literal that is not globally routable (`ipaddress` `is_global` false: RFC 1918 private,
  loopback, link-local, CGNAT 100.64/10, unique-local fc00::/7, multicast, reserved, unspecified;
  an IPv4-mapped IPv6 address is judged by its IPv4 address),
- a name that only resolves inside the cluster or the host (`localhost`, `*.localhost`, `*.local`,
  `*.internal`, `*.svc`, `*.cluster.local`, a single label such as `kubernetes`),
- or, after DNS resolution (`resolved_problem`), a name any of whose addresses is one of the above.

Storage endpoints the operator is configured with are exempt as storage endpoints (only). Resolution and
connection are two steps (FFmpeg and OpenDAL resolve again): a name whose answer changes in between
(DNS rebinding) is contained by the recorder NetworkPolicy, not by this check, and so are redirects
FFmpeg follows and the URLs of a remote HLS playlist.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from pydantic import Field

from recording_operator.api.v1alpha1.common import Model

#: Name suffixes that resolve only inside a cluster or a host.
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".svc", ".cluster.local")


class DestinationPolicy(Model):
    """The part of the operator's policy the recorder agent enforces too (in its config file)."""

    allowPrivate: bool = Field(
        default=False, description="Private, loopback and link-local destinations are allowed."
    )
    storageEndpoints: list[str] = Field(
        default_factory=list,
        description=(
            "Storage endpoints (`host` or `host:port`, lower case) allowed whatever they resolve to; "
            "they exempt `storage.endpoint` only, never an input or overlay URL on the same host."
        ),
    )

    def allows_storage(self, url: str) -> bool:
        """`url` is one of `storageEndpoints` (an entry without a port matches every port)."""
        host, port = url_host(url), _url_port(url)
        return any(entry in (host, f"{host}:{port}") for entry in self.storageEndpoints)


def url_host(url: str) -> str:
    """The host of `url` in lower case, without brackets (`""` when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _url_port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def address_problem(address: str) -> str | None:
    """Why an IP address is not a public destination, or None when it is globally routable.

    Raises:
        ValueError: `address` is not an IP address.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return None
    kind = (
        "loopback"
        if ip.is_loopback
        else "link-local"
        if ip.is_link_local
        else "private"
        if ip.is_private
        else "not globally routable"
    )
    return f"{address} is a {kind} address"


def host_problem(host: str) -> str | None:
    """Why `host` (a name or an IP literal) is not a public destination without resolving it, or None."""
    host = host.lower().rstrip(".")
    if not host:
        return "no host"
    try:
        return address_problem(host)
    except ValueError:
        pass
    if host == "localhost" or host.endswith(INTERNAL_SUFFIXES):
        return f"{host} is a cluster-internal or host-local name"
    if "." not in host:
        return f"{host} is a single-label (cluster-internal) name"
    return None


def destination_problem(url: str, policy: DestinationPolicy, *, storage: bool = False) -> str | None:
    """Why `url` must not be connected to under `policy` (without resolving), or None; `storage`:
    `url` is a storage endpoint (one of `policy.storageEndpoints` is allowed)."""
    host = url_host(url)
    if policy.allowPrivate or (storage and policy.allows_storage(url)):
        return None
    problem = host_problem(host)
    return f"{problem} (private destinations are not allowed)" if problem else None


async def resolved_problem(url: str, policy: DestinationPolicy, *, storage: bool = False) -> str | None:
    """`destination_problem`, then the same check on every address the host resolves to. A name that
    does not resolve is no problem here (the connection fails by itself)."""
    problem = destination_problem(url, policy, storage=storage)
    host = url_host(url)
    if problem or policy.allowPrivate or (storage and policy.allows_storage(url)):
        return problem
    return await resolved_host_problem(host)


async def resolved_host_problem(host: str) -> str | None:
    """Why `host` is not a public destination after DNS resolution (any of its addresses is not
    globally routable), or None; a name that does not resolve is None."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        found = address_problem(str(info[4][0]))
        if found:
            return f"{host} resolves to {found} (private destinations are not allowed)"
    return None


def storage_hosts(endpoints: Collection[str]) -> list[str]:
    """`host` or `host:port` of configured storage endpoint URLs (lower case, deduplicated, in order)."""
    hosts: list[str] = []
    for endpoint in endpoints:
        url = endpoint if "://" in endpoint else f"https://{endpoint}"
        host, port = url_host(url), _url_port(url)
        entry = f"{host}:{port}" if port else host
        if host and entry not in hosts:
            hosts.append(entry)
    return hosts
