"""HTML views: backups, for the server operator only.

A backup holds the whole database — every organisation on this server — so only an admin of
the first organisation (the one created at set-up, which operates the server) may take one;
anyone else gets a 404, as if the page did not exist.

    GET  /organization/backup.db         download an online backup (SQLite backup API)
    GET  /organization/recordings.tar    download the finished recordings as a tar
    POST /organization/backups           take a scheduled-style backup now (into the backup directory)
"""
from __future__ import annotations

import asyncio
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from data.backup import BackupPolicy, archive_recordings, backup_database, list_backups, take_scheduled_backup
from data.models import User
from web.auth import page
from web.errors import ApiError
from web.settings import Settings
from web.state import app_state
from web.templating import is_htmx, render


async def is_operator(request: Request) -> bool:
    user: User = request.state.user
    if not user.is_admin:
        return False
    first = await app_state(request).store.accounts.first_organization_id()
    return bool(first == user.organization_id)


async def _require_operator(request: Request) -> None:
    if not await is_operator(request):
        raise ApiError(404, "not-found", "not found")


def policy_of(settings: Settings) -> BackupPolicy:
    return BackupPolicy(settings.backups_path, settings.backup_interval_h * 3600.0, settings.backup_keep,
                        settings.backup_recordings)


def backup_context(request: Request) -> dict[str, Any]:
    policy = policy_of(app_state(request).settings)
    return {"policy": policy, "interval_h": app_state(request).settings.backup_interval_h,
            "files": list_backups(policy.directory)[:10]}


def _scratch(request: Request, suffix: str) -> Path:
    """A temporary file beside the database (same volume, never /tmp on a small root disk)."""
    directory: Path = app_state(request).store.db.path.parent
    return directory / f".download-{secrets.token_hex(6)}{suffix}"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


@page
async def download_backup(request: Request) -> Response:
    await _require_operator(request)
    scratch = _scratch(request, ".db")
    await backup_database(app_state(request).store.db, scratch)
    return FileResponse(scratch, media_type="application/vnd.sqlite3", filename=f"switchboard-{_stamp()}.db",
                        background=BackgroundTask(os.unlink, scratch), headers={"Cache-Control": "no-store"})


@page
async def download_recordings(request: Request) -> Response:
    await _require_operator(request)
    scratch = _scratch(request, ".tar")
    await asyncio.to_thread(archive_recordings, app_state(request).store.db.path, scratch)
    return FileResponse(scratch, media_type="application/x-tar", filename=f"switchboard-{_stamp()}.recordings.tar",
                        background=BackgroundTask(os.unlink, scratch), headers={"Cache-Control": "no-store"})


@page
async def backup_now(request: Request) -> Response:
    await _require_operator(request)
    policy = policy_of(app_state(request).settings)
    dest = await take_scheduled_backup(app_state(request).store.db, policy)
    if is_htmx(request):
        return render(request, "organization/_backups.html", {"backups": backup_context(request), "taken": dest.name})
    return RedirectResponse("/organization?backup=" + dest.name, status_code=303)
