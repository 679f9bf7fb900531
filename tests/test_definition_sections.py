"""The definition sections that reach the user's systems (tools, pre_call, webhooks) and the script
steps (capture, tool) in the typed model: parsing, errors, JSON round trip, secrets at rest."""
from __future__ import annotations

import json
from typing import Any

from agent.definition import (
    SECRET_MASK,
    WorkflowDefinition,
    map_secrets,
    parse_definition,
    read_definition,
    redact_secrets,
    restore_secrets,
)


def tool(name: str = "book_table", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "Book a table", "method": "POST", "url": "https://crm.example.com/book",
            "parameters": {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
                                                            "party": {"type": "integer", "minimum": 1}},
                           "required": ["date"]}, **extra}


def booking_script() -> dict[str, Any]:
    return {"start": "ask", "states": {
        "ask": {"say": "Which day?", "capture": {"name": "day", "kind": "date"}, "next": "book",
                "failure": "human", "retries": 1, "retry": "Sorry, which day?",
                "intents": [{"name": "human", "keywords": ["operator"], "action": "transfer", "extension": "7000"}]},
        "book": {"tool": {"name": "book_table", "arguments": {"date": "{{day}}", "party": 2},
                          "save": {"ref": "booking.reference"}}, "next": "done", "failure": "human"},
        "done": {"say": "You are booked, reference {{ref}}."},
        "human": {"say": "Let me find someone.", "intents": []}}}


def full() -> dict[str, Any]:
    return {"greeting": "Hello {{first_name}}", "tools": [tool()], "script": booking_script(),
            "pre_call": {"url": "https://crm.example.com/lookup", "timeout_s": 1.5,
                         "headers": [{"name": "Authorization", "value": "Bearer lookup", "secret": True}]},
            "webhooks": [{"url": "https://crm.example.com/hooks", "secret": "whsec_" + "x" * 30}]}


def test_the_sections_parse_into_the_model_and_back() -> None:
    definition = parse_definition(full())
    assert definition.tool("book_table") is not None and definition.tool("nope") is None
    assert definition.pre_call is not None and definition.pre_call.timeout_s == 1.5
    assert [w.url for w in definition.webhooks] == ["https://crm.example.com/hooks"]
    assert definition.script is not None
    ask, book = definition.script.state("ask"), definition.script.state("book")
    assert ask is not None and ask.capture is not None and ask.capture.kind == "date"
    assert (ask.next, ask.failure, ask.retries, ask.retry) == ("book", "human", 1, "Sorry, which day?")
    assert book is not None and book.tool is not None
    assert dict(book.tool.arguments) == {"date": "{{day}}", "party": 2}
    assert dict(book.tool.save) == {"ref": "booking.reference"}
    again = parse_definition(json.loads(json.dumps(definition.to_json())))
    assert again == definition and hash(again) == hash(definition)


def test_a_definition_without_the_sections_keeps_its_stored_form() -> None:
    stored = WorkflowDefinition(greeting="Hi").to_json()
    assert not {"tools", "pre_call", "webhooks"} & set(stored)
    assert parse_definition({**stored, "tools": None, "webhooks": [], "pre_call": None}).to_json() == stored


def test_field_errors_name_the_place() -> None:
    raw = full()
    raw["tools"] = [tool(url="ftp://x"), tool(name="transfer_call"), "x"]
    raw["pre_call"] = {"url": "https://crm.example.com/lookup", "timeout_s": 60}
    raw["webhooks"] = {"url": "x"}
    raw["script"]["states"]["ask"]["next"] = "nowhere"
    raw["script"]["states"]["done"]["retries"] = 3
    raw["script"]["states"]["book"]["tool"]["arguments"] = {"when": "x", "party": [1]}
    _, errors = read_definition(raw)
    assert errors["definition.tools.0.url"].startswith("must be an http:// or https:// URL")
    assert errors["definition.tools.1.name"] == "transfer_call is built in; choose another name"
    assert errors["definition.tools.2"] == "must be an object"
    assert errors["definition.pre_call.timeout_s"] == "must be between 0.5 and 10"
    assert errors["definition.webhooks"] == "must be a list of {url, secret}"
    assert errors["definition.script.states.ask.next"].startswith("must name the state that follows")
    assert errors["definition.script.states.done.retries"] == "applies only to a state with a capture or a tool"
    assert errors["definition.script.states.book.tool.arguments.party"].startswith("must be text")
    # the tool itself is invalid, so the step cannot be checked against it
    assert errors["definition.script.states.book.tool.name"] == "must name one of the workflow's tools"


def test_a_tool_step_must_fit_its_tool() -> None:
    raw = full()
    raw["script"]["states"]["book"]["tool"]["arguments"] = {"when": "x"}
    raw["script"]["states"]["ask"]["capture"] = {"name": "day", "kind": "weekday"}
    raw["script"]["states"]["ask"]["tool"] = {"name": "book_table", "arguments": {"date": "x"}}
    _, errors = read_definition(raw)
    assert errors["definition.script.states.book.tool.arguments.when"] == "book_table has no parameter 'when'"
    assert errors["definition.script.states.book.tool.arguments"] == "book_table needs date"
    assert errors["definition.script.states.ask.capture.kind"].startswith("must be one of number")
    assert errors["definition.script.states.ask.tool"] == "a state either captures an answer or calls a tool, not both"


def test_secrets_are_sealed_masked_and_kept_by_tool_and_header_name() -> None:
    raw = full()
    raw["tools"] = [tool(headers=[{"name": "Authorization", "value": "Bearer one", "secret": True},
                                  {"name": "X-Team", "value": "{{called_number}}"}]),
                    tool(name="cancel", headers=[{"name": "Authorization", "value": "Bearer two", "secret": True}])]
    stored = map_secrets(parse_definition(raw).to_json(), lambda value: "enc:" + value[::-1])
    text = json.dumps(stored)
    assert "Bearer one" not in text and "Bearer two" not in text and "Bearer lookup" not in text
    assert "enc:" in text and "whsec_" not in text and '"{{called_number}}"' in text  # plain headers stay plain
    shown = redact_secrets(stored)
    assert "enc:" not in json.dumps(shown) and shown["tools"][0]["headers"][0]["value"] == SECRET_MASK
    # the client sends the tools back reordered, with the masks: each keeps its own secret
    submitted = {**shown, "tools": [shown["tools"][1], shown["tools"][0]]}
    restored = restore_secrets(submitted, stored)
    assert restored["tools"][0]["headers"][0]["value"] == "enc:" + "Bearer two"[::-1]
    assert restored["tools"][1]["headers"][0]["value"] == "enc:" + "Bearer one"[::-1]
    assert restored["pre_call"]["headers"][0]["value"] == "enc:" + "Bearer lookup"[::-1]
    assert restored["webhooks"][0]["secret"] == stored["webhooks"][0]["secret"]
    decrypted = map_secrets(restored, lambda value: value.removeprefix("enc:")[::-1])
    assert parse_definition(decrypted).tool("cancel") == parse_definition(raw).tool("cancel")


def test_a_mask_under_a_new_name_is_not_someone_elses_secret() -> None:
    stored = map_secrets(parse_definition(full() | {"tools": [tool(headers=[
        {"name": "Authorization", "value": "Bearer one", "secret": True}])]}).to_json(), lambda v: "enc:" + v[::-1])
    renamed = redact_secrets(stored)
    renamed["tools"][0]["name"] = "reserve"
    assert restore_secrets(renamed, stored)["tools"][0]["headers"][0]["value"] == ""
    unmarked = redact_secrets(stored)
    unmarked["tools"][0]["headers"][0]["secret"] = False  # a mask put back stays a secret
    assert restore_secrets(unmarked, stored)["tools"][0]["headers"][0] == {
        "name": "Authorization", "value": "enc:" + "Bearer one"[::-1], "secret": True}
