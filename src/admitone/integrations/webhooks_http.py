"""POSTing a webhook to a URL an organization gave us, without letting it reach inside.

The host is resolved once; every address must be public (no private, loopback, link-local,
multicast, reserved or unspecified address, IPv4 or IPv6, including IPv4-mapped IPv6), and
the connection goes to that checked address (the URL's host is kept for `Host` and TLS SNI
and certificate checks), so a DNS answer that changes between check and connect cannot
redirect it. A 307/308 redirect is followed at most `MAX_REDIRECTS` times and its target is
checked the same way; other redirects are not followed. Timeouts are short and at most
`MAX_BODY` bytes of the answer are read.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

MAX_BODY = 4096
MAX_REDIRECTS = 3

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL is not one we may call (scheme, or an address that is not public)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_BODY bytes
    elapsed_ms: int


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # also shared (CGNAT), documentation and benchmark ranges
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _loopback(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def resolve(url: httpx.URL, *, allow_loopback: bool) -> Address:
    """The address to connect to for `url`, or TargetRefused. `allow_loopback` (development:
    a receiver on this machine) admits loopback addresses, nothing else non-public."""
    if url.scheme not in ("http", "https") or not url.host:
        raise TargetRefused("only http and https URLs with a host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"cannot resolve {url.host}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"cannot resolve {url.host}")
    for address in addresses:
        if not (is_public(address) or (allow_loopback and _loopback(address))):
            raise TargetRefused(f"{url.host} resolves to a non-public address")
    return addresses[0]


def _pinned(url: httpx.URL, address: Address) -> httpx.URL:
    host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    return url.copy_with(host=host)


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    allow_loopback: bool,
    timeout: httpx.Timeout,
) -> Answer:
    """POSTs `content` to `url` (following checked 307/308 redirects); raises TargetRefused
    or httpx.HTTPError (timeouts, connection errors). `client` must not follow redirects."""
    started = time.perf_counter()
    target = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        address = resolve(target, allow_loopback=allow_loopback)
        request = client.build_request(
            "POST",
            _pinned(target, address),
            content=content,
            headers={**headers, "Host": target.netloc.decode("ascii")},
            timeout=timeout,
            extensions={"sni_hostname": target.host},
        )
        response = client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.status_code in (307, 308) and location:
                target = httpx.URL(urljoin(str(target), location))
                continue
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) >= MAX_BODY:
                    break
            elapsed = int((time.perf_counter() - started) * 1000)
            return Answer(response.status_code, bytes(body[:MAX_BODY]), elapsed)
        finally:
            response.close()
    raise TargetRefused("too many redirects")
