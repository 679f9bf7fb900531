"""JSON API: ARI diagnostics for a configuration, outbound calls and their cancel.

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
| 429 | `quota-exceeded` | the organisation's concurrent-call or minute limit is reached (the refusal is recorded as a `rejected` run) |

Quota is 429 (Too Many Requests): retrying later can succeed without changing the request, which
is what 429 says; 409 is kept for the configuration's own state.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from data.models import TelephonyConfig, Workflow
from web.api_workflows import unended_run
from web.auth import api, org_id
from web.errors import ApiError, invalid, not_found
from web.forms import parse_id
from web.requests import json_object, path_id
from web.state import app_state
from web.telephony import CallRefused

REFUSAL_STATUS = {
    "not-found": 404, "invalid-destination": 422, "from-not-allowed": 422, "invalid-from": 422,
    "no-from-extension": 409, "invalid-dial-template": 409, "config-disabled": 409, "ari-not-connected": 409,
    "quota-exceeded": 429,
}
MAX_TIMEOUT_S = 600


@api
async def check_config(request: Request) -> Response:
    config = await app_state(request).store.configs.get(org_id(request), path_id(request, "config_id"))
    if config is None:
        raise not_found("telephony configuration")
    checks = await app_state(request).telephony.check(config.id)
    return JSONResponse({"ok": all(c["ok"] for c in checks), "checks": checks})


def call_request(body: dict[str, Any]) -> tuple[int, int, str, str | None, int | None]:
    """(configuration id, workflow id, to, from, timeout) from a JSON body or a form, or a 422."""
    errors: dict[str, str] = {}
    ids: dict[str, int] = {}
    for key, what in (("telephony_configuration_id", "configuration"), ("workflow_id", "workflow")):
        value = parse_id(body.get(key))
        if not isinstance(value, int):
            errors[key] = f"choose a {what} (its id)"
        else:
            ids[key] = value
    to = body.get("to")
    if not isinstance(to, str) or not to:
        errors["to"] = "enter the number or extension to call, e.g. 6001"
    from_ = body.get("from")
    if from_ is not None and not isinstance(from_, str):
        errors["from"] = "a From Extension of the configuration, e.g. PJSIP/6001"
    timeout = body.get("timeout")
    if timeout is not None and timeout != "":
        parsed = parse_id(timeout)
        if not isinstance(parsed, int) or parsed > MAX_TIMEOUT_S:
            errors["timeout"] = f"seconds of ringing, 1 to {MAX_TIMEOUT_S}"
        timeout = parsed
    if errors:
        raise invalid(errors)
    assert isinstance(to, str)
    return (ids["telephony_configuration_id"], ids["workflow_id"], to, from_ or None,
            timeout if isinstance(timeout, int) else None)


async def owned(request: Request, config_id: int, workflow_id: int) -> tuple[TelephonyConfig, Workflow]:
    store = app_state(request).store
    config = await store.configs.get(org_id(request), config_id)
    if config is None:
        raise not_found("telephony configuration")
    workflow = await store.workflows.get(org_id(request), workflow_id)
    if workflow is None:
        raise not_found("workflow")
    return config, workflow


def refusal_error(exc: CallRefused) -> ApiError:
    fields = {exc.field: exc.message} if exc.field else None
    return ApiError(REFUSAL_STATUS.get(exc.error_id, 409), exc.error_id, exc.message, fields)


@api
async def initiate_call(request: Request) -> Response:
    config_id, workflow_id, to, from_, timeout = call_request(await json_object(request))
    config, workflow = await owned(request, config_id, workflow_id)
    try:
        run_id = await app_state(request).telephony.initiate_call(config.id, workflow, to, from_, timeout)
    except CallRefused as exc:
        raise refusal_error(exc) from exc
    return JSONResponse({"workflow_run_id": run_id, "status": "ringing", "url": f"/api/v1/workflow-runs/{run_id}"},
                        status_code=202)


@api
async def cancel_run(request: Request) -> Response:
    run = await unended_run(request)
    if not app_state(request).telephony.cancel_call(run.id):
        raise ApiError(409, "not-cancelable", "this run is not an outbound call this server is placing")
    return JSONResponse({"workflow_run_id": run.id}, status_code=202)
