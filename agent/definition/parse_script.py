"""Reading the `script` section: states, their intents, and the steps a state may take by itself
(capture the caller's answer into a variable, call one of the workflow's tools).

    "ask_day": {"say": "Which day would you like?",
                "capture": {"name": "day", "kind": "date"},
                "next": "book", "failure": "operator", "retries": 2,
                "retry": "Sorry, which day? You can also key it in as day, month, year and hash."},
    "book":    {"say": "", "tool": {"name": "book_table", "arguments": {"date": "{{day}}", "party": 2},
                                    "save": {"reference": "booking.reference"}},
                "next": "booked", "failure": "operator"}

`next`, `failure`, `retries` and `retry` belong to a state with a `capture` or a `tool` and to no
other. Whether a tool step names one of the definition's tools (with its required arguments) is
checked by `check_tool_steps` once both sections are read.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

from agent.capture import parse_capture
from agent.definition.model import (
    ACTIONS,
    DEFAULT_FALLBACK,
    DEFAULT_REPEAT_PHRASES,
    DEFAULT_RETRIES,
    ArgumentValue,
    Intent,
    ScriptSection,
    State,
    ToolStep,
)
from agent.fields import IDENTIFIER, FieldCheck, Raw, choose, regex_problem
from agent.tool_definition import ToolDefinition

NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}\Z")
EXTENSION = re.compile(r"^[A-Za-z0-9*#+_.-]{1,40}\Z")
_DTMF = re.compile(r"^[0-9*#]\Z")
_PATH = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,9}\Z")
_STEP_KEYS = ("next", "failure", "retries", "retry")
MAX_ARGUMENTS = 20


def read_script(check: FieldCheck, raw: Raw) -> ScriptSection:
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
        if not NAME.match(str(name)):
            state_check.fail("a state name has 1-40 letters, digits, '-' or '_'")
        if not isinstance(state, Mapping):
            state_check.fail("must be an object")
            continue
        states.append(_state(state_check, str(name), state, names))
    start = raw.get("start", next(iter(states_raw), ""))
    if not isinstance(start, str) or (states_raw and start not in states_raw):
        check.at("start").fail("must name one of the states")
    phrases = check.text_list(raw, "repeat_phrases") if "repeat_phrases" in raw else list(DEFAULT_REPEAT_PHRASES)
    return ScriptSection(start=str(start), states=tuple(states),
                         fallback=check.optional_text(raw, "fallback", DEFAULT_FALLBACK), repeat_phrases=tuple(phrases))


def _state(check: FieldCheck, name: str, raw: Raw, names: set[str]) -> State:
    check.only(raw, {"say", "reprompt", "fallback", "intents", "capture", "tool", *_STEP_KEYS})
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
    state = State(name, say=check.optional_text(raw, "say"), reprompt=check.optional_text(raw, "reprompt", None),
                  fallback=check.optional_text(raw, "fallback", None), intents=tuple(intents))
    return _with_step(check, state, raw, names)


def _with_step(check: FieldCheck, state: State, raw: Raw, names: set[str]) -> State:
    """The state with its capture or tool step and where each leads."""
    capture = None
    if raw.get("capture") is not None:
        capture, errors = parse_capture(raw["capture"], f"{check.path}.capture")
        for key, message in errors.items():
            check.errors.setdefault(key, message)
    tool = _tool_step(check.at("tool"), raw["tool"]) if raw.get("tool") is not None else None
    if capture is None and tool is None:
        for key in _STEP_KEYS:
            if key in raw and raw[key] is not None:
                check.at(key).fail("applies only to a state with a capture or a tool")
        return state
    if "capture" in raw and "tool" in raw and raw["capture"] is not None and raw["tool"] is not None:
        check.at("tool").fail("a state either captures an answer or calls a tool, not both")
    if tool is not None and state.intents:
        check.at("intents").fail("a tool state moves on by itself: put the intents in its next state")
    target = check.optional_text(raw, "next", None, limit=40)
    if not target or target not in names:
        check.at("next").fail("must name the state that follows (a capture or a tool needs one)")
    failure = check.optional_text(raw, "failure", None, limit=40)
    if failure and failure not in names:
        check.at("failure").fail("must name one of the states (or be null: go to next)")
    return State(state.name, state.say, state.reprompt, state.fallback, state.intents, capture=capture, tool=tool,
                 next=target, failure=failure or None, retries=check.whole(raw, "retries", DEFAULT_RETRIES, 0, 5),
                 retry=check.optional_text(raw, "retry", None))


def _tool_step(check: FieldCheck, raw: object) -> ToolStep | None:
    section = check.obj(raw)
    if section is None:
        return None
    check.only(section, {"name", "arguments", "save"})
    name = check.text(section, "name", limit=64, required=True)
    arguments: list[tuple[str, ArgumentValue]] = []
    given = section.get("arguments", {})
    if not isinstance(given, Mapping) or len(given) > MAX_ARGUMENTS:
        check.at("arguments").fail(f"must be an object of at most {MAX_ARGUMENTS} named values")
        given = {}
    for key, value in given.items():
        if not IDENTIFIER.match(key):
            check.at("arguments").at(key).fail("an argument name has letters, digits or '_'")
        elif isinstance(value, str) and len(value) <= 2000 or isinstance(value, bool) \
                or isinstance(value, (int, float)) and math.isfinite(value):
            arguments.append((key, value))
        else:
            check.at("arguments").at(key).fail("must be text (may hold {{variables}}), a number or true/false")
    save: list[tuple[str, str]] = []
    wanted = section.get("save", {})
    if not isinstance(wanted, Mapping) or len(wanted) > MAX_ARGUMENTS:
        check.at("save").fail(f"must be an object of at most {MAX_ARGUMENTS} variable: path pairs")
        wanted = {}
    for variable, path in wanted.items():
        if not IDENTIFIER.match(variable):
            check.at("save").at(variable).fail("a variable name has letters, digits or '_'")
        elif not isinstance(path, str) or not _PATH.match(path):
            check.at("save").at(variable).fail("must be a path in the JSON answer, like booking.reference or 0.id")
        else:
            save.append((variable, path))
    return ToolStep(name, tuple(arguments), tuple(save))


def check_tool_steps(check: FieldCheck, script: ScriptSection, tools: tuple[ToolDefinition, ...]) -> None:
    """Each tool step names a tool of the definition and gives its required arguments, and no others."""
    known = {tool.name: tool for tool in tools}
    for state in script.states:
        if state.tool is None:
            continue
        step_check = check.at("states").at(state.name).at("tool")
        tool = known.get(state.tool.name)
        if tool is None:
            step_check.at("name").fail("must name one of the workflow's tools")
            continue
        given = {name for name, _ in state.tool.arguments}
        for name in given - set(tool.parameters.names()):
            step_check.at("arguments").at(name).fail(f"{tool.name} has no parameter {name!r}")
        missing = [name for name in tool.parameters.required if name not in given]
        if missing:
            step_check.at("arguments").fail(f"{tool.name} needs {', '.join(missing)}")


def _intent(check: FieldCheck, raw: Raw, names: set[str]) -> Intent:
    check.only(raw, {"name", "keywords", "regex", "dtmf", "say", "action", "goto", "extension"})
    name = check.text(raw, "name", limit=40, required=True)
    keywords = [k.strip() for k in check.text_list(raw, "keywords")]
    for j, keyword in enumerate(keywords):
        if not keyword or len(keyword) > 100:
            check.at("keywords").at(j).fail("a keyword has 1-100 characters")
    regex = check.optional_text(raw, "regex", None, limit=500)
    if regex and (problem := regex_problem(regex)):
        check.at("regex").fail(problem)
    dtmf = check.text_list(raw, "dtmf", limit=12)
    for j, key in enumerate(dtmf):
        if not _DTMF.match(key):
            check.at("dtmf").at(j).fail("one key: 0-9, * or #")
    if not (keywords or regex or dtmf):
        check.fail("an intent needs keywords, a regex or dtmf keys to match")
    goto = check.optional_text(raw, "goto", None, limit=40)
    action = choose(raw.get("action", "goto" if goto else None), ACTIONS)
    say = check.optional_text(raw, "say")
    extension = check.optional_text(raw, "extension", None, limit=40)
    if action is None:
        check.at("action").fail("must be one of goto, transfer, hang_up, say (or give goto)")
    elif action == "goto" and (not goto or goto not in names):
        check.at("goto").fail("must name one of the states")
    elif action == "transfer" and (not extension or not EXTENSION.match(extension)):
        check.at("extension").fail("a transfer needs an extension (digits, letters, * # + _ . -)")
    elif action == "say" and not (say or "").strip():
        check.at("say").fail("say-and-continue needs something to say")
    return Intent(name, action or "say", keywords=tuple(keywords), regex=regex, dtmf=tuple(dtmf), say=say,
                  goto=goto, extension=extension)
