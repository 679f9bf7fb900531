"""User-defined tools called against a real HTTP server on loopback: the booking round trip, URL
encoding, a hanging tool, refused hosts, failures as typed outcomes, the filler while it runs."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from agent.dialog import Say
from agent.hosts import HostPolicy
from agent.outbound_http import OutboundClient
from agent.tool_definition import ToolDefinition, parse_tools
from agent.tools import ToolFailure, ToolResult, ToolRunner, prepare_request, with_filler
from tests.fake_asterisk.harness import wait_for
from tests.user_system import UserSystem, delayed, hang, json_reply, text_reply

LOOPBACK = HostPolicy.parse(["127.0.0.1"])[0]
VARIABLES = {"caller_number": "+44 1632 960000", "called_number": "7000", "customer": "José"}


def decrypt(token: str) -> str:
    if not token.startswith("enc:"):
        raise ValueError("cannot decrypt a stored secret: the secret key changed")
    return token[4:]


def define(system: UserSystem, **changes: Any) -> ToolDefinition:
    raw: dict[str, Any] = {
        "name": "book_table", "description": "Book a table",
        "parameters": {"type": "object", "properties": {
            "date": {"type": "string", "format": "date"}, "party": {"type": "integer", "minimum": 1}},
            "required": ["date", "party"]},
        "method": "POST", "url": system.url("/bookings") + "?caller={{caller_number}}",
        "headers": [{"name": "Authorization", "value": "enc:Bearer s3cret", "secret": True},
                    {"name": "X-Customer", "value": "{{customer}}"}],
        "timeout_s": 2, **changes}
    tools, errors = parse_tools([raw])
    assert errors == {}
    return tools[0]


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


@pytest.fixture
async def outbound() -> AsyncIterator[OutboundClient]:
    client = OutboundClient()
    yield client
    await client.aclose()


def runner(outbound: OutboundClient, *tools: ToolDefinition, hosts: HostPolicy = LOOPBACK) -> ToolRunner:
    return ToolRunner(tools, outbound, hosts, variables=VARIABLES, decrypt=decrypt, log_context="run=1")


async def test_a_tool_call_books_and_returns_the_result(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/bookings", json_reply({"booked": True, "slot": "19:30", "ref": "B-42"}, 201))
    tools = runner(outbound, define(system))
    outcome = await tools.call("book_table", '{"date": "2026-03-05", "party": 4}')
    assert isinstance(outcome, ToolResult) and outcome.ok and not outcome.failed
    assert outcome.data == {"booked": True, "slot": "19:30", "ref": "B-42"}
    assert outcome.for_llm() == 'HTTP 201: {"booked":true,"slot":"19:30","ref":"B-42"}'
    (request,) = system.received
    assert request.method == "POST" and request.json() == {"date": "2026-03-05", "party": 4}
    assert parse_qs(request.query) == {"caller": ["+44 1632 960000"]}
    assert request.headers["authorization"] == "Bearer s3cret"  # decrypted as it is sent
    assert request.headers["x-customer"] == "Jos%C3%A9"  # header values stay ASCII
    assert request.headers["content-type"] == "application/json"
    assert tools.function_tools()[0]["function"]["name"] == "book_table"


async def test_values_cannot_change_the_path_or_add_parameters(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/customers/a/../b?x=1&admin=true#f/orders", json_reply({}))  # never matched
    lookup = define(system, name="orders", method="GET", url=system.url("/customers/{{id}}/orders"), headers=[],
                    parameters={"properties": {"id": {"type": "string"}, "status": {"type": "string"}}})
    outcome = await runner(outbound, lookup).call("orders", {"id": "a/../b?x=1&admin=true#f", "status": "open & paid"})
    assert isinstance(outcome, ToolResult) and outcome.status == 404
    (request,) = system.received
    assert request.path == "/customers/a%2F..%2Fb%3Fx%3D1%26admin%3Dtrue%23f/orders"
    assert parse_qs(request.query) == {"status": ["open & paid"]}  # unused arguments: query of a GET


def test_missing_variables_render_empty() -> None:
    tool = parse_tools([{"name": "t", "description": "d", "url": "https://crm.example.com/x/{{nobody}}?a={{a}}",
                         "parameters": {"properties": {"a": {"type": "boolean"}}}}])[0][0]
    prepared = prepare_request(tool, {"a": True}, {})
    assert prepared.url == "https://crm.example.com/x/?a=true" and prepared.body is None


async def test_a_hanging_tool_hits_its_timeout(system: UserSystem, outbound: OutboundClient) -> None:
    gone: list[float] = []
    system.route("/bookings", hang(gone))
    started = time.monotonic()
    outcome = await runner(outbound, define(system, timeout_s=0.5)).call("book_table", '{"date": "2026-03-05", '
                                                                                        '"party": 2}')
    assert isinstance(outcome, ToolFailure) and outcome.error_id == "tool-timeout"
    assert outcome.failed and outcome.for_llm().startswith("error tool-timeout: ")
    assert time.monotonic() - started < 1.5
    await wait_for(lambda: gone)  # the connection was closed, not left hanging


async def test_failures_are_typed_outcomes(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/bookings", json_reply({"error": "kitchen on fire"}, 500))
    system.route("/big", text_reply("x" * 70_000))
    book = define(system)
    big = define(system, name="big", url=system.url("/big"), method="GET", parameters=None, headers=[])
    tools = runner(outbound, book, big)
    cases: list[tuple[str, Any, str]] = [
        ("book_table", '{"date": "tomorrow", "party": 2}', "tool-bad-arguments"),
        ("nothing", "{}", "tool-unknown"),
        ("big", "{}", "tool-response-too-large"),
    ]
    for name, arguments, error_id in cases:
        outcome = await tools.call(name, arguments)
        assert isinstance(outcome, ToolFailure) and outcome.error_id == error_id, outcome
    refused = await runner(outbound, book, hosts=HostPolicy()).call("book_table", {"date": "2026-03-05", "party": 2})
    assert isinstance(refused, ToolFailure) and refused.error_id == "tool-host-not-allowed"
    stale = ToolRunner([define(system, headers=[{"name": "Authorization", "value": "garbage", "secret": True}])],
                       outbound, LOOPBACK, decrypt=decrypt)
    unreadable = await stale.call("book_table", {"date": "2026-03-05", "party": 2})
    assert isinstance(unreadable, ToolFailure) and unreadable.error_id == "tool-secret-unreadable"
    assert "garbage" not in unreadable.message
    assert system.paths() == ["/big"]  # none of the refused calls reached the system
    server_error = await tools.call("book_table", {"date": "2026-03-05", "party": 2})
    assert isinstance(server_error, ToolResult) and server_error.failed and not server_error.ok
    assert server_error.for_llm() == 'HTTP 500: {"error":"kitchen on fire"}'


async def test_long_text_results_are_cut_for_the_llm(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/notes", text_reply("word\n\n  " * 1000))
    notes = define(system, name="notes", url=system.url("/notes"), method="GET", parameters=None, headers=[])
    outcome = await runner(outbound, notes).call("notes", None)
    assert isinstance(outcome, ToolResult) and outcome.data is None
    assert outcome.text.startswith("word word word") and outcome.text.endswith(" …(truncated)")
    assert len(outcome.text) == 1500 + len(" …(truncated)")


async def test_a_slow_tool_gets_the_filler_first(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/bookings", delayed(json_reply({"booked": True}), 0.5))
    system.route("/fast", json_reply({"fast": True}))
    tools = runner(outbound, define(system), define(system, name="fast", url=system.url("/fast"), headers=[]))
    slow = [item async for item in with_filler(tools.call("book_table", {"date": "2026-03-05", "party": 2}),
                                               "One moment.", after_s=0.1)]
    assert slow[:2] == [Say("", interruptible=False), Say("One moment.", interruptible=False)]
    assert isinstance(slow[2], ToolResult) and slow[2].data == {"booked": True}
    fast = [item async for item in with_filler(tools.call("fast", {"date": "2026-03-05", "party": 2}),
                                               "One moment.", after_s=1.0)]
    assert len(fast) == 2 and fast[0] == Say("", interruptible=False) and isinstance(fast[1], ToolResult)


async def test_closing_the_filler_generator_cancels_the_call(system: UserSystem, outbound: OutboundClient) -> None:
    gone: list[float] = []
    system.route("/bookings", hang(gone))
    steps = with_filler(runner(outbound, define(system, timeout_s=30)).call(
        "book_table", {"date": "2026-03-05", "party": 2}), "Hold on.", after_s=0.05)
    assert await steps.__anext__() == Say("", interruptible=False)
    assert await steps.__anext__() == Say("Hold on.", interruptible=False)
    await wait_for(lambda: system.received)
    await steps.aclose()  # barge-in or hang-up while the tool runs
    await wait_for(lambda: gone, timeout=2)


async def test_concurrent_calls_do_not_mix(system: UserSystem, outbound: OutboundClient) -> None:
    async def echo(request: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await json_reply(json.loads(request.body))(request, reader, writer)
    system.route("/bookings", echo)
    tools = runner(outbound, define(system))
    calls = (tools.call("book_table", {"date": "2026-03-05", "party": n}) for n in range(1, 9))
    outcomes = await asyncio.gather(*calls)
    assert [o.data["party"] for o in outcomes if isinstance(o, ToolResult)] == list(range(1, 9))
