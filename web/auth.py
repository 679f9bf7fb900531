"""Users, sessions and API keys.

Passwords: argon2 through passlib (the maintained `libpass` distribution), no bcrypt.
API keys: `sb_<prefix>_<secret>`; we keep the prefix to find the key and a SHA-256 of the
whole key (it has 190 bits of entropy, so a fast hash is enough).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps

from passlib.context import CryptContext  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from data.models import User
from web.errors import ApiError
from web.state import app_state
from web.templating import path_for

_passwords = CryptContext(schemes=["argon2"], deprecated="auto")
MIN_PASSWORD_LENGTH = 8
# Verified against when the email is unknown, so that costs as much time as a wrong password.
DUMMY_HASH = _passwords.hash("switchboard-no-such-user")

Handler = Callable[[Request], Awaitable[Response]]


def hash_password(password: str) -> str:
    return str(_passwords.hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bool(_passwords.verify(password, password_hash))
    except (ValueError, TypeError):
        return False


def new_api_key() -> tuple[str, str, str]:
    """Returns (full key to show once, prefix to store, hash to store)."""
    prefix = secrets.token_hex(6)  # 48 bits: lookup ids never collide in practice
    key = f"sb_{prefix}_{secrets.token_urlsafe(24)}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sb" or len(parts[1]) != 12:
        return None
    return parts[1]


async def bearer_user(request: Request) -> User | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    prefix = api_key_prefix(key.strip())
    if prefix is None:
        return None
    found = await app_state(request).store.accounts.api_key(prefix)
    if found is None:
        return None
    user, key_hash = found
    return user if hmac.compare_digest(key_hash, hash_api_key(key.strip())) else None


async def session_user(request: Request) -> User | None:
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int):
        return None
    user: User | None = await app_state(request).store.accounts.user(user_id)
    return user


def login(request: Request, user: User) -> None:
    request.session.clear()
    request.session["user_id"] = user.id


def logout(request: Request) -> None:
    request.session.clear()


def page(handler: Handler) -> Handler:
    """An HTML view: needs a logged-in user (else to /setup on a new install, or /login)."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        user = await session_user(request)
        if user is None:
            if await app_state(request).store.accounts.user_count() == 0:
                return RedirectResponse(path_for(request, "setup"), status_code=303)
            login_path = path_for(request, "login")
            target = f"{login_path}?next={request.url.path}" if request.method == "GET" else login_path
            if request.headers.get("hx-request"):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        request.state.user = user
        return await handler(request)

    return wrapper


def api(handler: Handler) -> Handler:
    """A JSON API view: `Authorization: Bearer <key>` (or a browser session); else 401."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            # A request that presents a key is judged by that key alone, never by the session.
            has_key = request.headers.get("authorization", "").lower().startswith("bearer")
            user = await bearer_user(request) if has_key else await session_user(request)
            if user is None:
                raise ApiError(401, "auth-required", "an API key is required: Authorization: Bearer <key>")
            request.state.user = user
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return wrapper


def current_user(request: Request) -> User:
    """The user `page` or `api` let in."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, User):
        raise RuntimeError("current_user outside a @page or @api handler")
    return user


def org_id(request: Request) -> int:
    return current_user(request).organization_id
