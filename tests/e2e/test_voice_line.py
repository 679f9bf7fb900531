"""The embedded voice agent on a bad line (issue 11): the fake Asterisk echoes the agent back
(`EchoPath`: delay, gain; delay 0 is Asterisk's `Echo()`) or sends a noise burst, over real
sockets. The agent must not interrupt itself, must still yield to a caller who talks over it,
must resume after a barge-in that brought no words, and every call must end by itself.

Latencies are measured at the fake and kept as data in the run events (`flush_ms`,
`barge_in.decided_ms`); their figures come from `bench/line_reactions.py`. The bounds asserted here
are generous on purpose (a 2-core machine shared with other suites): they catch a barge-in or a
resume that does not happen at all or waits for a whole turn, not a few hundred milliseconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.runtime import AgentRuntime
from agent.samples import front_desk
from media.g711 import ulaw_to_pcm16
from tests.e2e.harness import Stack, caller_audio, stack
from tests.e2e.test_outbound_calls import api, dial
from tests.e2e.test_voice_agent import runner, runtime  # noqa: F401  (module-scoped fixture)
from tests.fake_asterisk.line import EchoPath

pytest.importorskip("pywebrtc_audio")

LINES = {"Echo()": EchoPath(0.0, 0.0), "0 dB / 40 ms": EchoPath(0.04, 0.0), "-6 dB / 40 ms": EchoPath(0.04, -6.0),
         "-12 dB / 40 ms": EchoPath(0.04, -12.0)}


def loud(frame: bytes) -> bool:
    """A 20 ms frame above -40 dBFS."""
    pcm = np.frombuffer(ulaw_to_pcm16(frame), dtype=np.int16).astype(np.float64) / 32768
    return bool(len(pcm)) and float(np.sqrt(np.mean(pcm**2))) > 0.01


def flush_times(s: Stack) -> list[float]:
    """When the app sent FLUSH_MEDIA, on any media connection (these tests have one call each)."""
    return [t for media in s.fake.media_connections for t, text in media.texts_from_app if text == "FLUSH_MEDIA"]


async def agent_lines(s: Stack, run_id: int) -> list[Any]:
    return [e for e in await s.store.runs.events(run_id) if e.kind == "transcript" and e.role == "agent"]


async def test_a_silent_echoing_line_hears_every_line_to_the_end_and_ends_completed(
        tmp_path: Path, runtime: AgentRuntime) -> None:  # noqa: F811
    """Default timers (reprompt after 8 s without words, hang up after 20 s): greeting, reprompt,
    farewell, each played to its end although each comes straight back; about 32 s a call."""
    async with stack(tmp_path, agent=runner(runtime), definition=front_desk()) as s:
        channels = {name: await s.fake.place_inbound_call(f"+1555010{i}", "8000", echo=line)
                    for i, (name, line) in enumerate(LINES.items())}
        started = s.fake.now()
        await s.wait(lambda: all(c not in s.fake.channels for c in channels.values()), timeout=60)
        took = s.fake.now() - started
        runs = await s.wait_for_value(lambda: _ended_runs(s, set(channels.values())), timeout=5)
        seen = {name: await _summary(s, runs[channel]) for name, channel in channels.items()}
        for name, (status, reason, lines, heard) in seen.items():
            assert status == "completed" and "no input" in reason, (name, seen[name])
            assert [data.get("interrupted") for _, data in lines] == [False, False, False], (name, seen[name])
            assert "Say sales or support" in lines[0][0] and "Goodbye" in lines[-1][0] and not heard, seen[name]
        assert took < 40, seen
        assert not flush_times(s) and not s.leftovers()
        for channel in channels.values():  # the echo really came back: what the fake sent the app
            assert sum(loud(f.data) for f in s.fake.caller(channel).sent) > 100


async def _ended_runs(s: Stack, channels: set[str]) -> dict[str, Any] | None:
    runs = {r.call_id: r for r in await s.store.runs.list(s.org_id, limit=20) if r.call_id in channels}
    return runs if len(runs) == len(channels) and all(r.ended_at for r in runs.values()) else None


async def _summary(s: Stack, run: Any) -> tuple[str, str, list[tuple[str, dict[str, Any]]], list[str]]:
    """(status, reason, the agent's lines with their data, what was taken for caller words)."""
    events = await s.store.runs.events(run.id)
    lines = [(e.text or "", e.data) for e in events if e.kind == "transcript" and e.role == "agent"]
    return run.status, run.reason or "", lines, [e.text or "" for e in events if e.kind == "transcript"
                                                 and e.role == "caller"]


@pytest.mark.parametrize("name", ["0 dB / 40 ms", "-6 dB / 40 ms", "-12 dB / 40 ms"])
async def test_a_caller_talking_over_the_agent_on_an_echoing_line_interrupts_it(
        tmp_path: Path, runtime: AgentRuntime, name: str) -> None:  # noqa: F811
    """(Not on `Echo()`: there the far end is the echo, nobody talks over it; the fake would send
    the echo and the speech as separate frames, twice the line's frame rate.)"""
    async with stack(tmp_path, agent=runner(runtime), definition=front_desk()) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000", echo=LINES[name])
        media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
        await s.wait(lambda: len(media.played) > 125, timeout=10)  # 2.5 s into the greeting
        leg = s.fake.caller(channel)
        said_before = len(leg.said)
        await s.fake.caller_say(channel, caller_audio(4))  # "Transfer me to sales."
        onset = await s.wait(lambda: next((f.t for f in leg.said[said_before:] if loud(f.data)), None))
        flushed = await s.wait(lambda: next((t for t in flush_times(s) if t > onset - 0.1), None), 5)
        await s.wait(lambda: s.fake.continues, timeout=20)  # the words were understood: sales
        assert s.fake.continues[0].extension == "7000"
        run = await s.wait_run(lambda r: r.ended_at is not None, timeout=10)
        greeting = (await agent_lines(s, run.id))[0]
        assert greeting.data["interrupted"] is True and greeting.data["barge_in"]["gate"] != "caller words"
        assert flushed - onset < 1.0, f"FLUSH_MEDIA {1000 * (flushed - onset):.0f} ms after the caller's onset"
        assert 0 <= greeting.data["flush_ms"] < 1000


async def test_a_noise_burst_that_barges_in_without_words_makes_the_agent_resume(
        tmp_path: Path, runtime: AgentRuntime) -> None:  # noqa: F811
    """A 0.3 s vowel-like burst starts speech in the VAD (a barge-in) and comes back from Whisper as
    a filler: the agent says the cut sentence again, and the transcript marks it resumed."""
    async with stack(tmp_path, agent=runner(runtime), definition=front_desk()) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
        await s.wait(lambda: len(media.played) > 125, timeout=10)  # into "Say sales or support, …"
        leg = s.fake.caller(channel)
        s.fake.noise_burst(channel, 0.3, -20.0, kind="vowels")
        flushed = await s.wait(lambda: next(iter(flush_times(s)), None), timeout=5)
        resumed = await s.wait(lambda: next((f.t for f in leg.heard if f.t > flushed and loud(f.data)), None), 5)
        burst_end = max(f.t for f in leg.sent if f.t < resumed) + 0.02
        run = await s.wait_run(lambda r: r.status == "in_progress")
        lines = await s.wait_for_value(lambda: _resumed_lines(s, run.id), timeout=15)
        cut, again = lines
        assert cut.data["interrupted"] is True and again.data.get("resumed") is True
        assert (again.text or "").startswith("Say sales or support") and again.text in cut.data["said"]
        assert not [e for e in await s.store.runs.events(run.id) if e.kind == "transcript" and e.role == "caller"]
        assert resumed - burst_end < 2.0, f"resumed {1000 * (resumed - burst_end):.0f} ms after the burst"
        await s.fake.caller_hangup(channel)


async def _resumed_lines(s: Stack, run_id: int) -> list[Any] | None:
    lines = await agent_lines(s, run_id)
    return lines[:2] if len(lines) >= 2 and lines[1].data.get("interrupted") is False else None


async def test_an_answered_outbound_call_to_an_echoing_line_ends_by_itself(tmp_path: Path,
                                                                         runtime: AgentRuntime) -> None:  # noqa: F811
    definition = {**front_desk(), "no_input_reprompt_s": 2, "no_input_hangup_s": 4}
    async with stack(tmp_path, agent=runner(runtime), definition=definition) as s, api(s) as client:
        s.fake.set_outbound_behavior("6001", "answer", ringing_s=0.2, echo=EchoPath(0.04, 0.0))
        run_id = await dial(client, s, "6001")
        run = await s.wait_run(lambda r: r.id == run_id and r.ended_at is not None, timeout=40)
        assert run.status == "completed" and "no input" in (run.reason or ""), run
        assert [e.data.get("interrupted") for e in await agent_lines(s, run_id)] == [False, False, False]
        await s.wait(lambda: not s.leftovers(), timeout=5)  # channels and bridge gone
