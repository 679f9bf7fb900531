"""Reading a JSON workflow definition into a `WorkflowDefinition`, with every field error.

Unknown keys are refused everywhere so a typo does not silently do nothing. A section that is
absent or null is None in the model; `definition.<section>` must otherwise be an object.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.definition.check import MAX_TEXT, Errors, FieldCheck, Raw, choose
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
    STT_PROVIDERS,
    TRANSFER_MODES,
    TTS_PROVIDERS,
    Intent,
    LlmSection,
    ScriptSection,
    State,
    SttEndpoint,
    TransferPolicy,
    TtsEndpoint,
    WorkflowDefinition,
)
from agent.errors import DefinitionInvalid

_COMMON: dict[str, type] = {
    "version": int, "engine": str, "greeting": str, "language": str, "voice": str, "barge_in": bool,
    "end_of_speech_ms": int, "no_input_reprompt_s": int, "no_input_hangup_s": int, "max_duration_s": int,
    "recording": bool, "farewell": str,
}
_SECTIONS = ("script", "llm", "stt", "tts", "transfer")
_RANGES = {
    "end_of_speech_ms": (100, 5000),
    "no_input_reprompt_s": (1, 300),
    "no_input_hangup_s": (1, 600),
    "max_duration_s": (10, 86400),
}
_TYPE_NAMES = {int: "a whole number", str: "text", bool: "true or false", dict: "an object"}

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_ENGLISH = re.compile(r"^\s*(?:|en(?:[-_][A-Za-z0-9]{1,8})*|eng|english)\s*$", re.IGNORECASE)
"""Languages the embedded speech-to-text (Whisper tiny.en) understands: English, or unsaid."""
_EXTENSION = re.compile(r"^[A-Za-z0-9*#+_.-]{1,40}$")
_DTMF = re.compile(r"^[0-9*#]$")
# a group holding + * or {n,} that is itself followed by + * or {n,}: catastrophic backtracking
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")


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
    readers = {"script": _script, "llm": _llm, "stt": _stt, "tts": _tts, "transfer": _transfer}
    parsed: dict[str, Any] = {key: readers[key](FieldCheck(f"definition.{key}", errors), value)
                              for key, value in sections.items()}
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


def _typed_fields(raw: Raw, errors: Errors) -> tuple[dict[str, Any], dict[str, Raw]]:
    """The common fields and the section objects of `raw` that have the right JSON type."""
    common: dict[str, Any] = {}
    sections: dict[str, Raw] = {}
    for key, value in raw.items():
        kind = dict if key in _SECTIONS else _COMMON.get(key)
        if kind is None:
            errors[f"definition.{key}"] = f"unknown field {key!r}"
        elif value is None and key in _SECTIONS:
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


# --- script ----------------------------------------------------------------------------------------

def _script(check: FieldCheck, raw: Raw) -> ScriptSection:
    check.only(raw, {"start", "states", "fallback", "repeat_phrases"})
    states_raw = raw.get("states")
    if not isinstance(states_raw, Mapping) or not states_raw:
        check.at("states").fail("needs at least one state, e.g. {\"menu\": {\"intents\": []}}")
        states_raw = {}
    if len(states_raw) > 100:
        check.at("states").fail("at most 100 states")
    names = set(states_raw)
    states: list[State] = []
    for name, state in states_raw.items():
        state_check = check.at("states").at(name)
        if not _NAME.match(str(name)):
            state_check.fail("a state name has 1-40 letters, digits, '-' or '_'")
        if not isinstance(state, Mapping):
            state_check.fail("must be an object")
            continue
        states.append(_state(state_check, str(name), state, names))
    start = raw.get("start", next(iter(states_raw), ""))
    if not isinstance(start, str) or (states_raw and start not in states_raw):
        check.at("start").fail("must name one of the states")
    phrases = check.text_list(raw, "repeat_phrases") if "repeat_phrases" in raw else list(DEFAULT_REPEAT_PHRASES)
    return ScriptSection(start=str(start), states=tuple(states), fallback=check.text(raw, "fallback", DEFAULT_FALLBACK),
                         repeat_phrases=tuple(phrases))


def _state(check: FieldCheck, name: str, raw: Raw, names: set[str]) -> State:
    check.only(raw, {"say", "reprompt", "fallback", "intents"})
    intents_raw = raw.get("intents", [])
    intents: list[Intent] = []
    if not isinstance(intents_raw, list):
        check.at("intents").fail("must be a list")
        intents_raw = []
    if len(intents_raw) > 50:
        check.at("intents").fail("at most 50 intents")
    for i, intent in enumerate(intents_raw):
        if not isinstance(intent, Mapping):
            check.at("intents").at(i).fail("must be an object")
            continue
        intents.append(_intent(check.at("intents").at(i), intent, names))
    return State(name, say=check.text(raw, "say"), reprompt=check.text(raw, "reprompt", None),
                 fallback=check.text(raw, "fallback", None), intents=tuple(intents))


def _intent(check: FieldCheck, raw: Raw, names: set[str]) -> Intent:
    check.only(raw, {"name", "keywords", "regex", "dtmf", "say", "action", "goto", "extension"})
    name = check.required_text(raw, "name", limit=40)
    keywords = [k.strip() for k in check.text_list(raw, "keywords")]
    for j, keyword in enumerate(keywords):
        if not keyword or len(keyword) > 100:
            check.at("keywords").at(j).fail("a keyword has 1-100 characters")
    regex = check.text(raw, "regex", None, limit=500)
    if regex:
        _check_regex(check.at("regex"), regex)
    dtmf = check.text_list(raw, "dtmf", limit=12)
    for j, key in enumerate(dtmf):
        if not _DTMF.match(key):
            check.at("dtmf").at(j).fail("one key: 0-9, * or #")
    if not (keywords or regex or dtmf):
        check.fail("an intent needs keywords, a regex or dtmf keys to match")
    goto = check.text(raw, "goto", None, limit=40)
    action = choose(raw.get("action", "goto" if goto else None), ACTIONS)
    say = check.text(raw, "say")
    extension = check.text(raw, "extension", None, limit=40)
    if action is None:
        check.at("action").fail("must be one of goto, transfer, hang_up, say (or give goto)")
    elif action == "goto" and (not goto or goto not in names):
        check.at("goto").fail("must name one of the states")
    elif action == "transfer" and (not extension or not _EXTENSION.match(extension)):
        check.at("extension").fail("a transfer needs an extension (digits, letters, * # + _ . -)")
    elif action == "say" and not (say or "").strip():
        check.at("say").fail("say-and-continue needs something to say")
    return Intent(name, action or "say", keywords=tuple(keywords), regex=regex, dtmf=tuple(dtmf), say=say,
                  goto=goto, extension=extension)


def _check_regex(check: FieldCheck, regex: str) -> None:
    try:
        re.compile(regex)
    except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}: OverflowError
        check.fail(f"not a valid regular expression: {exc}")
    else:
        if _NESTED_REPEAT.search(regex):
            check.fail("a repeated group that itself repeats, like (a+)+, can take exponential "
                       "time; rewrite it without nesting")


# --- llm, speech, transfer -------------------------------------------------------------------------

def _llm(check: FieldCheck, raw: Raw) -> LlmSection:
    check.only(raw, {"instructions", "base_url", "model", "api_key", "temperature", "max_tokens",
                     "timeout_s", "allowed_extensions", "reprompt", "apology"})
    extensions = check.text_list(raw, "allowed_extensions", limit=100)
    for j, extension in enumerate(extensions):
        if not _EXTENSION.match(extension):
            check.at("allowed_extensions").at(j).fail("not a valid extension")
    return LlmSection(
        instructions=check.text(raw, "instructions", DEFAULT_INSTRUCTIONS, limit=20000),
        base_url=check.url(raw, "base_url", DEFAULT_LLM_URL),
        model=check.required_text(raw, "model", limit=200),
        api_key=check.text(raw, "api_key", "", limit=1000),
        temperature=check.number(raw, "temperature", None, 0, 2),
        max_tokens=check.whole(raw, "max_tokens", 300, 1, 8192),
        timeout_s=check.number(raw, "timeout_s", 10, 0.1, 120),
        allowed_extensions=tuple(extensions),
        reprompt=check.text(raw, "reprompt", DEFAULT_LLM_REPROMPT),
        apology=check.text(raw, "apology", DEFAULT_APOLOGY),
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
                       model=check.text(raw, "model", "whisper-1"), api_key=check.text(raw, "api_key", "", limit=1000))


def _tts(check: FieldCheck, raw: Raw) -> TtsEndpoint:
    check.only(raw, {"provider", "base_url", "model", "voice", "api_key"})
    provider = choose(raw.get("provider", "embedded"), TTS_PROVIDERS)
    if provider is None:
        check.at("provider").fail("must be 'embedded', 'piper' or 'openai' (any OpenAI-compatible endpoint)")
    base_url = check.url(raw, "base_url", None)
    if provider == "openai" and not base_url:
        check.at("base_url").fail("required for an OpenAI-compatible endpoint")
    return TtsEndpoint(provider=provider or "embedded", base_url=base_url, model=check.text(raw, "model", "tts-1"),
                       voice=check.text(raw, "voice", None, limit=100),
                       api_key=check.text(raw, "api_key", "", limit=1000))


def _transfer(check: FieldCheck, raw: Raw) -> TransferPolicy:
    check.only(raw, {"mode", "timeout_s"})
    mode = choose(raw.get("mode", "blind"), TRANSFER_MODES)
    if mode is None:
        check.at("mode").fail("must be 'blind' (hand the caller to the dialplan) or 'attended' (ring, then bridge)")
    timeout = check.whole(raw, "timeout_s", DEFAULT_TRANSFER_TIMEOUT_S, 1, 120)
    return TransferPolicy(mode=mode or "blind", timeout_s=timeout)
