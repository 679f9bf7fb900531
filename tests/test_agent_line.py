"""The voice runtime on a bad line, in memory (tests/support/loopback.py with an `EchoPath`): the
agent's own voice comes back, the caller talks over it, a noise burst barges in, nobody talks.
Real models; the same behaviours over real sockets are in tests/e2e/test_voice_line.py."""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from agent.audio import LINE_RATE
from agent.runtime import AgentResult, AgentRuntime
from agent.utterance import Utterance
from media.g711 import ulaw_encode
from tests.fake_asterisk.line import EchoPath, burst
from tests.support.loopback import LoopbackCall
from tests.test_agent_voice import CONTEXT, Recorder, definition, finish, phrase, runtime  # noqa: F401

pytest.importorskip("pywebrtc_audio")


async def start_on(line: EchoPath | None, runtime: AgentRuntime,  # noqa: F811
                   defn: dict[str, Any]) -> tuple[LoopbackCall, Recorder, asyncio.Task[AgentResult]]:
    call, recorder = LoopbackCall(echo=line), Recorder()
    return call, recorder, asyncio.create_task(runtime.run(call, defn, CONTEXT, recorder))


def agent_lines(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    return [(text or "", data) for _, text, data in recorder.of("transcript", "agent")]


def vowel_burst(seconds: float = 0.3) -> bytes:
    """The fake line's speech-like burst with no words (it starts speech in the VAD)."""
    pcm = burst("vowels", seconds, -20.0, LINE_RATE, np.random.default_rng(3))
    return bytes(ulaw_encode(np.concatenate([pcm, np.zeros(LINE_RATE // 5, np.int16)])).tobytes())


async def test_a_silent_echoing_line_is_never_taken_for_the_caller_and_ends_by_itself(
        runtime: AgentRuntime) -> None:  # noqa: F811
    call, recorder, task = await start_on(EchoPath(0.04, 0.0), runtime,
                                          definition(no_input_reprompt_s=2, no_input_hangup_s=4))
    result = await finish(call, task, 40)
    assert result == AgentResult("completed", "no input from the caller")
    lines = agent_lines(recorder)
    assert [data["interrupted"] for _, data in lines] == [False, False, False], lines
    assert not call.flushes and not recorder.of("transcript", "caller")


async def test_noise_bursts_without_words_do_not_keep_a_call_alive(runtime: AgentRuntime) -> None:  # noqa: F811
    """Every few seconds a burst barges in (or, in silence, comes to nothing): the agent resumes what
    it was saying, but the no-input clock only stops while it speaks, so the call still ends."""
    call, recorder, task = await start_on(None, runtime, definition(no_input_reprompt_s=2, no_input_hangup_s=4))
    noisy = asyncio.create_task(_bursts(call))
    try:
        result = await finish(call, task, 60)
    finally:
        noisy.cancel()
    assert result == AgentResult("completed", "no input from the caller")
    assert len(call.flushes) >= 1 and any(data.get("resumed") for _, data in agent_lines(recorder))


async def _bursts(call: LoopbackCall) -> None:
    await call.until(lambda: len(call.played) >= 100, 10)
    while not call.closed:
        await call.say(vowel_burst())
        await asyncio.sleep(2.5)  # the behaviour under test: a burst every few seconds


async def test_the_caller_is_heard_over_the_echo_and_understood(runtime: AgentRuntime) -> None:  # noqa: F811
    call, recorder, task = await start_on(EchoPath(0.04, -6.0), runtime, definition())
    await call.until(lambda: len(call.played) >= 125, 10)  # 2.5 s into the greeting
    await call.say(phrase("04"))  # "Transfer me to sales."
    try:
        result = await finish(call, task)
    except TimeoutError:
        raise AssertionError(recorder.events) from None
    assert result.transferred_to == "7000" and call.flushes
    (_, data), *_ = agent_lines(recorder)
    assert data["interrupted"] is True and data["barge_in"]["gate"] == "above echo"


async def test_a_burst_without_words_resumes_the_cut_sentence(runtime: AgentRuntime) -> None:  # noqa: F811
    call, recorder, task = await start_on(None, runtime, definition())
    await call.until(lambda: len(call.played) >= 125, 10)  # in "Say sales or support, …"
    await call.say(vowel_burst())
    await call.until(lambda: len(agent_lines(recorder)) >= 2, 15)
    (cut, cut_data), (again, again_data) = agent_lines(recorder)[:2]
    assert cut_data["interrupted"] is True and again_data.get("resumed") is True
    assert again.startswith("Say sales or support") and again in cut_data["said"]
    assert not recorder.of("transcript", "caller")
    flushed_at = call.flushes[0][0]
    resumed_at = call.first_audio_after(flushed_at + 0.02, audible=True)
    assert resumed_at is not None and resumed_at - flushed_at < 3.0  # figures: bench/line_reactions.py
    await call.hang_up_by_caller()
    await finish(call, task)


def test_what_is_said_again_is_the_cut_sentence_and_the_rest() -> None:
    spoken = Utterance()
    for sentence, seconds in (("Thanks for calling.", 1.0), ("Say sales or support.", 2.0), ("Or press 1.", 1.0)):
        spoken.queued(spoken.begin(sentence), seconds, new_run=not spoken.pieces)
    assert spoken.unheard(0.5) == "Thanks for calling. Say sales or support. Or press 1."
    assert spoken.unheard(1.5) == "Say sales or support. Or press 1."
    assert spoken.unheard(3.2) == "Or press 1."
    assert spoken.unheard(4.0) == ""
