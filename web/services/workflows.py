"""Workflows: create, update, delete, export and import, for the editor and the API alike.

Secrets (API keys) follow `web.workflow_input`: sealed (encrypted) before they are stored, and
redacted (`SECRET_MASK`) in everything shown or exported; the mask sent back keeps the stored key.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from starlette.responses import JSONResponse, Response

from agent.definition import SECRET_MASK, SECRET_PATHS, WorkflowDefinition, redact_secrets
from data.models import PhoneNumber, Workflow
from web.errors import ApiError
from web.state import AppState
from web.workflow_input import export_document, from_import, seal_secrets


async def create_workflow(state: AppState, org: int, name: str, definition: WorkflowDefinition) -> Workflow:
    store = state.store
    return await store.workflows.create(org, name, seal_secrets(definition, None, store.box.encrypt))


async def update_workflow(state: AppState, org: int, current: Workflow, name: str,
                          definition: WorkflowDefinition) -> Workflow | None:
    """The saved workflow (masked keys keep `current`'s), or None when it is gone."""
    store = state.store
    return await store.workflows.update(org, current.id, name,
                                        seal_secrets(definition, current.definition, store.box.encrypt))


async def delete_workflow(state: AppState, org: int, workflow_id: int) -> None:
    """Raises `data.errors.Conflict` while a phone number answers with the workflow."""
    await state.store.workflows.delete(org, workflow_id)


async def numbers_using(state: AppState, org: int, workflow_id: int) -> list[PhoneNumber]:
    return await state.store.numbers.using_workflow(org, workflow_id)


def export_response(workflow: Workflow) -> Response:
    """The workflow as a downloadable JSON file, secrets redacted:
    {"switchboard": "workflow", "format": 1, "name", "definition"}."""
    document = export_document(workflow.name, redact_secrets(workflow.definition))
    filename = f"{_slug(workflow.name)}.workflow.json"
    return JSONResponse(document, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                           "Cache-Control": "no-store"})


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "workflow"


def redacted_secrets(document: Any) -> bool:
    """True when an imported document had secrets redacted (they are imported empty)."""
    definition = document.get("definition") if isinstance(document, dict) else None
    if not isinstance(definition, dict):
        return False
    for path in SECRET_PATHS:
        section, key = path.split(".")
        holder = definition.get(section)
        if isinstance(holder, dict) and holder.get(key) == SECRET_MASK:
            return True
    return False


async def import_document(state: AppState, org: int, document: Any, name: str | None = None) -> Workflow:
    """Validate an export file's JSON and create the workflow (422 with field errors otherwise)."""
    clean, errors = from_import(document, name)
    if clean is None:
        raise ApiError(422, "validation-failed", "this file is not a valid workflow", errors)
    name, definition = clean
    return await create_workflow(state, org, name, definition)
