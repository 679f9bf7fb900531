"""Workflow definition v1: validation with field errors, the Front desk sample, secrets helpers."""
from __future__ import annotations

from typing import Any

import pytest

from agent.definition import (
    SECRET_MASK, SECRET_PATHS, default_definition, map_secrets, redact_secrets, restore_secrets, validate_definition,
)
from agent.samples import FRONT_DESK_GREETING, front_desk, sample_workflows


def script(*intents: dict[str, Any], **state: Any) -> dict[str, Any]:
    return {"script": {"states": {"menu": {"intents": list(intents), **state}, "other": {"say": "Other."}}}}


def test_front_desk_is_valid_and_complete() -> None:
    (name, raw), = sample_workflows()
    definition, errors = validate_definition(raw)
    assert name == "Front desk" and errors == {} and definition is not None
    assert definition["greeting"] == FRONT_DESK_GREETING
    intents = {i["name"]: i for i in definition["script"]["states"]["menu"]["intents"]}
    assert intents["sales"]["extension"] == "7000" and intents["sales"]["dtmf"] == ["1"]
    assert {"sales", "buy", "pricing"} <= set(intents["sales"]["keywords"])
    assert intents["support"]["extension"] == "7001" and intents["support"]["dtmf"] == ["2"]
    assert {"support", "help", "problem"} <= set(intents["support"]["keywords"])
    assert intents["goodbye"]["action"] == "hang_up"
    assert definition["script"]["states"]["menu"]["reprompt"]


def test_defaults_fill_in_and_validation_is_idempotent() -> None:
    definition, errors = validate_definition(front_desk())
    assert errors == {} and definition is not None
    again, errors = validate_definition(definition)
    assert errors == {} and again == definition
    assert validate_definition(default_definition("Hi"))[1] == {}


@pytest.mark.parametrize(("raw", "key"), [
    (script({"name": "a", "keywords": ["x"], "action": "transfer"}), "definition.script.states.menu.intents.0.extension"),
    (script({"name": "a", "dtmf": ["12"], "action": "hang_up"}), "definition.script.states.menu.intents.0.dtmf.0"),
    (script({"name": "a", "keywords": ["x"], "goto": "nowhere"}), "definition.script.states.menu.intents.0.goto"),
    (script({"name": "a", "action": "hang_up"}), "definition.script.states.menu.intents.0"),
    (script({"name": "a", "regex": "(", "action": "hang_up"}), "definition.script.states.menu.intents.0.regex"),
    (script({"name": "a", "regex": r"(\w+\s?)+$", "action": "hang_up"}),
     "definition.script.states.menu.intents.0.regex"),
    (script({"name": "a", "keywords": ["x"], "action": "dance"}), "definition.script.states.menu.intents.0.action"),
    (script({"name": "a", "keywords": ["x"], "action": "say"}), "definition.script.states.menu.intents.0.say"),
    (script({"name": "a", "keywords": ["x"], "action": "hang_up", "colour": 1}),
     "definition.script.states.menu.intents.0.colour"),
    (script(reprompt=5), "definition.script.states.menu.reprompt"),
    ({"script": {"states": {}}}, "definition.script.states"),
    ({"script": {"states": {"a": {}}, "start": "b"}}, "definition.script.start"),
    ({"engine": "llm"}, "definition.llm"),
    ({"engine": "llm", "llm": {"model": ""}}, "definition.llm.model"),
    ({"engine": "llm", "llm": {"model": "m", "base_url": "ftp://x"}}, "definition.llm.base_url"),
    ({"engine": "llm", "llm": {"model": "m", "timeout_s": 0}}, "definition.llm.timeout_s"),
    ({"engine": "llm", "llm": {"model": "m", "allowed_extensions": ["70 00"]}}, "definition.llm.allowed_extensions.0"),
    ({"tts": {"provider": "openai"}}, "definition.tts.base_url"),
    ({"stt": {"provider": "cloud"}}, "definition.stt.provider"),
    ({"voice": "emma"}, "definition.voice"),
])
def test_errors_name_the_field(raw: dict[str, Any], key: str) -> None:
    definition, errors = validate_definition(raw)
    assert definition is None
    assert key in errors, errors


def test_llm_section_defaults() -> None:
    definition, errors = validate_definition({"engine": "llm", "llm": {"model": "llama3.2"}})
    assert errors == {} and definition is not None
    llm = definition["llm"]
    assert llm["base_url"].startswith("http://127.0.0.1") and llm["timeout_s"] > 0 and llm["api_key"] == ""


def test_secrets_are_listed_encrypted_redacted_and_restored() -> None:
    assert "llm.api_key" in SECRET_PATHS
    definition, _ = validate_definition({"engine": "llm", "llm": {"model": "m", "api_key": "sk-123"}})
    assert definition is not None
    sealed = map_secrets(definition, lambda s: s[::-1])
    assert sealed["llm"]["api_key"] == "321-ks" and definition["llm"]["api_key"] == "sk-123"
    shown = redact_secrets(sealed)
    assert shown["llm"]["api_key"] == SECRET_MASK and "sk-123" not in str(shown)
    back = restore_secrets(shown, sealed)
    assert back["llm"]["api_key"] == "321-ks"
    changed = restore_secrets({**shown, "llm": {**shown["llm"], "api_key": "sk-new"}}, sealed)
    assert changed["llm"]["api_key"] == "sk-new"


def test_transfer_section_defaults_to_blind_and_is_checked() -> None:
    clean, errors = validate_definition({"transfer": {"mode": "attended"}})
    assert errors == {} and clean is not None and clean["transfer"] == {"mode": "attended", "timeout_s": 20}
    assert "transfer" not in (validate_definition({})[0] or {})  # absent: blind
    _, errors = validate_definition({"transfer": {"mode": "warm", "timeout_s": 0, "ring": 1}})
    assert set(errors) == {"definition.transfer.mode", "definition.transfer.timeout_s", "definition.transfer.ring"}
