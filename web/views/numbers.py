"""HTML views: a configuration's phone numbers (rows edited in place with htmx; full pages
without JavaScript)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from data.errors import Conflict
from data.models import PhoneNumber, TelephonyConfig
from web.auth import org_id, page
from web.errors import ApiError
from web.forms import NumberFields, validate_number
from web.requests import form_values, path_id
from web.services import configs
from web.state import app_state
from web.templating import is_htmx, path_for, redirect, render
from web.views.configs import ONE, load_config


async def _context(request: Request, config: TelephonyConfig, **extra: Any) -> dict[str, Any]:
    workflows = await app_state(request).store.workflows.list(org_id(request))
    return {"config": config, "workflows": workflows, "values": {}, "errors": {}, **extra}


async def _load_number(request: Request, config: TelephonyConfig) -> PhoneNumber:
    number = await app_state(request).store.numbers.get(org_id(request), config.id, path_id(request, "number_id"))
    if number is None:
        raise ApiError(404, "not-found", "this phone number does not exist")
    return number


async def _validated(request: Request) -> tuple[NumberFields | None, dict[str, str], dict[str, str]]:
    values = await form_values(request)
    fields, errors = validate_number(values)
    if fields is not None and not await configs.owns_workflow(app_state(request), org_id(request), fields):
        fields, errors = None, {"inbound_workflow_id": "choose one of your workflows"}
    return fields, errors, values


def _back(request: Request, config: TelephonyConfig) -> Response:
    return redirect(request, path_for(request, "config", config_id=config.id))


@page
async def create_number(request: Request) -> Response:
    config = await load_config(request)
    fields, errors, values = await _validated(request)
    if fields is not None:
        try:
            number = await configs.create_number(app_state(request), org_id(request), config.id, fields)
        except Conflict as exc:
            errors = {exc.field: exc.message}
        else:
            if not is_htmx(request):
                return _back(request, config)
            return render(request, "configs/_number_created.html", await _context(request, config, n=number))
    context = await _context(request, config, values=values, errors=errors)
    if is_htmx(request):
        return render(request, "configs/_number_form.html", context, status_code=422)
    return render(request, "configs/number_page.html", context, status_code=422)


@page
async def number_row(request: Request) -> Response:
    """The row partial (htmx "Cancel" of an inline edit); a browser without htmx gets the page."""
    config = await load_config(request)
    number = await _load_number(request, config)
    if not is_htmx(request):
        return _back(request, config)
    return render(request, "configs/_number_row.html", {"config": config, "n": number})


@page
async def edit_number(request: Request) -> Response:
    config = await load_config(request)
    number = await _load_number(request, config)
    values = {"id": number.id, "address": number.address, "label": number.label,
              "inbound_workflow_id": number.inbound_workflow_id or ""}
    context = await _context(request, config, n=number, values=values)
    return render(request, "configs/_number_edit.html" if is_htmx(request) else "configs/number_page.html", context)


@page
async def update_number(request: Request) -> Response:
    config = await load_config(request)
    number = await _load_number(request, config)
    fields, errors, values = await _validated(request)
    if fields is not None:
        try:
            updated = await configs.update_number(app_state(request), org_id(request), config.id, number.id, fields)
        except Conflict as exc:
            errors = {exc.field: exc.message}
        else:
            if updated is None:
                raise ApiError(404, "not-found", "this phone number does not exist")
            if not is_htmx(request):
                return _back(request, config)
            return render(request, "configs/_number_row.html", {"config": config, "n": updated})
    context = await _context(request, config, n=number, values={**values, "id": number.id}, errors=errors)
    return render(request, "configs/_number_edit.html" if is_htmx(request) else "configs/number_page.html",
                  context, status_code=422)


@page
async def delete_number(request: Request) -> Response:
    config = await load_config(request)
    await configs.delete_number(app_state(request), org_id(request), config.id, path_id(request, "number_id"))
    if request.method == "DELETE":
        return Response(status_code=200)
    return _back(request, config)


NUMBERS = ONE + "/phone-numbers"
NUMBER = NUMBERS + "/{number_id:int}"
routes = [
    Route(NUMBERS, create_number, methods=["POST"], name="number_create"),
    Route(NUMBER, number_row, name="number"),
    Route(NUMBER, update_number, methods=["POST"], name="number_update"),
    Route(NUMBER, delete_number, methods=["DELETE"], name="number_delete"),
    Route(NUMBER + "/delete", delete_number, methods=["POST"], name="number_delete_form"),
    Route(NUMBER + "/edit", edit_number, name="number_edit"),
]
