"""ARI REST client over httpx: the calls Switchboard makes, with errors mapped to `ari.errors`.

Mapping (see `asterisk-traces/README.md`, "REST errors"):

- connect/DNS/TLS/protocol failures → `AriUnreachable`; httpx timeouts → `AriTimeout`
- 401 → `AriAuthFailed`, 403 → `AriForbidden`, 404 → `AriNotFound`,
  other 4xx (400, 409, 422) → `AriBadRequest`, 5xx → `AriServerError`, each keeping Asterisk's
  message (`message`, or `error` as `POST /channels` uses: `{"error":"Allocation failed"}`).
- `hangup()` and `delete_bridge()` treat 404 as done and return False.

Query values go through httpx `params` (encoded by httpx); ids in paths are percent-encoded here.
The client ignores proxy environment variables: ARI is reached directly (`trust_env=False`).
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ari.errors import AriBadResponse, AriNotFound, AriTimeout, AriUnreachable, error_for_status

JsonObject = dict[str, Any]
HANGUP_REASONS = frozenset({
    "normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
    "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking", "failure",
    "answered_elsewhere",
})
_HTML_P = re.compile(r"<p>(.*?)</p>", re.S | re.I)


def ari_base_url(endpoint: str) -> str:
    """`http://host:8088` (or `.../ari`, with or without `/`) → `http://host:8088/ari`."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ARI endpoint URL must be http(s)://host[:port], got {endpoint!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def basic_auth_header(username: str, password: str) -> str:
    """`Authorization` value; credentials are UTF-8 (Asterisk compares raw bytes)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def build_transport_data(params: Mapping[str, str], json_control: bool = False) -> str:
    """A complete `v(k=v,...)` for externalMedia `transport_data`, plus `f(json)` if asked.

    Asterisk copies `v()` into the media URL verbatim (commas become `&`) and encodes nothing, and
    a raw space fails the request with HTTP 500; so keys and values are percent-encoded here,
    every reserved character included (`,` `=` `)` `&` space ...). Always send every parameter:
    Asterisk keeps the previous call's `v()` on the shared websocket_client otherwise.
    """
    if not params:
        raise ValueError("transport_data needs at least one v() parameter")
    items = []
    for key, value in params.items():
        if not key:
            raise ValueError("v() parameter names cannot be empty")
        items.append(f"{quote(str(key), safe='')}={quote(str(value), safe='')}")
    return "v(" + ",".join(items) + ")" + ("f(json)" if json_control else "")


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an ARI id cannot be empty")
    return quote(value, safe="")


def _joined(values: str | Sequence[str]) -> str:
    return values if isinstance(values, str) else ",".join(values)


def asterisk_message(body: bytes | str) -> str | None:
    """Asterisk's error text: JSON `message` or `error`, else the HTML `<p>`, else the body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        match = _HTML_P.search(text)
        return (match.group(1).strip() if match else text.strip()[:200]) or None
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return None


class AriRestClient:
    """One httpx.AsyncClient for one ARI endpoint, with Basic auth. Close with `aclose()`."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = ari_base_url(base_url)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": basic_auth_header(username, password),
                     "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AriRestClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one request; returns the decoded JSON body, or None for an empty body."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._client.request(method, path.lstrip("/"), params=clean, json=body)
        except httpx.TimeoutException as exc:
            raise AriTimeout(f"{method} {path}: no answer from Asterisk ({type(exc).__name__})") from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise AriUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise error_for_status(response.status_code, asterisk_message(response.content))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise AriBadResponse(f"{method} {path}: the answer is not JSON") from exc

    async def _object(self, method: str, path: str, **kwargs: Any) -> JsonObject:
        body = await self.request(method, path, **kwargs)
        if not isinstance(body, dict):
            raise AriBadResponse(f"{method} {path}: expected a JSON object")
        return body

    async def _list(self, path: str) -> list[JsonObject]:
        body = await self.request("GET", path)
        if not isinstance(body, list):
            raise AriBadResponse(f"GET {path}: expected a JSON list")
        return body

    # --- asterisk / applications ------------------------------------------------------------

    async def info(self) -> JsonObject:
        return await self._object("GET", "/asterisk/info")

    async def ping(self) -> JsonObject:
        return await self._object("GET", "/asterisk/ping")

    async def module(self, name: str) -> JsonObject:
        """Module details; `.so` is added when missing (without it Asterisk answers 409)."""
        if not name.endswith(".so"):
            name += ".so"
        return await self._object("GET", f"/asterisk/modules/{_segment(name)}")

    async def application(self, app: str) -> JsonObject:
        return await self._object("GET", f"/applications/{_segment(app)}")

    # --- channels ----------------------------------------------------------------------------

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_segment(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        """Hang up; False when the channel was already gone (404 counts as done)."""
        if reason not in HANGUP_REASONS:
            raise ValueError(f"unknown hangup reason {reason!r}")
        try:
            await self.request("DELETE", f"/channels/{_segment(channel_id)}", params={"reason": reason})
        except AriNotFound:
            return False
        return True

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        params: dict[str, str | int | None] = {"context": context, "extension": extension, "priority": priority}
        await self.request("POST", f"/channels/{_segment(channel_id)}/continue", params=params)

    async def external_media(
        self,
        *,
        channel_id: str,
        app: str,
        external_host: str,
        transport_data: str,
        format: str = "ulaw",
        direction: str = "both",
        variables: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """chan_websocket external media, Asterisk as the websocket client (see ARCHITECTURE)."""
        params = {
            "channelId": channel_id, "app": app, "external_host": external_host,
            "transport": "websocket", "encapsulation": "none", "connection_type": "client",
            "format": format, "direction": direction, "transport_data": transport_data,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._object("POST", "/channels/externalMedia", params=params, body=body)

    async def originate(
        self,
        *,
        endpoint: str,
        app: str,
        app_args: str | Sequence[str],
        caller_id: str | None = None,
        timeout: int = 30,
        channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """`POST /channels`; a sequence of app args is joined with commas (Asterisk splits them)."""
        params = {
            "endpoint": endpoint, "app": app, "appArgs": _joined(app_args),
            "callerId": caller_id, "timeout": timeout, "channelId": channel_id,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._object("POST", "/channels", params=params, body=body)

    async def get_channel(self, channel_id: str) -> JsonObject:
        return await self._object("GET", f"/channels/{_segment(channel_id)}")

    async def list_channels(self) -> list[JsonObject]:
        return await self._list("/channels")

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        params = {"variable": variable, "value": value}
        await self.request("POST", f"/channels/{_segment(channel_id)}/variable", params=params)

    async def get_variable(self, channel_id: str, variable: str) -> str:
        body = await self._object(
            "GET", f"/channels/{_segment(channel_id)}/variable", params={"variable": variable})
        return str(body.get("value", ""))

    # --- bridges -----------------------------------------------------------------------------

    async def create_bridge(
        self, bridge_id: str | None = None, type: str = "mixing", name: str | None = None
    ) -> JsonObject:
        params = {"type": type, "bridgeId": bridge_id, "name": name}
        return await self._object("POST", "/bridges", params=params)

    async def add_to_bridge(self, bridge_id: str, channels: str | Sequence[str]) -> None:
        await self.request("POST", f"/bridges/{_segment(bridge_id)}/addChannel",
                           params={"channel": _joined(channels)})

    async def remove_from_bridge(self, bridge_id: str, channels: str | Sequence[str]) -> None:
        await self.request("POST", f"/bridges/{_segment(bridge_id)}/removeChannel",
                           params={"channel": _joined(channels)})

    async def delete_bridge(self, bridge_id: str) -> bool:
        """Destroy a bridge; False when it was already gone (404 counts as done)."""
        try:
            await self.request("DELETE", f"/bridges/{_segment(bridge_id)}")
        except AriNotFound:
            return False
        return True

    async def list_bridges(self) -> list[JsonObject]:
        return await self._list("/bridges")
