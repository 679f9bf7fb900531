"""JSON API: the organisation's usage and limits.

    GET /api/v1/organization/usage
        → {"month": "2025-05", "minutes_this_month": 12.5, "monthly_minutes_limit": 1000 | null,
           "concurrent_calls": 1, "max_concurrent_calls": 10}
    GET /api/v1/organization/limits
        → {"max_concurrent_calls": 10, "monthly_minutes": null, "recording_retention_days": 30}
    PUT|PATCH /api/v1/organization/limits   (administrators; absent keys keep their value,
        null removes the monthly limit / keeps recordings until the call is deleted)
        → 200 the limits, 422 validation-failed with fields, 403 admin-required
    GET /api/v1/organization/outbound
        → {"allowed_hosts": ["crm.lan", "10.20.0.0/16"], "only_listed": false}
    PUT|PATCH /api/v1/organization/outbound   (administrators; absent keys keep their value)
        → 200 the setting, 422 with fields (`allowed_hosts.2`: the third entry), 403 admin-required
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web.api import PREFIX
from web.auth import api, current_user, org_id
from web.errors import ApiError, invalid
from web.requests import json_object
from web.services.outbound import outbound_of, save_outbound, setting_json, validate_outbound
from web.services.usage import Limits, organization, save_limits, usage_of, validate_limits
from web.state import app_state


@api
async def get_usage(request: Request) -> Response:
    state = app_state(request)
    usage = await usage_of(state, await organization(state, org_id(request)))
    return JSONResponse(usage.as_json())


@api
async def get_limits(request: Request) -> Response:
    return JSONResponse(Limits.of(await organization(app_state(request), org_id(request))).as_json())


@api
async def update_limits(request: Request) -> Response:
    if not current_user(request).is_admin:
        raise ApiError(403, "admin-required", "only an administrator can change the limits")
    state = app_state(request)
    org = await organization(state, org_id(request))
    limits, errors = validate_limits(await json_object(request), Limits.of(org))
    if limits is None:
        raise invalid(errors)
    await save_limits(state, org.id, limits)
    return JSONResponse(limits.as_json())


@api
async def get_outbound(request: Request) -> Response:
    return JSONResponse(setting_json(await outbound_of(app_state(request), org_id(request))))


@api
async def update_outbound(request: Request) -> Response:
    if not current_user(request).is_admin:
        raise ApiError(403, "admin-required", "only an administrator can change the allowed hosts")
    state, org = app_state(request), org_id(request)
    setting, errors = validate_outbound(await json_object(request), await outbound_of(state, org))
    if setting is None:
        raise invalid(errors)
    await save_outbound(state, org, setting)
    return JSONResponse(setting_json(setting))


routes = [
    Route(PREFIX + "/organization/usage", get_usage, name="api.usage"),
    Route(PREFIX + "/organization/limits", get_limits, name="api.limits"),
    Route(PREFIX + "/organization/limits", update_limits, methods=["PUT", "PATCH"], name="api.limits_update"),
    Route(PREFIX + "/organization/outbound", get_outbound, name="api.outbound"),
    Route(PREFIX + "/organization/outbound", update_outbound, methods=["PUT", "PATCH"], name="api.outbound_update"),
]
