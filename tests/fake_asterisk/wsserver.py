"""Server side of a WebSocket over asyncio streams, driven by the ``websockets`` sans-I/O protocol.

Gives the control the fake needs: ``abort()`` drops TCP without a close frame, ``silent`` stops
every write (events, pongs, close replies) while keeping the connection open.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

Message = str | bytes


class ServerWebSocket:
    def __init__(self, protocol: ServerProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self.silent = False
        self.closed = asyncio.Event()
        self.aborted = False
        self.close_code_received: int | None = None
        self.close_code_sent: int | None = None
        self.messages_sent = 0
        self._fragments: list[bytes] = []
        self._frag_opcode: Opcode | None = None

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN and not self.closed.is_set()

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if self.silent or self.aborted or self.writer.is_closing():
                continue
            if chunk == b"":
                with contextlib.suppress(OSError, RuntimeError):
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
            else:
                self.writer.write(chunk)

    def send_text(self, text: str) -> bool:
        if not self.open:
            return False
        self.protocol.send_text(text.encode())
        self.messages_sent += 1
        self._flush()
        return True

    def send_binary(self, data: bytes) -> bool:
        if not self.open:
            return False
        self.protocol.send_binary(data)
        self._flush()
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.protocol.state is not State.OPEN:
            return
        self.close_code_sent = code
        self.protocol.send_close(code, reason)
        self._flush()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.aborted = True
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    async def run(self, on_message: Callable[[Message], Awaitable[None] | None]) -> None:
        """Read until the connection ends; ``on_message`` gets every complete text/binary message."""
        try:
            await self._dispatch(on_message)  # frames that arrived with the handshake
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    break
                if not data:
                    self.protocol.receive_eof()
                    self._flush()
                    break
                self.protocol.receive_data(data)
                await self._dispatch(on_message)
                if self.protocol.close_rcvd is not None and self.close_code_received is None:
                    self.close_code_received = self.protocol.close_rcvd.code
                if self.protocol.state is State.CLOSED:
                    break
        finally:
            if self.protocol.close_rcvd is not None and self.close_code_received is None:
                self.close_code_received = self.protocol.close_rcvd.code
            if not self.aborted:
                with contextlib.suppress(Exception):
                    self.writer.close()
            self.closed.set()

    async def _dispatch(self, on_message: Callable[[Message], Awaitable[None] | None]) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                msg = self._assemble(event)
                if msg is not None:
                    result = on_message(msg)
                    if asyncio.iscoroutine(result):
                        await result
        self._flush()

    def _assemble(self, frame: Frame) -> Message | None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if frame.fin:
                return frame.data.decode("utf-8", errors="replace") if frame.opcode is Opcode.TEXT else bytes(frame.data)
            self._frag_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
            return None
        if frame.opcode is Opcode.CONT and self._frag_opcode is not None:
            self._fragments.append(bytes(frame.data))
            if not frame.fin:
                return None
            data = b"".join(self._fragments)
            opcode, self._frag_opcode, self._fragments = self._frag_opcode, None, []
            return data.decode("utf-8", errors="replace") if opcode is Opcode.TEXT else data
        return None
