"""HTML views: backups, for the server operator only (`web.services.backups`); anyone else gets a
404, as if the page did not exist.

    GET  /organization/backup.db         download an online backup (SQLite backup API)
    GET  /organization/recordings.tar    download the finished recordings as a tar
    POST /organization/backups           take a scheduled-style backup now (into the backup directory)
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from web.auth import current_user, page
from web.errors import ApiError
from web.services import backups
from web.state import AppState, app_state
from web.templating import is_htmx, path_for, render


async def _operator_state(request: Request) -> AppState:
    state = app_state(request)
    if not await backups.is_operator(state, current_user(request)):
        raise ApiError(404, "not-found", "not found")
    return state


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _download(scratch: Path, media_type: str, filename: str) -> Response:
    """The scratch file as an attachment, deleted once sent."""
    return FileResponse(scratch, media_type=media_type, filename=filename,
                        background=BackgroundTask(os.unlink, scratch), headers={"Cache-Control": "no-store"})


@page
async def download_backup(request: Request) -> Response:
    scratch = await backups.database_copy(await _operator_state(request))
    return _download(scratch, "application/vnd.sqlite3", f"switchboard-{_stamp()}.db")


@page
async def download_recordings(request: Request) -> Response:
    scratch = await backups.recordings_archive(await _operator_state(request))
    return _download(scratch, "application/x-tar", f"switchboard-{_stamp()}.recordings.tar")


@page
async def backup_now(request: Request) -> Response:
    state = await _operator_state(request)
    dest = await backups.backup_now(state)
    if is_htmx(request):
        return render(request, "organization/_backups.html",
                      {"backups": backups.backup_context(state), "taken": dest.name})
    return RedirectResponse(path_for(request, "organization") + "?backup=" + dest.name, status_code=303)


routes = [
    Route("/organization/backup.db", download_backup, name="backup_download"),
    Route("/organization/recordings.tar", download_recordings, name="recordings_download"),
    Route("/organization/backups", backup_now, methods=["POST"], name="backup_now"),
]
