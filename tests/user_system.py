"""A user's system (CRM, booking API, webhook receiver) on loopback for the tool, lookup and webhook
tests: a real asyncio HTTP/1.1 server whose routes are scripted per test, recording every request.

    system = await UserSystem.start()
    system.route("/book", json_reply({"booked": True}))
    system.url("/book")           -> "http://127.0.0.1:<port>/book"
    system.received               -> every request (method, path, query, headers, body)

Handlers answer once per connection (`Connection: close`). `sequence(h1, h2, ...)` answers the
n-th request with the n-th handler (the last repeats); `hang()` never answers and records when
the client gave up; `trickle()` sends a body slowly.
"""
from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Received, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def send(writer: asyncio.StreamWriter, status: int, body: bytes = b"",
               headers: dict[str, str] | None = None) -> None:
    head = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in head.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


def json_reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})
    return handle


def text_reply(text: str | bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    body = text.encode() if isinstance(text, str) else text

    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})
    return handle


def redirect(location: str, status: int = 302) -> Handler:
    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, status, b"", {"Location": location})
    return handle


def hang(disconnects: list[float] | None = None) -> Handler:
    """Never answer; note (in `disconnects`) when the client closed the connection."""
    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # returns at EOF: the client gave up
        if disconnects is not None:
            disconnects.append(time.monotonic())
    return handle


def trickle(chunks: list[bytes], every_s: float, declared: int | None = None) -> Handler:
    """Send the body in pieces, `every_s` apart (chunked when `declared` is None)."""
    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framing = f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{framing}\r\nConnection: close\r\n\r\n".encode())
        for chunk in chunks:
            await asyncio.sleep(every_s)  # the server's pacing, not a test waiting for an event
            writer.write(chunk if declared is not None else f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        if declared is None:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    return handle


def delayed(handler: Handler, seconds: float) -> Handler:
    """Answer with `handler` after `seconds` (a slow system)."""
    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)  # the server's pacing, not a test waiting for an event
        await handler(request, reader, writer)
    return handle


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one answers all further requests."""
    count = [0]

    async def handle(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = min(count[0], len(handlers) - 1)
        count[0] += 1
        await handlers[index](request, reader, writer)
    return handle


@dataclass
class UserSystem:
    host: str = "127.0.0.1"
    scheme: str = "http"
    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    async def start(cls, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> UserSystem:
        system = cls(host, scheme="https" if tls else "http")
        system._server = await asyncio.start_server(system._handle, host, 0, ssl=tls)
        system.port = int(system._server.sockets[0].getsockname()[1])
        return system

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):  # handlers still waiting (hang) end with the server
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def url(self, path: str = "/", host: str | None = None) -> str:
        host = host or self.host
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            request = await _read_request(reader)
            self.received.append(request)
            handler = self.routes.get(request.path)
            if handler is None:
                await send(writer, 404, b"no such route")
            else:
                await handler(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.strip("\r\n").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Received(method, path, query, headers, body, time.monotonic())
