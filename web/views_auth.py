"""First-run setup, login and logout."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from data.errors import Conflict
from web.accounts import create_organization
from web.auth import DUMMY_HASH, login, logout, session_user, verify_password
from web.requests import form_values
from web.state import app_state
from web.templating import render


async def setup(request: Request) -> Response:
    store = app_state(request).store
    if await store.accounts.user_count() > 0:
        return RedirectResponse("/login", status_code=303)
    if request.method == "GET":
        return render(request, "auth/setup.html", {"values": {}, "errors": {}})
    values = await form_values(request)
    try:
        user = await create_organization(store, values.get("org", ""), values.get("email", ""),
                                         values.get("password", ""), first_only=True)
    except ValueError as exc:
        errors = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"email": str(exc)}
        return render(request, "auth/setup.html", {"values": values, "errors": errors}, status_code=422)
    except Conflict as exc:
        return render(request, "auth/setup.html", {"values": values, "errors": {exc.field: exc.message}},
                      status_code=422)
    login(request, user)
    return RedirectResponse("/telephony-configurations", status_code=303)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def login_page(request: Request) -> Response:
    store = app_state(request).store
    if await store.accounts.user_count() == 0:
        return RedirectResponse("/setup", status_code=303)
    if request.method == "GET":
        if await session_user(request):
            return RedirectResponse("/telephony-configurations", status_code=303)
        return render(request, "auth/login.html", {"values": {}, "next": request.query_params.get("next", "/")})
    values = await form_values(request)
    email, password = values.get("email", "").strip(), values.get("password", "")
    throttle = app_state(request).login_throttle
    wait_s = throttle.retry_after(email)
    if wait_s > 0:
        minutes = max(1, round(wait_s / 60))
        return render(request, "auth/login.html", {
            "values": {"email": email}, "next": values.get("next", "/"),
            "form_error": f"Too many failed attempts for this email: try again in {minutes} minute(s).",
        }, status_code=429, headers={"Retry-After": str(int(wait_s) + 1)})
    found = await store.accounts.user_with_hash(email) if email else None
    ok = await asyncio.to_thread(verify_password, password, found[1] if found else DUMMY_HASH)
    if found is None or not ok:
        throttle.failed(email)
        return render(request, "auth/login.html", {
            "values": {"email": email}, "next": values.get("next", "/"),
            "form_error": "Wrong email or password.",
        }, status_code=401)
    throttle.succeeded(email)
    login(request, found[0])
    target = _safe_next(values.get("next", "/"))
    return RedirectResponse("/telephony-configurations" if target == "/" else target, status_code=303)


async def logout_view(request: Request) -> Response:
    logout(request)
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    return RedirectResponse("/telephony-configurations", status_code=303)
