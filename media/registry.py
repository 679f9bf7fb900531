"""Which external-media channels we are waiting for, so a media socket is routed by the
`channel_id` of its MEDIA_START — never by its query string, which Asterisk can mix up between
concurrent calls (`v()` parameters stick to the shared websocket_client object)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media.session import MediaSession


@dataclass
class PendingMedia:
    channel_id: str
    run_id: int
    workflow_id: int
    config_id: int
    connected: asyncio.Future[MediaSession] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MediaRegistry:
    def __init__(self) -> None:
        self._pending: dict[str, PendingMedia] = {}

    def expect(self, channel_id: str, *, run_id: int, workflow_id: int, config_id: int) -> PendingMedia:
        pending = PendingMedia(channel_id, run_id, workflow_id, config_id)
        self._pending[channel_id] = pending
        return pending

    def claim(self, channel_id: str) -> PendingMedia | None:
        """The pending entry for `channel_id`, once: a second socket for the same channel gets None."""
        pending = self._pending.pop(channel_id, None)
        if pending is not None and pending.connected.done():
            return None
        return pending

    def discard(self, channel_id: str) -> None:
        pending = self._pending.pop(channel_id, None)
        if pending is not None and not pending.connected.done():
            pending.connected.cancel()

    def __len__(self) -> int:
        return len(self._pending)
