"""HTML views: calls (workflow runs).

- `/calls`: filters (configuration, workflow, direction, status, days), pages of `PAGE_SIZE`
  (cursor `before_id`, like the API); the rows poll themselves (`every 2s`, the same URL with
  `HX-Request` answers only the rows), so live calls appear, update and end without a reload.
- `/calls/{id}`: the facts, the variables, the recording (player and download), the transcript
  turn by turn with tool calls and lookups, the post-call webhook deliveries with their
  attempts; while the call is live the block polls itself every second and stops once the call
  ended (the deliveries card keeps polling while a delivery is pending).
- Hang up (`POST /calls/{id}/hangup`) and delete (`DELETE /calls/{id}`, `POST …/delete`).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent.webhooks import call_variables
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import path_id
from web.services import runs
from web.services.runs_query import DIRECTIONS, FIELDS, RUN_STATUSES, parse_run_query
from web.services.webhooks import deliveries_of
from web.state import app_state
from web.templating import is_htmx, path_for, render
from web.views.call_timeline import elapsed_s, latency_summary, timeline

PAGE_SIZE = 50


def _page_url(request: Request, values: dict[str, str], before_id: int | None = None) -> str:
    params = dict(values) | ({"before_id": str(before_id)} if before_id else {})
    return path_for(request, "calls") + ("?" + urlencode(params) if params else "")


@page
async def list_calls(request: Request) -> Response:
    state, org = app_state(request), org_id(request)
    query, errors = parse_run_query(request.query_params, default_limit=PAGE_SIZE)
    found, older = [], None
    if query is not None:
        found = await runs.list_runs(state, org, query, extra=1)
        if len(found) > query.limit:
            found = found[: query.limit]
            older = _page_url(request, query.values, found[-1].id)
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "runs": found, "elapsed": {r.id: elapsed_s(r, now) for r in found},
        "values": {k: request.query_params[k] for k in FIELDS if request.query_params.get(k)},
        "errors": errors, "older": older, "paged": query is not None and query.before_id is not None,
        "poll_url": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "nav": "calls",
    }
    if is_htmx(request):
        return render(request, "calls/_rows.html", context)
    context |= {
        "configs": await state.store.configs.list(org), "workflows": await state.store.workflows.list(org),
        "directions": DIRECTIONS, "statuses": RUN_STATUSES, "newest": _page_url(request, query.values if query else {}),
    }
    return render(request, "calls/list.html", context, status_code=422 if errors else 200)


@page
async def call_detail(request: Request) -> Response:
    state = app_state(request)
    run = await runs.load_run(state, org_id(request), path_id(request, "run_id"))
    events = await runs.events_of(state, run)
    deliveries = await deliveries_of(state.store, org_id(request), run.id)
    context = {"run": run, "lines": timeline(run, events), "latency": latency_summary(events),
               "elapsed": elapsed_s(run, datetime.now(UTC)), "nav": "calls", "variables": call_variables(events),
               "deliveries": deliveries, "delivering": any(d.delivery.status == "pending" for d in deliveries)}
    return render(request, "calls/_live.html" if is_htmx(request) else "calls/detail.html", context)


@page
async def call_recording(request: Request) -> Response:
    download = request.query_params.get("download") in ("1", "true", "yes")
    return await runs.recording_response(app_state(request), org_id(request), path_id(request, "run_id"),
                                         download=download)


@page
async def hang_up(request: Request) -> Response:
    """End a live call. htmx: 204 (the polling shows the end); a plain form: back to the call."""
    state = app_state(request)
    run = await runs.load_run(state, org_id(request), path_id(request, "run_id"))
    if run.live and not runs.hang_up(state, run):
        raise ApiError(409, "not-live-here", "this call is not live on this server (it may have just ended)")
    if is_htmx(request):
        return Response(status_code=204)
    return RedirectResponse(path_for(request, "call", run_id=run.id), status_code=303)


@page
async def delete_call(request: Request) -> Response:
    run = await runs.delete_run(app_state(request), org_id(request), path_id(request, "run_id"))
    listing = path_for(request, "calls")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": listing})
    return RedirectResponse(f"{listing}?deleted={run.id}", status_code=303)


BASE = "/calls"
ONE = BASE + "/{run_id:int}"
routes = [
    Route(BASE, list_calls, name="calls"),
    Route(ONE, call_detail, name="call"),
    Route(ONE, delete_call, methods=["DELETE"], name="call_delete"),
    Route(ONE + "/delete", delete_call, methods=["POST"], name="call_delete_form"),
    Route(ONE + "/hangup", hang_up, methods=["POST"], name="call_hangup"),
    Route(ONE + "/recording", call_recording, name="call_recording"),
]
