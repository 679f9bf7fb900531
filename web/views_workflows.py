"""HTML views: workflows."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from data.errors import Conflict
from data.models import Workflow
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import form_values, path_id
from web.templating import is_htmx, render
from web.views_configs import redirect
from web.workflow_input import definition_json, from_form
from agent.definition import default_definition


async def load_workflow(request: Request) -> Workflow:
    workflow = await request.app.state.store.workflows.get(org_id(request), path_id(request, "workflow_id"))
    if workflow is None:
        raise ApiError(404, "not-found", "this workflow does not exist")
    return workflow


def _values(workflow: Workflow | None) -> dict[str, Any]:
    definition = workflow.definition if workflow else default_definition()
    return {"name": workflow.name if workflow else "", "greeting": definition.get("greeting", ""),
            "definition": definition_json(definition)}


@page
async def list_workflows(request: Request) -> Response:
    store = request.app.state.store
    workflows = await store.workflows.list(org_id(request))
    usage = {w.id: await store.numbers.using_workflow(org_id(request), w.id) for w in workflows}
    return render(request, "workflows/list.html", {"workflows": workflows, "usage": usage, "nav": "workflows"})


@page
async def new_workflow(request: Request) -> Response:
    return render(request, "workflows/edit.html", {"workflow": None, "values": _values(None), "errors": {},
                                                   "nav": "workflows"})


@page
async def workflow_page(request: Request) -> Response:
    workflow = await load_workflow(request)
    numbers = await request.app.state.store.numbers.using_workflow(org_id(request), workflow.id)
    return render(request, "workflows/edit.html", {
        "workflow": workflow, "values": _values(workflow), "errors": {}, "numbers": numbers, "nav": "workflows",
        "saved": bool(request.query_params.get("saved")),
    })


async def _save(request: Request, workflow: Workflow | None) -> Response:
    values = await form_values(request)
    clean, errors = from_form(values)
    store = request.app.state.store
    if clean is not None:
        name, definition = clean
        if workflow is None:
            saved = await store.workflows.create(org_id(request), name, definition)
        else:
            saved = await store.workflows.update(org_id(request), workflow.id, name, definition)
            if saved is None:
                raise ApiError(404, "not-found", "this workflow does not exist")
            if is_htmx(request):
                numbers = await store.numbers.using_workflow(org_id(request), saved.id)
                return render(request, "workflows/_form.html", {
                    "workflow": saved, "values": _values(saved), "errors": {}, "numbers": numbers, "saved": True,
                })
        return redirect(request, f"/workflows/{saved.id}?saved=1")
    numbers = await store.numbers.using_workflow(org_id(request), workflow.id) if workflow else []
    context = {"workflow": workflow, "values": values, "errors": errors, "numbers": numbers, "nav": "workflows"}
    template = "workflows/_form.html" if is_htmx(request) else "workflows/edit.html"
    return render(request, template, context, status_code=422)


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
