"""JSON API under /api/v1: workflows and workflow runs."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from data.errors import Conflict
from data.models import Workflow
from data.runs import FINAL_STATUSES, RunFilter
from web.api_serial import event_json, run_json, workflow_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.forms import parse_id
from web.requests import json_object, path_id
from web.workflow_input import from_api

RUN_STATUSES = ("queued", "ringing", "in_progress", *FINAL_STATUSES)


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
    """Filters, page size and cursor from the query string; bad values are a 422."""
    q = request.query_params
    errors: dict[str, str] = {}
    ids: dict[str, int | None] = {}
    for key in ("telephony_configuration_id", "workflow_id", "before_id"):
        value = parse_id(q.get(key))
        if value == "invalid":
            errors[key] = "must be a positive whole number"
        else:
            ids[key] = value  # type: ignore[assignment]
    direction = q.get("direction") or None
    if direction not in (None, "inbound", "outbound", "test"):
        errors["direction"] = "inbound, outbound or test"
    status = q.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        errors["status"] = "one of " + ", ".join(RUN_STATUSES)
    limit = parse_id(q.get("limit", "50"))
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        errors["limit"] = "between 1 and 500"
    if errors:
        raise invalid(errors)
    flt = RunFilter(ids["telephony_configuration_id"], ids["workflow_id"], direction, status,
                    q.get("since") or None, q.get("until") or None)
    assert isinstance(limit, int)
    return flt, limit, ids["before_id"]


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
