"""Backups, for the server operator only.

A backup holds the whole database — every organisation on this server — so only an admin of
the first organisation (the one created at set-up, which operates the server) may take one.
Downloads are written to a scratch file beside the database (same volume, never /tmp on a small
root disk) that the response deletes once sent.
"""
from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from data.backup import BackupPolicy, archive_recordings, backup_database, list_backups, take_scheduled_backup
from data.models import User
from web.settings import Settings
from web.state import AppState


async def is_operator(state: AppState, user: User) -> bool:
    if not user.is_admin:
        return False
    return await state.store.accounts.first_organization_id() == user.organization_id


def policy_of(settings: Settings) -> BackupPolicy:
    return BackupPolicy(settings.backups_path, settings.backup_interval_h * 3600.0, settings.backup_keep,
                        settings.backup_recordings)


def backup_context(state: AppState) -> dict[str, Any]:
    """What the organisation page shows of the backups: the policy and the newest files."""
    policy = policy_of(state.settings)
    return {"policy": policy, "interval_h": state.settings.backup_interval_h,
            "files": list_backups(policy.directory)[:10]}


def _scratch(state: AppState, suffix: str) -> Path:
    return state.store.db.path.parent / f".download-{secrets.token_hex(6)}{suffix}"


async def database_copy(state: AppState) -> Path:
    """An online backup of the database in a scratch file (the caller deletes it)."""
    scratch = _scratch(state, ".db")
    await backup_database(state.store.db, scratch)
    return scratch


async def recordings_archive(state: AppState) -> Path:
    """The finished recordings as a tar in a scratch file (the caller deletes it)."""
    scratch = _scratch(state, ".tar")
    await asyncio.to_thread(archive_recordings, state.store.db.path, scratch)
    return scratch


async def backup_now(state: AppState) -> Path:
    """A scheduled-style backup, taken now into the backup directory."""
    return await take_scheduled_backup(state.store.db, policy_of(state.settings))
