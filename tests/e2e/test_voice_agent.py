"""The embedded voice agent on a real call: fake Asterisk ⇄ Switchboard ⇄ Whisper/hibari, offline.

Caller audio is the Piper voice of tests/fixtures/callers; the agent speaks with hibari, so the two
voices differ."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.runtime import AgentRuntime
from agent.samples import front_desk
from media.g711 import ulaw_to_pcm16
from tests.e2e.harness import caller_audio, stack


@pytest.fixture(scope="module")
def runtime() -> Iterator[AgentRuntime]:
    loaded = AgentRuntime.load(workers=2)
    yield loaded
    asyncio.run(loaded.close())


def runner(runtime: AgentRuntime) -> Any:
    async def run(session, definition, context, on_event):  # type: ignore[no-untyped-def]
        return await runtime.run(session, definition, context, on_event)

    return run


def loud_ms(ulaw: bytes) -> float:
    """Milliseconds of `ulaw` with speech-like energy (20 ms windows above -40 dBFS)."""
    pcm = np.frombuffer(ulaw_to_pcm16(ulaw[: len(ulaw) // 160 * 160]), dtype=np.int16).astype(np.float64)
    frames = pcm.reshape(-1, 160)
    rms = np.sqrt((frames**2).mean(axis=1)) / 32768
    return float((rms > 0.01).sum() * 20)


def quick(definition: dict[str, Any]) -> dict[str, Any]:
    return {**definition, "no_input_reprompt_s": 2, "no_input_hangup_s": 4}


async def greeted(s, channel: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the caller has heard the whole greeting (about 5 s, 3 s of it voiced) and it went quiet."""
    await s.wait(lambda: loud_ms(s.fake.heard(channel)) > 2000, timeout=20)
    media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
    await s.wait(lambda: media.played and s.fake.now() - media.played[-1].t > 0.3, timeout=20)


async def test_front_desk_greets_and_transfers_to_sales_on_request(tmp_path: Path, runtime: AgentRuntime) -> None:
    async with stack(tmp_path, agent=runner(runtime), definition=quick(front_desk())) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        await greeted(s, channel)  # "Thanks for calling. Say sales or support, …"
        await s.fake.caller_say(channel, caller_audio(4))  # "Transfer me to sales."
        await s.wait(lambda: s.fake.continues, timeout=20)
        record = s.fake.continues[0]
        assert (record.channel_id, record.context, record.extension) == (channel, "from-internal", "7000")
        run = await s.wait_run(lambda r: r.ended_at is not None, timeout=10)
        assert run.status == "completed" and run.reason == "transferred to 7000"
        events = await s.store.runs.events(run.id)
        said = [e.text for e in events if e.kind == "transcript" and e.role == "caller"]
        assert any("sales" in (text or "").lower() for text in said)
        await s.wait(lambda: channel in s.fake.channels and not s.fake.bridges)  # caller kept, bridge gone


async def test_key_1_is_the_sales_intent(tmp_path: Path, runtime: AgentRuntime) -> None:
    async with stack(tmp_path, agent=runner(runtime), definition=quick(front_desk())) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        await greeted(s, channel)
        await s.fake.press_dtmf(channel, "1")
        await s.wait(lambda: s.fake.continues, timeout=15)
        assert s.fake.continues[0].extension == "7000"
        run = await s.wait_run(lambda r: r.ended_at is not None)
        assert [e.text for e in await s.store.runs.events(run.id) if e.kind == "dtmf"] == ["1"]


async def test_silence_gets_one_reprompt_then_a_polite_hang_up(tmp_path: Path, runtime: AgentRuntime) -> None:
    async with stack(tmp_path, agent=runner(runtime), definition=quick(front_desk())) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        run = await s.wait_run(lambda r: r.ended_at is not None, timeout=30)
        assert run.status == "completed" and "no input" in (run.reason or "")
        agent_lines = [e.text for e in await s.store.runs.events(run.id) if e.kind == "transcript" and e.role == "agent"]
        assert any("still there" in (t or "") for t in agent_lines) and "Goodbye" in agent_lines[-1]
        assert channel not in s.fake.channels and not s.leftovers()


async def test_caller_barging_in_flushes_the_greeting_within_300_ms(tmp_path: Path, runtime: AgentRuntime) -> None:
    async with stack(tmp_path, agent=runner(runtime), definition=quick(front_desk())) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
        await s.wait(lambda: len(media.played) > 40, timeout=10)  # 0.8 s into the greeting
        loop = asyncio.get_running_loop()
        onset = loop.time()
        await s.fake.caller_say(channel, caller_audio(0))
        flushed = await s.wait(lambda: next((t for t, text in media.texts_from_app if text == "FLUSH_MEDIA"), None),
                               timeout=5)
        assert flushed - onset < 0.3
        run = await s.wait_run(lambda r: r.status == "in_progress")
        greeting = None
        async with asyncio.timeout(5):  # the interrupted line is recorded just after the flush
            while greeting is None:
                events = await s.store.runs.events(run.id)
                greeting = next((e for e in events if e.kind == "transcript" and e.role == "agent"), None)
                await asyncio.sleep(0.01)
        assert greeting.data.get("interrupted") is True and 0 < greeting.data.get("heard_s", 0) < 3
        await s.fake.caller_hangup(channel)
