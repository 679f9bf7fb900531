"""Fuzzing the definitions that reach the user's systems — tools (parameters, headers), the pre-call
lookup, webhooks, script capture and tool steps — through the validator, the JSON API and the
workflow form: never an exception, never a 500, and what is accepted survives its own round trip
(JSON, secrets sealed, masked and restored). `SWITCHBOARD_FUZZ_EXAMPLES` raises the example count."""
from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.definition import map_secrets, redact_secrets, restore_secrets, validate_definition
from tests.conftest import Tenant
from tests.test_api import WORKFLOWS
from tests.test_fuzz_forms import (
    EXAMPLES,
    check,
    finite,
    fuzz,
    intent,
    maybe,
    nasty_text,
    number,
    objects,
    regexes,
    section,
    send_json,
    short,
)

__all__ = ["objects"]  # the fixture, used by the API tests below

names = st.one_of(st.sampled_from(["book_table", "cancel", "end_call", "transfer_call", "bad name", "", "x" * 70,
                                   "ünïcode", "a-b"]), short)
urls = st.one_of(st.sampled_from([
    "https://crm.example.com/book", "http://10.0.0.5:8080/x?c={{caller_number}}", "https://h/{{a}}/{{b c}}",
    "https://h/{x}", "http://user:pw@h/", "https://h#frag", "https://{{host}}/x", "ftp://h", "http://", "",
    "https://h:99999/", "http://[::1]:80/x", "https://h/ spaced", "https://xn--bcher-kva.example/"]), short)
header = section({"name": st.sampled_from(["Authorization", "X-Team", "Host", "bad name", "", "x:y", "authorization"]),
                  "value": nasty_text, "secret": maybe(st.booleans())})
param = section({"type": st.sampled_from(["string", "integer", "number", "boolean", "array", 5]),
                 "description": short, "enum": st.lists(finite, max_size=3), "minimum": number, "maximum": number,
                 "minLength": number, "maxLength": number, "pattern": regexes,
                 "format": st.sampled_from(["date", "time"])})
parameters = section({"type": st.sampled_from(["object", "array"]),
                      "properties": st.dictionaries(st.sampled_from(["date", "party", "1x", "", "a b"]), param,
                                                    max_size=3),
                      "required": st.lists(st.sampled_from(["date", "party", "zzz", 3]), max_size=3),
                      "additionalProperties": st.booleans()})
tool = section({"name": names, "description": short, "method": st.sampled_from(["GET", "post", "TRACE", 5]),
                "url": urls, "parameters": parameters, "headers": st.lists(header, max_size=3),
                "timeout_s": number, "filler": short, "apology": short})
pre_call = section({"url": urls, "timeout_s": number, "headers": st.lists(header, max_size=2)})
webhook = section({"url": urls, "secret": st.one_of(st.sampled_from(["", "********", "short", "whsec_" + "x" * 30]),
                                                    short)})
capture = section({"name": names, "kind": st.sampled_from(["number", "digits", "date", "yes_no", "text", "regex",
                                                           "weekday"]),
                   "dtmf": st.booleans(), "pattern": regexes, "min": number, "max": number, "min_digits": number,
                   "max_digits": number, "date_order": st.sampled_from(["DMY", "MDY", "YMD"]),
                   "prefer_future": st.booleans(), "max_length": number})
step_names = st.sampled_from(["ask", "book", "done", "nowhere", ""])
tool_step = section({"name": names, "arguments": st.dictionaries(st.sampled_from(["date", "party", "zzz", "1"]),
                                                                 finite, max_size=3),
                     "save": st.dictionaries(st.sampled_from(["ref", "1x", ""]), st.sampled_from(
                         ["booking.reference", "0.id", "a..b", "", "x" * 700]), max_size=2)})
state = section({"say": short, "capture": capture, "tool": tool_step, "next": step_names, "failure": step_names,
                 "retries": number, "retry": short, "intents": st.lists(intent, max_size=1)})
script = section({"start": step_names, "states": st.dictionaries(step_names, state, max_size=3)})
# Plausible values, so that the deeper checks (secrets, steps against their tool) are reached too.
good_header = st.fixed_dictionaries({"name": st.sampled_from(["Authorization", "X-Team", "X-Key"]),
                                     "value": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
                                     "secret": st.booleans()})
good_parameters = st.fixed_dictionaries({"type": st.just("object"), "properties": st.just(
    {"date": {"type": "string", "format": "date"}, "party": {"type": "integer", "minimum": 1}})},
    optional={"required": st.sampled_from([["date"], ["date", "party"], []])})
good_tool = st.fixed_dictionaries(
    {"name": st.sampled_from(["book_table", "cancel"]), "description": st.just("Do it"),
     "url": st.sampled_from(["https://crm.example.com/book", "http://10.0.0.5:8080/x?c={{caller_number}}"])},
    optional={"method": st.sampled_from(["GET", "POST", "patch"]), "parameters": good_parameters,
              "headers": st.lists(good_header, max_size=3, unique_by=lambda h: h["name"]),
              "timeout_s": st.floats(0.5, 30), "filler": short, "apology": short})
good_capture = st.fixed_dictionaries({"name": st.sampled_from(["day", "party"]),
                                      "kind": st.sampled_from(["number", "date", "yes_no", "text"])},
                                     optional={"dtmf": st.booleans()})
good_step = st.fixed_dictionaries({"name": st.just("book_table")}, optional={
    "arguments": st.fixed_dictionaries({"date": st.just("{{day}}")}, optional={"party": st.integers(1, 9)}),
    "save": st.just({"ref": "booking.reference"})})
good_states = st.fixed_dictionaries({
    "ask": st.fixed_dictionaries({"say": short, "capture": good_capture, "next": st.just("book")},
                                 optional={"retries": st.integers(0, 5), "failure": st.just("done")}),
    "book": st.fixed_dictionaries({"tool": good_step, "next": st.just("done")}),
    "done": st.fixed_dictionaries({"say": short})})
good_webhooks = st.lists(st.fixed_dictionaries({"url": st.sampled_from(["https://a.example/h", "https://b.example/h"]),
                                                "secret": st.sampled_from(["", "whsec_" + "y" * 30])}),
                         max_size=2, unique_by=lambda w: w["url"])
tool = st.one_of(good_tool, good_tool, tool)
script = st.one_of(st.fixed_dictionaries({"start": st.just("ask"), "states": good_states}), script)
webhooks = st.one_of(good_webhooks, st.lists(webhook, max_size=3))
good_definition = st.fixed_dictionaries({
    "tools": st.tuples(good_tool.map(lambda t: t | {"name": "book_table", "parameters": {
        "type": "object", "properties": {"date": {"type": "string"}, "party": {"type": "integer"}}}}),
        st.lists(good_tool.map(lambda t: t | {"name": "cancel"}), max_size=1)).map(lambda p: [p[0], *p[1]]),
    "script": st.fixed_dictionaries({"start": st.just("ask"), "states": good_states})},
    optional={"webhooks": good_webhooks, "greeting": short,
              "pre_call": st.fixed_dictionaries({"url": st.just("https://crm.example.com/lookup")},
                                                optional={"headers": st.lists(good_header, max_size=2,
                                                                              unique_by=lambda h: h["name"])})})
fuzzy_definition = section({"engine": st.sampled_from(["script", "llm"]), "greeting": short,
                           "llm": st.just({"model": "m"}), "tools": st.lists(tool, max_size=3),
                           "pre_call": pre_call, "webhooks": webhooks, "script": script})
definition_docs = st.one_of(good_definition, fuzzy_definition, fuzzy_definition)


@settings(fuzz, max_examples=EXAMPLES * 10)
@given(raw=definition_docs)
def test_validation_is_total_and_secrets_survive_their_round_trip(raw: dict[str, Any]) -> None:
    clean, errors = validate_definition(raw)
    if clean is None:
        assert errors and all(k == "definition" or k.startswith("definition.") for k in errors)
        return
    json.dumps(clean, allow_nan=False)
    assert validate_definition(clean) == (clean, {})
    sealed = map_secrets(clean, lambda value: "enc:" + value[::-1])
    assert restore_secrets(redact_secrets(sealed), sealed) == sealed
    assert map_secrets(sealed, lambda value: value.removeprefix("enc:")[::-1]) == clean


@fuzz
@given(definition=definition_docs)
async def test_tool_definitions_through_the_api(tenant: Tenant, objects: dict[str, int],  # noqa: F811
                                                definition: dict[str, Any]) -> None:
    url = f"{WORKFLOWS}/{objects['workflow']}"
    await send_json(tenant, "POST", WORKFLOWS, {"name": "W", "definition": definition})
    await send_json(tenant, "PUT", url, {"name": "W", "definition": definition})
    await send_json(tenant, "PATCH", url, {"definition": definition})
    check(await tenant.api.get(url))
    check(await tenant.api.get(url + "/export"))


FIELDS = ["name", "description", "method", "url", "parameters", "headers", "secret_headers", "timeout_s", "filler",
          "apology"]
row_fields = st.dictionaries(st.sampled_from([f"tool-{k}-{f}" for k in ("a1", "b2") for f in FIELDS]
                                             + ["webhook-w1-url", "webhook-w1-secret", "webhook-w1-rotate",
                                                "pre_call_url", "pre_call_timeout_s", "pre_call_headers",
                                                "pre_call_secret_headers", "tool-UPPER-name", "tool--x"]),
                             st.one_of(nasty_text, st.sampled_from([
                                 "https://crm.example.com/x", "Authorization: ********", "A: b\nbad line",
                                 '{"type": "object"}', '{"properties": 5', "2.5", "POST"])), max_size=8)
actions = st.sampled_from(["", "add-tool", "add-webhook", "remove-tool-a1", "remove-webhook-w1", "remove-tool-",
                           "remove-", "dance"])


@fuzz
@given(fields=row_fields, action=actions, htmx=st.booleans())
async def test_tool_rows_through_the_form(browser: httpx.AsyncClient, objects: dict[str, int],  # noqa: F811
                                          fields: dict[str, str], action: str, htmx: bool) -> None:
    form = {"name": "W", "engine": "script", "definition": "{}", "sections": "on", **fields}
    if action:
        form["row_action"] = action
    headers = {"HX-Request": "true"} if htmx else {}
    check(await browser.post("/workflows", data=form, headers=headers))
    check(await browser.post(f"/workflows/{objects['workflow']}", data=form, headers=headers))
    check(await browser.get(f"/workflows/{objects['workflow']}"))
