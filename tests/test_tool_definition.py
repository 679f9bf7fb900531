"""The `tools` section of a workflow definition: frozen dataclasses, field errors, secrets; fuzzed
definitions and arguments never raise anything but field errors / ToolArgumentsError."""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.definition import SECRET_MASK as DEFINITION_MASK
from agent.errors import ToolArgumentsError
from agent.fields import FieldCheck
from agent.tool_definition import (
    SECRET_MASK,
    Header,
    map_tool_secrets,
    parse_tools,
    redact_tool_secrets,
    restore_tool_secrets,
)
from agent.tool_schema import Parameters, parse_parameters

BOOK: dict[str, Any] = {
    "name": "book_table",
    "description": "Book a table for the caller",
    "parameters": {"type": "object", "properties": {
        "date": {"type": "string", "format": "date", "description": "YYYY-MM-DD"},
        "party": {"type": "integer", "minimum": 1, "maximum": 12},
        "room": {"type": "string", "enum": ["small", "large"]},
        "vip": {"type": "boolean"}}, "required": ["date", "party"]},
    "method": "post",
    "url": "https://crm.example.com/api/bookings?caller={{caller_number}}",
    "headers": [{"name": "Authorization", "value": "Bearer s3cret", "secret": True},
                {"name": "X-Caller", "value": "{{caller_number}}"}],
    "timeout_s": 4,
    "filler": "One moment while I check the book.",
}


def tool(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(BOOK)), **changes}


def errors_of(raw: Any) -> dict[str, str]:
    return parse_tools(raw)[1]


def test_a_valid_tool_becomes_a_frozen_dataclass() -> None:
    tools, errors = parse_tools([BOOK])
    assert errors == {}
    (book,) = tools
    assert (book.name, book.method, book.timeout_s, book.apology) == ("book_table", "POST", 4.0,
                                                                       "Sorry, I couldn't do that just now.")
    assert book.headers == (Header("Authorization", "Bearer s3cret", True), Header("X-Caller", "{{caller_number}}"))
    assert book.parameters.names() == ("date", "party", "room", "vip")
    function = book.function_tool()["function"]
    assert function["name"] == "book_table"
    assert function["parameters"]["required"] == ["date", "party"]
    assert function["parameters"]["properties"]["party"] == {"type": "integer", "minimum": 1, "maximum": 12}
    assert parse_tools([book.to_json()]) == (tools, {})  # the canonical JSON reads back the same


def test_no_tools() -> None:
    assert parse_tools(None) == ((), {})
    assert parse_tools([]) == ((), {})


@pytest.mark.parametrize(("raw", "expected"), [
    ("nope", {"definition.tools": "must be a list of tools"}),
    ([7], {"definition.tools.0": "must be an object"}),
    ([tool(name="")], {"definition.tools.0.name": "required"}),
    ([tool(name="9lives")], {"definition.tools.0.name": "a tool name has 1-64 letters, digits, '_' or '-' and "
                                                        "starts with a letter"}),
    ([tool(name="end_call")], {"definition.tools.0.name": "end_call is built in; choose another name"}),
    ([BOOK, BOOK], {"definition.tools.1.name": "another tool has this name"}),
    ([tool(method="TRACE")], {"definition.tools.0.method": "must be one of GET, POST, PUT, PATCH, DELETE"}),
    ([tool(timeout_s=60)], {"definition.tools.0.timeout_s": "must be between 0.5 and 30"}),
    ([tool(timeout_s="5")], {"definition.tools.0.timeout_s": "must be a number"}),
    ([tool(extra=1)], {"definition.tools.0.extra": "unknown field 'extra'"}),
    ([tool(description="")], {"definition.tools.0.description": "required"}),
    ([tool(headers=[{"name": "Host", "value": "x"}])], {"definition.tools.0.headers.0.name": "Host is set by "
                                                                                            "Switchboard"}),
    ([tool(headers=[{"name": "Bad Name", "value": "x"}])],
     {"definition.tools.0.headers.0.name": "a header name has letters, digits and - (no spaces or colons)"}),
    ([tool(headers=[{"name": "X-A", "value": "a\r\nInjected: 1"}])],
     {"definition.tools.0.headers.0.value": "must be one line of ASCII text"}),
    ([tool(headers=[{"name": "X-A", "value": "x", "secret": "yes"}])],
     {"definition.tools.0.headers.0.secret": "must be true or false"}),
    ([tool(parameters={"type": "array"})], {"definition.tools.0.parameters.type": 'parameters are an object: '
                                                                                   '"type": "object"'}),
    ([tool(parameters={"properties": {"a b": {"type": "string"}}})],
     {"definition.tools.0.parameters.properties.a b": "a parameter name has 1-64 letters, digits or '_' and does "
                                                      "not start with a digit"}),
    ([tool(parameters={"properties": {"a": {"type": "object"}}})],
     {"definition.tools.0.parameters.properties.a.type": "must be one of string, integer, number, boolean"}),
    ([tool(parameters={"properties": {"a": {"type": "integer", "pattern": "x"}}})],
     {"definition.tools.0.parameters.properties.a.pattern": "does not apply to a integer"}),
    ([tool(parameters={"properties": {"a": {"type": "string", "pattern": "(a+)+$"}}})],
     {"definition.tools.0.parameters.properties.a.pattern": "a repeated group that itself repeats, like (a+)+, can "
                                                            "take exponential time; rewrite it without nesting"}),
    ([tool(parameters={"properties": {"a": {"type": "string", "enum": [1]}}})],
     {"definition.tools.0.parameters.properties.a.enum.0": "must be a string"}),
    ([tool(parameters={"properties": {}, "required": ["x"]})],
     {"definition.tools.0.parameters.required.0": "must name one of the properties"}),
    ([tool(parameters={"properties": {}, "additionalProperties": True})],
     {"definition.tools.0.parameters.additionalProperties": "may only be false"}),
])
def test_field_errors(raw: Any, expected: dict[str, str]) -> None:
    assert errors_of(raw) == expected


@pytest.mark.parametrize("url", [
    "https://{{host}}/x", "https://crm.{{x}}.com/", "http://user:pw@crm.example.com/", "ftp://crm.example.com/",
    "https://crm.example.com/#frag", "crm.example.com/x", "https://crm.example.com/{{bad name}}",
    "https://crm.example.com/{{a}", "https://crm.example.com:99999/", "https://crm.example.com/a b", "", 7,
])
def test_the_url_host_is_fixed(url: Any) -> None:
    assert list(errors_of([tool(url=url)])) == ["definition.tools.0.url"]


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080/api/{{id}}/x?y={{ y }}&z=1", "https://[fd00::1]/x",
                                 "https://crm.example.com", "http://crm.lan?q={{q}}"])
def test_urls_with_placeholders_in_path_and_query(url: str) -> None:
    assert errors_of([tool(url=url)]) == {}


def test_secret_headers_are_encrypted_masked_and_restored() -> None:
    stored = map_tool_secrets([BOOK], lambda v: "enc:" + v)
    assert stored[0]["headers"][0]["value"] == "enc:Bearer s3cret"
    assert stored[0]["headers"][1]["value"] == "{{caller_number}}"
    shown = redact_tool_secrets(stored)
    assert shown[0]["headers"][0]["value"] == SECRET_MASK == DEFINITION_MASK
    assert "s3cret" not in json.dumps(shown)
    edited = json.loads(json.dumps(shown))
    edited.insert(0, tool(name="other", headers=[{"name": "Authorization", "value": SECRET_MASK, "secret": True}]))
    restored = restore_tool_secrets(edited, stored)
    assert restored[1]["headers"][0]["value"] == "enc:Bearer s3cret"  # matched by name
    assert restored[0]["headers"][0]["value"] == ""  # a new tool: nothing to keep
    assert map_tool_secrets(restored, lambda v: v.removeprefix("enc:"))[1]["headers"][0]["value"] \
        == "Bearer s3cret"


def params(schema: dict[str, Any]) -> Parameters:
    errors: dict[str, str] = {}
    parsed = parse_parameters(FieldCheck("p", errors), schema)
    assert errors == {}
    return parsed


def test_arguments_are_checked_against_the_parameters() -> None:
    book = params(BOOK["parameters"])
    assert book.validate('{"date": "2026-03-05", "party": 4.0}') == {"date": "2026-03-05", "party": 4}
    assert book.validate({"date": "2026-03-05", "party": 2, "room": "large", "vip": True})["vip"] is True
    problems = {
        '{"party": 2}': "missing required argument 'date'",
        '{"date": "5 March", "party": 2}': "argument 'date' must be a date like 2026-03-05",
        '{"date": "2026-02-30", "party": 2}': "argument 'date' must be a date like 2026-03-05",
        '{"date": "2026-03-05", "party": 0}': "argument 'party' must be at least 1",
        '{"date": "2026-03-05", "party": 2.5}': "argument 'party' must be a whole number",
        '{"date": "2026-03-05", "party": true}': "argument 'party' must be a number",
        '{"date": "2026-03-05", "party": 2, "room": "huge"}': 'argument \'room\' must be one of "small", "large"',
        '{"date": "2026-03-05", "party": 2, "when": 1}': "unknown argument 'when'",
        '{"date": "\\ud800", "party": 2}': "argument 'date' must be text",
        "[1]": "the arguments must be a JSON object",
        "{": "the arguments are not JSON",
    }
    for raw, message in problems.items():
        with pytest.raises(ToolArgumentsError, match=message.replace("(", r"\(").replace("[", r"\[")) as refused:
            book.validate(raw)
        assert refused.value.error_id == "tool-bad-arguments"
    assert params({"properties": {}}).validate("") == {}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=20)
FIELD_VALUES = st.one_of(JSON, st.sampled_from(["GET", "POST", "book", "https://x.example/{{a}}", "{{", "object",
                                                "string", "integer", "date", "(a+)+", "Authorization"]))
TOOL_LIKE = st.fixed_dictionaries({}, optional={
    key: FIELD_VALUES for key in ("name", "description", "method", "url", "timeout_s", "filler", "apology")
} | {"headers": st.lists(st.dictionaries(st.sampled_from(["name", "value", "secret", "x"]), FIELD_VALUES), max_size=3),
     "parameters": st.fixed_dictionaries({}, optional={
         "type": FIELD_VALUES, "required": st.lists(st.text(max_size=5), max_size=3) | FIELD_VALUES,
         "properties": st.dictionaries(st.text(max_size=8), st.dictionaries(
             st.sampled_from(["type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "format",
                              "description", "x"]), FIELD_VALUES, max_size=4), max_size=4)})})
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(JSON, st.lists(st.one_of(TOOL_LIKE, JSON), max_size=4)))
def test_fuzzed_definitions_only_give_field_errors(raw: Any) -> None:
    tools, errors = parse_tools(raw)
    assert all(key.startswith("definition.tools") and isinstance(message, str) for key, message in errors.items())
    for parsed in tools:  # a tool that parsed reads back the same from its canonical JSON
        assert parse_tools([parsed.to_json()]) == ((parsed,), {})
    redact_tool_secrets(raw)
    restore_tool_secrets(raw, raw)


@FUZZ
@given(st.lists(TOOL_LIKE, min_size=1, max_size=1), st.one_of(JSON, st.text(max_size=40)))
def test_fuzzed_arguments_only_give_argument_errors(raw: Any, arguments: Any) -> None:
    tools, _ = parse_tools(raw)
    for parsed in tools:
        try:
            parsed.parameters.validate(arguments if isinstance(arguments, (str, dict)) else json.dumps(arguments))
        except ToolArgumentsError as exc:
            assert exc.error_id == "tool-bad-arguments"
