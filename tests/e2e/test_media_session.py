"""The agent's audio API against the fake chan_websocket: marks, flush (barge-in), XOFF/XON."""
from __future__ import annotations

import asyncio
from pathlib import Path

from media.protocol import MediaXoff, MediaXon
from tests.e2e.harness import Outcome, caller_audio, stack
from tests.fake_asterisk.media_protocol import format_control


class ScriptedAgent:
    """Plays `audio`, then runs `script(session)`; keeps what it measured."""

    def __init__(self, script):  # type: ignore[no-untyped-def]
        self.script = script
        self.sessions: list = []  # type: ignore[type-arg]
        self.results: dict[str, object] = {}

    async def __call__(self, session, definition, context, on_event):  # type: ignore[no-untyped-def]
        self.sessions.append(session)
        await self.script(session, self.results)
        await session.wait_closed()
        return Outcome("completed", "caller hung up")


async def test_mark_resolves_when_the_caller_has_heard_the_audio(tmp_path: Path) -> None:
    audio = caller_audio(2)

    async def script(session, results):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        started = loop.time()
        session.play(audio)
        results["played"] = await session.mark("end-of-yes")
        results["elapsed"] = loop.time() - started

    agent = ScriptedAgent(script)
    async with stack(tmp_path, agent=agent) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait(lambda: "played" in agent.results, timeout=10)
        assert agent.results["played"] is True
        duration = -(-len(audio) // 160) * 0.020
        assert agent.results["elapsed"] >= duration - 0.05  # not before the audio has played out
        media = s.fake.media_connections[-1]
        assert "MARK_MEDIA end-of-yes" in [t for _, t in media.texts_from_app]
        assert len(s.fake.heard(channel)) >= len(audio) // 160 * 160
        await s.fake.caller_hangup(channel)


async def test_flush_cuts_the_agent_short_and_reports_what_was_heard(tmp_path: Path) -> None:
    audio = caller_audio(0)  # about 2.4 s

    async def script(session, results):  # type: ignore[no-untyped-def]
        session.play(audio)
        marker = session.mark("never")
        await asyncio.sleep(0.6)  # the behaviour under test: the caller barges in 0.6 s into the reply
        results["heard_s"] = await session.flush()
        results["mark"] = await marker
        results["speaking_after"] = session.speaking

    agent = ScriptedAgent(script)
    async with stack(tmp_path, agent=agent) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait(lambda: "speaking_after" in agent.results, timeout=10)
        assert 0.4 < agent.results["heard_s"] < 0.8 and agent.results["mark"] is False
        assert agent.results["speaking_after"] is False
        media = s.fake.media_connections[-1]
        await s.wait(lambda: "FLUSH_MEDIA" in [t for _, t in media.texts_from_app])
        heard_before = len(s.fake.heard(channel))
        assert heard_before < len(audio) // 2
        await asyncio.sleep(0.3)  # the behaviour under test: nothing more is played after the flush
        assert len(s.fake.heard(channel)) - heard_before <= 160 * 2
        await s.fake.caller_hangup(channel)


async def test_pacer_pauses_on_xoff_and_resumes_on_xon(tmp_path: Path) -> None:
    async def script(session, results):  # type: ignore[no-untyped-def]
        session._on_text(format_control(MediaXoff(channel_id=session.channel_id)))
        session.play(caller_audio(2))
        await asyncio.sleep(0.3)  # the behaviour under test: nothing is sent while XOFF holds
        results["sent_during_xoff"] = session.stats.frames_out
        session._on_text(format_control(MediaXon(channel_id=session.channel_id)))
        results["played"] = await session.mark("after-xon")
        results["xoff_count"] = session.stats.xoff_count

    agent = ScriptedAgent(script)
    async with stack(tmp_path, agent=agent) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait(lambda: "played" in agent.results, timeout=10)
        assert agent.results["sent_during_xoff"] == 0 and agent.results["played"] is True
        assert agent.results["xoff_count"] == 1
        await s.fake.caller_hangup(channel)
