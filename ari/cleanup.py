"""Best-effort ARI requests on the way out of a call: each is bounded by the REST timeout and a
failure is logged (or ignored), never raised; background ones stay referenced until done."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from ari.errors import AriError
from ari.rest import AriRestClient

log = logging.getLogger("switchboard.ari.calls")


class Cleanup:
    def __init__(self, rest: AriRestClient, timeout_s: float) -> None:
        self.rest = rest
        self.timeout_s = timeout_s
        self._background: set[asyncio.Task[None]] = set()

    async def safely(self, label: str, what: str, request: Awaitable[Any]) -> None:
        """Run `request`; a refusal or timeout is logged as "could not <what>"."""
        try:
            await asyncio.wait_for(request, self.timeout_s)
        except (AriError, TimeoutError) as exc:
            log.warning("could not %s error_id=%s %s: %s", what, getattr(exc, "error_id", "ari-timeout"), label, exc)

    async def hang_up_quietly(self, channel_id: str) -> None:
        with contextlib.suppress(AriError, TimeoutError):
            await asyncio.wait_for(self.rest.hangup(channel_id), self.timeout_s)

    async def delete_bridge_quietly(self, bridge_id: str) -> None:
        with contextlib.suppress(AriError, TimeoutError):
            await asyncio.wait_for(self.rest.delete_bridge(bridge_id), self.timeout_s)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
