"""JSON API under /api/v1: workflows (CRUD, export/import, test chat) and workflow runs.

Workflow secrets (API keys) are write-only: responses and exports carry `SECRET_MASK` in their
place, and sending the mask back keeps the stored key (`web.workflow_input.seal_secrets`).
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.definition import redact_secrets
from data.errors import Conflict
from data.models import Workflow, WorkflowRun
from data.runs import RunFilter
from web.api_serial import event_json, run_json, workflow_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.recordings import delete_run_of, recording_response
from web.requests import json_object, path_id
from web.runs_query import parse_run_query
from web.state import app_state
from web.views_chat import ChatStateError, Conversation, api_turn, converse, seal, unseal
from web.views_workflows import export_response, import_workflow_document, redacted_secrets
from web.workflow_input import from_api, seal_secrets


async def _workflow(request: Request) -> Workflow:
    workflow: Workflow | None = await app_state(request).store.workflows.get(org_id(request),
                                                                             path_id(request, "workflow_id"))
    if workflow is None:
        raise not_found("workflow")
    return workflow


def _json(workflow: Workflow) -> dict[str, Any]:
    return workflow_json(workflow) | {"definition": redact_secrets(workflow.definition)}


@api
async def list_workflows(request: Request) -> Response:
    workflows = await app_state(request).store.workflows.list(org_id(request))
    return JSONResponse({"items": [_json(w) for w in workflows]})


@api
async def create_workflow(request: Request) -> Response:
    clean, errors = from_api(await json_object(request))
    if clean is None:
        raise invalid(errors)
    store = app_state(request).store
    name, definition = clean
    workflow = await store.workflows.create(org_id(request), name, seal_secrets(definition, None, store.box.encrypt))
    return JSONResponse(_json(workflow), status_code=201)


@api
async def get_workflow(request: Request) -> Response:
    return JSONResponse(_json(await _workflow(request)))


@api
async def update_workflow(request: Request) -> Response:
    current = await _workflow(request)
    body = await json_object(request)
    shown = redact_secrets(current.definition)  # what a client saw; masks keep the stored keys
    if request.method == "PATCH":  # merge; PUT replaces the whole workflow
        clean, errors = from_api({"name": current.name, **body}, shown)
    else:
        clean, errors = from_api(body)
    if clean is None:
        raise invalid(errors)
    store = app_state(request).store
    name, definition = clean
    workflow = await store.workflows.update(org_id(request), current.id, name,
                                            seal_secrets(definition, current.definition, store.box.encrypt))
    if workflow is None:
        raise not_found("workflow")
    return JSONResponse(_json(workflow))


@api
async def export_workflow(request: Request) -> Response:
    """The workflow as a file: {"switchboard": "workflow", "format": 1, "name", "definition"}."""
    return export_response(await _workflow(request))


@api
async def import_workflow(request: Request) -> Response:
    """Create a workflow from an export file's JSON (`?name=` overrides its name). Redacted keys
    are imported empty: `secrets_missing` says so."""
    document = await json_object(request)
    workflow = await import_workflow_document(request, document, request.query_params.get("name") or None)
    return JSONResponse(_json(workflow) | {"secrets_missing": redacted_secrets(document)}, status_code=201)


@api
async def chat(request: Request) -> Response:
    """One exchange of the test chat. Without `snapshot` a new chat starts (its greeting is the
    first reply); pass the returned `snapshot` back with the next turn."""
    workflow = await _workflow(request)
    token, turn = api_turn(await json_object(request))
    conversation = Conversation()
    if token is not None:
        try:
            conversation = unseal(request, workflow, token)
        except ChatStateError as exc:
            raise invalid({"snapshot": str(exc)}, "the chat cannot continue") from exc
    conversation, replies = await converse(request, workflow, conversation, turn)
    conversation.log = []  # the API client keeps its own transcript
    return JSONResponse({"snapshot": seal(request, workflow, conversation), "ended": conversation.ended,
                         "replies": [reply.as_dict() for reply in replies]})


@api
async def delete_workflow(request: Request) -> Response:
    workflow = await _workflow(request)
    try:
        await app_state(request).store.workflows.delete(org_id(request), workflow.id)
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
    runs = await app_state(request).store.runs.list(org_id(request), flt, limit=limit, before_id=before_id)
    next_cursor = runs[-1].id if len(runs) == limit else None
    return JSONResponse({"items": [run_json(r) for r in runs], "next_before_id": next_cursor})


@api
async def get_run(request: Request) -> Response:
    run = await app_state(request).store.runs.get(org_id(request), path_id(request, "run_id"))
    if run is None:
        raise not_found("workflow run")
    events = await app_state(request).store.runs.events(run.id)
    return JSONResponse(run_json(run) | {"events": [event_json(e) for e in events]})


@api
async def delete_run(request: Request) -> Response:
    """Delete an ended run, its events and its recording; a live call is a 409."""
    await delete_run_of(request, path_id(request, "run_id"))
    return Response(status_code=204)


@api
async def run_recording(request: Request) -> Response:
    return await recording_response(request, path_id(request, "run_id"))


async def unended_run(request: Request) -> WorkflowRun:
    """The caller's run named in the path: 404 when unknown, 409 when it has already ended."""
    run = await app_state(request).store.runs.get(org_id(request), path_id(request, "run_id"))
    if run is None:
        raise not_found("workflow run")
    if run.ended_at is not None:
        raise ApiError(409, "run-ended", f"this run already ended ({run.status})")
    return run


@api
async def hang_up_run(request: Request) -> Response:
    """End a live call (any direction), like the Hang up button: 202, or 409 when it is not live."""
    run = await unended_run(request)
    if not app_state(request).telephony.hang_up(run.id):
        raise ApiError(409, "not-live-here", "this run has no live call on this server")
    return JSONResponse({"workflow_run_id": run.id}, status_code=202)
