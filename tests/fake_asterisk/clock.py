"""One shared 20 ms timer for every playout queue and every far-end audio source.

Ticks are scheduled on absolute deadlines (no drift); when the loop falls behind, missed ticks are
run back to back (bounded), so the average rate stays one tick per interval.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

TickCallback = Callable[[int, float], None]  # (tick index, loop time)


class MediaClock:
    def __init__(self, interval: float = 0.020, max_catch_up: int = 5) -> None:
        self.interval = interval
        self.max_catch_up = max_catch_up
        self.tick_index = 0
        self._subs: dict[int, TickCallback] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def add(self, callback: TickCallback) -> int:
        token = next(self._ids)
        self._subs[token] = callback
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fake-asterisk-clock")
        return token

    def remove(self, token: int | None) -> None:
        if token is not None:
            self._subs.pop(token, None)

    async def stop(self) -> None:
        self._subs.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while self._subs:
            deadline += self.interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.interval * self.max_catch_up:
                deadline = loop.time()  # too far behind: resynchronise instead of bursting
            self.tick_index += 1
            now = loop.time()
            for callback in list(self._subs.values()):
                try:
                    callback(self.tick_index, now)
                except Exception:  # noqa: BLE001 - one broken subscriber must not stop the clock
                    import traceback

                    traceback.print_exc()
