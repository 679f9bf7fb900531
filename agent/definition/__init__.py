"""Workflow definitions: a versioned JSON document, parsed once into frozen dataclasses.

    definition = parse_definition(stored_json)    # WorkflowDefinition, or DefinitionInvalid(errors)
    stored_json = definition.to_json()            # the same document, defaults filled in
    clean, errors = validate_definition(raw)      # the web's check: (stored JSON, {}) or (None, errors)

Version 1 knows the common fields (greeting, language, voice, barge-in, timers, recording,
farewell); the dialog engines add their own sections (`model.py` draws the tree):

- `script` (engine "script"): states, each with what to say and intents matched on the caller's
  normalised words (keywords, regex) or DTMF keys, leading to another state or an action
  (`transfer` to an extension, `hang_up`, `say` and continue). A missing section means a single
  state with no intents (greeting, fallback, no-input handling).
- `llm` (engine "llm"): instructions, an OpenAI-compatible chat-completions endpoint (`base_url`,
  `model`, `api_key`), timeouts, the extensions `transfer_call` may reach.
- `stt` / `tts` (optional): use an OpenAI-compatible HTTP endpoint instead of the embedded models.
- `transfer` (optional): how both engines transfer, `{"mode": "blind"|"attended", "timeout_s": 20}`.
  Blind (the default) hands the caller to the dialplan; attended rings the extension, bridges it
  with the caller on answer and drops the agent, and if it does not answer within `timeout_s`
  the agent says so and stays on the call.
- `tools` (optional, both engines): the user's HTTP tools (`agent.tool_definition`); script states
  may capture a variable or call a tool (`parse_script.py`).
- `pre_call` (optional): a lookup of the caller before the greeting (`agent.lookup`).
- `webhooks` (optional): post-call webhooks (`agent.webhooks`).

Unknown keys are refused everywhere so a typo does not silently do nothing. Errors are keyed
`definition.<path>` (list items by index: `definition.script.states.menu.intents.0.dtmf`).
Secrets stay on the JSON side (`secrets.py`): stored encrypted, shown masked, decrypted just
before parsing for a call or a test chat.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.definition.model import (
    ACTIONS,
    DEFAULT_APOLOGY,
    DEFAULT_FALLBACK,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_LLM_REPROMPT,
    DEFAULT_LLM_URL,
    DEFAULT_REPEAT_PHRASES,
    DEFAULT_TRANSFER_TIMEOUT_S,
    EMBEDDED_VOICES,
    ENGINES,
    SCHEMA_VERSION,
    TRANSFER_MODES,
    Intent,
    LlmSection,
    ScriptSection,
    State,
    SttEndpoint,
    ToolStep,
    TransferPolicy,
    TtsEndpoint,
    WorkflowDefinition,
)
from agent.definition.parse import parse_definition, read_definition
from agent.definition.secrets import SECRET_MASK, SECRET_PATHS, map_secrets, redact_secrets, restore_secrets
from agent.errors import DefinitionInvalid
from agent.fields import Errors

__all__ = [
    "ACTIONS", "DEFAULT_APOLOGY", "DEFAULT_FALLBACK", "DEFAULT_INSTRUCTIONS", "DEFAULT_LLM_REPROMPT",
    "DEFAULT_LLM_URL", "DEFAULT_REPEAT_PHRASES", "DEFAULT_TRANSFER_TIMEOUT_S", "EMBEDDED_VOICES", "ENGINES",
    "SCHEMA_VERSION", "SECRET_MASK", "SECRET_PATHS", "TRANSFER_MODES", "DefinitionInvalid", "Errors", "Intent",
    "LlmSection", "ScriptSection", "State", "SttEndpoint", "ToolStep", "TransferPolicy", "TtsEndpoint",
    "WorkflowDefinition",
    "as_definition", "default_definition", "map_secrets", "parse_definition", "read_definition", "redact_secrets",
    "restore_secrets", "validate_definition",
]


def validate_definition(raw: object) -> tuple[dict[str, Any] | None, Errors]:
    """(the stored JSON: `raw` with defaults filled in, {}) or (None, {"definition.<path>": message})."""
    definition, errors = read_definition(raw)
    return (definition.to_json(), {}) if definition is not None else (None, errors)


def default_definition(greeting: str = "") -> dict[str, Any]:
    """The stored JSON of a new workflow: every common field at its default."""
    return WorkflowDefinition(greeting=greeting).to_json()


def as_definition(definition: WorkflowDefinition | Mapping[str, Any]) -> WorkflowDefinition:
    """`definition` itself, or the stored JSON parsed (`DefinitionInvalid` when it is not valid)."""
    return definition if isinstance(definition, WorkflowDefinition) else parse_definition(definition)
