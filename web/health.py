"""Probes for orchestrators and load balancers (no authentication, no secrets in them).

- `GET /healthz`: the process is up and serving (Docker's HEALTHCHECK). 200 always.
- `GET /readyz`: ready to take calls: the database takes a write (the `heartbeat` row, within
  `WRITE_TIMEOUT_S`) and every enabled configuration's ARI link is connected. 503 otherwise;
  the body says which check failed, with the link's error id.
"""
from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web.state import app_state

WRITE_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _database_check(request: Request) -> dict[str, Any]:
    store = app_state(request).store
    try:
        await asyncio.wait_for(store.db.execute(
            "INSERT INTO heartbeat (id, at) VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ','now')) "
            "ON CONFLICT (id) DO UPDATE SET at = excluded.at"), WRITE_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error_id": "db-unavailable",
                "message": f"a write did not complete within {WRITE_TIMEOUT_S:g} s"}
    except Exception as exc:  # read-only, disk full, closed
        return {"ok": False, "error_id": "db-unavailable", "message": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


async def readyz(request: Request) -> Response:
    database = await _database_check(request)
    links = []
    telephony = app_state(request).telephony
    try:
        configs = await app_state(request).store.configs.all()
    except Exception as exc:
        configs = []
        database = {"ok": False, "error_id": "db-unavailable", "message": f"{type(exc).__name__}: {exc}"}
    for config in configs:
        if not config.enabled:
            continue
        status = telephony.status(config.id, config.enabled)
        link: dict[str, Any] = {"configuration_id": config.id, "state": status.state,
                                "ok": status.state == "connected"}
        if status.error_id:
            link["error_id"] = status.error_id
        links.append(link)
    ready = database["ok"] and all(link["ok"] for link in links)
    body = {"status": "ready" if ready else "not ready", "database": database, "ari_links": links}
    return JSONResponse(body, status_code=200 if ready else 503)


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/readyz", readyz, name="readyz"),
]
