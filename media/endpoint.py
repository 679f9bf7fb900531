"""`/api/v1/telephony/ws/ari`: where Asterisk's chan_websocket connects for each call.

1. No `workflow_id`/`user_id`/`workflow_run_id` in the query → HTTP 403 before accept (the guide
   documents this for a bare browser or wscat visit).
2. Accept with subprotocol `media`; the first message must be a text MEDIA_START.
3. Route by its `channel_id` (our pre-assigned external-media id), never by the query: a socket
   whose channel is not one we are waiting for is closed and logged; one socket per call.
"""
from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from media.protocol import ControlParseError, MediaStart, parse_control
from media.registry import MediaRegistry
from media.session import MediaSession

log = logging.getLogger("switchboard.media")

REQUIRED_PARAMS = ("workflow_id", "user_id", "workflow_run_id")
MEDIA_START_TIMEOUT_S = 5.0
POLICY_VIOLATION = 1008


class StarletteMediaSocket:
    """Adapts a Starlette WebSocket to `media.session.MediaSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send_bytes(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def send_text(self, text: str) -> None:
        await self.websocket.send_text(text)

    async def receive(self) -> str | bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return str(message.get("text") or "")

    async def close(self, code: int = 1000) -> None:
        await self.websocket.close(code)


async def media_endpoint(websocket: WebSocket, registry: MediaRegistry) -> None:
    """One call's media socket; `registry` holds the calls waiting for theirs (the web layer
    passes the running server's)."""
    query = websocket.query_params
    client = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "?"
    if any(not query.get(name) for name in REQUIRED_PARAMS):
        log.info("media socket refused (403): missing workflow_id/user_id/workflow_run_id client=%s", client)
        await websocket.close(POLICY_VIOLATION)  # before accept: the server answers HTTP 403
        return
    subprotocols = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="media" if "media" in subprotocols else None)
    socket = StarletteMediaSocket(websocket)
    start = await _media_start(socket, client)
    if start is None:
        await socket.close(POLICY_VIOLATION)
        return
    pending = registry.claim(start.channel_id or "")
    if pending is None:
        log.warning("media socket for a channel we are not waiting for error_id=media-unknown-channel "
                    "channel=%s client=%s", start.channel_id, client)
        await socket.close(POLICY_VIOLATION)
        return
    if query.get("workflow_run_id") != str(pending.run_id):
        # Expected now and then: Asterisk keeps v() parameters on the shared client object.
        log.info("media socket query names run %s but MEDIA_START channel %s belongs to run %s; "
                 "routing by channel", query.get("workflow_run_id"), start.channel_id, pending.run_id)
    session = MediaSession(socket, start, run_id=pending.run_id,
                           json_commands=start.channel_variables is not None and bool(start.channel_variables))
    pending.connected.set_result(session)
    try:
        await session.run()
    except WebSocketDisconnect:
        pass


async def _media_start(socket: StarletteMediaSocket, client: str) -> MediaStart | None:
    try:
        first = await asyncio.wait_for(socket.receive(), MEDIA_START_TIMEOUT_S)
    except (TimeoutError, WebSocketDisconnect):
        log.warning("media socket sent no MEDIA_START error_id=media-no-start client=%s", client)
        return None
    if not isinstance(first, str):
        log.warning("media socket sent %s before MEDIA_START error_id=media-no-start client=%s",
                    "audio" if first is not None else "nothing", client)
        return None
    try:
        message = parse_control(first)
    except ControlParseError as exc:
        log.warning("media socket first message unreadable error_id=%s client=%s: %s", exc.error_id, client, exc)
        return None
    if not isinstance(message, MediaStart) or not message.channel_id:
        log.warning("media socket first message is not MEDIA_START error_id=media-no-start client=%s", client)
        return None
    return message
