"""First-run setup, login and logout."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from data.errors import Conflict
from web.accounts import create_organization
from web.auth import DUMMY_HASH, login, logout, session_user, verify_password
from web.requests import form_values
from web.state import app_state
from web.templating import path_for, render


def _to(request: Request, name: str) -> Response:
    return RedirectResponse(path_for(request, name), status_code=303)


TOKEN_NEEDED = ("This server can be reached from other machines, so creating its first administrator needs "
                "the one-time setup token printed in its log when it started (docker logs switchboard).")


def _setup_page(request: Request, values: dict[str, str], errors: dict[str, str], status_code: int = 200,
                form_error: str = "") -> Response:
    """The form; `values["token"]` is carried in a hidden field once known to be right (or given in
    the link), else asked for when the server needs it."""
    gate = app_state(request).setup_gate
    return render(request, "auth/setup.html", {
        "values": values, "errors": errors, "form_error": form_error, "token_required": gate.required,
    }, status_code=status_code)


async def setup(request: Request) -> Response:
    state = app_state(request)
    if await state.store.accounts.user_count() > 0:
        return _to(request, "login")
    if request.method == "GET":
        return _setup_page(request, {"token": request.query_params.get("token", "")}, {})
    values = await form_values(request)
    if not state.setup_gate.admits(values.get("token", "")):
        shown = {k: v for k, v in values.items() if k not in ("token", "password")}
        problem = "enter the setup token from the server's log" if not values.get("token") else \
            "this is not the setup token of this server (it is printed in its log)"
        return _setup_page(request, shown, {"token": problem}, status_code=403, form_error=TOKEN_NEEDED)
    try:
        user = await create_organization(state.store, values.get("org", ""), values.get("email", ""),
                                         values.get("password", ""), first_only=True)
    except ValueError as exc:
        errors = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"email": str(exc)}
        return _setup_page(request, values, errors, status_code=422)
    except Conflict as exc:
        return _setup_page(request, values, {exc.field: exc.message}, status_code=422)
    state.setup_gate.spend()
    login(request, user)
    return _to(request, "configs")


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def login_page(request: Request) -> Response:
    state = app_state(request)
    if await state.store.accounts.user_count() == 0:
        return _to(request, "setup")
    if request.method == "GET":
        if await session_user(request):
            return _to(request, "configs")
        return render(request, "auth/login.html", {"values": {}, "next": request.query_params.get("next", "/")})
    values = await form_values(request)
    email, password = values.get("email", "").strip(), values.get("password", "")
    wait_s = state.login_throttle.retry_after(email)
    if wait_s > 0:
        minutes = max(1, round(wait_s / 60))
        return render(request, "auth/login.html", {
            "values": {"email": email}, "next": values.get("next", "/"),
            "form_error": f"Too many failed attempts for this email: try again in {minutes} minute(s).",
        }, status_code=429, headers={"Retry-After": str(int(wait_s) + 1)})
    found = await state.store.accounts.user_with_hash(email) if email else None
    ok = await asyncio.to_thread(verify_password, password, found[1] if found else DUMMY_HASH)
    if found is None or not ok:
        state.login_throttle.failed(email)
        return render(request, "auth/login.html", {
            "values": {"email": email}, "next": values.get("next", "/"),
            "form_error": "Wrong email or password.",
        }, status_code=401)
    state.login_throttle.succeeded(email)
    login(request, found[0])
    target = _safe_next(values.get("next", "/"))
    if target == "/":
        return _to(request, "configs")
    return RedirectResponse(target, status_code=303)


async def logout_view(request: Request) -> Response:
    logout(request)
    return _to(request, "login")


async def home(request: Request) -> Response:
    return _to(request, "configs")


routes = [
    Route("/", home, name="home"),
    Route("/setup", setup, methods=["GET", "POST"], name="setup"),
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/logout", logout_view, methods=["POST"], name="logout"),
]
