"""HTML views: the organisation page — usage against limits, the limits form (admins), and for
the server operator the backups (`web.views.backups`).

`GET /organization` (with `HX-Request`: only the usage block, which polls every 5 s);
`POST /organization/limits` and `POST /organization/outbound` (the allowed hosts for tools,
lookups and webhooks) — htmx: the form back with "Saved." or 422 with the errors; without
JavaScript: 303 back to the page.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from data.models import OutboundSetting
from web.auth import current_user, org_id, page
from web.errors import ApiError
from web.requests import form_values
from web.services import backups
from web.services.outbound import outbound_of, save_outbound, validate_outbound_form
from web.services.usage import Limits, organization, save_limits, usage_of, validate_limits
from web.state import app_state
from web.templating import is_htmx, path_for, render

LIMIT_FIELDS = ("max_concurrent_calls", "monthly_minutes", "recording_retention_days")


def limit_values(limits: Limits) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in limits.as_json().items()}


@page
async def organization_page(request: Request) -> Response:
    state = app_state(request)
    org = await organization(state, org_id(request))
    usage = await usage_of(state, org)
    if is_htmx(request):
        return render(request, "organization/_usage.html", {"usage": usage})
    user = current_user(request)
    context: dict[str, Any] = {
        "org": org, "usage": usage, "values": limit_values(usage.limits), "errors": {},
        "saved": request.query_params.get("saved") == "1", "can_edit": user.is_admin, "nav": "organization",
        "outbound": outbound_values(await outbound_of(state, org.id)), "outbound_errors": {},
        "outbound_saved": request.query_params.get("saved") == "outbound",
    }
    if await backups.is_operator(state, user):
        context["backups"] = backups.backup_context(state)
    return render(request, "organization/page.html", context)


@page
async def update_limits(request: Request) -> Response:
    if not current_user(request).is_admin:
        raise ApiError(403, "admin-required", "only an administrator can change the limits")
    state = app_state(request)
    org = await organization(state, org_id(request))
    submitted = await form_values(request)
    values = {k: submitted.get(k, "") for k in LIMIT_FIELDS}
    limits, errors = validate_limits(values, Limits.of(org))
    if limits is None:
        context = {"values": values, "errors": errors, "saved": False, "can_edit": True}
        if is_htmx(request):
            return render(request, "organization/_limits.html", context, status_code=422)
        usage = await usage_of(state, org)
        return render(request, "organization/page.html", context | {"org": org, "usage": usage,
                                                                    "nav": "organization"}, status_code=422)
    await save_limits(state, org.id, limits)
    if is_htmx(request):
        return render(request, "organization/_limits.html",
                      {"values": limit_values(limits), "errors": {}, "saved": True, "can_edit": True})
    return RedirectResponse(path_for(request, "organization") + "?saved=1", status_code=303)


def outbound_values(setting: OutboundSetting) -> dict[str, str]:
    return {"allowed_hosts": "\n".join(setting.allowed_hosts), "only_listed": "on" if setting.only_listed else ""}


@page
async def update_outbound(request: Request) -> Response:
    if not current_user(request).is_admin:
        raise ApiError(403, "admin-required", "only an administrator can change the allowed hosts")
    state, org = app_state(request), org_id(request)
    submitted = await form_values(request)
    values = {"allowed_hosts": submitted.get("allowed_hosts", ""), "only_listed": submitted.get("only_listed", "")}
    setting, errors = validate_outbound_form(values)
    if setting is None:
        context = {"outbound": values, "outbound_errors": errors, "outbound_saved": False, "can_edit": True}
        if is_htmx(request):
            return render(request, "organization/_outbound.html", context, status_code=422)
        found = await organization(state, org)
        usage = await usage_of(state, found)
        return render(request, "organization/page.html", context | {
            "org": found, "usage": usage, "values": limit_values(usage.limits), "errors": {}, "saved": False,
            "nav": "organization"}, status_code=422)
    await save_outbound(state, org, setting)
    if is_htmx(request):
        return render(request, "organization/_outbound.html", {
            "outbound": outbound_values(setting), "outbound_errors": {}, "outbound_saved": True, "can_edit": True})
    return RedirectResponse(path_for(request, "organization") + "?saved=outbound", status_code=303)


routes = [
    Route("/organization", organization_page, name="organization"),
    Route("/organization/limits", update_limits, methods=["POST"], name="limits_update"),
    Route("/organization/outbound", update_outbound, methods=["POST"], name="outbound_update"),
]
