"""HTML views: telephony configurations and their phone numbers (htmx partials + full pages)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from data.errors import Conflict
from data.models import PhoneNumber, TelephonyConfig
from web.auth import org_id, page
from web.errors import ApiError
from web.forms import validate_config, validate_number
from web.requests import form_values, path_id
from web.snippets import asterisk_snippets, media_uri
from web.state import app_state
from web.templating import is_htmx, render

BASE = "/telephony-configurations"


def config_values(config: TelephonyConfig) -> dict[str, Any]:
    return {
        "name": config.name, "ari_endpoint_url": config.ari_endpoint_url,
        "stasis_app_name": config.stasis_app_name, "ari_username": config.ari_username or "",
        "websocket_client_name": config.websocket_client_name,
        "from_extensions": ", ".join(config.from_extensions), "dial_template": config.dial_template,
        "transfer_context": config.transfer_context, "enabled": config.enabled,
    }


def redirect(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def status_of(request: Request, config: TelephonyConfig) -> Any:
    return app_state(request).telephony.status(config.id, config.enabled)


async def load_config(request: Request) -> TelephonyConfig:
    config = await app_state(request).store.configs.get(org_id(request), path_id(request, "config_id"))
    if config is None:
        raise ApiError(404, "not-found", "this configuration does not exist")
    return config


def public_base_url(request: Request) -> tuple[str, bool]:
    configured = app_state(request).settings.public_url
    return (configured, False) if configured else (str(request.base_url).rstrip("/"), True)


@page
async def list_configs(request: Request) -> Response:
    configs = await app_state(request).store.configs.list(org_id(request))
    statuses = {c.id: status_of(request, c) for c in configs}
    return render(request, "configs/list.html", {"configs": configs, "statuses": statuses, "nav": "configs"})


@page
async def new_config(request: Request) -> Response:
    context = {"config": None, "values": {"enabled": True}, "errors": {}, "nav": "configs"}
    if is_htmx(request):
        return render(request, "configs/_form.html", context)
    return render(request, "configs/form_page.html", context)


async def _save(request: Request, config: TelephonyConfig | None) -> Response:
    values = await form_values(request)
    fields, errors = validate_config(values, creating=config is None)
    context: dict[str, Any] = {"config": config, "values": values, "errors": errors, "nav": "configs"}
    store = app_state(request).store
    if fields is not None:
        try:
            if config is None:
                saved = await store.configs.create(org_id(request), fields)
            else:
                saved = await store.configs.update(org_id(request), config.id, fields)
        except Conflict as exc:
            context["errors"] = {exc.field: exc.message}
        else:
            if saved is None:
                raise ApiError(404, "not-found", "this configuration does not exist")
            await app_state(request).telephony.apply(saved.id)
            if config is not None and is_htmx(request):
                return await _summary(request, saved)
            return redirect(request, f"{BASE}/{saved.id}")
    template = "configs/_form.html" if is_htmx(request) else "configs/form_page.html"
    return render(request, template, context, status_code=422)


@page
async def create_config(request: Request) -> Response:
    return await _save(request, None)


@page
async def update_config(request: Request) -> Response:
    return await _save(request, await load_config(request))


@page
async def edit_config(request: Request) -> Response:
    config = await load_config(request)
    context = {"config": config, "values": config_values(config), "errors": {}, "nav": "configs"}
    return render(request, "configs/_form.html" if is_htmx(request) else "configs/form_page.html", context)


def _asterisk_context(request: Request, config: TelephonyConfig) -> dict[str, Any]:
    base_url, guessed = public_base_url(request)
    return {"snippets": asterisk_snippets(config, base_url), "media_uri": media_uri(base_url),
            "public_url_guessed": guessed}


async def _summary(request: Request, config: TelephonyConfig) -> Response:
    """After an inline edit: the summary card, plus the Asterisk snippets swapped out of band
    (they show the app and client names that may just have changed)."""
    return render(request, "configs/_updated.html", {
        "config": config, "status": status_of(request, config), **_asterisk_context(request, config),
    })


@page
async def config_detail(request: Request) -> Response:
    config = await load_config(request)
    store = app_state(request).store
    return render(request, "configs/detail.html", {
        "config": config, "status": status_of(request, config), "nav": "configs",
        "numbers": await store.numbers.list(org_id(request), config.id),
        "workflows": await store.workflows.list(org_id(request)),
        **_asterisk_context(request, config),
    })


@page
async def config_status(request: Request) -> Response:
    config = await load_config(request)
    return render(request, "configs/_status.html", {
        "status": status_of(request, config), "status_detail": request.query_params.get("detail") == "1",
    })


@page
async def delete_config(request: Request) -> Response:
    config = await load_config(request)
    await app_state(request).store.configs.delete(org_id(request), config.id)
    await app_state(request).telephony.remove(config.id)
    if request.method == "DELETE":
        return Response(status_code=200)
    return redirect(request, BASE)


# Phone numbers -------------------------------------------------------------------------------

async def _number_context(request: Request, config: TelephonyConfig, **extra: Any) -> dict[str, Any]:
    workflows = await app_state(request).store.workflows.list(org_id(request))
    return {"config": config, "workflows": workflows, "values": {}, "errors": {}, **extra}


async def _load_number(request: Request, config: TelephonyConfig) -> PhoneNumber:
    number = await app_state(request).store.numbers.get(org_id(request), config.id, path_id(request, "number_id"))
    if number is None:
        raise ApiError(404, "not-found", "this phone number does not exist")
    return number


async def _validated_number(request: Request) -> tuple[Any, dict[str, str], dict[str, str]]:
    values = await form_values(request)
    fields, errors = validate_number(values)
    if fields is not None and fields.inbound_workflow_id is not None:
        if await app_state(request).store.workflows.get(org_id(request), fields.inbound_workflow_id) is None:
            fields, errors = None, {"inbound_workflow_id": "choose one of your workflows"}
    return fields, errors, values


@page
async def create_number(request: Request) -> Response:
    config = await load_config(request)
    fields, errors, values = await _validated_number(request)
    store = app_state(request).store
    if fields is not None:
        try:
            number = await store.numbers.create(
                org_id(request), config.id, fields.address, fields.label, fields.inbound_workflow_id
            )
        except Conflict as exc:
            errors = {exc.field: exc.message}
        else:
            if not is_htmx(request):
                return redirect(request, f"{BASE}/{config.id}")
            return render(request, "configs/_number_created.html", await _number_context(request, config, n=number))
    context = await _number_context(request, config, values=values, errors=errors)
    if is_htmx(request):
        return render(request, "configs/_number_form.html", context, status_code=422)
    return render(request, "configs/number_page.html", context, status_code=422)


@page
async def number_row(request: Request) -> Response:
    """The row partial (htmx "Cancel" of an inline edit); a browser without htmx gets the page."""
    config = await load_config(request)
    number = await _load_number(request, config)
    if not is_htmx(request):
        return redirect(request, f"{BASE}/{config.id}")
    return render(request, "configs/_number_row.html", {"config": config, "n": number})


@page
async def edit_number(request: Request) -> Response:
    config = await load_config(request)
    number = await _load_number(request, config)
    values = {"id": number.id, "address": number.address, "label": number.label,
              "inbound_workflow_id": number.inbound_workflow_id or ""}
    context = await _number_context(request, config, n=number, values=values)
    return render(request, "configs/_number_edit.html" if is_htmx(request) else "configs/number_page.html", context)


@page
async def update_number(request: Request) -> Response:
    config = await load_config(request)
    number = await _load_number(request, config)
    fields, errors, values = await _validated_number(request)
    if fields is not None:
        try:
            updated = await app_state(request).store.numbers.update(
                org_id(request), config.id, number.id, fields.address, fields.label, fields.inbound_workflow_id
            )
        except Conflict as exc:
            errors = {exc.field: exc.message}
        else:
            if updated is None:
                raise ApiError(404, "not-found", "this phone number does not exist")
            if not is_htmx(request):
                return redirect(request, f"{BASE}/{config.id}")
            return render(request, "configs/_number_row.html", {"config": config, "n": updated})
    context = await _number_context(request, config, n=number, values={**values, "id": number.id}, errors=errors)
    return render(request, "configs/_number_edit.html" if is_htmx(request) else "configs/number_page.html",
                  context, status_code=422)


@page
async def delete_number(request: Request) -> Response:
    config = await load_config(request)
    await app_state(request).store.numbers.delete(org_id(request), config.id, path_id(request, "number_id"))
    if request.method == "DELETE":
        return Response(status_code=200)
    return redirect(request, f"{BASE}/{config.id}")
