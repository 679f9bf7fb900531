"""The voice runtime on an in-memory call that plays agent audio out in real time and feeds the
recorded caller phrases (a different voice from the agent's) in real time. Real models, no mocks."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.audio import ulaw_to_float
from agent.definition import validate_definition
from agent.runtime import AgentResult, AgentRuntime
from agent.samples import front_desk
from agent.text import words
from tests.fixtures import caller_ulaw
from tests.support.loopback import LoopbackCall

REPO = Path(__file__).resolve().parents[1]
CONTEXT = {"caller_number": "5550100", "called_number": "100", "direction": "inbound", "call_id": "c1",
           "provider": "test"}


def phrase(number: str) -> bytes:
    return caller_ulaw(int(number))


def onset_s(ulaw: bytes) -> float:
    """Where speech starts in a caller recording: the first 20 ms frame above -40 dBFS."""
    samples = ulaw_to_float(ulaw)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return float(loud[0]) * 0.02


@pytest.fixture(scope="module")
def runtime() -> Iterator[AgentRuntime]:
    loaded = AgentRuntime.load()
    yield loaded
    asyncio.run(loaded.close())


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str | None, str | None, dict[str, Any]]] = []

    async def __call__(self, kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), kind, role, text, data))

    def of(self, kind: str, role: str | None = None) -> list[tuple[float, str | None, dict[str, Any]]]:
        return [(t, text, data) for t, k, r, text, data in self.events if k == kind and (role is None or r == role)]


def definition(**changes: Any) -> dict[str, Any]:
    clean, errors = validate_definition(front_desk() | changes)
    assert errors == {} and clean is not None
    return clean


async def start(runtime: AgentRuntime, defn: dict[str, Any]) -> tuple[LoopbackCall, Recorder,
                                                                       asyncio.Task[AgentResult]]:
    call, recorder = LoopbackCall(), Recorder()
    return call, recorder, asyncio.create_task(runtime.run(call, defn, CONTEXT, recorder))


async def finish(call: LoopbackCall, task: asyncio.Task[AgentResult], timeout: float = 15) -> AgentResult:
    try:
        return await asyncio.wait_for(task, timeout)
    finally:
        await call.aclose()


async def test_greeting_is_played_and_whisper_understands_it(runtime: AgentRuntime) -> None:
    began = time.monotonic()
    call, recorder, task = await start(runtime, definition())
    await call.until(lambda: bool(recorder.of("transcript", "agent")), 20)
    assert call.played and call.played[0].at - began < 1.0
    assert runtime.stt is not None
    heard = await runtime.stt.transcribe(ulaw_to_float(call.agent_audio()))
    said = words(heard.text)
    assert {"sales", "support", "press"} <= set(said), heard.text
    _, text, data = recorder.of("transcript", "agent")[0]
    assert "Say sales or support" in (text or "") and data["interrupted"] is False
    await call.hang_up_by_caller()
    result = await finish(call, task, 5)
    assert result.status == "completed" and "caller hung up" in result.reason


async def test_transfer_me_to_sales_is_a_blind_transfer_to_7000(runtime: AgentRuntime) -> None:
    call, recorder, task = await start(runtime, definition(greeting="Hello."))
    await call.until(lambda: bool(call.marks), 10)  # the greeting has played
    await call.say(phrase("04"))  # "Transfer me to sales."
    result = await finish(call, task)
    assert result == AgentResult("completed", "transferred to 7000", "7000")
    assert call.transferred_to == "7000" and call.unplayed_at_end == 0
    caller = [text for _, text, _ in recorder.of("transcript", "caller")]
    assert caller and "sales" in words(caller[0] or "")
    assert [d["extension"] for _, _, d in recorder.of("action")] == ["7000"]
    (_, _, latency), = recorder.of("latency")
    assert 0 < latency["voice_to_voice_ms"] < 3000


async def test_key_1_during_the_greeting_goes_to_sales(runtime: AgentRuntime) -> None:
    call, recorder, task = await start(runtime, definition())
    await call.until(lambda: len(call.played) >= 10, 10)
    call.press("1")
    result = await finish(call, task)
    assert result.transferred_to == "7000" and call.transferred_to == "7000"
    assert call.flushes, "the key press cut the greeting short"
    assert [text for _, text, _ in recorder.of("dtmf", "caller")] == ["1"]
    said = [text for _, text, _ in recorder.of("transcript", "agent")]
    assert said[-1] == "Connecting you to sales."


async def test_silence_reprompts_once_then_says_farewell_and_hangs_up(runtime: AgentRuntime) -> None:
    defn = definition(greeting="Hello.", no_input_reprompt_s=1, no_input_hangup_s=2)
    call, recorder, task = await start(runtime, defn)
    result = await finish(call, task)
    assert result == AgentResult("completed", "no input from the caller")
    said = [text or "" for _, text, _ in recorder.of("transcript", "agent")]
    assert said[0] == "Hello." and said[1].startswith("Are you still there?")
    assert said[2] == defn["farewell"] and len(said) == 3
    assert call.hangup_reason == "no input from the caller"
    # the farewell played to its mark before the hang-up
    assert call.unplayed_at_end == 0 and call.ended_at is not None
    assert call.marks[-1][0] <= call.ended_at
    reprompt_at = recorder.of("transcript", "agent")[1][0]
    greeting_end = call.marks[0][0]
    assert 1.0 <= reprompt_at - greeting_end


async def test_barge_in_flushes_within_300_ms_and_records_what_was_heard(runtime: AgentRuntime) -> None:
    call, recorder, task = await start(runtime, definition())
    await call.until(lambda: len(call.played) >= 75, 10)  # 1.5 s into the greeting
    audio = phrase("04")  # "Transfer me to sales."
    started = await call.say(audio)
    result = await finish(call, task)
    onset = started + onset_s(audio)
    assert call.flushes, "no flush"
    flushed_at, heard_s = call.flushes[0]
    assert flushed_at - onset <= 0.3, f"flush {1000 * (flushed_at - onset):.0f} ms after speech onset"
    assert 1.0 <= heard_s <= 4.0
    greeting = [(t, text, data) for t, text, data in recorder.of("transcript", "agent")][0]
    _, heard_text, data = greeting
    assert data["interrupted"] is True and data["said"].startswith("Thanks for calling.")
    assert heard_text and data["said"].startswith(heard_text) and len(heard_text) < len(data["said"])
    # no more of the greeting after the flush: the next audio is the reply to the caller
    caller_at = recorder.of("transcript", "caller")[0][0]
    next_audio = call.first_audio_after(flushed_at)
    assert next_audio is None or next_audio >= caller_at - 0.05
    assert result.transferred_to == "7000"


async def test_caller_hang_up_ends_the_run_promptly(runtime: AgentRuntime) -> None:
    call, recorder, task = await start(runtime, definition())
    await call.until(lambda: len(call.played) >= 5, 10)
    await call.hang_up_by_caller()
    ended = time.monotonic()
    result = await finish(call, task, 2)
    assert result.status == "completed" and time.monotonic() - ended < 1.0


async def test_optional_piper_voice_speaks_when_installed() -> None:
    pytest.importorskip("piper", reason="piper-tts is an optional GPL extra (requirements-piper.txt)")
    from concurrent.futures import ThreadPoolExecutor

    from agent.tts import PiperTts
    with ThreadPoolExecutor(1) as pool:
        chunks = [chunk async for chunk in PiperTts(pool).synthesize("Thanks for calling.")]
    assert chunks and sum(len(c) for c in chunks) > 4000  # over half a second at 8 kHz


async def test_an_unanswered_attended_transfer_keeps_the_script_in_its_state(runtime: AgentRuntime) -> None:
    call, recorder, task = await start(runtime, definition(greeting="Hello.",
                                                           transfer={"mode": "attended", "timeout_s": 5}))
    call.attended_answers = False
    await call.until(lambda: bool(call.marks), 10)
    call.press("1")
    await call.until(lambda: any("nobody is available" in (t or "") for _, t, _ in recorder.of("transcript", "agent")),
                     15)
    assert not task.done() and call.transferred_to is None
    failed = [d for _, _, d in recorder.of("action") if d.get("action") == "transfer_failed"]
    assert failed and failed[0]["extension"] == "7000"
    call.attended_answers = True
    call.press("1")  # still the menu: key 1 is sales again, and this time it answers
    result = await finish(call, task)
    assert result == AgentResult("completed", "transferred to 7000 (attended)", "7000")
    assert call.transfer_attempts == [("7000", True), ("7000", True)]
