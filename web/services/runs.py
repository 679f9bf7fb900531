"""Workflow runs (the calls): finding one, its recording, hanging it up and deleting it, shared by
the HTML views and the JSON API.

All are scoped to the caller's organisation: another organisation's run is a 404, exactly like a
run that does not exist. The recording is served with range support (the browser's audio element
seeks with Range requests); `download` makes it an attachment.
"""
from __future__ import annotations

from starlette.responses import FileResponse, Response

from data.models import RunEvent, WorkflowRun
from data.retention import recording_file, remove_recording
from web.errors import ApiError, not_found
from web.services.runs_query import RunQuery
from web.state import AppState


async def load_run(state: AppState, org: int, run_id: int) -> WorkflowRun:
    run = await state.store.runs.get(org, run_id)
    if run is None:
        raise not_found("workflow run")
    return run


async def unended_run(state: AppState, org: int, run_id: int) -> WorkflowRun:
    """The run, 404 when unknown, 409 when it has already ended."""
    run = await load_run(state, org, run_id)
    if run.ended_at is not None:
        raise ApiError(409, "run-ended", f"this run already ended ({run.status})")
    return run


async def events_of(state: AppState, run: WorkflowRun) -> list[RunEvent]:
    return await state.store.runs.events(run.id)


async def list_runs(state: AppState, org: int, query: RunQuery, *, extra: int = 0) -> list[WorkflowRun]:
    """Runs matching the query, newest first: `query.limit` of them (plus `extra`, to see whether
    there is an older page)."""
    return await state.store.runs.list(org, query.filter, limit=query.limit + extra, before_id=query.before_id)


async def recording_response(state: AppState, org: int, run_id: int, *, download: bool) -> Response:
    run = await load_run(state, org, run_id)
    path = recording_file(state.store.db.path, run.recording_path or "")
    if path is None or not path.is_file():
        raise ApiError(404, "no-recording", "this call has no recording")
    return FileResponse(path, media_type="audio/wav", filename=f"call-{run.id}.wav",
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-store"})


def hang_up(state: AppState, run: WorkflowRun) -> bool:
    """End a live call on this server; False when it is not live here."""
    return state.telephony.hang_up(run.id)


async def delete_run(state: AppState, org: int, run_id: int) -> WorkflowRun:
    """Delete an ended run with its events and recording; 409 while the call is live."""
    run = await load_run(state, org, run_id)
    if run.live or not await state.store.runs.delete(org, run.id):
        raise ApiError(409, "run-live", "this call is still live: hang it up first")
    remove_recording(state.store.db.path, run.recording_path)
    return run
