"""JSON API: outbound calls (their cancel is `web.api.runs`), and the media WebSocket where
Asterisk's chan_websocket connects (`media.endpoint`).

    POST /api/v1/telephony/initiate-call
         {"telephony_configuration_id": 1, "workflow_id": 2, "to": "6001", "from": "PJSIP/6001", "timeout": 30}
         → 202 {"workflow_run_id": 7, "status": "ringing", "url": "/api/v1/workflow-runs/7"}
    POST /api/v1/workflow-runs/{id}/cancel → 202 {"workflow_run_id": 7}

The 202 means "dialling": the run then shows the outcome (`GET /api/v1/workflow-runs/{id}`:
`ringing` → `in_progress` → `completed`, or `no-answer`, `busy`, `failed`, `canceled`) and its
`progress` events (dialling, ringing, early-media, answered). `from` is optional (the first From
Extension is used); `timeout` (seconds of ringing, 1–600) too (default 30).

Refusals, with nothing dialled (`{"error": {"id", "message", "fields"}}`):

| status | error id | when |
|---|---|---|
| 404 | `not-found` | the configuration or workflow does not exist in your organisation |
| 422 | `validation-failed` | a field is missing or has the wrong type |
| 422 | `invalid-destination` | `to` is not a number/extension or a `TECH/resource` dial string |
| 422 | `from-not-allowed`, `invalid-from` | `from` is not one of the configuration's From Extensions |
| 409 | `no-from-extension` | the configuration has no From Extension (the caller id) |
| 409 | `invalid-dial-template` | the configuration's dial template is not usable |
| 409 | `config-disabled` | the configuration is disabled |
| 409 | `ari-not-connected` | its ARI link is not connected |
| 429 | `quota-exceeded` | the organisation's concurrent-call or minute limit is reached |

A quota refusal is recorded as a `rejected` run. Quota is 429 (Too Many Requests): retrying
later can succeed without changing the request, which is what 429 says; 409 is kept for the
configuration's own state.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from media.endpoint import media_endpoint
from web.api import PREFIX
from web.auth import api, org_id
from web.requests import json_object
from web.services import calls
from web.state import app_state
from web.telephony import CallRefused
from web.templating import path_for


@api
async def initiate_call(request: Request) -> Response:
    call = calls.call_request(await json_object(request))
    try:
        run_id = await calls.initiate_call(app_state(request), org_id(request), call)
    except CallRefused as exc:
        raise calls.refusal_error(exc) from exc
    return JSONResponse({"workflow_run_id": run_id, "status": "ringing",
                         "url": path_for(request, "api.run", run_id=run_id)}, status_code=202)


async def media_socket(websocket: WebSocket) -> None:
    await media_endpoint(websocket, app_state(websocket).media_registry)


routes: list[BaseRoute] = [
    Route(PREFIX + "/telephony/initiate-call", initiate_call, methods=["POST"], name="api.initiate_call"),
    WebSocketRoute(PREFIX + "/telephony/ws/ari", media_socket, name="api.media_socket"),
]
