"""HTML views: calls (workflow runs). Fuller history, filters and live updates build on this."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from web.auth import org_id, page
from web.errors import ApiError
from web.requests import path_id
from web.templating import render


@page
async def list_calls(request: Request) -> Response:
    runs = await request.app.state.store.runs.list(org_id(request), limit=100)
    return render(request, "calls/list.html", {"runs": runs, "nav": "calls"})


@page
async def call_detail(request: Request) -> Response:
    run = await request.app.state.store.runs.get(org_id(request), path_id(request, "run_id"))
    if run is None:
        raise ApiError(404, "not-found", "this call does not exist")
    events = await request.app.state.store.runs.events(run.id)
    return render(request, "calls/detail.html", {"run": run, "events": events, "nav": "calls"})
