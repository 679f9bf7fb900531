"""The typed workflow model: JSON → model → JSON round trips (the sample and fuzzed valid
definitions), immutability, field errors, secrets kept out of repr, and the entry points that
parse once (the runtime refuses an invalid definition by hanging up and saying why)."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.chat import TestChat
from agent.definition import (
    DefinitionInvalid,
    Intent,
    ScriptSection,
    State,
    WorkflowDefinition,
    map_secrets,
    parse_definition,
    read_definition,
    restore_secrets,
    validate_definition,
)
from agent.runtime import AgentResult, AgentRuntime
from agent.samples import front_desk
from tests.support.loopback import LoopbackCall


def exact(document: dict[str, Any]) -> str:
    """JSON text that tells 10 from 10.0 and keeps key order out of the comparison."""
    return json.dumps(document, sort_keys=True, allow_nan=False)


# --- valid definitions, generated in their stored (full) form -----------------------------------

text = st.text(max_size=30)
maybe_text = st.none() | text
names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
extensions = st.from_regex(r"[A-Za-z0-9*#+_.-]{1,12}", fullmatch=True)
keywords = st.lists(st.from_regex(r"[a-z]([a-z' ]{0,10}[a-z])?", fullmatch=True), max_size=4)
regexes = st.none() | st.sampled_from([r"\bopen(ing)?\b", "yes|yeah", r"\d+", "(?i)sales"])
keys = st.lists(st.sampled_from(list("0123456789*#")), max_size=4)
urls = st.sampled_from(["http://llm:8080/v1", "https://api.example.com/v1", "http://127.0.0.1:11434/v1"])
whole_or_float = st.integers(1, 100) | st.floats(0.1, 100, allow_nan=False)


@st.composite
def intents(draw: st.DrawFn, states: list[str]) -> dict[str, Any]:
    words, regex, dtmf = draw(keywords), draw(regexes), draw(keys)
    if not (words or regex or dtmf):
        dtmf = ["1"]
    action = draw(st.sampled_from(["goto", "transfer", "hang_up", "say"]))
    say = draw(st.text(min_size=1, max_size=20).filter(str.strip)) if action == "say" else draw(maybe_text)
    goto = draw(st.sampled_from(states)) if action == "goto" else draw(st.none() | st.sampled_from(states))
    extension = draw(extensions) if action == "transfer" else draw(st.none() | extensions)
    return {"name": draw(st.text(min_size=1, max_size=40).filter(str.strip)), "keywords": words, "regex": regex,
            "dtmf": dtmf, "say": say, "action": action, "goto": goto, "extension": extension}


@st.composite
def scripts(draw: st.DrawFn) -> dict[str, Any]:
    states = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    return {"start": draw(st.sampled_from(states)),
            "states": {name: {"say": draw(maybe_text), "reprompt": draw(maybe_text), "fallback": draw(maybe_text),
                              "intents": draw(st.lists(intents(states), max_size=3))} for name in states},
            "fallback": draw(maybe_text), "repeat_phrases": draw(st.lists(text, max_size=3))}


llms = st.fixed_dictionaries({
    "instructions": maybe_text, "base_url": st.none() | urls,
    "model": st.text(min_size=1, max_size=20).filter(str.strip),
    "api_key": maybe_text, "temperature": st.none() | st.floats(0, 2) | st.sampled_from([0, 1, 2]),
    "max_tokens": st.none() | st.integers(1, 8192), "timeout_s": st.none() | whole_or_float,
    "allowed_extensions": st.lists(extensions, max_size=3), "reprompt": maybe_text, "apology": maybe_text})
stts = st.one_of(
    st.fixed_dictionaries({"provider": st.just("openai"), "base_url": urls, "model": maybe_text,
                           "api_key": maybe_text}),
    st.fixed_dictionaries({"provider": st.just("embedded"), "base_url": st.none() | urls, "model": maybe_text,
                           "api_key": maybe_text}))
ttss = st.fixed_dictionaries({"provider": st.sampled_from(["embedded", "openai", "piper"]), "base_url": urls,
                              "model": maybe_text, "voice": maybe_text, "api_key": maybe_text})
transfers = st.fixed_dictionaries({"mode": st.sampled_from(["blind", "attended"]),
                                   "timeout_s": st.none() | st.integers(1, 120)})


ENGLISH = ["en", "en-GB", "en_US", "EN", "english", ""]
"""Languages the embedded speech-to-text takes (any other needs an stt endpoint: tested below)."""


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    engine = draw(st.sampled_from(["script", "llm"]))
    doc: dict[str, Any] = {
        "version": 1, "engine": engine, "greeting": draw(text), "language": draw(st.sampled_from(ENGLISH)),
        "voice": draw(st.sampled_from(["default", "heart"])), "barge_in": draw(st.booleans()),
        "end_of_speech_ms": draw(st.integers(100, 5000)), "no_input_reprompt_s": draw(st.integers(1, 300)),
        "no_input_hangup_s": draw(st.integers(1, 600)), "max_duration_s": draw(st.integers(10, 86400)),
        "recording": draw(st.booleans()), "farewell": draw(text)}
    sections = {"script": scripts(), "llm": llms, "stt": stts, "tts": ttss, "transfer": transfers}
    for name, strategy in sections.items():
        if (name == "llm" and engine == "llm") or draw(st.booleans()):
            doc[name] = draw(strategy)
    return doc


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents())
def test_fuzzed_valid_definitions_round_trip(doc: dict[str, Any]) -> None:
    definition = parse_definition(doc)
    assert exact(definition.to_json()) == exact(doc)
    assert parse_definition(definition.to_json()) == definition
    assert validate_definition(doc) == (doc, {})


def test_the_sample_round_trips_and_fills_in_defaults() -> None:
    raw = front_desk()
    definition = parse_definition(raw)
    stored = definition.to_json()
    assert exact(stored) == exact(validate_definition(raw)[0] or {})
    assert parse_definition(stored) == definition
    assert definition.script is not None and definition.script.start == "menu"
    menu = definition.script.state("menu")
    assert menu is not None and [i.name for i in menu.intents] == ["sales", "support", "goodbye"]
    assert menu.intents[0] == Intent("sales", "transfer", keywords=menu.intents[0].keywords, dtmf=("1",),
                                     say="Connecting you to sales.", extension="7000")
    assert stored["script"]["states"]["menu"]["intents"][2] == {
        "name": "goodbye", "keywords": ["goodbye", "good bye", "bye", "that's all", "no thanks"], "regex": None,
        "dtmf": [], "say": "", "action": "hang_up", "goto": None, "extension": None}


def test_nulls_the_stored_format_allows_survive_the_round_trip() -> None:
    doc = {"engine": "llm", "llm": {"model": "m", "instructions": None, "timeout_s": None, "max_tokens": None},
           "script": {"states": {"a": {"say": None, "intents": []}}, "fallback": None},
           "transfer": {"mode": "attended", "timeout_s": None}}
    stored = parse_definition(doc).to_json()
    assert stored["llm"]["instructions"] is None and stored["llm"]["timeout_s"] is None
    assert stored["script"]["fallback"] is None and stored["script"]["states"]["a"]["say"] is None
    assert stored["transfer"] == {"mode": "attended", "timeout_s": None}
    assert parse_definition(stored).to_json() == stored


def test_numbers_keep_their_json_type() -> None:
    stored = parse_definition({"engine": "llm", "llm": {"model": "m", "timeout_s": 10, "temperature": 0.5}}).to_json()
    assert json.dumps(stored["llm"]["timeout_s"]) == "10" and json.dumps(stored["llm"]["temperature"]) == "0.5"


def test_the_model_is_frozen_and_hashable() -> None:
    definition = parse_definition(front_desk())
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.greeting = "changed"  # type: ignore[misc]
    assert definition.script is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.script.states[0].intents[0].extension = "9999"  # type: ignore[misc]
    assert isinstance(definition.script.states, tuple) and isinstance(definition.script.states[0].intents, tuple)
    assert {definition: "ok"}[parse_definition(front_desk())] == "ok"


def test_defaults_of_the_model_are_the_defaults_of_the_json() -> None:
    assert parse_definition({}) == WorkflowDefinition()
    assert parse_definition({"script": {"states": {"main": {}}}}).script == ScriptSection("main", (State("main"),))


def test_field_errors_are_keyed_by_path_with_their_messages() -> None:
    raw = {"colour": 1, "barge_in": "yes", "end_of_speech_ms": 50,
           "script": {"states": {"menu": {"intents": [{"name": "a", "dtmf": ["12"], "action": "hang_up"}, 7]}},
                      "start": "nowhere"},
           "llm": {"model": "m", "temperature": 3, "allowed_extensions": ["70 00"]},
           "transfer": {"mode": "warm"}}
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(raw)
    assert caught.value.errors == {
        "definition.colour": "unknown field 'colour'",
        "definition.barge_in": "must be true or false",
        "definition.end_of_speech_ms": "must be between 100 and 5000",
        "definition.script.states.menu.intents.0.dtmf.0": "one key: 0-9, * or #",
        "definition.script.states.menu.intents.1": "must be an object",
        "definition.script.start": "must name one of the states",
        "definition.llm.allowed_extensions.0": "not a valid extension",
        "definition.llm.temperature": "must be between 0 and 2",
        "definition.transfer.mode":
            "must be 'blind' (hand the caller to the dialplan) or 'attended' (ring, then bridge)",
    }
    assert caught.value.error_id == "definition-invalid" and "definition.colour: unknown field" in str(caught.value)
    assert read_definition(raw) == (None, caught.value.errors)
    assert read_definition([1]) == (None, {"definition": "the definition must be a JSON object"})


def test_a_language_other_than_english_needs_an_stt_endpoint() -> None:
    """The embedded speech-to-text is Whisper tiny.en: a French workflow on it would hear French as
    English words. Refused with a field error, accepted with an HTTP endpoint (which gets it)."""
    for english in ("en", "en-GB", "en_us", "English", "eng", ""):
        assert read_definition({"language": english})[1] == {}, english
    for other in ("fr", "de-DE", "es", "enx"):
        assert set(read_definition({"language": other})[1]) == {"definition.language"}, other
        assert "English only" in read_definition({"language": other, "stt": {"provider": "embedded"}})[1][
            "definition.language"]
        endpoint = {"provider": "openai", "base_url": "http://stt.example/v1"}
        assert read_definition({"language": other, "stt": endpoint})[1] == {}


def test_secrets_stay_out_of_repr() -> None:
    definition = parse_definition({"engine": "llm", "llm": {"model": "m", "api_key": "sk-live-123"},
                                   "stt": {"provider": "openai", "base_url": "http://stt/v1", "api_key": "sk-stt"},
                                   "tts": {"api_key": "sk-tts"}})
    assert definition.llm is not None and definition.llm.api_key == "sk-live-123"
    assert not {"sk-live-123", "sk-stt", "sk-tts"} & set(repr(definition).replace("'", " ").split())
    assert "sk-" not in repr(definition)


def test_secret_paths_reach_into_lists_and_objects() -> None:
    """`*` covers every list item / object value (sections such as tools with headers)."""
    paths = ("tools.*.headers.*",)
    doc = {"tools": [{"headers": {"Authorization": "Bearer a", "X-Key": ""}}, {"headers": {"X": "b"}}]}
    sealed = map_secrets(doc, str.upper, paths)
    assert sealed == {"tools": [{"headers": {"Authorization": "BEARER A", "X-Key": ""}}, {"headers": {"X": "B"}}]}
    assert doc["tools"][0]["headers"]["Authorization"] == "Bearer a"  # a copy
    masked = map_secrets(sealed, lambda _: "********", paths)
    masked["tools"][1]["headers"]["X"] = "new"
    assert restore_secrets(masked, sealed, paths) == {
        "tools": [{"headers": {"Authorization": "BEARER A", "X-Key": ""}}, {"headers": {"X": "new"}}]}
    assert restore_secrets(masked, None, paths)["tools"][0]["headers"]["Authorization"] == ""


async def test_test_chat_takes_the_stored_json_or_the_model() -> None:
    from_json, from_model = TestChat(front_desk()), TestChat(parse_definition(front_desk()))
    assert (await from_json.start()).says == (await from_model.start()).says
    assert (await from_json.press("2")).actions == (await from_model.press("2")).actions == [
        {"action": "transfer", "extension": "7001"}]
    with pytest.raises(DefinitionInvalid):
        TestChat({"engine": "llm"})


async def test_the_runtime_refuses_an_invalid_definition_by_hanging_up_and_saying_why() -> None:
    pool = ThreadPoolExecutor(1)
    runtime = AgentRuntime(workers=1, stt=None, tts=None, stt_pool=pool, tts_pool=pool)
    call, events = LoopbackCall(), []

    async def sink(kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
        events.append((kind, text, data))

    try:
        result = await asyncio.wait_for(runtime.run(call, {"engine": "magic"}, {}, sink), 5)
    finally:
        await call.aclose()
        pool.shutdown()
    assert result == AgentResult("failed", "invalid workflow definition: definition.engine: engine must be "
                                           "'script' or 'llm'")
    assert call.hangup_reason == "invalid workflow definition"
    assert events == [("error", "definition-invalid: definition.engine: engine must be 'script' or 'llm'",
                       {"error_id": "definition-invalid"})]
