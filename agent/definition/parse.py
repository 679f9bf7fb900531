"""Reading a JSON workflow definition into a `WorkflowDefinition`, with every field error.

Unknown keys are refused everywhere so a typo does not silently do nothing. A section that is
absent or null is None in the model; `definition.<section>` must otherwise be an object.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.definition.model import (
    DEFAULT_APOLOGY,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_LLM_REPROMPT,
    DEFAULT_LLM_URL,
    DEFAULT_TRANSFER_TIMEOUT_S,
    EMBEDDED_VOICES,
    ENGINES,
    SCHEMA_VERSION,
    STT_PROVIDERS,
    TRANSFER_MODES,
    TTS_PROVIDERS,
    LlmSection,
    SttEndpoint,
    TransferPolicy,
    TtsEndpoint,
    WorkflowDefinition,
)
from agent.definition.parse_script import EXTENSION, check_tool_steps, read_script
from agent.errors import DefinitionInvalid
from agent.fields import MAX_TEXT, Errors, FieldCheck, Raw, choose
from agent.lookup import parse_pre_call
from agent.tool_definition import parse_tools
from agent.webhooks import parse_webhooks

_COMMON: dict[str, type] = {
    "version": int, "engine": str, "greeting": str, "language": str, "voice": str, "barge_in": bool,
    "end_of_speech_ms": int, "no_input_reprompt_s": int, "no_input_hangup_s": int, "max_duration_s": int,
    "recording": bool, "farewell": str,
}
_SECTIONS = ("script", "llm", "stt", "tts", "transfer", "pre_call")
_LISTS = ("tools", "webhooks")
_RANGES = {
    "end_of_speech_ms": (100, 5000),
    "no_input_reprompt_s": (1, 300),
    "no_input_hangup_s": (1, 600),
    "max_duration_s": (10, 86400),
}
_TYPE_NAMES = {int: "a whole number", str: "text", bool: "true or false", dict: "an object", list: "a list"}
_ENGLISH = re.compile(r"^\s*(?:|en(?:[-_][A-Za-z0-9]{1,8})*|eng|english)\s*\Z", re.IGNORECASE)
"""Languages the embedded speech-to-text (Whisper tiny.en) understands: English, or unsaid."""


def parse_definition(raw: object) -> WorkflowDefinition:
    """The definition `raw` (a JSON object) describes; `DefinitionInvalid` with the field errors."""
    definition, errors = read_definition(raw)
    if definition is None:
        raise DefinitionInvalid(errors)
    return definition


def read_definition(raw: object) -> tuple[WorkflowDefinition | None, Errors]:
    """(definition, {}) or (None, {"definition.<path>": message})."""
    if not isinstance(raw, Mapping):
        return None, {"definition": "the definition must be a JSON object"}
    errors: Errors = {}
    common, sections = _typed_fields(raw, errors)
    _check_common(common, errors)
    readers = {"script": read_script, "llm": _llm, "stt": _stt, "tts": _tts, "transfer": _transfer}
    parsed: dict[str, Any] = {key: readers[key](FieldCheck(f"definition.{key}", errors), value)
                              for key, value in sections.items() if key in readers}
    parsed |= _outside(raw, errors)
    if parsed.get("script") is not None:
        check_tool_steps(FieldCheck("definition.script", errors), parsed["script"], parsed.get("tools", ()))
    engine = common.get("engine", "script")
    if engine == "llm" and parsed.get("llm") is None and "definition.engine" not in errors:
        errors["definition.llm"] = "the llm engine needs an llm section with at least a model"
    tts = sections.get("tts")
    tts_provider = tts.get("provider", "embedded") if tts is not None else "embedded"
    if tts_provider == "embedded" and common.get("voice", "default") not in EMBEDDED_VOICES:
        errors["definition.voice"] = "the embedded voice is 'default' (also called 'heart')"
    stt = sections.get("stt")
    stt_provider = stt.get("provider", "embedded") if stt is not None else "embedded"
    if stt_provider == "embedded" and not _ENGLISH.match(str(common.get("language", "en"))):
        errors["definition.language"] = ("the embedded speech-to-text understands English only: use 'en' (or "
                                         "'en-GB', 'en-US', ...), or an stt endpoint that knows this language")
    if errors:
        return None, errors
    return WorkflowDefinition(**common, **parsed), {}


def _outside(raw: Raw, errors: Errors) -> dict[str, Any]:
    """The sections that reach the user's systems: tools, the pre-call lookup, webhooks."""
    tools, tool_errors = parse_tools(raw.get("tools"))
    pre_call, lookup_errors = parse_pre_call(raw.get("pre_call"))
    webhooks, webhook_errors = parse_webhooks(raw.get("webhooks"))
    for found in (tool_errors, lookup_errors, webhook_errors):
        for key, message in found.items():
            errors.setdefault(key, message)
    return {"tools": tools, "pre_call": pre_call, "webhooks": webhooks}


def _typed_fields(raw: Raw, errors: Errors) -> tuple[dict[str, Any], dict[str, Raw]]:
    """The common fields and the section objects of `raw` that have the right JSON type (the
    list sections, tools and webhooks, are read by `_outside`)."""
    common: dict[str, Any] = {}
    sections: dict[str, Raw] = {}
    for key, value in raw.items():
        kind = dict if key in _SECTIONS else list if key in _LISTS else _COMMON.get(key)
        if kind is None:
            errors[f"definition.{key}"] = f"unknown field {key!r}"
        elif value is None and (key in _SECTIONS or key in _LISTS):
            continue
        elif key in _LISTS:
            continue
        elif (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            errors[f"definition.{key}"] = f"must be {_TYPE_NAMES[kind]}"
        elif isinstance(value, dict):  # a section
            sections[key] = value
        else:
            common[key] = value
    return common, {key: sections[key] for key in _SECTIONS if key in sections}


def _check_common(common: dict[str, Any], errors: Errors) -> None:
    if common.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
        errors["definition.version"] = f"this server understands version {SCHEMA_VERSION}"
    if choose(common.get("engine", "script"), ENGINES) is None:
        errors["definition.engine"] = "engine must be 'script' or 'llm'"
    for key, (low, high) in _RANGES.items():
        if key in common and not low <= common[key] <= high:
            errors[f"definition.{key}"] = f"must be between {low} and {high}"
    for key in ("greeting", "farewell"):
        if len(common.get(key, "")) > MAX_TEXT:
            errors[f"definition.{key}"] = f"at most {MAX_TEXT} characters"


# --- llm, speech, transfer -------------------------------------------------------------------------

def _llm(check: FieldCheck, raw: Raw) -> LlmSection:
    check.only(raw, {"instructions", "base_url", "model", "api_key", "temperature", "max_tokens",
                     "timeout_s", "allowed_extensions", "reprompt", "apology"})
    extensions = check.text_list(raw, "allowed_extensions", limit=100)
    for j, extension in enumerate(extensions):
        if not EXTENSION.match(extension):
            check.at("allowed_extensions").at(j).fail("not a valid extension")
    return LlmSection(
        instructions=check.optional_text(raw, "instructions", DEFAULT_INSTRUCTIONS, limit=20000),
        base_url=check.url(raw, "base_url", DEFAULT_LLM_URL),
        model=check.text(raw, "model", limit=200, required=True),
        api_key=check.optional_text(raw, "api_key", "", limit=1000),
        temperature=check.optional_number(raw, "temperature", None, 0, 2),
        max_tokens=check.optional_whole(raw, "max_tokens", 300, 1, 8192),
        timeout_s=check.optional_number(raw, "timeout_s", 10, 0.1, 120),
        allowed_extensions=tuple(extensions),
        reprompt=check.optional_text(raw, "reprompt", DEFAULT_LLM_REPROMPT),
        apology=check.optional_text(raw, "apology", DEFAULT_APOLOGY),
    )


def _stt(check: FieldCheck, raw: Raw) -> SttEndpoint:
    check.only(raw, {"provider", "base_url", "model", "api_key"})
    provider = choose(raw.get("provider", "embedded"), STT_PROVIDERS)
    if provider is None:
        check.at("provider").fail("must be 'embedded' or 'openai' (any OpenAI-compatible endpoint)")
    base_url = check.url(raw, "base_url", None)
    if provider == "openai" and not base_url:
        check.at("base_url").fail("required for an OpenAI-compatible endpoint")
    return SttEndpoint(provider=provider or "embedded", base_url=base_url,
                       model=check.optional_text(raw, "model", "whisper-1"),
                       api_key=check.optional_text(raw, "api_key", "", limit=1000))


def _tts(check: FieldCheck, raw: Raw) -> TtsEndpoint:
    check.only(raw, {"provider", "base_url", "model", "voice", "api_key"})
    provider = choose(raw.get("provider", "embedded"), TTS_PROVIDERS)
    if provider is None:
        check.at("provider").fail("must be 'embedded', 'piper' or 'openai' (any OpenAI-compatible endpoint)")
    base_url = check.url(raw, "base_url", None)
    if provider == "openai" and not base_url:
        check.at("base_url").fail("required for an OpenAI-compatible endpoint")
    return TtsEndpoint(provider=provider or "embedded", base_url=base_url,
                       model=check.optional_text(raw, "model", "tts-1"),
                       voice=check.optional_text(raw, "voice", None, limit=100),
                       api_key=check.optional_text(raw, "api_key", "", limit=1000))


def _transfer(check: FieldCheck, raw: Raw) -> TransferPolicy:
    check.only(raw, {"mode", "timeout_s"})
    mode = choose(raw.get("mode", "blind"), TRANSFER_MODES)
    if mode is None:
        check.at("mode").fail("must be 'blind' (hand the caller to the dialplan) or 'attended' (ring, then bridge)")
    timeout = check.optional_whole(raw, "timeout_s", DEFAULT_TRANSFER_TIMEOUT_S, 1, 120)
    return TransferPolicy(mode=mode or "blind", timeout_s=timeout)
