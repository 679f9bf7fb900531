"""The agent acting on the user's systems, through the test chat (the same dialog engines a call
runs): script captures and tool steps, LLM function tools and the pre-call lookup, against a real
HTTP server on loopback (`tests.user_system`) and the stub OpenAI-compatible LLM."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.chat import ChatReply, TestChat
from agent.definition import validate_definition
from agent.hosts import HostPolicy
from agent.outbound_http import OutboundClient
from agent.outside import Outside
from tests.test_agent_llm import StubLlm, stub, text, tool  # noqa: F401  (the stub server fixture)
from tests.user_system import UserSystem, delayed, hang, json_reply, sequence

LOOPBACK = HostPolicy.parse(["127.0.0.1"])[0]


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


@pytest.fixture
async def outside() -> AsyncIterator[Outside]:
    client = OutboundClient()
    yield Outside(client, LOOPBACK)
    await client.aclose()


def booking_tool(system: UserSystem, **changes: Any) -> dict[str, Any]:
    return {"name": "book_table", "description": "Book a table for the caller",
            "parameters": {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
                                                            "party": {"type": "integer", "minimum": 1}},
                           "required": ["date", "party"]},
            "method": "POST", "url": system.url("/book") + "?caller={{caller_number}}", "timeout_s": 2,
            "filler": "One moment while I book that.", "apology": "Sorry, the booking system is not answering.",
            **changes}


def clean(raw: dict[str, Any]) -> dict[str, Any]:
    definition, errors = validate_definition(raw)
    assert errors == {} and definition is not None
    return definition


def booking_script(system: UserSystem, **tool_changes: Any) -> dict[str, Any]:
    return clean({
        "greeting": "Hello {{first_name}}.", "tools": [booking_tool(system, **tool_changes)],
        "script": {"start": "ask", "states": {
            "ask": {"say": "Which day would you like?", "capture": {"name": "day", "kind": "date"},
                    "next": "party", "failure": "human", "retries": 1, "retry": "Sorry, which day?",
                    "intents": [{"name": "human", "keywords": ["operator"], "action": "goto", "goto": "human"}]},
            "party": {"say": "For how many people?", "capture": {"name": "party", "kind": "number", "min": 1},
                      "next": "book", "failure": "human"},
            "book": {"say": "Let me check.", "tool": {"name": "book_table",
                                                      "arguments": {"date": "{{day}}", "party": "{{party}}"},
                                                      "save": {"ref": "booking.reference"}},
                     "next": "booked", "failure": "human"},
            "booked": {"say": "You are booked on {{day}}, reference {{ref}}.",
                       "intents": [{"name": "bye", "keywords": ["bye"], "action": "hang_up"}]},
            "human": {"say": "Let me find someone to help you.",
                      "intents": [{"name": "bye", "keywords": ["bye"], "action": "hang_up"}]}}}})


def actions(reply: ChatReply, kind: str) -> list[dict[str, Any]]:
    return [a for a in reply.actions if a["action"] == kind]


async def test_a_script_captures_a_date_and_a_number_then_books_through_a_tool(
        system: UserSystem, outside: Outside) -> None:
    system.route("/book", json_reply({"booking": {"reference": "AB12", "table": 4}}))
    chat = TestChat(booking_script(system), outside=outside)
    assert (await chat.start()).text == "Hello . Which day would you like?"  # no lookup: the name is empty
    by_voice = await chat.send("The fifth of March 2030, please.")
    assert actions(by_voice, "variables")[0]["values"] == {"day": "2030-03-05"}
    assert by_voice.text == "For how many people?"
    booked = await chat.press("4#")
    assert [a["values"] for a in actions(booked, "variables")] == [{"party": 4}, {"ref": "AB12"}]
    assert booked.text == "Let me check. One moment while I book that. You are booked on 2030-03-05, reference AB12." \
        or booked.text == "Let me check. You are booked on 2030-03-05, reference AB12."
    [call] = actions(booked, "tool")
    assert (call["name"], call["status"], call["error_id"]) == ("book_table", 200, None)
    assert call["arguments"] == {"date": "2030-03-05", "party": 4}
    [request] = system.received
    assert request.method == "POST" and request.query == "caller=test"
    assert request.json() == {"date": "2030-03-05", "party": 4}  # a captured number stays a number
    await chat.aclose()


async def test_keys_capture_a_date_and_the_conversation_survives_a_snapshot(system: UserSystem,
                                                                          outside: Outside) -> None:
    chat = TestChat(booking_script(system), outside=outside)
    await chat.start()
    assert chat.dialog.dtmf_gap_s > 0  # a capture state collects keys until '#' or a pause
    state = chat.snapshot()
    await chat.aclose()
    again = TestChat(booking_script(system), snapshot=json.loads(json.dumps(state)), outside=outside)
    reply = await again.press("05032030#")
    assert actions(reply, "variables")[0]["values"] == {"day": "2030-03-05"} and reply.text == "For how many people?"
    resumed = TestChat(booking_script(system), snapshot=json.loads(json.dumps(again.snapshot())), outside=outside)
    assert resumed.context["day"] == "2030-03-05"
    await again.aclose()
    await resumed.aclose()


async def test_an_answer_not_understood_is_retried_then_takes_the_failure_path(system: UserSystem,
                                                                             outside: Outside) -> None:
    chat = TestChat(booking_script(system), outside=outside)
    await chat.start()
    first = await chat.send("purple elephants")
    assert first.text == "Sorry, which day?" and actions(first, "capture")[0]["gave_up"] is False
    second = await chat.send("I really cannot say")
    assert actions(second, "capture")[0]["gave_up"] is True
    assert second.text == "Let me find someone to help you."
    # an intent still works in a capture state
    other = TestChat(booking_script(system), outside=outside)
    await other.start()
    assert (await other.send("operator please")).text == "Let me find someone to help you."
    await chat.aclose()
    await other.aclose()


async def test_a_failing_tool_apologises_and_the_script_goes_on(system: UserSystem, outside: Outside) -> None:
    system.route("/book", sequence(json_reply({"error": "down"}, status=503)))
    chat = TestChat(booking_script(system), outside=outside)
    await chat.start()
    await chat.send("March 5th 2030")
    reply = await chat.send("two")
    [call] = actions(reply, "tool")
    assert call["status"] == 503
    assert reply.text.endswith("Sorry, the booking system is not answering. Let me find someone to help you.")
    assert not reply.ended
    bye = await chat.send("bye")
    assert bye.ended and bye.actions[-1]["action"] == "hang_up"
    await chat.aclose()


async def test_a_tool_on_a_host_that_is_not_allowed_fails_without_a_request(system: UserSystem) -> None:
    client = OutboundClient()
    chat = TestChat(booking_script(system), outside=Outside(client))  # public hosts only
    await chat.start()
    await chat.send("March 5th 2030")
    reply = await chat.send("two")
    assert actions(reply, "tool")[0]["error_id"] == "tool-host-not-allowed" and system.received == []
    assert "not answering" in reply.text
    await chat.aclose()
    await client.aclose()


async def test_the_pre_call_lookup_fills_the_greeting(system: UserSystem, outside: Outside) -> None:
    system.route("/lookup", json_reply({"first_name": "Ada", "caller_number": "spoofed", "vip": True}))
    raw = booking_script(system) | {"pre_call": {"url": system.url("/lookup"), "timeout_s": 1}}
    chat = TestChat(clean(raw), outside=outside)
    reply = await chat.start()
    assert reply.text == "Hello Ada. Which day would you like?"
    [lookup] = actions(reply, "lookup")
    assert lookup["variables"] == {"first_name": "Ada", "vip": True} and lookup["error_id"] is None
    assert system.received[0].json()["caller_number"] == "test"
    assert chat.context["caller_number"] == "test"  # a lookup never overrides a call fact
    await chat.aclose()


async def test_a_lookup_that_hangs_gives_up_at_its_timeout_and_the_greeting_goes_on(
        system: UserSystem, outside: Outside) -> None:
    system.route("/lookup", hang())
    raw = booking_script(system) | {"pre_call": {"url": system.url("/lookup"), "timeout_s": 0.5}}
    chat = TestChat(clean(raw), outside=outside)
    reply = await chat.start()
    assert reply.text == "Hello . Which day would you like?"
    [lookup] = actions(reply, "lookup")
    assert lookup["error_id"] == "tool-timeout" and lookup["variables"] == {} and lookup["elapsed_ms"] < 1500
    await chat.aclose()


def llm_booking(system: UserSystem, base_url: str, **tool_changes: Any) -> dict[str, Any]:
    return clean({"engine": "llm", "greeting": "", "tools": [booking_tool(system, **tool_changes)],
                  "llm": {"model": "stub", "base_url": base_url, "instructions": "Book tables."}})


async def test_the_llm_calls_a_tool_and_says_the_result(system: UserSystem, outside: Outside,
                                                        stub: StubLlm) -> None:  # noqa: F811
    system.route("/book", json_reply({"booked": True, "reference": "AB12"}))
    stub.replies = [[text("Hello, how can I help?")],
                    [text("Let me book that. "), tool("book_table", {"date": "2030-03-05", "party": 2})],
                    [text("You are booked, reference AB12.")]]
    chat = TestChat(llm_booking(system, stub.base_url), outside=outside)
    await chat.start()
    reply = await chat.send("A table for two on the fifth of March 2030")
    assert reply.text.startswith("Let me book that.") and reply.text.endswith("You are booked, reference AB12.")
    [call] = actions(reply, "tool")
    assert (call["status"], call["arguments"]) == (200, {"date": "2030-03-05", "party": 2})
    offered = {t["function"]["name"] for t in stub.requests[1]["tools"]}
    assert offered == {"transfer_call", "end_call", "book_table"}
    history = stub.requests[2]["messages"]
    assert history[-2]["tool_calls"][0]["function"]["name"] == "book_table"
    assert history[-1]["role"] == "tool" and '"reference":"AB12"' in history[-1]["content"]
    assert system.received[0].json() == {"date": "2030-03-05", "party": 2}
    await chat.aclose()


async def test_a_tool_that_hangs_gets_the_apology_and_the_llm_carries_on(system: UserSystem, outside: Outside,
                                                                        stub: StubLlm) -> None:  # noqa: F811
    system.route("/book", delayed(json_reply({"late": True}), 5))
    stub.replies = [[tool("book_table", {"date": "2030-03-05", "party": 2})],
                    [text("Can I help with anything else?")]]
    chat = TestChat(llm_booking(system, stub.base_url, timeout_s=0.5), outside=outside)
    reply = await chat.start()
    assert reply.says[-2:] == ["Sorry, the booking system is not answering.", "Can I help with anything else?"]
    assert actions(reply, "tool")[0]["error_id"] == "tool-timeout"
    told = stub.requests[1]["messages"][-1]["content"]
    assert told.startswith("error tool-timeout") and "the caller has already heard" in told
    assert not reply.ended
    await chat.aclose()


async def test_bad_arguments_from_the_llm_are_explained_to_it(system: UserSystem, outside: Outside,
                                                             stub: StubLlm) -> None:  # noqa: F811
    stub.replies = [[tool("book_table", {"date": "soon", "party": 0})], [text("Which date exactly?")]]
    chat = TestChat(llm_booking(system, stub.base_url), outside=outside)
    reply = await chat.start()
    assert actions(reply, "tool")[0]["error_id"] == "tool-bad-arguments" and system.received == []
    content = stub.requests[1]["messages"][-1]["content"]
    assert "must be a date" in content and "must be at least 1" in content
    assert reply.says[-1] == "Which date exactly?"
    await chat.aclose()
