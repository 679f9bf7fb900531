"""JSON API under /api/v1: workflows and workflow runs."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from data.errors import Conflict
from data.models import Workflow
from data.runs import RunFilter
from web.api_serial import event_json, run_json, workflow_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.requests import json_object, path_id
from web.recordings import delete_run_of, recording_response
from web.runs_query import parse_run_query
from web.workflow_input import from_api


async def _workflow(request: Request) -> Workflow:
    workflow = await request.app.state.store.workflows.get(org_id(request), path_id(request, "workflow_id"))
    if workflow is None:
        raise not_found("workflow")
    return workflow


@api
async def list_workflows(request: Request) -> Response:
    workflows = await request.app.state.store.workflows.list(org_id(request))
    return JSONResponse({"items": [workflow_json(w) for w in workflows]})


@api
async def create_workflow(request: Request) -> Response:
    clean, errors = from_api(await json_object(request))
    if clean is None:
        raise invalid(errors)
    workflow = await request.app.state.store.workflows.create(org_id(request), *clean)
    return JSONResponse(workflow_json(workflow), status_code=201)


@api
async def get_workflow(request: Request) -> Response:
    return JSONResponse(workflow_json(await _workflow(request)))


@api
async def update_workflow(request: Request) -> Response:
    current = await _workflow(request)
    body = await json_object(request)
    if request.method == "PATCH":  # merge; PUT replaces the whole workflow
        clean, errors = from_api({"name": current.name, **body}, current.definition)
    else:
        clean, errors = from_api(body)
    if clean is None:
        raise invalid(errors)
    workflow = await request.app.state.store.workflows.update(org_id(request), current.id, *clean)
    if workflow is None:
        raise not_found("workflow")
    return JSONResponse(workflow_json(workflow))


@api
async def delete_workflow(request: Request) -> Response:
    workflow = await _workflow(request)
    try:
        await request.app.state.store.workflows.delete(org_id(request), workflow.id)
    except Conflict as exc:
        raise ApiError(409, "workflow-in-use", exc.message) from exc
    return Response(status_code=204)


def run_filter(request: Request) -> tuple[RunFilter, int, int | None]:
    """Filters, page size and cursor from the query string (`web.runs_query`); bad values are a 422."""
    query, errors = parse_run_query(request.query_params)
    if query is None:
        raise invalid(errors)
    return query.filter, query.limit, query.before_id


@api
async def list_runs(request: Request) -> Response:
    flt, limit, before_id = run_filter(request)
    runs = await request.app.state.store.runs.list(org_id(request), flt, limit=limit, before_id=before_id)
    next_cursor = runs[-1].id if len(runs) == limit else None
    return JSONResponse({"items": [run_json(r) for r in runs], "next_before_id": next_cursor})


@api
async def get_run(request: Request) -> Response:
    run = await request.app.state.store.runs.get(org_id(request), path_id(request, "run_id"))
    if run is None:
        raise not_found("workflow run")
    events = await request.app.state.store.runs.events(run.id)
    return JSONResponse(run_json(run) | {"events": [event_json(e) for e in events]})


@api
async def delete_run(request: Request) -> Response:
    """Delete an ended run, its events and its recording; a live call is a 409."""
    await delete_run_of(request, path_id(request, "run_id"))
    return Response(status_code=204)


@api
async def run_recording(request: Request) -> Response:
    return await recording_response(request, path_id(request, "run_id"))


@api
async def hang_up_run(request: Request) -> Response:
    """End a live call (any direction), like the Hang up button: 202, or 409 when it is not live."""
    run = await request.app.state.store.runs.get(org_id(request), path_id(request, "run_id"))
    if run is None:
        raise not_found("workflow run")
    if run.ended_at is not None:
        raise ApiError(409, "run-ended", f"this run already ended ({run.status})")
    if not request.app.state.telephony.hang_up(run.id):
        raise ApiError(409, "not-live-here", "this run has no live call on this server")
    return JSONResponse({"workflow_run_id": run.id}, status_code=202)
