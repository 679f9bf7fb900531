"""Jinja2 set-up and the one rule for htmx: the same URL renders the full page, or only the
fragment when htmx asks for it (`HX-Request`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["HTMX_JS"] = "htmx-2.0.8.min.js"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-boosted")


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    ctx = {"user": getattr(request.state, "user", None), **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
