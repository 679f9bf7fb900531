"""JSON API under /api/v1: telephony configurations and their phone numbers."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from data.errors import Conflict
from data.models import PhoneNumber, TelephonyConfig
from web.api_serial import config_json, number_json
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.forms import NumberFields, validate_config, validate_number
from web.requests import json_object, path_id
from web.state import app_state

_CONFIG_KEYS = ("name", "ari_endpoint_url", "stasis_app_name", "ari_username", "websocket_client_name",
                "from_extensions", "dial_template", "transfer_context", "enabled")


async def _config(request: Request) -> TelephonyConfig:
    config = await app_state(request).store.configs.get(org_id(request), path_id(request, "config_id"))
    if config is None:
        raise not_found("telephony configuration")
    return config


def _conflict(exc: Conflict) -> ApiError:
    return ApiError(409, "conflict", exc.message, {exc.field: exc.message})


@api
async def list_configs(request: Request) -> Response:
    configs = await app_state(request).store.configs.list(org_id(request))
    return JSONResponse({"items": [config_json(c) for c in configs]})


@api
async def create_config(request: Request) -> Response:
    fields, errors = validate_config(await json_object(request), creating=True)
    if fields is None:
        raise invalid(errors)
    try:
        config = await app_state(request).store.configs.create(org_id(request), fields)
    except Conflict as exc:
        raise _conflict(exc) from exc
    await app_state(request).telephony.apply(config.id)
    return JSONResponse(config_json(config), status_code=201)


@api
async def get_config(request: Request) -> Response:
    return JSONResponse(config_json(await _config(request)))


@api
async def update_config(request: Request) -> Response:
    current = await _config(request)
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
        config = await app_state(request).store.configs.update(org_id(request), current.id, fields)
    except Conflict as exc:
        raise _conflict(exc) from exc
    if config is None:
        raise not_found("telephony configuration")
    await app_state(request).telephony.apply(config.id)
    return JSONResponse(config_json(config))


@api
async def delete_config(request: Request) -> Response:
    config = await _config(request)
    await app_state(request).store.configs.delete(org_id(request), config.id)
    await app_state(request).telephony.remove(config.id)
    return Response(status_code=204)


@api
async def config_status(request: Request) -> Response:
    config = await _config(request)
    return JSONResponse(app_state(request).telephony.status(config.id, config.enabled).as_json())


async def _number_fields(request: Request, body: dict[str, Any]) -> NumberFields:
    fields, errors = validate_number(body)
    if fields is None:
        raise invalid(errors)
    if fields.inbound_workflow_id is not None and await app_state(request).store.workflows.get(
        org_id(request), fields.inbound_workflow_id
    ) is None:
        raise invalid({"inbound_workflow_id": "no such workflow in your organisation"})
    return fields


@api
async def list_numbers(request: Request) -> Response:
    config = await _config(request)
    numbers = await app_state(request).store.numbers.list(org_id(request), config.id)
    return JSONResponse({"items": [number_json(n) for n in numbers]})


@api
async def create_number(request: Request) -> Response:
    config = await _config(request)
    fields = await _number_fields(request, await json_object(request))
    try:
        number = await app_state(request).store.numbers.create(
            org_id(request), config.id, fields.address, fields.label, fields.inbound_workflow_id
        )
    except Conflict as exc:
        raise _conflict(exc) from exc
    return JSONResponse(number_json(number), status_code=201)


async def _number(request: Request, config: TelephonyConfig) -> PhoneNumber:
    number = await app_state(request).store.numbers.get(org_id(request), config.id, path_id(request, "number_id"))
    if number is None:
        raise not_found("phone number")
    return number


@api
async def get_number(request: Request) -> Response:
    config = await _config(request)
    return JSONResponse(number_json(await _number(request, config)))


@api
async def update_number(request: Request) -> Response:
    config = await _config(request)
    current = await _number(request, config)
    body = await json_object(request)
    merged = number_json(current) | body if request.method == "PATCH" else body
    fields = await _number_fields(request, merged)
    try:
        number = await app_state(request).store.numbers.update(
            org_id(request), config.id, current.id, fields.address, fields.label,
            fields.inbound_workflow_id,
        )
    except Conflict as exc:
        raise _conflict(exc) from exc
    if number is None:
        raise not_found("phone number")
    return JSONResponse(number_json(number))


@api
async def delete_number(request: Request) -> Response:
    config = await _config(request)
    current = await _number(request, config)
    await app_state(request).store.numbers.delete(org_id(request), config.id, current.id)
    return Response(status_code=204)
