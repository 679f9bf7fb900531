"""JSON API under /api/v1: workflow runs (the calls) — list with filters, one with its events,
hang up, cancel (an outbound call while it rings), delete, and the recording.

    GET    /api/v1/workflow-runs?telephony_configuration_id&workflow_id&direction&status&since&until
           &limit&before_id   → {"items": [run…], "next_before_id": id | null}   (`web.services.runs_query`)
    GET    /api/v1/workflow-runs/{id}            → the run with its "events", "variables" and "tool_calls"
    GET    /api/v1/workflow-runs/{id}/webhook-deliveries → {"items": [delivery with its "log" of attempts]}
    POST   /api/v1/workflow-runs/{id}/hangup     → 202, 409 when it is not live here
    POST   /api/v1/workflow-runs/{id}/cancel     → 202, 409 when it is not an outbound call being placed
    DELETE /api/v1/workflow-runs/{id}            → 204, 409 while the call is live
    GET    /api/v1/workflow-runs/{id}/recording  → audio/wav (`?download=1`: an attachment)
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.webhooks import call_variables, tool_calls
from data.models import WorkflowRun
from web.api import PREFIX
from web.api.serial import event_json, run_json
from web.auth import api, org_id
from web.errors import ApiError, invalid
from web.requests import path_id
from web.services import calls, runs
from web.services.runs_query import parse_run_query
from web.services.webhooks import deliveries_of
from web.state import app_state
from web.templating import path_for


def _json(request: Request, run: WorkflowRun) -> dict[str, Any]:
    return run_json(run, path_for(request, "api.run_recording", run_id=run.id))


@api
async def list_runs(request: Request) -> Response:
    query, errors = parse_run_query(request.query_params)
    if query is None:
        raise invalid(errors)
    found = await runs.list_runs(app_state(request), org_id(request), query)
    next_cursor = found[-1].id if len(found) == query.limit else None
    return JSONResponse({"items": [_json(request, r) for r in found], "next_before_id": next_cursor})


@api
async def get_run(request: Request) -> Response:
    state = app_state(request)
    run = await runs.load_run(state, org_id(request), path_id(request, "run_id"))
    events = await runs.events_of(state, run)
    return JSONResponse(_json(request, run) | {"events": [event_json(e) for e in events],
                                               "variables": call_variables(events), "tool_calls": tool_calls(events)})


@api
async def run_webhook_deliveries(request: Request) -> Response:
    """The run's post-call webhook deliveries, each with its attempts (oldest first)."""
    state, org = app_state(request), org_id(request)
    run = await runs.load_run(state, org, path_id(request, "run_id"))
    return JSONResponse({"items": [d.as_json() for d in await deliveries_of(state.store, org, run.id)]})


@api
async def delete_run(request: Request) -> Response:
    """Delete an ended run, its events and its recording; a live call is a 409."""
    await runs.delete_run(app_state(request), org_id(request), path_id(request, "run_id"))
    return Response(status_code=204)


@api
async def run_recording(request: Request) -> Response:
    download = request.query_params.get("download") in ("1", "true", "yes")
    return await runs.recording_response(app_state(request), org_id(request), path_id(request, "run_id"),
                                         download=download)


@api
async def hang_up_run(request: Request) -> Response:
    """End a live call (any direction), like the Hang up button: 202, or 409 when it is not live."""
    state = app_state(request)
    run = await runs.unended_run(state, org_id(request), path_id(request, "run_id"))
    if not runs.hang_up(state, run):
        raise ApiError(409, "not-live-here", "this run has no live call on this server")
    return JSONResponse({"workflow_run_id": run.id}, status_code=202)


@api
async def cancel_run(request: Request) -> Response:
    state = app_state(request)
    run = await runs.unended_run(state, org_id(request), path_id(request, "run_id"))
    if not calls.cancel_call(state, run.id):
        raise ApiError(409, "not-cancelable", "this run is not an outbound call this server is placing")
    return JSONResponse({"workflow_run_id": run.id}, status_code=202)


BASE = PREFIX + "/workflow-runs"
ONE = BASE + "/{run_id:int}"
routes = [
    Route(BASE, list_runs, name="api.runs"),
    Route(ONE, get_run, name="api.run"),
    Route(ONE, delete_run, methods=["DELETE"], name="api.run_delete"),
    Route(ONE + "/hangup", hang_up_run, methods=["POST"], name="api.run_hangup"),
    Route(ONE + "/recording", run_recording, name="api.run_recording"),
    Route(ONE + "/cancel", cancel_run, methods=["POST"], name="api.run_cancel"),
    Route(ONE + "/webhook-deliveries", run_webhook_deliveries, name="api.run_webhook_deliveries"),
]
