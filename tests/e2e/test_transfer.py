"""Transfers on a real call: fake Asterisk ⇄ Switchboard ⇄ the embedded agent, offline.

Blind: the caller goes back to the dialplan (`continue`). Attended (`"transfer": {"mode":
"attended"}`): the extension is rung through the configuration's dial template; on answer it is
bridged with the caller and the agent's leg is dropped; unanswered, the agent says so and stays."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.definition import default_definition
from agent.runtime import AgentRuntime
from agent.samples import front_desk
from tests.e2e.harness import Stack, stack
from tests.e2e.test_voice_agent import quick, runner, runtime  # noqa: F401  (module-scoped fixture)

GREETING = "Hello. Press 1 for sales."
ANSWERS, SILENT = "7100", "7200"


def attended(extension: str, timeout_s: int = 3) -> dict[str, Any]:
    definition = default_definition(GREETING)
    definition.update(no_input_reprompt_s=30, no_input_hangup_s=60, farewell="Goodbye.",
                      transfer={"mode": "attended", "timeout_s": timeout_s})
    definition["script"] = {"start": "menu", "states": {"menu": {"say": "", "intents": [
        {"name": "sales", "dtmf": ["1"], "say": "Connecting you.", "action": "transfer", "extension": extension},
        {"name": "bye", "dtmf": ["9"], "action": "hang_up"},
    ]}}}
    return definition


async def agent_lines(s: Stack, run_id: int) -> list[str]:
    return [e.text or "" for e in await s.store.runs.events(run_id) if e.kind == "transcript" and e.role == "agent"]


async def heard_greeting(s: Stack) -> Any:
    """The run, once the agent has played its greeting to the end (its mark came back)."""
    run = await s.wait_run(lambda r: r.status == "in_progress", timeout=10)
    await s.wait_for_value(lambda: _said(s, run.id, GREETING), timeout=15)
    return run


async def _said(s: Stack, run_id: int, text: str) -> bool:
    return any(text in line for line in await agent_lines(s, run_id))


def targets(s: Stack) -> list[str]:
    return [c for c in s.fake.channels if c.startswith("sbo-")]


def media_channels(s: Stack) -> list[str]:
    return [c for c in s.fake.channels if c.startswith("sbm-")]


async def test_blind_transfer_on_key_1_continues_in_the_dialplan(tmp_path: Path, runtime: AgentRuntime) -> None:  # noqa: F811
    async with stack(tmp_path, agent=runner(runtime), definition=quick(front_desk())) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
        await s.wait(lambda: media.played, timeout=10)  # the agent talks, so it listens: a key barges in
        await s.fake.press_dtmf(channel, "1")
        await s.wait(lambda: s.fake.continues, timeout=15)
        record = s.fake.continues[0]
        assert (record.channel_id, record.context, record.extension) == (channel, "from-internal", "7000")
        run = await s.wait_run(lambda r: r.ended_at is not None)
        assert (run.status, run.reason) == ("completed", "transferred to 7000")
        await s.wait(lambda: channel in s.fake.channels and not s.fake.bridges and not media_channels(s))


async def test_attended_transfer_answered_bridges_caller_and_target(tmp_path: Path, runtime: AgentRuntime) -> None:  # noqa: F811
    async with stack(tmp_path, agent=runner(runtime), definition=attended(ANSWERS)) as s:
        s.fake.set_outbound_behavior(ANSWERS, "answer", ringing_s=0.3)
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        run = await heard_greeting(s)
        await s.fake.press_dtmf(channel, "1")
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None, timeout=15)
        assert (ended.status, ended.reason) == ("completed", "transferred to 7100 (attended)")
        target = (await s.wait(lambda: targets(s), timeout=5))[0]
        assert s.fake.channels[target].name.startswith("PJSIP/7100")  # through the dial template
        # the agent's leg is gone; caller and target talk in the one bridge that is left
        await s.wait(lambda: not media_channels(s) and len(s.fake.bridges) == 1
                     and sorted(next(iter(s.fake.bridges.values())).channels) == sorted([channel, target]))
        media = s.fake.media_connections[0]
        await s.wait(lambda: media.closed_by is not None)
        assert channel in s.fake.channels and not s.fake.continues
        strays = [c for c in s.fake.channels if c not in (channel, target)
                  and s.fake.channels[c].partner_id != channel]  # the caller's own ;1 half is not a stray
        assert strays == []
        events = await s.store.runs.events(run.id)
        assert any(e.kind == "action" and (e.data or {}).get("mode") == "attended" for e in events)
        # the target hangs up: the caller is hung up and the bridge deleted
        await s.fake.caller_hangup(target)
        await s.wait(lambda: not s.leftovers(), timeout=5)
        assert not s.service.controls[s.config.id].pairs


async def test_attended_transfer_not_answered_returns_to_the_agent(tmp_path: Path, runtime: AgentRuntime) -> None:  # noqa: F811
    async with stack(tmp_path, agent=runner(runtime), definition=attended(SILENT, timeout_s=2)) as s:
        s.fake.set_outbound_behavior(SILENT, "noanswer")
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        run = await heard_greeting(s)
        await s.fake.press_dtmf(channel, "1")
        await s.wait(lambda: targets(s), timeout=5)  # it rings
        await s.wait_for_value(lambda: _said(s, run.id, "nobody is available"), timeout=15)
        still = await s.store.runs.get(s.org_id, run.id)
        assert still is not None and still.status == "in_progress" and still.ended_at is None
        assert not targets(s) and len(media_channels(s)) == 1 and not s.fake.continues
        events = await s.store.runs.events(run.id)
        assert any(e.kind == "action" and (e.data or {}).get("action") == "transfer_failed" for e in events)
        await s.fake.caller_hangup(channel)
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None, timeout=10)
        assert ended.status == "completed" and ended.reason == "caller hung up"
        await s.wait(lambda: not s.leftovers(), timeout=5)
