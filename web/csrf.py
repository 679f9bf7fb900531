"""Token-free CSRF protection as plain ASGI middleware (the Datasette approach).

An unsafe request (POST/PUT/PATCH/DELETE) that does not carry an API key must come from our own
pages: the browser says so with `Sec-Fetch-Site: same-origin` or an `Origin` equal to our own
origin. Everything else gets 403. Under /api/, clients authenticate with a Bearer key, which a
browser never attaches by itself, so they are exempt (as are requests without any cookie). The
session cookie is also SameSite=Lax.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def csrf_verdict(scope: Scope, trusted_origins: Iterable[str] = ()) -> str | None:
    """None when the request may proceed, else the reason it is refused."""
    if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
        return None
    if scope["path"].startswith("/api/"):
        # API clients send a Bearer key, which a browser never attaches by itself; a request with
        # no cookie carries no ambient authority either (the API answers it with a 401).
        auth = _header(scope, b"authorization") or ""
        if auth.lower().startswith("bearer ") or _header(scope, b"cookie") is None:
            return None
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in ("same-origin", "none") else f"cross-site request ({fetch_site})"
    origin = _header(scope, b"origin")
    if origin is None:
        return "no Origin header on a form submission"
    host = _header(scope, b"host") or ""
    parsed = urlsplit(origin)
    if parsed.netloc and parsed.netloc == host:
        return None
    if origin.rstrip("/") in {o.rstrip("/") for o in trusted_origins}:
        return None
    return f"origin {origin} is not this server"


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, trusted_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted_origins = tuple(trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = csrf_verdict(scope, self.trusted_origins)
        if reason is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": {"id": "csrf-failed", "message": f"request refused: {reason}"}}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
