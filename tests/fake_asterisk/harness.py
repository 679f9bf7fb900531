"""Test-side tools that play the *app*: an ARI events client, a REST client and a tiny media
WebSocket server (the endpoint chan_websocket dials). Used by the fake's own tests; reusable by others.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve

T = TypeVar("T")

MEDIA_PATH = "/api/v1/telephony/ws/ari"


async def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.005) -> T:
    """Poll until ``predicate()`` is truthy (no fixed sleeps in tests)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class CloseInfo:
    rcvd_code: int | None
    sent_code: int | None
    peer_closed_first: bool | None


def _close_info(ws: ClientConnection | ServerConnection) -> CloseInfo:
    pr = ws.protocol
    return CloseInfo(
        pr.close_rcvd.code if pr.close_rcvd else None,
        pr.close_sent.code if pr.close_sent else None,
        pr.close_rcvd_then_sent,
    )


@dataclass
class MediaConn:
    """One chan_websocket connection accepted by the app's media server."""

    ws: ServerConnection
    index: int
    path: str
    headers: list[tuple[str, str]]
    subprotocol: str | None
    texts: list[str] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)
    binary_times: list[float] = field(default_factory=list)
    sent_binaries: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_info: CloseInfo | None = None

    @property
    def query(self) -> str:
        return self.path.partition("?")[2]

    @property
    def media_start(self) -> str | None:
        return next((t for t in self.texts if "MEDIA_START" in t), None)

    @property
    def channel_id(self) -> str | None:
        start = self.media_start
        if start is None:
            return None
        if start.startswith("{"):
            return json.loads(start)["channel_id"]
        return dict(tok.split(":", 1) for tok in start.split()[1:] if ":" in tok)["channel_id"]

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def send_binary(self, data: bytes) -> None:
        self.sent_binaries += 1
        await self.ws.send(data)

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code)

    async def wait_text(self, predicate: Callable[[str], bool], start: int = 0, timeout: float = 5.0) -> str:
        def find() -> str | None:
            return next((t for t in self.texts[start:] if predicate(t)), None)

        return await wait_for(find, timeout)


class MediaServer:
    """The app's media WebSocket server (what websocket_client.conf ``uri`` points to)."""

    def __init__(self, subprotocols: tuple[str, ...] | None = ("media",)) -> None:
        self.subprotocols = subprotocols
        self.conns: list[MediaConn] = []
        self._server: Server | None = None
        self.port = 0
        self.host = "127.0.0.1"

    def url(self, path: str = MEDIA_PATH) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    async def start(self, port: int = 0, subprotocols: tuple[str, ...] | None | str = "keep") -> MediaServer:
        if subprotocols != "keep":
            self.subprotocols = subprotocols  # type: ignore[assignment]
        kwargs: dict[str, Any] = dict(max_size=None, ping_interval=None, compression=None, max_queue=None)
        if self.subprotocols:
            kwargs["subprotocols"] = list(self.subprotocols)
        self._server = await serve(self._handler, self.host, port or self.port, **kwargs)
        self.port = self._server.sockets[0].getsockname()[1] if hasattr(self._server, "sockets") else port
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)
            self._server = None

    async def _handler(self, ws: ServerConnection) -> None:
        req = ws.request
        assert req is not None
        conn = MediaConn(ws, len(self.conns) + 1, req.path, list(req.headers.raw_items()), ws.subprotocol)
        self.conns.append(conn)
        loop = asyncio.get_running_loop()
        try:
            async for msg in ws:
                if isinstance(msg, str):
                    conn.texts.append(msg)
                else:
                    conn.binaries.append(msg)
                    conn.binary_times.append(loop.time())
        except websockets.ConnectionClosed:
            pass
        finally:
            conn.close_info = _close_info(ws)
            conn.closed.set()

    async def wait_conn(self, n: int = 1, timeout: float = 5.0) -> MediaConn:
        await wait_for(lambda: len(self.conns) >= n, timeout)
        return self.conns[n - 1]


class EventsClient:
    """An ARI events WebSocket client that records every message."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self.close_info: CloseInfo | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, url: str, **kwargs: Any) -> EventsClient:
        self.ws = await connect(url, max_size=None, ping_interval=None, proxy=None, **kwargs)
        self.closed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._reader(self.ws))
        return self

    async def _reader(self, ws: ClientConnection) -> None:
        try:
            async for msg in ws:
                text = msg if isinstance(msg, str) else msg.decode(errors="replace")
                self.raw.append(text)
                try:
                    self.events.append(json.loads(text))
                except ValueError:
                    self.events.append({"_raw": text})
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_info = _close_info(ws)
            self.closed.set()

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], start: int = 0, timeout: float = 5.0
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((e for e in self.events[start:] if predicate(e)), None)

        return await wait_for(find, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 3)


def is_type(type_: str, channel_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("type") == type_ and (channel_id is None or e.get("channel", {}).get("id") == channel_id)


class App:
    """The app side of a test: REST client + events socket + media server, wired to a fake."""

    def __init__(self, ari_url: str, user: str, password: str, media: MediaServer | None = None) -> None:
        self.ari_url = ari_url
        self.user = user
        self.password = password
        self.http = httpx.AsyncClient(base_url=ari_url, auth=(user, password), timeout=10.0, trust_env=False)
        self.events = EventsClient()
        self.media = media or MediaServer()

    def events_url(self, app: str = "dograh") -> str:
        base = self.ari_url.replace("http://", "ws://")
        return f"{base}/events?app={app}&api_key={self.user}:{self.password}&subscribeAll=false"

    async def ari(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, **kwargs)

    async def close(self) -> None:
        await self.events.close()
        await self.media.stop()
        await self.http.aclose()
