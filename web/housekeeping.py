"""The server's background chores, started and stopped by the lifespan: the recording
retention sweep and scheduled backups (`Settings.backup_*`)."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from data.backup import run_scheduled_backups
from data.retention import run_sweeps
from data.store import Store
from web.services.backups import policy_of
from web.settings import Settings


@dataclass
class Housekeeping:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(cls, store: Store, settings: Settings) -> Housekeeping:
        tasks = [asyncio.create_task(run_sweeps(store.db, settings.retention_sweep_s), name="retention-sweep")]
        if settings.backup_interval_h > 0:
            tasks.append(asyncio.create_task(run_scheduled_backups(store.db, policy_of(settings)),
                                             name="scheduled-backups"))
        return cls(tasks)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
