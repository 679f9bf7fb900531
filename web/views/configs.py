"""HTML views: telephony configurations (htmx partials + full pages) and their "Test connection"
button. Phone numbers are in `web.views.numbers`."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from data.errors import Conflict
from data.models import TelephonyConfig
from web.auth import org_id, page
from web.errors import ApiError
from web.forms import validate_config
from web.requests import form_values, path_id
from web.services import calls, configs
from web.state import app_state
from web.templating import is_htmx, path_for, redirect, render
from web.views.snippets import asterisk_snippets, media_uri


def config_values(config: TelephonyConfig) -> dict[str, Any]:
    return {
        "name": config.name, "ari_endpoint_url": config.ari_endpoint_url,
        "stasis_app_name": config.stasis_app_name, "ari_username": config.ari_username or "",
        "websocket_client_name": config.websocket_client_name,
        "from_extensions": ", ".join(config.from_extensions), "dial_template": config.dial_template,
        "transfer_context": config.transfer_context, "enabled": config.enabled,
    }


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
    state = app_state(request)
    found = await state.store.configs.list(org_id(request))
    statuses = {c.id: configs.status_of(state, c) for c in found}
    return render(request, "configs/list.html", {"configs": found, "statuses": statuses, "nav": "configs"})


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
    state, org = app_state(request), org_id(request)
    if fields is not None:
        try:
            if config is None:
                saved: TelephonyConfig | None = await configs.create_config(state, org, fields)
            else:
                saved = await configs.update_config(state, org, config.id, fields)
        except Conflict as exc:
            context["errors"] = {exc.field: exc.message}
        else:
            if saved is None:
                raise ApiError(404, "not-found", "this configuration does not exist")
            if config is not None and is_htmx(request):
                return await _summary(request, saved)
            return redirect(request, path_for(request, "config", config_id=saved.id))
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
    media_path = path_for(request, "api.media_socket")
    return {"snippets": asterisk_snippets(config, base_url, media_path), "media_uri": media_uri(base_url, media_path),
            "public_url_guessed": guessed}


async def _summary(request: Request, config: TelephonyConfig) -> Response:
    """After an inline edit: the summary card, plus the Asterisk snippets swapped out of band
    (they show the app and client names that may just have changed)."""
    return render(request, "configs/_updated.html", {
        "config": config, "status": configs.status_of(app_state(request), config),
        **_asterisk_context(request, config),
    })


@page
async def config_detail(request: Request) -> Response:
    config = await load_config(request)
    state, org = app_state(request), org_id(request)
    return render(request, "configs/detail.html", {
        "config": config, "status": configs.status_of(state, config), "nav": "configs",
        "numbers": await state.store.numbers.list(org, config.id),
        "workflows": await state.store.workflows.list(org),
        **_asterisk_context(request, config),
    })


@page
async def config_status(request: Request) -> Response:
    config = await load_config(request)
    return render(request, "configs/_status.html", {
        "status": configs.status_of(app_state(request), config),
        "status_detail": request.query_params.get("detail") == "1",
    })


@page
async def delete_config(request: Request) -> Response:
    config = await load_config(request)
    await configs.delete_config(app_state(request), org_id(request), config.id)
    if request.method == "DELETE":
        return Response(status_code=200)
    return redirect(request, path_for(request, "configs"))


@page
async def check_config(request: Request) -> Response:
    """The "Test connection" button: the checks as a partial (htmx) or a page."""
    config = await load_config(request)
    checks = await calls.run_checks(app_state(request), config)
    template = "configs/_checks.html" if request.headers.get("hx-request") else "configs/checks_page.html"
    return render(request, template, {"config": config, "checks": checks, "nav": "configs"})


BASE = "/telephony-configurations"
ONE = BASE + "/{config_id:int}"
routes = [
    Route(BASE, list_configs, name="configs"),
    Route(BASE, create_config, methods=["POST"], name="config_create"),
    Route(BASE + "/new", new_config, name="config_new"),
    Route(ONE, config_detail, name="config"),
    Route(ONE, update_config, methods=["POST"], name="config_update"),
    Route(ONE, delete_config, methods=["DELETE"], name="config_delete"),
    Route(ONE + "/delete", delete_config, methods=["POST"], name="config_delete_form"),
    Route(ONE + "/edit", edit_config, name="config_edit"),
    Route(ONE + "/status", config_status, name="config_status"),
    Route(ONE + "/check", check_config, methods=["POST"], name="config_check"),
]
