"""JSON API: ARI diagnostics for a configuration (and, with outbound calls, call initiation)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from web.auth import api, org_id
from web.errors import not_found
from web.requests import path_id


@api
async def check_config(request: Request) -> Response:
    config = await request.app.state.store.configs.get(org_id(request), path_id(request, "config_id"))
    if config is None:
        raise not_found("telephony configuration")
    checks = await request.app.state.telephony.check(config.id)
    return JSONResponse({"ok": all(c["ok"] for c in checks), "checks": checks})
