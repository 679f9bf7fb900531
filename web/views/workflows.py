"""HTML views: workflows — list, the editor (common fields, tools, lookup and webhooks as rows of
fields, the rest as raw JSON), export/import, delete, and the turns of the editor page's test
chat card (`web.views.chat`).

Secrets follow `web.workflow_input`: saved encrypted, shown only as "set" (`redact_secrets`);
the API key and webhook secret fields are write-only (blank keeps the saved value). A generated
webhook secret is shown once, on the page the save answers with.

Rows: "Add a tool", "Add a webhook" and each row's "Remove" are submit buttons (`row_action`);
nothing is saved. With htmx the answer is only the new row (or nothing) with `HX-Retarget` and
`HX-Reswap`, so what was typed elsewhere stays as it is; without JavaScript the whole form comes
back with the row added or removed.
"""
from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.definition import default_definition, redact_secrets
from agent.tool_definition import MAX_TOOLS
from agent.webhooks import MAX_TARGETS
from data.errors import Conflict
from data.models import Workflow
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import MAX_FORM_FIELDS, form_values, limited_body, parse_json, path_id
from web.services import workflows
from web.state import app_state
from web.templating import is_htmx, path_for, redirect, render
from web.views.chat import chat_context, play_turn
from web.workflow_input import form_fields, from_form
from web.workflow_sections import blank_tool, blank_webhook, new_key, row_keys, submitted_values

MAX_IMPORT_BYTES = 500_000
NOTICES = {"1": "Saved.", "imported": "Imported.",
           "imported-keys": "Imported. Exports leave secrets out (API keys, secret headers): enter them again below; "
                            "webhooks get new signing secrets (generate one to see it)."}


async def load_workflow(request: Request) -> Workflow:
    workflow = await app_state(request).store.workflows.get(org_id(request), path_id(request, "workflow_id"))
    if workflow is None:
        raise ApiError(404, "not-found", "this workflow does not exist")
    return workflow


def _values(workflow: Workflow | None) -> dict[str, Any]:
    if workflow is None:
        return form_fields(default_definition())
    return form_fields(redact_secrets(workflow.definition), workflow.name)


async def workflow_context(request: Request, workflow: Workflow, **extra: Any) -> dict[str, Any]:
    """Everything the workflow page shows: the editor (saved values unless `extra` has others), the
    numbers it answers and an empty test chat."""
    numbers = await workflows.numbers_using(app_state(request), org_id(request), workflow.id)
    return {"workflow": workflow, "values": _values(workflow), "errors": {}, "numbers": numbers,
            "nav": "workflows", "chat": chat_context(request, workflow), **extra}


@page
async def list_workflows(request: Request) -> Response:
    return await _list_page(request)


async def _list_page(request: Request, import_errors: dict[str, str] | None = None) -> Response:
    state, org = app_state(request), org_id(request)
    found = await state.store.workflows.list(org)
    usage = {w.id: await workflows.numbers_using(state, org, w.id) for w in found}
    return render(request, "workflows/list.html", {
        "workflows": found, "usage": usage, "nav": "workflows", "import_errors": import_errors or {},
    }, status_code=422 if import_errors else 200)


@page
async def new_workflow(request: Request) -> Response:
    return render(request, "workflows/edit.html", {"workflow": None, "values": _values(None), "errors": {},
                                                   "nav": "workflows"})


@page
async def workflow_page(request: Request) -> Response:
    workflow = await load_workflow(request)
    notice = NOTICES.get(request.query_params.get("saved", ""), "")
    return render(request, "workflows/edit.html", await workflow_context(request, workflow, notice=notice))


def _saved_page(request: Request, workflow: Workflow, flag: str) -> Response:
    return redirect(request, path_for(request, "workflow", workflow_id=workflow.id) + f"?saved={flag}")


async def _save(request: Request, workflow: Workflow | None) -> Response:
    values = await form_values(request)
    if values.get("row_action"):
        return await _rearranged(request, workflow, values)
    clean, errors = from_form(values)
    if clean is None:
        return await _invalid(request, workflow, values, errors)
    state, org = app_state(request), org_id(request)
    name, definition = clean
    if workflow is None:
        saved = await workflows.create_workflow(state, org, name, definition)
    else:
        found = await workflows.update_workflow(state, org, workflow, name, definition)
        if found is None:
            raise ApiError(404, "not-found", "this workflow does not exist")
        saved = found
    if not saved.new_secrets and (workflow is None or not is_htmx(request)):
        return _saved_page(request, saved.workflow, "1")  # a new workflow moves to its own page
    context = {"workflow": saved.workflow, "values": _values(saved.workflow), "errors": {}, "notice": "Saved.",
               "new_secrets": saved.new_secrets,
               "numbers": await workflows.numbers_using(state, org, saved.workflow.id)}
    if is_htmx(request):
        return render(request, "workflows/_form.html", context)
    page = await workflow_context(request, saved.workflow)
    return render(request, "workflows/edit.html", page | context)


def _shown(workflow: Workflow | None, values: dict[str, str]) -> dict[str, Any]:
    """The submitted values to show again: never a typed key or secret."""
    shown: dict[str, Any] = {k: v for k, v in values.items() if k != "llm_api_key"}
    shown["llm_api_key_set"] = bool(workflow and _has_key(workflow.definition))
    shown |= submitted_values(values)
    stored = (workflow.definition.get("webhooks") if workflow else None) or []
    kept = {hook.get("url") for hook in stored if isinstance(hook, dict) and hook.get("secret")}
    for row in shown["webhooks"]:
        row["secret_set"] = row["url"].strip() in kept
    return shown


async def _invalid(request: Request, workflow: Workflow | None, values: dict[str, str],
                   errors: dict[str, str], *, status: int = 422, notice: str = "") -> Response:
    state, org = app_state(request), org_id(request)
    numbers = await workflows.numbers_using(state, org, workflow.id) if workflow else []
    context: dict[str, Any] = {"workflow": workflow, "values": _shown(workflow, values), "errors": errors,
                               "numbers": numbers, "nav": "workflows", "notice": notice}
    if is_htmx(request):
        return render(request, "workflows/_form.html", context, status_code=status)
    if workflow is not None:
        context["chat"] = chat_context(request, workflow)
    return render(request, "workflows/edit.html", context, status_code=status)


async def _rearranged(request: Request, workflow: Workflow | None, values: dict[str, str]) -> Response:
    """A row added or removed; nothing is saved (see the module docstring)."""
    action = values["row_action"]
    kind = "tool" if action in ("add-tool",) or action.startswith("remove-tool-") else "webhook"
    if action.startswith("remove-"):
        key = action.rsplit("-", 1)[1]
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Retarget": f"#{kind}-{key}", "HX-Reswap": "delete"})
        values = {k: v for k, v in values.items() if not k.startswith(f"{kind}-{key}-")}
    elif action in ("add-tool", "add-webhook") and len(row_keys(values, kind)) < _MAX_ROWS[kind]:
        if is_htmx(request):
            row = blank_tool() if kind == "tool" else blank_webhook()
            return render(request, f"workflows/_{kind}_row.html", {"row": row, "errors": {}},
                          headers={"HX-Retarget": f"#{kind}-rows", "HX-Reswap": "beforeend"})
        values = values | {f"{kind}-{new_key()}-url": ""}
    return await _invalid(request, workflow, values, {}, status=200,
                          notice="Not saved yet: save the workflow to keep these changes.")


_MAX_ROWS = {"tool": MAX_TOOLS, "webhook": MAX_TARGETS}


def _has_key(definition: dict[str, Any]) -> bool:
    llm = definition.get("llm")
    return isinstance(llm, dict) and bool(llm.get("api_key"))


@page
async def create_workflow(request: Request) -> Response:
    return await _save(request, None)


@page
async def update_workflow(request: Request) -> Response:
    return await _save(request, await load_workflow(request))


@page
async def delete_workflow(request: Request) -> Response:
    workflow = await load_workflow(request)
    try:
        await workflows.delete_workflow(app_state(request), org_id(request), workflow.id)
    except Conflict as exc:
        if is_htmx(request):
            return render(request, "workflows/_delete_refused.html", {"workflow": workflow, "message": exc.message},
                          status_code=409)
        raise ApiError(409, "workflow-in-use", exc.message) from exc
    if request.method == "DELETE":
        return Response(status_code=200)
    return redirect(request, path_for(request, "workflows"))


@page
async def export_workflow(request: Request) -> Response:
    return workflows.export_response(await load_workflow(request))


async def _uploaded_document(request: Request) -> tuple[Any, str | None, dict[str, str]]:
    """(the file's JSON, the new name, errors) from the upload form."""
    await limited_body(request)
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise ApiError(400, "bad-form", f"the form could not be read: {exc}") from exc
    upload, name = form.get("file"), form.get("name")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, None, {"file": "choose a workflow file (.json) exported from Switchboard"}
    content = await upload.read(MAX_IMPORT_BYTES + 1)
    try:
        if len(content) > MAX_IMPORT_BYTES:
            raise ValueError(f"larger than {MAX_IMPORT_BYTES // 1000} kB")
        document = parse_json(content)
    except ValueError as exc:
        return None, None, {"file": f"not a JSON file: {exc}"}
    return document, name if isinstance(name, str) else None, {}


@page
async def import_workflow(request: Request) -> Response:
    """The upload form on the list page: a file, and an optional new name."""
    document, name, errors = await _uploaded_document(request)
    if not errors:
        try:
            saved = await workflows.import_document(app_state(request), org_id(request), document, name)
        except ApiError as exc:
            errors = {"file": "; ".join(f"{_field_label(k)}: {m}" for k, m in exc.fields.items()) or exc.message}
        else:
            flag = "imported-keys" if workflows.redacted_secrets(document) else "imported"
            return _saved_page(request, saved.workflow, flag)
    if is_htmx(request):
        return render(request, "workflows/_import.html", {"import_errors": errors}, status_code=422)
    return await _list_page(request, errors)


def _field_label(key: str) -> str:
    return key.removeprefix("definition.") if key != "definition" else "definition"


@page
async def chat_turn(request: Request) -> Response:
    """One turn of the test chat: the chat card (htmx) or the whole page."""
    workflow = await load_workflow(request)
    chat, status = await play_turn(request, workflow, await form_values(request))
    if is_htmx(request):
        return render(request, "workflows/_chat.html", {"workflow": workflow, "chat": chat}, status_code=status)
    context = await workflow_context(request, workflow)
    return render(request, "workflows/edit.html", context | {"chat": chat}, status_code=status)


BASE = "/workflows"
ONE = BASE + "/{workflow_id:int}"
routes = [
    Route(BASE, list_workflows, name="workflows"),
    Route(BASE, create_workflow, methods=["POST"], name="workflow_create"),
    Route(BASE + "/new", new_workflow, name="workflow_new"),
    Route(ONE, workflow_page, name="workflow"),
    Route(ONE, update_workflow, methods=["POST"], name="workflow_update"),
    Route(ONE, delete_workflow, methods=["DELETE"], name="workflow_delete"),
    Route(ONE + "/delete", delete_workflow, methods=["POST"], name="workflow_delete_form"),
    Route(BASE + "/import", import_workflow, methods=["POST"], name="workflow_import"),
    Route(ONE + "/export", export_workflow, name="workflow_export"),
    Route(ONE + "/chat", chat_turn, methods=["POST"], name="workflow_chat"),
]
