"""HTML: the "Test connection" button of a configuration."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from web.auth import page
from web.state import app_state
from web.templating import render
from web.views_configs import load_config


@page
async def check_config(request: Request) -> Response:
    config = await load_config(request)
    checks = await app_state(request).telephony.check(config.id)
    template = "configs/_checks.html" if request.headers.get("hx-request") else "configs/checks_page.html"
    return render(request, template, {"config": config, "checks": checks, "nav": "configs"})
