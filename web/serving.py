"""Serving with a graceful stop.

On SIGTERM uvicorn closes every open WebSocket (code 1012) *before* the lifespan shutdown runs,
so live calls would see their media socket vanish and their runs would record a wrong reason
("media socket closed by Asterisk"). `GracefulServer` first ends the calls politely — the app's
telephony `stop()`: each caller is hung up, each bridge and media channel removed, each run
finished `failed` / "Switchboard is shutting down" (`server-shutdown`) — and only then lets
uvicorn close connections and run the lifespan shutdown (where `stop()` finds nothing left).
"""
from __future__ import annotations

import logging
import socket

import uvicorn

from web.state import running_state

log = logging.getLogger("switchboard")


class GracefulServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = running_state(self.config.app)
        if state is not None:
            log.info("stopping: ending live calls before closing connections")
            try:
                await state.telephony.stop()
            except Exception:  # the lifespan shutdown still runs and tries again
                log.exception("ending live calls failed error_id=shutdown-failed")
        await super().shutdown(sockets)


def run(config: uvicorn.Config) -> int:
    """`uvicorn.run` for one worker, with `GracefulServer`; returns the exit status."""
    server = GracefulServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0 if server.started else 3

