"""JSON API: a telephony configuration's phone numbers."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from data.errors import Conflict
from data.models import PhoneNumber, TelephonyConfig
from web.api.configs import ONE, conflict, load_config
from web.api.serial import number_json
from web.auth import api, org_id
from web.errors import invalid, not_found
from web.forms import NumberFields, validate_number
from web.requests import json_object, path_id
from web.services import configs
from web.state import app_state


async def _fields(request: Request, body: dict[str, Any]) -> NumberFields:
    fields, errors = validate_number(body)
    if fields is None:
        raise invalid(errors)
    if not await configs.owns_workflow(app_state(request), org_id(request), fields):
        raise invalid({"inbound_workflow_id": "no such workflow in your organisation"})
    return fields


async def _number(request: Request, config: TelephonyConfig) -> PhoneNumber:
    number = await app_state(request).store.numbers.get(org_id(request), config.id, path_id(request, "number_id"))
    if number is None:
        raise not_found("phone number")
    return number


@api
async def list_numbers(request: Request) -> Response:
    config = await load_config(request)
    numbers = await app_state(request).store.numbers.list(org_id(request), config.id)
    return JSONResponse({"items": [number_json(n) for n in numbers]})


@api
async def create_number(request: Request) -> Response:
    config = await load_config(request)
    fields = await _fields(request, await json_object(request))
    try:
        number = await configs.create_number(app_state(request), org_id(request), config.id, fields)
    except Conflict as exc:
        raise conflict(exc) from exc
    return JSONResponse(number_json(number), status_code=201)


@api
async def get_number(request: Request) -> Response:
    config = await load_config(request)
    return JSONResponse(number_json(await _number(request, config)))


@api
async def update_number(request: Request) -> Response:
    config = await load_config(request)
    current = await _number(request, config)
    body = await json_object(request)
    merged = number_json(current) | body if request.method == "PATCH" else body
    fields = await _fields(request, merged)
    try:
        number = await configs.update_number(app_state(request), org_id(request), config.id, current.id, fields)
    except Conflict as exc:
        raise conflict(exc) from exc
    if number is None:
        raise not_found("phone number")
    return JSONResponse(number_json(number))


@api
async def delete_number(request: Request) -> Response:
    config = await load_config(request)
    current = await _number(request, config)
    await configs.delete_number(app_state(request), org_id(request), config.id, current.id)
    return Response(status_code=204)


NUMBERS = ONE + "/phone-numbers"
NUMBER = NUMBERS + "/{number_id:int}"
routes = [
    Route(NUMBERS, list_numbers, name="api.numbers"),
    Route(NUMBERS, create_number, methods=["POST"], name="api.number_create"),
    Route(NUMBER, get_number, name="api.number"),
    Route(NUMBER, update_number, methods=["PUT", "PATCH"], name="api.number_update"),
    Route(NUMBER, delete_number, methods=["DELETE"], name="api.number_delete"),
]
