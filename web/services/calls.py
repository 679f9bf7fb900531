"""Outbound calls and connection checks: the same request checks and error ids for the JSON API
(`POST /api/v1/telephony/initiate-call`) and the "Test call" dialog.

An outbound call is refused with nothing dialled when a field is wrong (422), the configuration
or workflow is not the organisation's (404), or the ARI side says no (`CallRefused`, whose error
id maps to a status through `REFUSAL_STATUS`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data.models import TelephonyConfig, Workflow
from web.errors import ApiError, invalid, not_found
from web.forms import parse_id
from web.state import AppState
from web.telephony import CallRefused

REFUSAL_STATUS = {
    "not-found": 404, "invalid-destination": 422, "from-not-allowed": 422, "invalid-from": 422,
    "no-from-extension": 409, "invalid-dial-template": 409, "config-disabled": 409, "ari-not-connected": 409,
    "quota-exceeded": 429,
}
MAX_TIMEOUT_S = 600


@dataclass(frozen=True)
class CallRequest:
    config_id: int
    workflow_id: int
    to: str
    from_extension: str | None
    timeout_s: int | None


def _ids(body: dict[str, Any], errors: dict[str, str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for key, what in (("telephony_configuration_id", "configuration"), ("workflow_id", "workflow")):
        value = parse_id(body.get(key))
        if not isinstance(value, int):
            errors[key] = f"choose a {what} (its id)"
        else:
            ids[key] = value
    return ids


def call_request(body: dict[str, Any]) -> CallRequest:
    """The call asked for by a JSON body or a form, or a 422."""
    errors: dict[str, str] = {}
    ids = _ids(body, errors)
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
    return CallRequest(ids["telephony_configuration_id"], ids["workflow_id"], to, from_ or None,
                       timeout if isinstance(timeout, int) else None)


async def owned(state: AppState, org: int, config_id: int, workflow_id: int) -> tuple[TelephonyConfig, Workflow]:
    config = await state.store.configs.get(org, config_id)
    if config is None:
        raise not_found("telephony configuration")
    workflow = await state.store.workflows.get(org, workflow_id)
    if workflow is None:
        raise not_found("workflow")
    return config, workflow


async def initiate_call(state: AppState, org: int, call: CallRequest) -> int:
    """The run id of the call now dialling. Raises ApiError (bad or foreign ids) or `CallRefused`."""
    config, workflow = await owned(state, org, call.config_id, call.workflow_id)
    return await state.telephony.initiate_call(config.id, workflow, call.to, call.from_extension, call.timeout_s)


def refusal_error(exc: CallRefused) -> ApiError:
    fields = {exc.field: exc.message} if exc.field else None
    return ApiError(REFUSAL_STATUS.get(exc.error_id, 409), exc.error_id, exc.message, fields)


def cancel_call(state: AppState, run_id: int) -> bool:
    """Hang up an outbound call this server is placing (canceled while it rings)."""
    return state.telephony.cancel_call(run_id)


async def run_checks(state: AppState, config: TelephonyConfig) -> list[dict[str, Any]]:
    """The connection checks against the configuration's Asterisk (`ari.diagnostics`)."""
    return await state.telephony.check(config.id)
