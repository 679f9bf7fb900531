"""Jinja2 set-up and the one rule for htmx: the same URL renders the full page, or only the
fragment when htmx asks for it (`HX-Request`).

URLs are built from route names: `url_for('config', config_id=3)` in a template and
`path_for(request, 'config', config_id=3)` in Python both give the path (`/telephony-configurations/3`),
not Starlette's absolute URL, so pages and redirects do not depend on the Host a request used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["HTMX_JS"] = "htmx-2.0.8.min.js"


def path_for(connection: HTTPConnection, name: str, /, **path_params: Any) -> str:
    """The path of the route called `name` (every route has one; see `web.routes`)."""
    return str(connection.app.url_path_for(name, **path_params))


@pass_context
def _url_for(context: Context, name: str, /, **path_params: Any) -> str:
    return path_for(context["request"], name, **path_params)


templates.env.globals["url_for"] = _url_for


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-boosted")


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    ctx = {"user": getattr(request.state, "user", None), **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def redirect(request: Request, url: str) -> Response:
    """After a form: htmx follows `HX-Redirect`, a plain browser a 303."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
