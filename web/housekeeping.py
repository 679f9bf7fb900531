"""The server's background chores, started and stopped by the lifespan: the recording
retention sweep and scheduled backups (`Settings.backup_*`)."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from data.backup import BackupPolicy, run_scheduled_backups
from data.retention import run_sweeps
from data.store import Store
from web.settings import Settings


@dataclass
class Housekeeping:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(cls, store: Store, settings: Settings) -> Housekeeping:
        tasks = [asyncio.create_task(run_sweeps(store.db, settings.retention_sweep_s), name="retention-sweep")]
        if settings.backup_interval_h > 0:
            policy = BackupPolicy(settings.backups_path, settings.backup_interval_h * 3600.0,
                                  settings.backup_keep, settings.backup_recordings)
            tasks.append(asyncio.create_task(run_scheduled_backups(store.db, policy), name="scheduled-backups"))
        return cls(tasks)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
