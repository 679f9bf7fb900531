"""A small HTTP/1.1 server on asyncio streams + h11, with WebSocket upgrades handed to wsserver.

The application object decides per request: a normal response, a rejection of an upgrade, or an
accepted upgrade whose ``ServerWebSocket`` it then drives.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

import h11
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

from .options import parse_query
from .wsserver import ServerWebSocket

SERVER_HEADER = "Asterisk/GIT-master-f0c1c1a7b7"


@dataclass
class HttpRequest:
    method: str
    target: str
    path: str  # URL-decoded path, no query
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    peer: tuple[str, int] | None = None

    @property
    def is_websocket_upgrade(self) -> bool:
        return "websocket" in self.headers.get("upgrade", "").lower()

    def json_body(self) -> Any:
        if not self.body:
            return None
        ctype = self.headers.get("content-type", "")
        if "json" not in ctype and not self.body.lstrip().startswith((b"{", b"[")):
            return None
        return json.loads(self.body)

    def form_body(self) -> list[tuple[str, str]]:
        if "application/x-www-form-urlencoded" in self.headers.get("content-type", ""):
            return parse_query(self.body.decode("utf-8", errors="replace"))
        return []


@dataclass
class HttpResponse:
    status: int
    reason: str
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, reason: str, obj: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
        return cls(status, reason, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers or [])

    @classmethod
    def no_content(cls) -> HttpResponse:
        return cls(204, "No Content", b"", None)


@dataclass
class WsAccept:
    """Accept the upgrade; ``handler`` then owns the socket until it returns."""

    handler: Callable[[ServerWebSocket, HttpRequest], Awaitable[None]]
    subprotocols: list[str] | None = None


class HttpApp:
    async def handle(self, request: HttpRequest) -> HttpResponse | WsAccept:  # pragma: no cover - interface
        raise NotImplementedError


class HttpServer:
    def __init__(self, app: HttpApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, *, abort: bool = True) -> None:
        """Stop listening (new connections are refused) and end every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._conns):
            with contextlib.suppress(Exception):
                if abort:
                    writer.transport.abort()
                else:
                    writer.close()
        # Never cancel the per-connection tasks: asyncio.streams reads task.exception() in a done
        # callback, which raises on a cancelled task. Closing the transports ends them instead.
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=2)
            for task in pending:
                task.cancel()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        conn = h11.Connection(h11.SERVER)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                request = await self._read_request(conn, reader)
                if request is None:
                    return
                req, body = request
                http_req = self._make_request(req, body, peer)
                try:
                    result = await self.app.handle(http_req)
                except Exception as exc:  # noqa: BLE001 - a fake must answer something
                    result = HttpResponse.json(500, "Internal Server Error", {"message": f"fake error: {exc!r}"})
                if isinstance(result, WsAccept):
                    if conn.their_state is not h11.MIGHT_SWITCH_PROTOCOL:
                        result = HttpResponse.json(400, "Bad Request", {"message": "Not a websocket upgrade"})
                    else:
                        await self._upgrade(conn, req, http_req, result, reader, writer)
                        return
                self._send(conn, writer, result)
                await writer.drain()
                if http_req.is_websocket_upgrade or conn.our_state is h11.MUST_CLOSE:
                    return
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request, bytes] | None:
        req: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and req is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                req = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                if req is None:
                    return None
                return req, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                return None

    def _make_request(self, req: h11.Request, body: bytes, peer: Any) -> HttpRequest:
        target = req.target.decode("latin-1")
        split = urlsplit(target)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
        return HttpRequest(
            method=req.method.decode(),
            target=target,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_query(split.query),
            headers=headers,
            body=body,
            peer=tuple(peer[:2]) if peer else None,
        )

    def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, resp: HttpResponse) -> None:
        headers: list[tuple[str, str]] = [
            ("Server", SERVER_HEADER),
            ("Date", formatdate(usegmt=True)),
            ("Cache-Control", "no-cache, no-store"),
        ]
        headers += resp.headers
        if resp.content_type:
            headers.append(("Content-type", resp.content_type))
        headers.append(("Content-Length", str(len(resp.body))))
        out = conn.send(h11.Response(status_code=resp.status, reason=resp.reason.encode(), headers=headers))
        if resp.body:
            out += conn.send(h11.Data(data=resp.body))
        out += conn.send(h11.EndOfMessage())
        writer.write(out)

    async def _upgrade(
        self,
        conn: h11.Connection,
        req: h11.Request,
        http_req: HttpRequest,
        accept: WsAccept,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        trailing, _ = conn.trailing_data
        proto = ServerProtocol(subprotocols=accept.subprotocols, max_size=None)
        raw = b"%s %s HTTP/1.1\r\n" % (req.method, req.target)
        raw += b"".join(k + b": " + v + b"\r\n" for k, v in req.headers.raw_items()) + b"\r\n"
        proto.receive_data(raw)
        ws_req = next(e for e in proto.events_received() if isinstance(e, WsRequest))
        response = proto.accept(ws_req)
        if response.status_code == 101:
            for name in ("Server", "Date"):
                with contextlib.suppress(KeyError):
                    del response.headers[name]
        proto.send_response(response)
        ws = ServerWebSocket(proto, reader, writer)
        ws._flush()
        if response.status_code != 101:
            await writer.drain()
            return
        if trailing:
            proto.receive_data(trailing)
        await accept.handler(ws, http_req)
