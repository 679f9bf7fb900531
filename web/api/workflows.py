"""JSON API under /api/v1: workflows (CRUD, export/import, test chat). Their runs are
`web.api.runs`.

Workflow secrets (API keys, secret tool and lookup headers, webhook signing secrets) are
write-only: responses and exports carry `SECRET_MASK` in their place, and sending the mask back
keeps the stored secret (`web.workflow_input.seal_secrets`). A webhook sent without a secret (or
with "") gets a new one, returned once in the response as `webhook_secrets` {url: secret}.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.definition import redact_secrets
from agent.outside import Outside
from data.errors import Conflict
from data.models import Workflow
from web.api import PREFIX
from web.api.serial import workflow_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.requests import json_object, path_id
from web.services import workflows
from web.services.chat import ChatStateError, Conversation, Turn, check_digits, check_text, converse, seal, unseal
from web.services.webhooks import hosts_of
from web.state import app_state
from web.workflow_input import from_api


async def _workflow(request: Request) -> Workflow:
    workflow = await app_state(request).store.workflows.get(org_id(request), path_id(request, "workflow_id"))
    if workflow is None:
        raise not_found("workflow")
    return workflow


def _json(workflow: Workflow) -> dict[str, Any]:
    return workflow_json(workflow) | {"definition": redact_secrets(workflow.definition)}


def _saved_json(saved: workflows.Saved) -> dict[str, Any]:
    return _json(saved.workflow) | ({"webhook_secrets": saved.new_secrets} if saved.new_secrets else {})


@api
async def list_workflows(request: Request) -> Response:
    found = await app_state(request).store.workflows.list(org_id(request))
    return JSONResponse({"items": [_json(w) for w in found]})


@api
async def create_workflow(request: Request) -> Response:
    clean, errors = from_api(await json_object(request))
    if clean is None:
        raise invalid(errors)
    name, definition = clean
    saved = await workflows.create_workflow(app_state(request), org_id(request), name, definition)
    return JSONResponse(_saved_json(saved), status_code=201)


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
    name, definition = clean
    saved = await workflows.update_workflow(app_state(request), org_id(request), current, name, definition)
    if saved is None:
        raise not_found("workflow")
    return JSONResponse(_saved_json(saved))


@api
async def export_workflow(request: Request) -> Response:
    """The workflow as a file: {"switchboard": "workflow", "format": 1, "name", "definition"}."""
    return workflows.export_response(await _workflow(request))


@api
async def import_workflow(request: Request) -> Response:
    """Create a workflow from an export file's JSON (`?name=` overrides its name). Redacted keys
    are imported empty: `secrets_missing` says so."""
    document = await json_object(request)
    saved = await workflows.import_document(app_state(request), org_id(request), document,
                                            request.query_params.get("name") or None)
    return JSONResponse(_saved_json(saved) | {"secrets_missing": workflows.redacted_secrets(document)},
                        status_code=201)


@api
async def delete_workflow(request: Request) -> Response:
    workflow = await _workflow(request)
    try:
        await workflows.delete_workflow(app_state(request), org_id(request), workflow.id)
    except Conflict as exc:
        raise ApiError(409, "workflow-in-use", exc.message) from exc
    return Response(status_code=204)


def chat_turn(body: dict[str, Any]) -> tuple[str | None, Turn | None]:
    """(snapshot token, turn) from a chat request body; a 422 names the offending field.

        {"snapshot"?: str, "text" | "digits" | "silence": …}
    """
    unknown = [key for key in body if key not in ("snapshot", "text", "digits", "silence")]
    if unknown:
        raise invalid({key: f"unknown field {key!r}" for key in unknown})
    token = body.get("snapshot")
    if token is not None and (not isinstance(token, str) or not token):
        raise invalid({"snapshot": "must be the snapshot string of the previous reply"})
    given = [key for key in ("text", "digits", "silence") if key in body]
    if len(given) > 1:
        raise invalid({key: "send one of text, digits or silence" for key in given})
    turn: Turn | None = None
    if given == ["text"]:
        turn = ("text", check_text(body["text"]))
    elif given == ["digits"]:
        turn = ("digits", check_digits(body["digits"]))
    elif given == ["silence"]:
        if body["silence"] is not True:
            raise invalid({"silence": "must be true"})
        turn = ("silence", "")
    elif token is not None:
        raise invalid({"text": "send text, digits or silence to continue the chat"})
    return token, turn


@api
async def chat(request: Request) -> Response:
    """One exchange of the test chat. Without `snapshot` a new chat starts (its greeting is the
    first reply); pass the returned `snapshot` back with the next turn:
    {"snapshot": str, "ended": bool, "replies": [ChatReply…]}."""
    workflow = await _workflow(request)
    token, turn = chat_turn(await json_object(request))
    box = app_state(request).store.box
    conversation = Conversation()
    if token is not None:
        try:
            conversation = unseal(box, workflow, token)
        except ChatStateError as exc:
            raise invalid({"snapshot": str(exc)}, "the chat cannot continue") from exc
    outside = Outside(app_state(request).outbound, await hosts_of(app_state(request).store, workflow.organization_id))
    conversation, replies = await converse(box, workflow, conversation, turn, outside)
    conversation.log = []  # the API client keeps its own transcript
    return JSONResponse({"snapshot": seal(box, workflow, conversation), "ended": conversation.ended,
                         "replies": [reply.as_dict() for reply in replies]})


BASE = PREFIX + "/workflows"
ONE = BASE + "/{workflow_id:int}"
routes = [
    Route(BASE, list_workflows, name="api.workflows"),
    Route(BASE, create_workflow, methods=["POST"], name="api.workflow_create"),
    Route(ONE, get_workflow, name="api.workflow"),
    Route(ONE, update_workflow, methods=["PUT", "PATCH"], name="api.workflow_update"),
    Route(ONE, delete_workflow, methods=["DELETE"], name="api.workflow_delete"),
    Route(BASE + "/import", import_workflow, methods=["POST"], name="api.workflow_import"),
    Route(ONE + "/export", export_workflow, name="api.workflow_export"),
    Route(ONE + "/chat", chat, methods=["POST"], name="api.workflow_chat"),
]
