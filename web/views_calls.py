"""HTML views: calls (workflow runs).

- `/calls`: filters (configuration, workflow, direction, status, days), pages of `PAGE_SIZE`
  (cursor `before_id`, like the API); the rows poll themselves (`every 2s`, the same URL with
  `HX-Request` answers only the rows), so live calls appear, update and end without a reload.
- `/calls/{id}`: the facts, the recording (player and download), the transcript turn by turn;
  while the call is live the block polls itself every second and stops once the call ended.
- Hang up (`POST /calls/{id}/hangup`) and delete (`DELETE /calls/{id}`, `POST …/delete`).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.auth import org_id, page
from web.call_timeline import elapsed_s, latency_summary, timeline
from web.errors import ApiError
from web.recordings import delete_run_of, load_run, recording_response
from web.requests import path_id
from web.runs_query import DIRECTIONS, FIELDS, RUN_STATUSES, parse_run_query
from web.state import app_state
from web.templating import is_htmx, render

PAGE_SIZE = 50


def _page_url(values: dict[str, str], before_id: int | None = None) -> str:
    params = dict(values) | ({"before_id": str(before_id)} if before_id else {})
    return "/calls" + ("?" + urlencode(params) if params else "")


@page
async def list_calls(request: Request) -> Response:
    store = app_state(request).store
    query, errors = parse_run_query(request.query_params, default_limit=PAGE_SIZE)
    runs, older = [], None
    if query is not None:
        runs = await store.runs.list(org_id(request), query.filter, limit=query.limit + 1, before_id=query.before_id)
        if len(runs) > query.limit:
            runs = runs[: query.limit]
            older = _page_url(query.values, runs[-1].id)
    now = datetime.now(timezone.utc)
    context: dict[str, Any] = {
        "runs": runs, "elapsed": {r.id: elapsed_s(r, now) for r in runs},
        "values": {k: request.query_params[k] for k in FIELDS if request.query_params.get(k)},
        "errors": errors, "older": older, "paged": query is not None and query.before_id is not None,
        "poll_url": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "nav": "calls",
    }
    if is_htmx(request):
        return render(request, "calls/_rows.html", context)
    context |= {
        "configs": await store.configs.list(org_id(request)), "workflows": await store.workflows.list(org_id(request)),
        "directions": DIRECTIONS, "statuses": RUN_STATUSES, "newest": _page_url(query.values if query else {}),
    }
    return render(request, "calls/list.html", context, status_code=422 if errors else 200)


@page
async def call_detail(request: Request) -> Response:
    run = await load_run(request, path_id(request, "run_id"))
    events = await app_state(request).store.runs.events(run.id)
    context = {"run": run, "lines": timeline(run, events), "latency": latency_summary(events),
               "elapsed": elapsed_s(run, datetime.now(timezone.utc)), "nav": "calls"}
    return render(request, "calls/_live.html" if is_htmx(request) else "calls/detail.html", context)


@page
async def call_recording(request: Request) -> Response:
    return await recording_response(request, path_id(request, "run_id"))


@page
async def hang_up(request: Request) -> Response:
    """End a live call. htmx: 204 (the polling shows the end); a plain form: back to the call."""
    run = await load_run(request, path_id(request, "run_id"))
    if run.live and not app_state(request).telephony.hang_up(run.id):
        raise ApiError(409, "not-live-here", "this call is not live on this server (it may have just ended)")
    if is_htmx(request):
        return Response(status_code=204)
    return RedirectResponse(f"/calls/{run.id}", status_code=303)


@page
async def delete_call(request: Request) -> Response:
    run = await delete_run_of(request, path_id(request, "run_id"))
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": "/calls"})
    return RedirectResponse(f"/calls?deleted={run.id}", status_code=303)
