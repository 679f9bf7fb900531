"""Errors become a JSON body under /api and a friendly page elsewhere; never a bare 500."""
from __future__ import annotations

import logging
import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from web.errors import ApiError
from web.templating import render

log = logging.getLogger("switchboard.web")

_TITLES = {400: "Bad request", 401: "Not logged in", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Too large", 422: "Invalid input"}


def _respond(request: Request, error: ApiError) -> Response:
    if request.url.path.startswith("/api/"):
        return error.response()
    if request.headers.get("hx-request"):
        return PlainTextResponse(f"{error.message} ({error.error_id})", status_code=error.status)
    return render(request, "errors/page.html", {
        "status": error.status, "title": _TITLES.get(error.status, "Error"),
        "message": error.message, "error_id": error.error_id,
    }, status_code=error.status)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _respond(request, exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_id = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    response = _respond(request, ApiError(exc.status_code, error_id, str(exc.detail).lower()))
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.exception("unhandled error error_id=internal incident=%s path=%s", incident, request.url.path)
    return _respond(request, ApiError(500, "internal", f"something went wrong on our side (incident {incident})"))
