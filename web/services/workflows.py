"""Workflows: create, update, delete, export and import, for the editor and the API alike.

Secrets (API keys) follow `web.workflow_input`: sealed (encrypted) before they are stored, and
redacted (`SECRET_MASK`) in everything shown or exported; the mask sent back keeps the stored key.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

from agent.definition import SECRET_MASK, WorkflowDefinition, redact_secrets
from data.models import PhoneNumber, Workflow
from web.errors import ApiError
from web.state import AppState
from web.workflow_input import export_document, from_import, seal_secrets


@dataclass(frozen=True)
class Saved:
    workflow: Workflow
    new_secrets: dict[str, str] = field(default_factory=dict)
    """Webhook URL → the signing secret generated for it, in clear: shown once, never again."""


async def create_workflow(state: AppState, org: int, name: str, definition: WorkflowDefinition) -> Saved:
    store = state.store
    sealed, generated = seal_secrets(definition, None, store.box.encrypt)
    return Saved(await store.workflows.create(org, name, sealed), generated)


async def update_workflow(state: AppState, org: int, current: Workflow, name: str,
                          definition: WorkflowDefinition) -> Saved | None:
    """The saved workflow (masked secrets keep `current`'s), or None when it is gone."""
    store = state.store
    sealed, generated = seal_secrets(definition, current.definition, store.box.encrypt)
    saved = await store.workflows.update(org, current.id, name, sealed)
    return None if saved is None else Saved(saved, generated)


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
    return _holds_mask(definition)


def _holds_mask(value: Any, depth: int = 0) -> bool:
    if value == SECRET_MASK:
        return True
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_holds_mask(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_holds_mask(item, depth + 1) for item in value)
    return False


async def import_document(state: AppState, org: int, document: Any, name: str | None = None) -> Saved:
    """Validate an export file's JSON and create the workflow (422 with field errors otherwise)."""
    clean, errors = from_import(document, name)
    if clean is None:
        raise ApiError(422, "validation-failed", "this file is not a valid workflow", errors)
    name, definition = clean
    return await create_workflow(state, org, name, definition)
