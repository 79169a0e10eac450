"""Fetching URLs that users give us (DP batch photo URLs, outgoing webhook endpoints).

A user-supplied URL must not reach our own network (SSRF): the metadata service at
169.254.169.254, the database on 10.x, an admin port on 127.0.0.1. So:

- HTTPS only (plain http only when the settings allow it, never in production);
- we resolve the name ourselves and refuse it if ANY address it resolves to is not a public
  unicast address (private, loopback, link-local, multicast, reserved, unspecified,
  unique-local, shared address space; an IPv4-mapped IPv6 address is judged as its IPv4);
- we connect to the vetted address itself (no second resolution, so a DNS answer that
  changes between our check and the connection - "DNS rebinding" - cannot redirect us),
  sending the original name as TLS SNI and `Host`, so the certificate is still verified for
  that name;
- every redirect is vetted the same way, at most `max_redirects` of them;
- the body is read as a stream and abandoned past `max_bytes`; connect, read and total
  time are bounded.

Errors are `AppError`s with stable codes: `url_not_allowed`, `fetch_too_large`,
`fetch_timeout`, `too_many_redirects`, `fetch_failed` (a bad status or a network error).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from admitone.core.errors import AppError, Invalid, ProviderError
from admitone.settings import Settings

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class UrlNotAllowed(Invalid):
    code = "url_not_allowed"
    message = "This URL cannot be fetched: use a public https:// address."


class FetchTooLarge(Invalid):
    code = "fetch_too_large"
    message = "The resource at this URL is too large."


class TooManyRedirects(Invalid):
    code = "too_many_redirects"
    message = "The URL redirects too many times."


class FetchTimeout(AppError):
    status = 504
    code = "fetch_timeout"
    message = "The URL did not answer in time."


class FetchFailed(ProviderError):
    code = "fetch_failed"
    message = "The URL could not be fetched."


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    allow_http: bool = False
    # Networks reachable although not public (tests: 127.0.0.0/8 for their local server).
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = 3
    resolver: Resolver = system_resolver
    # True: the system's trusted CAs; a context: tests trust their own CA.
    verify: ssl.SSLContext | bool = True
    user_agent: str = "AdmitOne-Fetcher/1"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FetchPolicy:
        """The policy of `settings.moderation.fetch`; http:// and non-public networks are
        never allowed in production, whatever the settings say."""
        f = settings.moderation.fetch
        production = settings.env == "production"
        values: dict[str, object] = {
            "allow_http": f.allow_http and not production,
            "allow_networks": ()
            if production
            else tuple(ipaddress.ip_network(n) for n in f.allow_networks),
            "max_bytes": f.max_bytes,
            "connect_timeout": f.connect_timeout_seconds,
            "read_timeout": f.read_timeout_seconds,
            "total_timeout": f.total_timeout_seconds,
            "max_redirects": f.max_redirects,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    status: int
    content_type: str | None
    content: bytes
    redirects: list[str] = field(default_factory=list)


def is_public(address: IPAddress) -> bool:
    """A public unicast address: not private, loopback, link-local, multicast, reserved,
    unspecified, unique-local or shared (100.64/10); IPv4-mapped IPv6 judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return address.is_global and not address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _allowed(address: IPAddress, policy: FetchPolicy) -> bool:
    return any(address in network for network in policy.allow_networks)


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str
    port: int
    address: IPAddress


def vet(url: str, policy: FetchPolicy) -> _Target:
    """The URL parsed and its host resolved to an address we may connect to, or
    `url_not_allowed` saying why."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlNotAllowed("This is not a valid URL.") from exc
    if parsed.scheme != "https" and not (parsed.scheme == "http" and policy.allow_http):
        raise UrlNotAllowed("Only https:// URLs can be fetched.", url=url)
    if parsed.userinfo:
        raise UrlNotAllowed("URLs with a user name or password are not fetched.")
    # The ASCII (IDNA) form: what is resolved, sent as Host and as TLS SNI.
    host = parsed.raw_host.decode("ascii", errors="replace")
    if not host:
        raise UrlNotAllowed("The URL has no host name.")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [
                ipaddress.ip_address(a.split("%", 1)[0]) for a in policy.resolver(host, port)
            ]
        except (OSError, UnicodeError, ValueError) as exc:
            raise UrlNotAllowed(f"The host name {host!r} does not resolve.", url=url) from exc
    if not addresses:
        raise UrlNotAllowed(f"The host name {host!r} does not resolve.", url=url)
    if not all(is_public(a) or _allowed(a, policy) for a in addresses):
        # Any private answer refuses the name: a name with one public and one private
        # address could otherwise be steered to the private one.
        raise UrlNotAllowed("This URL points to a private or reserved network address.", url=url)
    return _Target(parsed, host, port, addresses[0])


def fetch(url: str, policy: FetchPolicy, *, headers: Mapping[str, str] | None = None) -> Fetched:
    """GETs `url` under `policy` (module docstring); a non-2xx final answer is
    `fetch_failed` with its `status`."""
    deadline = time.monotonic() + policy.total_timeout
    redirects: list[str] = []
    current = url
    while True:
        target = vet(current, policy)
        response = _get(target, policy, headers or {}, deadline)
        if response.status in _REDIRECTS and response.location is not None:
            if len(redirects) >= policy.max_redirects:
                raise TooManyRedirects(max_redirects=policy.max_redirects)
            redirects.append(current)
            current = urljoin(current, response.location)
            continue
        if not 200 <= response.status < 300:
            raise FetchFailed(f"The URL answered HTTP {response.status}.", status=response.status)
        return Fetched(current, response.status, response.content_type, response.content, redirects)


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    content_type: str | None
    content: bytes


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchTimeout()
    return left


def _get(
    target: _Target, policy: FetchPolicy, headers: Mapping[str, str], deadline: float
) -> _Answer:
    host_header = target.host if target.url.port is None else f"{target.host}:{target.port}"
    pinned = target.url.copy_with(host=str(target.address), port=target.port)
    timeout = httpx.Timeout(
        connect=min(policy.connect_timeout, _remaining(deadline)),
        read=min(policy.read_timeout, _remaining(deadline)),
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    request_headers = {
        "User-Agent": policy.user_agent,
        "Accept-Encoding": "identity",  # the size limit counts the bytes we are sent
        **headers,
        "Host": host_header,
    }
    # A client per hop: no connection pooled across names (the pinned address and SNI
    # differ per host), no proxy from the environment (it would resolve the name again).
    with httpx.Client(verify=policy.verify, trust_env=False, timeout=timeout) as client:
        try:
            with client.stream(
                "GET",
                pinned,
                headers=request_headers,
                extensions={"sni_hostname": target.host},
            ) as response:
                if response.status_code in _REDIRECTS:
                    return _Answer(
                        response.status_code, response.headers.get("location"), None, b""
                    )
                encoding = response.headers.get("content-encoding", "identity").lower()
                if encoding != "identity":
                    # We asked for identity: the size limit must count the real bytes.
                    raise FetchFailed(f"The URL answered with {encoding!r} encoding.")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
                    raise FetchTooLarge(max_bytes=policy.max_bytes)
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > policy.max_bytes:
                        raise FetchTooLarge(max_bytes=policy.max_bytes)
                    _remaining(deadline)
                return _Answer(
                    response.status_code, None, response.headers.get("content-type"), bytes(body)
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeout() from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"The URL could not be fetched ({type(exc).__name__}).") from exc
