"""A run's recording file and deleting a run, shared by the HTML views and the JSON API.

Both are scoped to the user's organisation: another organisation's run is a 404, exactly like a
run that does not exist. The file is served with range support (the browser's audio element
seeks with Range requests); `?download=1` makes it an attachment.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from data.models import WorkflowRun
from data.retention import recording_file, remove_recording
from web.auth import org_id
from web.errors import ApiError, not_found
from web.state import app_state


async def load_run(request: Request, run_id: int) -> WorkflowRun:
    run: WorkflowRun | None = await app_state(request).store.runs.get(org_id(request), run_id)
    if run is None:
        raise not_found("workflow run")
    return run


async def recording_response(request: Request, run_id: int) -> Response:
    run = await load_run(request, run_id)
    path = recording_file(app_state(request).store.db.path, run.recording_path or "")
    if path is None or not path.is_file():
        raise ApiError(404, "no-recording", "this call has no recording")
    download = request.query_params.get("download") in ("1", "true", "yes")
    return FileResponse(path, media_type="audio/wav", filename=f"call-{run.id}.wav",
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-store"})


async def delete_run_of(request: Request, run_id: int) -> WorkflowRun:
    """Delete an ended run with its events and recording; 409 while the call is live."""
    run = await load_run(request, run_id)
    if run.live:
        raise ApiError(409, "run-live", "this call is still live: hang it up first")
    store = app_state(request).store
    if not await store.runs.delete(org_id(request), run.id):
        raise ApiError(409, "run-live", "this call is still live: hang it up first")
    remove_recording(store.db.path, run.recording_path)
    return run
