"""JSON shapes of the API resources (secrets are never part of them)."""
from __future__ import annotations

from typing import Any

from agent.definition import redact_secrets
from data.models import PhoneNumber, RunEvent, TelephonyConfig, Workflow, WorkflowRun


def config_json(c: TelephonyConfig) -> dict[str, Any]:
    return {
        "id": c.id, "name": c.name, "provider": "ari", "ari_endpoint_url": c.ari_endpoint_url,
        "stasis_app_name": c.stasis_app_name, "ari_username": c.ari_username,
        "app_password_set": True, "websocket_client_name": c.websocket_client_name,
        "from_extensions": list(c.from_extensions), "dial_template": c.dial_template,
        "transfer_context": c.transfer_context, "enabled": c.enabled,
        "phone_number_count": c.phone_number_count, "created_at": c.created_at, "updated_at": c.updated_at,
    }


def number_json(n: PhoneNumber) -> dict[str, Any]:
    return {"id": n.id, "telephony_configuration_id": n.telephony_configuration_id, "address": n.address,
            "label": n.label, "inbound_workflow_id": n.inbound_workflow_id}


def workflow_json(w: Workflow) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "greeting": w.greeting, "definition": redact_secrets(w.definition),
            "created_at": w.created_at, "updated_at": w.updated_at}


def run_json(r: WorkflowRun, recording_url: str) -> dict[str, Any]:
    """`recording_url` is where the recording would be (shown only when there is one)."""
    return {
        "id": r.id, "workflow_id": r.workflow_id, "workflow_name": r.workflow_name,
        "telephony_configuration_id": r.telephony_configuration_id, "phone_number_id": r.phone_number_id,
        "direction": r.direction, "status": r.status, "reason": r.reason, "error_id": r.error_id,
        "call_id": r.call_id, "caller_number": r.caller_number, "called_number": r.called_number,
        "context": r.context, "hangup_cause": r.hangup_cause, "created_at": r.created_at,
        "answered_at": r.answered_at, "ended_at": r.ended_at, "duration_s": r.duration_s,
        "recording_url": recording_url if r.recording_path else None,
        "recording_s": r.recording_s if r.recording_path else None,
    }


def event_json(e: RunEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "kind": e.kind, "role": e.role, "text": e.text, "data": e.data}
