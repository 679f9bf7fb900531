"""A tool on a voice call (the embedded runtime on an in-memory call, the tool on a real HTTP server
on loopback): a tool that hangs gets the filler, then the apology once its timeout passes, and
the conversation goes on; the tool call and the variables become run events."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.outbound_http import OutboundClient
from agent.outside import Outside
from agent.runtime import AgentResult, AgentRuntime
from tests.support.loopback import LoopbackCall, Played
from tests.test_agent_acts import LOOPBACK, clean
from tests.test_agent_llm import runtime  # noqa: F401  (module-scoped fixture)
from tests.test_agent_voice import CONTEXT, Recorder
from tests.user_system import UserSystem, hang, json_reply

TIMEOUT_S = 2.0


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


def definition(system: UserSystem) -> dict[str, Any]:
    return clean({
        "greeting": "Hello.", "no_input_reprompt_s": 30, "no_input_hangup_s": 60, "farewell": "Bye.",
        "tools": [{"name": "check", "description": "Check availability", "url": system.url("/check"),
                   "timeout_s": TIMEOUT_S, "filler": "One moment while I check.",
                   "apology": "Sorry, the booking system is not answering."}],
        "script": {"start": "menu", "states": {
            "menu": {"say": "Press 1 to check.", "intents": [{"name": "check", "dtmf": ["1"], "goto": "check"}]},
            "check": {"tool": {"name": "check", "save": {"slots": "free"}}, "next": "found", "failure": "sorry"},
            "found": {"say": "There are {{slots}} tables free.",
                      "intents": [{"name": "bye", "dtmf": ["2"], "action": "hang_up"}]},
            "sorry": {"say": "Is there anything else?",
                      "intents": [{"name": "bye", "dtmf": ["2"], "action": "hang_up"}]}}}})


def runs(played: list[Played], after: float, gap_s: float = 0.15) -> list[tuple[float, float]]:
    """(start, end) of each stretch of agent audio after `after` (a pause longer than `gap_s` ends one)."""
    stretches: list[tuple[float, float]] = []
    for frame in (p for p in played if p.at > after):
        if stretches and frame.at - stretches[-1][1] <= gap_s:
            stretches[-1] = (stretches[-1][0], frame.at)
        else:
            stretches.append((frame.at, frame.at))
    return stretches


async def call_with_tool(runtime: AgentRuntime, system: UserSystem,  # noqa: F811
                         client: OutboundClient) -> tuple[LoopbackCall, Recorder, asyncio.Task[AgentResult]]:
    call, recorder = LoopbackCall(), Recorder()
    task = asyncio.create_task(runtime.run(call, definition(system), dict(CONTEXT), recorder,
                                           outside=Outside(client, LOOPBACK)))
    await call.until(lambda: len(call.marks) >= 2, 20)  # greeting and menu played
    return call, recorder, task


async def test_a_hanging_tool_gets_the_filler_then_the_apology_within_its_timeout_and_the_call_goes_on(
        runtime: AgentRuntime, system: UserSystem) -> None:  # noqa: F811
    gave_up: list[float] = []
    system.route("/check", hang(gave_up))
    client = OutboundClient()
    call, recorder, task = await call_with_tool(runtime, system, client)
    pressed = time.monotonic()
    call.press("1")
    await call.until(lambda: any(d.get("error_id") for _, _, d in recorder.of("tool")), 10)
    await call.until(lambda: recorder.of("transcript", "agent")[-1][1] != "Hello. Press 1 to check.", 10)
    call.press("2")  # the conversation went on: the next state's intent works
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    await client.aclose()

    asked = system.received[0].at
    filler, apology = runs(call.played, pressed)[:2]
    assert filler[0] - pressed < 1.5, "the caller waited in silence for the filler"
    assert gave_up and TIMEOUT_S - 0.1 <= gave_up[0] - asked <= TIMEOUT_S + 0.5
    assert apology[0] - asked <= TIMEOUT_S + 1.0, "the apology came long after the tool's timeout"
    said = [text for _, text, _ in recorder.of("transcript", "agent")]
    assert said[1] == "One moment while I check. Sorry, the booking system is not answering. Is there anything else?"
    [(_, name, event)] = recorder.of("tool")
    assert (name, event["error_id"], event["status"]) == ("check", "tool-timeout", None)
    assert result == AgentResult("completed", "intent bye")


async def test_a_tool_answer_becomes_variables_the_next_prompt_says(runtime: AgentRuntime,  # noqa: F811
                                                                    system: UserSystem) -> None:
    system.route("/check", json_reply({"free": 3}))
    client = OutboundClient()
    call, recorder, task = await call_with_tool(runtime, system, client)
    call.press("1")
    await call.until(lambda: len(recorder.of("transcript", "agent")) >= 2, 15)
    call.press("2")
    await asyncio.wait_for(task, 20)
    await call.aclose()
    await client.aclose()
    assert recorder.of("transcript", "agent")[1][1] == "There are 3 tables free."
    assert [d for _, _, d in recorder.of("variables")] == [{"source": "tool", "values": {"slots": 3}}]
    assert recorder.of("tool")[0][2]["status"] == 200


async def test_a_lookup_that_fails_is_a_run_event_and_the_greeting_goes_on(runtime: AgentRuntime,  # noqa: F811
                                                                         system: UserSystem) -> None:
    system.route("/lookup", json_reply({"first_name": "Ada"}))
    raw = definition(system) | {"greeting": "Hello {{first_name}}.", "pre_call": {"url": system.url("/lookup")}}
    client = OutboundClient()
    call, recorder = LoopbackCall(), Recorder()
    task = asyncio.create_task(runtime.run(call, clean(raw), dict(CONTEXT), recorder,
                                           outside=Outside(client)))  # loopback is not an allowed host here
    await call.until(lambda: len(call.marks) >= 2, 20)
    call.press("2")  # nothing in the menu: the fallback, the call goes on
    await call.until(lambda: len(recorder.of("transcript", "agent")) >= 2, 10)
    await call.hang_up_by_caller()
    await asyncio.wait_for(task, 10)
    await call.aclose()
    await client.aclose()
    [(_, summary, lookup)] = recorder.of("lookup")
    assert lookup["error_id"] == "tool-host-not-allowed" and lookup["variables"] == {} and system.received == []
    assert "the call goes on without its variables" in (summary or "")
    assert recorder.of("transcript", "agent")[0][1] == "Hello . Press 1 to check."
