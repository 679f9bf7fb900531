"""JSON API: telephony configurations (phone numbers are `web.api.numbers`)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from data.errors import Conflict
from data.models import TelephonyConfig
from web.api import PREFIX
from web.api.serial import config_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.forms import validate_config
from web.requests import json_object, path_id
from web.services import calls, configs
from web.state import app_state

_CONFIG_KEYS = ("name", "ari_endpoint_url", "stasis_app_name", "ari_username", "websocket_client_name",
                "from_extensions", "dial_template", "transfer_context", "enabled")


async def load_config(request: Request) -> TelephonyConfig:
    config = await app_state(request).store.configs.get(org_id(request), path_id(request, "config_id"))
    if config is None:
        raise not_found("telephony configuration")
    return config


def conflict(exc: Conflict) -> ApiError:
    return ApiError(409, "conflict", exc.message, {exc.field: exc.message})


@api
async def list_configs(request: Request) -> Response:
    found = await app_state(request).store.configs.list(org_id(request))
    return JSONResponse({"items": [config_json(c) for c in found]})


@api
async def create_config(request: Request) -> Response:
    fields, errors = validate_config(await json_object(request), creating=True)
    if fields is None:
        raise invalid(errors)
    try:
        config = await configs.create_config(app_state(request), org_id(request), fields)
    except Conflict as exc:
        raise conflict(exc) from exc
    return JSONResponse(config_json(config), status_code=201)


@api
async def get_config(request: Request) -> Response:
    return JSONResponse(config_json(await load_config(request)))


@api
async def update_config(request: Request) -> Response:
    current = await load_config(request)
    body = await json_object(request)
    # PATCH merges over the current values, PUT replaces them; the password is kept unless given.
    merged = body
    if request.method == "PATCH":
        current_values = {k: getattr(current, k) for k in _CONFIG_KEYS}
        merged = current_values | {"from_extensions": list(current.from_extensions)} | body
    fields, errors = validate_config(merged, creating=False)
    if fields is None:
        raise invalid(errors)
    try:
        config = await configs.update_config(app_state(request), org_id(request), current.id, fields)
    except Conflict as exc:
        raise conflict(exc) from exc
    if config is None:
        raise not_found("telephony configuration")
    return JSONResponse(config_json(config))


@api
async def delete_config(request: Request) -> Response:
    config = await load_config(request)
    await configs.delete_config(app_state(request), org_id(request), config.id)
    return Response(status_code=204)


@api
async def config_status(request: Request) -> Response:
    config = await load_config(request)
    return JSONResponse(configs.status_of(app_state(request), config).as_json())


@api
async def check_config(request: Request) -> Response:
    checks = await calls.run_checks(app_state(request), await load_config(request))
    return JSONResponse({"ok": all(c["ok"] for c in checks), "checks": checks})


BASE = PREFIX + "/telephony-configurations"
ONE = BASE + "/{config_id:int}"
routes = [
    Route(BASE, list_configs, name="api.configs"),
    Route(BASE, create_config, methods=["POST"], name="api.config_create"),
    Route(ONE, get_config, name="api.config"),
    Route(ONE, update_config, methods=["PUT", "PATCH"], name="api.config_update"),
    Route(ONE, delete_config, methods=["DELETE"], name="api.config_delete"),
    Route(ONE + "/status", config_status, name="api.config_status"),
    Route(ONE + "/check", check_config, methods=["POST"], name="api.config_check"),
]
