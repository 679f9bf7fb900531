"""HTML views: workflows — list, the editor (common fields + raw JSON), export/import, delete.

Secrets follow `web.workflow_input`: saved encrypted (`seal_secrets`), shown only as "set"
(`redact_secrets`); the API key field is write-only (blank keeps the saved key).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.definition import SECRET_MASK, SECRET_PATHS, default_definition, redact_secrets
from data.errors import Conflict
from data.models import Workflow
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import MAX_FORM_FIELDS, form_values, limited_body, parse_json, path_id
from web.templating import is_htmx, render
from web.views_chat import chat_context
from web.views_configs import redirect
from web.workflow_input import export_document, form_fields, from_form, from_import, seal_secrets

MAX_IMPORT_BYTES = 500_000


async def load_workflow(request: Request) -> Workflow:
    workflow: Workflow | None = await request.app.state.store.workflows.get(org_id(request),
                                                                             path_id(request, "workflow_id"))
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
    numbers = await request.app.state.store.numbers.using_workflow(org_id(request), workflow.id)
    return {"workflow": workflow, "values": _values(workflow), "errors": {}, "numbers": numbers,
            "nav": "workflows", "chat": chat_context(request, workflow), **extra}


@page
async def list_workflows(request: Request) -> Response:
    return await _list_page(request)


async def _list_page(request: Request, import_errors: dict[str, str] | None = None) -> Response:
    store = request.app.state.store
    workflows = await store.workflows.list(org_id(request))
    usage = {w.id: await store.numbers.using_workflow(org_id(request), w.id) for w in workflows}
    return render(request, "workflows/list.html", {
        "workflows": workflows, "usage": usage, "nav": "workflows", "import_errors": import_errors or {},
    }, status_code=422 if import_errors else 200)


@page
async def new_workflow(request: Request) -> Response:
    return render(request, "workflows/edit.html", {"workflow": None, "values": _values(None), "errors": {},
                                                   "nav": "workflows"})


@page
async def workflow_page(request: Request) -> Response:
    workflow = await load_workflow(request)
    notice = {"1": "Saved.", "imported": "Imported.",
              "imported-keys": "Imported. Exports leave API keys out: enter them again below."}
    return render(request, "workflows/edit.html", await workflow_context(
        request, workflow, notice=notice.get(request.query_params.get("saved", ""), "")))


async def _save(request: Request, workflow: Workflow | None) -> Response:
    values = await form_values(request)
    clean, errors = from_form(values)
    store = request.app.state.store
    if clean is not None:
        name, definition = clean
        sealed = seal_secrets(definition, workflow.definition if workflow else None, store.box.encrypt)
        if workflow is None:
            saved = await store.workflows.create(org_id(request), name, sealed)
        else:
            saved = await store.workflows.update(org_id(request), workflow.id, name, sealed)
            if saved is None:
                raise ApiError(404, "not-found", "this workflow does not exist")
            if is_htmx(request):
                numbers = await store.numbers.using_workflow(org_id(request), saved.id)
                return render(request, "workflows/_form.html", {
                    "workflow": saved, "values": _values(saved), "errors": {}, "numbers": numbers, "notice": "Saved.",
                })
        return redirect(request, f"/workflows/{saved.id}?saved=1")
    shown: dict[str, Any] = {k: v for k, v in values.items() if k != "llm_api_key"}  # never echo a typed key
    shown["llm_api_key_set"] = bool(workflow and _has_key(workflow.definition))
    numbers = await store.numbers.using_workflow(org_id(request), workflow.id) if workflow else []
    context: dict[str, Any] = {"workflow": workflow, "values": shown, "errors": errors, "numbers": numbers,
                               "nav": "workflows"}
    if is_htmx(request):
        return render(request, "workflows/_form.html", context, status_code=422)
    if workflow is not None:
        context["chat"] = chat_context(request, workflow)
    return render(request, "workflows/edit.html", context, status_code=422)


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
        await request.app.state.store.workflows.delete(org_id(request), workflow.id)
    except Conflict as exc:
        if is_htmx(request):
            return render(request, "workflows/_delete_refused.html", {"workflow": workflow, "message": exc.message},
                          status_code=409)
        raise ApiError(409, "workflow-in-use", exc.message) from exc
    if request.method == "DELETE":
        return Response(status_code=200)
    return redirect(request, "/workflows")


# --- export / import ------------------------------------------------------------------------------

def export_response(workflow: Workflow) -> Response:
    """The workflow as a downloadable JSON file, secrets redacted."""
    document = export_document(workflow.name, redact_secrets(workflow.definition))
    filename = f"{_slug(workflow.name)}.workflow.json"
    return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                           "Cache-Control": "no-store"})


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "workflow"


def redacted_secrets(document: Any) -> bool:
    """True when an imported document had secrets redacted (they are imported empty)."""
    definition = document.get("definition") if isinstance(document, dict) else None
    if not isinstance(definition, dict):
        return False
    for path in SECRET_PATHS:
        section, key = path.split(".")
        holder = definition.get(section)
        if isinstance(holder, dict) and holder.get(key) == SECRET_MASK:
            return True
    return False


async def import_workflow_document(request: Request, document: Any, name: str | None = None) -> Workflow:
    """Validate an export file's JSON and create the workflow (422 with field errors otherwise)."""
    clean, errors = from_import(document, name)
    if clean is None:
        raise ApiError(422, "validation-failed", "this file is not a valid workflow", errors)
    store = request.app.state.store
    name, definition = clean
    workflow: Workflow = await store.workflows.create(org_id(request), name,
                                                      seal_secrets(definition, None, store.box.encrypt))
    return workflow


@page
async def export_workflow(request: Request) -> Response:
    return export_response(await load_workflow(request))


@page
async def import_workflow(request: Request) -> Response:
    """The upload form on the list page: a file, and an optional new name."""
    await limited_body(request)
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise ApiError(400, "bad-form", f"the form could not be read: {exc}") from exc
    upload, name = form.get("file"), form.get("name")
    errors: dict[str, str] = {}
    document: Any = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "choose a workflow file (.json) exported from Switchboard"
    else:
        content = await upload.read(MAX_IMPORT_BYTES + 1)
        try:
            if len(content) > MAX_IMPORT_BYTES:
                raise ValueError(f"larger than {MAX_IMPORT_BYTES // 1000} kB")
            document = parse_json(content)
        except ValueError as exc:
            errors["file"] = f"not a JSON file: {exc}"
    if not errors:
        try:
            workflow = await import_workflow_document(request, document, name if isinstance(name, str) else None)
        except ApiError as exc:
            errors = {"file": "; ".join(f"{_field_label(k)}: {m}" for k, m in exc.fields.items()) or exc.message}
        else:
            flag = "imported-keys" if redacted_secrets(document) else "imported"
            return redirect(request, f"/workflows/{workflow.id}?saved={flag}")
    if is_htmx(request):
        return render(request, "workflows/_import.html", {"import_errors": errors}, status_code=422)
    return await _list_page(request, errors)


def _field_label(key: str) -> str:
    return key.removeprefix("definition.") if key != "definition" else "definition"
