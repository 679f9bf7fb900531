"""The pre-call lookup against a real HTTP server on loopback: variables for the greeting, a clean
timeout, every failure a result that lets the call go on."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.hosts import HostPolicy
from agent.lookup import CallFacts, PreCallLookup, look_up, parse_pre_call, variables_from
from agent.outbound_http import OutboundClient
from agent.text import render
from tests.fake_asterisk.harness import wait_for
from tests.user_system import UserSystem, hang, json_reply, text_reply

LOOPBACK = HostPolicy.parse(["127.0.0.1"])[0]
CALL = CallFacts(caller_number="+441632960000", called_number="7000", direction="inbound", workflow_id=3, run_id=12)


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


def lookup_at(url: str, **raw: Any) -> PreCallLookup:
    parsed, errors = parse_pre_call({"url": url, **raw})
    assert errors == {} and parsed is not None
    return parsed


async def test_the_lookup_greets_the_caller_by_name(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/lookup", json_reply({"first_name": "Ada", "vip": True, "balance": 42.5, "orders": 3,
                                        "address": {"city": "London"}, "bad name": "x", "none": None}))
    lookup = lookup_at(system.url("/lookup"), headers=[{"name": "Authorization", "value": "enc:Bearer k",
                                                        "secret": True}])
    result = await look_up(lookup, CALL, outbound, LOOPBACK, decrypt=lambda v: v.removeprefix("enc:"))
    assert result.variables == {"first_name": "Ada", "vip": True, "balance": 42.5, "orders": 3}
    assert result.error_id is None and result.dropped == ("address", "bad name", "none")
    assert render("Hello {{first_name}}, how can I help?", result.variables, missing="") == \
        "Hello Ada, how can I help?"
    (request,) = system.received
    assert request.method == "POST" and request.json() == {
        "caller_number": "+441632960000", "called_number": "7000", "direction": "inbound", "workflow_id": 3,
        "run_id": 12}
    assert request.headers["authorization"] == "Bearer k"


async def test_a_hanging_lookup_times_out_cleanly(system: UserSystem, outbound: OutboundClient) -> None:
    gone: list[float] = []
    system.route("/lookup", hang(gone))
    started = time.monotonic()
    result = await look_up(lookup_at(system.url("/lookup"), timeout_s=0.5), CALL, outbound, LOOPBACK)
    assert time.monotonic() - started < 1.5
    assert result.variables == {} and result.error_id == "tool-timeout"
    assert "the call goes on without its variables" in result.message
    await wait_for(lambda: gone)


async def test_every_failure_lets_the_call_go_on(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/500", json_reply({"first_name": "Ada"}, 500))
    system.route("/list", json_reply(["Ada"]))
    system.route("/html", text_reply("<html>"))
    system.route("/empty", text_reply(""))
    system.route("/huge", json_reply({"blob": "x" * 20_000}))
    cases = {"/500": "lookup-http-error", "/list": "lookup-bad-response", "/html": "lookup-bad-response",
             "/huge": "tool-response-too-large"}
    for path, error_id in cases.items():
        result = await look_up(lookup_at(system.url(path)), CALL, outbound, LOOPBACK)
        assert (result.variables, result.error_id) == ({}, error_id), path
    empty = await look_up(lookup_at(system.url("/empty")), CALL, outbound, LOOPBACK)
    assert (empty.variables, empty.error_id, empty.message) == ({}, None, "")  # nothing to add is not a failure
    refused = await look_up(lookup_at(system.url("/500")), CALL, outbound, HostPolicy())
    assert refused.error_id == "tool-host-not-allowed" and refused.variables == {}


async def test_call_facts_may_appear_in_the_url(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/callers/%2B441632960000", json_reply({"known": True}))
    lookup = lookup_at(system.url("/callers/{{caller_number}}"))
    result = await look_up(lookup, CALL, outbound, LOOPBACK)
    assert result.variables == {"known": True}


def test_pre_call_definition_errors() -> None:
    assert parse_pre_call(None) == (None, {})
    assert parse_pre_call({"url": "ftp://x", "timeout_s": 60, "extra": 1})[1] == {
        "definition.pre_call.url": "must be an http:// or https:// URL with a fixed host ({{name}} may appear only "
                                   "in the path and query; no spaces, user:password@ or #)",
        "definition.pre_call.timeout_s": "must be between 0.5 and 10",
        "definition.pre_call.extra": "unknown field 'extra'",
    }


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=70), st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                                        st.text(max_size=600), st.lists(st.integers(), max_size=2)),
                       max_size=60))
def test_variables_are_flat_named_and_capped(data: dict[str, Any]) -> None:
    kept, dropped = variables_from(data)
    assert len(kept) <= 50 and len(kept) + len(dropped) == len(data)
    for name, value in kept.items():
        assert name.isidentifier() and name.isascii() and len(name) <= 64
        assert isinstance(value, (str, int, float, bool)) and (not isinstance(value, str) or len(value) <= 500)
