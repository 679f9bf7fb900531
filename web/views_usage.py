"""HTML views: the organisation page — usage against limits, the limits form (admins), and for
the server operator the backups (`web.views_backup`).

`GET /organization` (with `HX-Request`: only the usage block, which polls every 5 s);
`POST /organization/limits` (htmx: the form back with "Saved." or 422 with the errors; without
JavaScript: 303 back to the page).
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from data.models import Organization, User
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import form_values
from web.state import app_state
from web.templating import is_htmx, render
from web.usage import Limits, save_limits, usage_of, validate_limits
from web.views_backup import backup_context, is_operator

LIMIT_FIELDS = ("max_concurrent_calls", "monthly_minutes", "recording_retention_days")


async def organization(request: Request) -> Organization:
    org: Organization | None = await app_state(request).store.accounts.organization(org_id(request))
    if org is None:
        raise ApiError(404, "not-found", "your organisation no longer exists")
    return org


def limit_values(limits: Limits) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in limits.as_json().items()}


@page
async def organization_page(request: Request) -> Response:
    org = await organization(request)
    usage = await usage_of(app_state(request).store, org)
    if is_htmx(request):
        return render(request, "organization/_usage.html", {"usage": usage})
    user: User = request.state.user
    context: dict[str, Any] = {
        "org": org, "usage": usage, "values": limit_values(usage.limits), "errors": {},
        "saved": request.query_params.get("saved") == "1", "can_edit": user.is_admin, "nav": "organization",
    }
    if await is_operator(request):
        context["backups"] = backup_context(request)
    return render(request, "organization/page.html", context)


@page
async def update_limits(request: Request) -> Response:
    user: User = request.state.user
    if not user.is_admin:
        raise ApiError(403, "admin-required", "only an administrator can change the limits")
    org = await organization(request)
    submitted = await form_values(request)
    values = {k: submitted.get(k, "") for k in LIMIT_FIELDS}
    limits, errors = validate_limits(values, Limits.of(org))
    if limits is None:
        context = {"values": values, "errors": errors, "saved": False, "can_edit": True}
        if is_htmx(request):
            return render(request, "organization/_limits.html", context, status_code=422)
        usage = await usage_of(app_state(request).store, org)
        return render(request, "organization/page.html", context | {"org": org, "usage": usage,
                                                                    "nav": "organization"}, status_code=422)
    await save_limits(app_state(request).store, org.id, limits)
    if is_htmx(request):
        return render(request, "organization/_limits.html",
                      {"values": limit_values(limits), "errors": {}, "saved": True, "can_edit": True})
    return RedirectResponse("/organization?saved=1", status_code=303)
