"""Every request the agent makes to a user's system (tools, the pre-call lookup, post-call webhooks).

`OutboundClient.request` enforces one policy:
- http and https only, no `user:password@` in the URL;
- the host's name is resolved here and every address is judged by the organisation's
  `HostPolicy` (`agent.hosts`); the connection then goes to exactly a checked address (the URL
  names the address, `Host` and the TLS server name keep the host name), so a name that
  resolves differently a moment later (DNS rebinding) cannot reach anything unchecked;
- connect, read and total time limits (`Limits`); DNS counts toward the total;
- the response body is streamed and cut at `max_response_bytes` (gzip/deflate are inflated here
  under the same limit, other encodings refused): `ResponseTooLarge`, or with `cut_oversize`
  the first bytes marked `truncated`;
- redirects are followed only to the same host (never https → http), at most `max_redirects`;
  each hop is resolved and checked again. 303, and 301/302 after a POST, continue as GET.
- no proxies from the environment, no connection reuse (each request connects to the address it
  checked; a pooled connection could carry another host's TLS session).

Failures raise `agent.errors.OutboundError` subclasses with stable ids (`tool-timeout`,
`tool-host-not-allowed`, ...). Any HTTP status is a response, not an error: callers decide.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.errors import (
    BadResponse,
    OutboundBadUrl,
    OutboundTimeout,
    OutboundUnreachable,
    RedirectRefused,
    ResponseTooLarge,
)
from agent.hosts import HostPolicy, IPAddress, normalise_host, parse_address

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
USER_AGENT = "Switchboard/1"
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Limits:
    connect_s: float = 3.0
    read_s: float = 10.0
    total_s: float = 10.0
    max_response_bytes: int = 256 * 1024
    max_redirects: int = 3
    cut_oversize: bool = False
    """True: keep the first `max_response_bytes` and mark the response `truncated` instead of failing."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str  # after redirects
    elapsed_s: float
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`, in the resolver's order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = parse_address(str(info[4][0]))
        if address is not None and address not in found:
            found.append(address)
    return found


@dataclass
class _Hop:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None
    redirect_to: httpx.URL | None = field(default=None)


class OutboundClient:
    """One per process (the app owns it); each request gets the calling organisation's policy."""

    def __init__(self, *, resolver: Resolver | None = None, verify: ssl.SSLContext | bool = True,
                 user_agent: str = USER_AGENT) -> None:
        self._resolve = resolver or system_resolver
        self._http = httpx.AsyncClient(
            trust_env=False, follow_redirects=False, verify=verify,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate, identity"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, url: str, *, hosts: HostPolicy, headers: Mapping[str, str] | None = None,
                      content: bytes | None = None, limits: Limits = Limits()) -> OutboundResponse:
        target = _parse_url(url)
        started = time.monotonic()
        hop = _Hop(method.upper(), target, dict(headers or {}), content)
        try:
            async with asyncio.timeout(limits.total_s):
                for redirects in range(limits.max_redirects + 1):
                    response = await self._send(hop, hosts, limits, started)
                    if hop.redirect_to is None:
                        return response
                    if redirects == limits.max_redirects:
                        raise RedirectRefused(f"{target.host} redirected more than {limits.max_redirects} times")
                    hop = _follow(hop, response.status)
        except TimeoutError as exc:
            raise OutboundTimeout(f"{target.host} did not answer within {limits.total_s:g} s") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, hop: _Hop, hosts: HostPolicy, limits: Limits, started: float) -> OutboundResponse:
        host = hop.url.raw_host.decode("ascii")
        port = hop.url.port or _DEFAULT_PORTS[hop.url.scheme]
        addresses = await self._addresses(host, port)
        hosts.check(host, addresses)
        failure: Exception | None = None
        for address in addresses:  # each checked; the next one only when connecting fails
            try:
                return await self._exchange(hop, address, limits, started)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
        if isinstance(failure, httpx.ConnectTimeout):
            raise OutboundTimeout(f"no connection to {host} within {limits.connect_s:g} s")
        raise OutboundUnreachable(f"cannot connect to {host}: {failure or 'no address'}")

    async def _addresses(self, host: str, port: int) -> Sequence[IPAddress]:
        literal = parse_address(host)
        if literal is not None:
            return [literal]
        try:
            return await self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise OutboundUnreachable(f"cannot resolve {host}: {exc}") from exc

    async def _exchange(self, hop: _Hop, address: IPAddress, limits: Limits, started: float) -> OutboundResponse:
        headers = {**hop.headers, "Host": _authority(hop.url)}
        extensions: dict[str, Any] = {}
        if hop.url.scheme == "https" and parse_address(hop.url.host) is None:
            extensions["sni_hostname"] = hop.url.host
        timeout = httpx.Timeout(limits.read_s, connect=limits.connect_s, pool=limits.connect_s)
        try:
            async with self._http.stream(hop.method, hop.url.copy_with(host=str(address)), headers=headers,
                                         content=hop.content, timeout=timeout, extensions=extensions) as response:
                hop.redirect_to = _redirect_target(hop.url, response)
                body, truncated = (b"", False) if hop.redirect_to else await _read_body(response, limits)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TimeoutException as exc:
            raise OutboundTimeout(f"{hop.url.host} did not answer within {limits.read_s:g} s") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise OutboundBadUrl(f"cannot send this request to {hop.url.host}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise OutboundUnreachable(f"the connection to {hop.url.host} failed: {exc or type(exc).__name__}") \
                from exc
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return OutboundResponse(response.status_code, headers_out, body, str(hop.url),
                                time.monotonic() - started, truncated)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundBadUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in _DEFAULT_PORTS:
        raise OutboundBadUrl(f"only http:// and https:// URLs are called, not {parsed.scheme or 'no scheme'}")
    if not parsed.host or not 1 <= (parsed.port or 80) <= 65535:
        raise OutboundBadUrl("the URL needs a host (and a port from 1 to 65535)")
    if parsed.userinfo:
        raise OutboundBadUrl("user:password@ in a URL is not sent; use a header")
    return parsed.copy_with(fragment=None)


def _authority(url: httpx.URL) -> str:
    host = url.raw_host.decode("ascii")
    host = f"[{host}]" if ":" in host else host
    return host if url.port is None else f"{host}:{url.port}"


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL | None:
    if response.status_code not in _REDIRECTS or "location" not in response.headers:
        return None
    try:
        target = current.join(response.headers["location"])
    except (httpx.InvalidURL, ValueError) as exc:
        raise RedirectRefused(f"{current.host} redirected to an invalid URL: {exc}") from exc
    if target.scheme not in _DEFAULT_PORTS or normalise_host(target.host) != normalise_host(current.host):
        raise RedirectRefused(f"{current.host} redirected to another host ({target.host or target.scheme}); "
                              "only redirects on the same host are followed")
    if current.scheme == "https" and target.scheme == "http":
        raise RedirectRefused(f"{current.host} redirected from https to http")
    if target.userinfo:
        raise RedirectRefused(f"{current.host} redirected to a URL with user:password@")
    return target.copy_with(fragment=None)


def _follow(hop: _Hop, status: int) -> _Hop:
    assert hop.redirect_to is not None
    as_get = status == 303 or (status in (301, 302) and hop.method == "POST")
    if as_get:
        headers = {k: v for k, v in hop.headers.items() if k.lower() not in ("content-type", "content-length")}
        return _Hop("GET" if hop.method != "HEAD" else "HEAD", hop.redirect_to, headers, None)
    return _Hop(hop.method, hop.redirect_to, hop.headers, hop.content)


async def _read_body(response: httpx.Response, limits: Limits) -> tuple[bytes, bool]:
    """The (inflated) body, at most `max_response_bytes` of it."""
    cap = limits.max_response_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and not limits.cut_oversize:
        raise ResponseTooLarge(f"the response has {int(declared)} bytes; the limit is {cap}")
    inflate = _inflater(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += inflate(chunk, cap + 1 - len(body)) if inflate else chunk
        if len(body) > cap:
            if limits.cut_oversize:
                return bytes(body[:cap]), True
            raise ResponseTooLarge(f"the response is larger than the limit of {cap} bytes")
    return bytes(body), False


def _inflater(encoding: str) -> Callable[[bytes, int], bytes] | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadResponse(f"unsupported content encoding {encoding!r}")
    decoder = zlib.decompressobj(wbits=47)  # gzip or zlib, detected from the header

    def inflate(chunk: bytes, room: int) -> bytes:
        try:
            return decoder.decompress(chunk, max(room, 1))  # never inflates more than the cap allows
        except zlib.error as exc:
            raise BadResponse(f"the {encoding} body is damaged: {exc}") from exc
    return inflate
