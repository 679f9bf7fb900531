"""chan_websocket media connection: the fake is the WebSocket *client* of the app's media server.

``ExtMediaSession`` owns the connection I/O (connect with retries, an ordered writer queue, the reader)
and a pure ``ChanWebSocket`` for the protocol; ``MediaConnectionRecord`` keeps everything observable
for tests and benchmarks.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from .chanws import ChanWebSocket


@dataclass
class WsClientConfig:
    """One ``websocket_client.conf`` section. ``uri_params`` is the shared, sticky v() state."""

    name: str
    uri: str
    protocols: str = "media"
    reconnect_attempts: int = 4
    reconnect_interval: float = 0.5  # seconds
    connection_timeout: float = 0.5  # seconds
    username: str | None = None
    password: str | None = None
    uri_params: str = ""

    def url(self) -> str:
        if not self.uri_params:
            return self.uri
        sep = "&" if "?" in self.uri else "?"
        return f"{self.uri}{sep}{self.uri_params}"

    @classmethod
    def from_value(cls, name: str, value: str | dict[str, Any] | WsClientConfig) -> WsClientConfig:
        if isinstance(value, WsClientConfig):
            return value
        if isinstance(value, str):
            return cls(name=name, uri=value)
        return cls(name=name, **value)


@dataclass
class PlayedFrame:
    t: float  # loop time the frame was played out
    tick: int  # index of the 20 ms timeslot
    data: bytes


@dataclass
class Gap:
    after_t: float  # time of the last frame before the gap
    missed_ticks: int


@dataclass
class MediaConnectionRecord:
    channel_id: str
    client: str
    mode: str = "client"  # "client" (Asterisk dials the app) or "server" (app dials /media/<id>)
    url: str = ""
    path: str = ""  # request target: path + "?" + query, as sent on the wire
    query: str = ""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocol: str | None = None
    attempts: int = 0
    connected: bool = False
    failed: bool = False
    media_start: str | None = None
    texts_from_app: list[tuple[float, str]] = field(default_factory=list)
    texts_to_app: list[tuple[float, str]] = field(default_factory=list)
    binary_from_app: list[tuple[float, int]] = field(default_factory=list)
    frames_to_app: int = 0
    bytes_to_app: int = 0
    played: list[PlayedFrame] = field(default_factory=list)
    closed: bool = False
    closed_by: str | None = None  # "asterisk" | "app" | "error"
    close_code: int | None = None  # code Asterisk sent (or echoed)
    close_code_from_app: int | None = None

    @property
    def bytes_from_app(self) -> int:
        return sum(n for _, n in self.binary_from_app)

    @property
    def played_bytes(self) -> bytes:
        return b"".join(f.data for f in self.played)

    def gaps(self) -> list[Gap]:
        out: list[Gap] = []
        for prev, cur in zip(self.played, self.played[1:]):
            missed = cur.tick - prev.tick - 1
            if missed > 0:
                out.append(Gap(prev.t, missed))
        return out

    def underruns(self, max_gap_ticks: int = 25) -> list[Gap]:
        """Gaps of at most ``max_gap_ticks`` silent timeslots inside otherwise continuous playback:
        the queue ran empty while the app was still talking (a stutter the caller hears)."""
        return [g for g in self.gaps() if g.missed_ticks <= max_gap_ticks]

    def texts_from_app_only(self) -> list[str]:
        return [t for _, t in self.texts_from_app]

    def texts_to_app_only(self) -> list[str]:
        return [t for _, t in self.texts_to_app]


class MediaHost(Protocol):
    def media_text_from_app(self, session: ExtMediaSession, text: str) -> None: ...
    def media_binary_from_app(self, session: ExtMediaSession, data: bytes) -> None: ...
    def media_connection_lost(self, session: ExtMediaSession, app_close_code: int | None) -> None: ...
    def now(self) -> float: ...


_CLOSE = object()
_STOP = object()


class ExtMediaSession:
    """Transport of one external media channel (client or server mode)."""

    def __init__(
        self,
        host: MediaHost,
        channel_id: str,
        driver: ChanWebSocket,
        record: MediaConnectionRecord,
        *,
        no_auto_answer: bool = False,
        uri_params: str = "",
        dialstring: str = "",
    ) -> None:
        self.host = host
        self.channel_id = channel_id
        self.driver = driver
        self.record = record
        self.no_auto_answer = no_auto_answer
        self.uri_params = uri_params
        self.dialstring = dialstring
        self.ws: ClientConnection | None = None
        self.server_ws: Any = None  # wsserver.ServerWebSocket in server mode
        self.timer_running = False
        self.clock_token: int | None = None
        self.asterisk_closing = False
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.connect_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.record.connected and not self.record.closed

    # --------------------------------------------------------------- connect
    async def connect_once(self, url: str, subprotocols: list[str], timeout: float) -> bool:
        self.record.attempts += 1
        try:
            ws = await connect(
                url,
                subprotocols=subprotocols or None,  # type: ignore[arg-type]
                compression=None,
                user_agent_header=None,
                proxy=None,
                open_timeout=max(timeout, 0.05),
                ping_interval=None,
                max_size=None,
                max_queue=None,
                close_timeout=2,
            )
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI, websockets.InvalidStatus):
            return False
        except Exception:  # noqa: BLE001 - any handshake failure is a failed attempt
            return False
        self.ws = ws
        split = urlsplit(url)
        self.record.url = url
        self.record.path = ws.request.path if ws.request else split.path
        self.record.query = split.query
        self.record.request_headers = list(ws.request.headers.raw_items()) if ws.request else []
        self.record.subprotocol = ws.subprotocol
        self.record.connected = True
        self._tasks.append(asyncio.get_running_loop().create_task(self._writer(), name=f"media-writer-{self.channel_id}"))
        return True

    def start_reader(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._reader(), name=f"media-reader-{self.channel_id}"))

    # --------------------------------------------------------------- output
    def send_text(self, text: str) -> None:
        if self.record.closed or self.asterisk_closing:
            return
        self.record.texts_to_app.append((self.host.now(), text))
        if self.server_ws is not None:
            self.server_ws.send_text(text)
        else:
            self._out.put_nowait(text)

    def send_binary(self, data: bytes) -> None:
        if self.record.closed or self.asterisk_closing:
            return
        self.record.frames_to_app += 1
        self.record.bytes_to_app += len(data)
        if self.server_ws is not None:
            self.server_ws.send_binary(data)
        else:
            self._out.put_nowait(data)

    def close(self, code: int = 1000) -> None:
        """Asterisk hangs up the channel: close the socket after everything queued."""
        if self.asterisk_closing or self.record.closed:
            return
        self.asterisk_closing = True
        if not self.record.connected:
            return
        self.record.closed_by = self.record.closed_by or "asterisk"
        self.record.close_code = code
        if self.server_ws is not None:
            self.server_ws.close(code)
        else:
            self._out.put_nowait((_CLOSE, code))

    async def _writer(self) -> None:
        assert self.ws is not None
        try:
            while True:
                item = await self._out.get()
                if item is _STOP:  # the socket closed under us: nothing more to write
                    return
                if isinstance(item, tuple) and item and item[0] is _CLOSE:
                    await self.ws.close(item[1])
                    return
                await self.ws.send(item)
        except (websockets.ConnectionClosed, OSError):
            return

    async def _reader(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for message in ws:
                if isinstance(message, str):
                    self.host.media_text_from_app(self, message)
                else:
                    self.host.media_binary_from_app(self, message)
        except (websockets.ConnectionClosed, OSError):
            pass
        finally:
            self._on_closed(ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None, ws.protocol.close_rcvd_then_sent)

    def _on_closed(self, rcvd_code: int | None, app_closed_first: bool | None) -> None:
        if self.record.closed:
            return
        self.record.closed = True
        self._out.put_nowait(_STOP)  # end the writer task (it would wait on the queue for ever)
        if not self.asterisk_closing:
            self.record.closed_by = "app" if rcvd_code is not None else "error"
            self.record.close_code_from_app = rcvd_code
            if rcvd_code is not None:
                self.record.close_code = rcvd_code  # the client library echoes the app's code
            self.host.media_connection_lost(self, rcvd_code)
        elif rcvd_code is not None:
            self.record.close_code_from_app = rcvd_code

    def server_closed(self, rcvd_code: int | None) -> None:
        self._on_closed(rcvd_code, None)

    async def shutdown(self) -> None:
        """Stop all I/O now (fake teardown / restart)."""
        if self.connect_task is not None:
            self.connect_task.cancel()
        if self.ws is not None and not self.record.closed:
            self.asterisk_closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(1000), 1.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks + ([self.connect_task] if self.connect_task else []):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.transport.abort()
        self.record.closed = True


def now_fn(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    return loop.time
