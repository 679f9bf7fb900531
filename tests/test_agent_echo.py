"""agent/echo.py on real speech: the canceller removes the agent's echo (WebRTC AEC3) from the caller
stream while the caller's own words pass, with the reference placed by play time and the caller
frames by arrival; the gate tells echo from the caller at a speech start; the transcript filter."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from agent.audio import LINE_RATE, float_to_ulaw, ulaw_to_float
from agent.echo import CleanFrame, EchoCanceller, EchoGate, caller_words, level_dbfs
from agent.vad import Endpointer, PreGate, SpeechStarted, VadPool
from tests.fixtures import caller_ulaw

pytest.importorskip("pywebrtc_audio")

FRAME = 160
DELAY = 320  # 40 ms


@dataclass
class Call:
    agent: np.ndarray  # float, what we played, on the sample clock
    caller: np.ndarray  # float, the caller alone
    near: bytes  # µ-law: caller + echo as it arrives
    caller_at: int  # sample where the caller starts


def simulated_call(gain_db: float, *, caller_at_s: float | None = 4.5) -> Call:
    """The agent talks (three caller-voice phrases stand in for it), the line echoes it back after
    40 ms at `gain_db`; the caller says "Transfer me to sales." over it from `caller_at_s`."""
    agent = np.concatenate([ulaw_to_float(caller_ulaw(n)) for n in (0, 6, 8)])
    agent = np.concatenate([agent, np.zeros(2 * LINE_RATE, np.float32)])
    caller = np.zeros_like(agent)
    at = len(agent)
    if caller_at_s is not None:
        words = ulaw_to_float(caller_ulaw(4))
        at = int(caller_at_s * LINE_RATE)
        caller[at:at + len(words)] = words
    echo = np.zeros_like(agent)
    echo[DELAY:] = agent[:-DELAY] * 10 ** (gain_db / 20)
    return Call(agent, caller, float_to_ulaw(caller + echo), at)


def run(call: Call, canceller: EchoCanceller, *, jitter_s: float = 0.0) -> list[CleanFrame]:
    """Frame k of our audio plays at k*20 ms; caller frame k arrives when it ends (plus jitter)."""
    rng = np.random.default_rng(1)
    sent = float_to_ulaw(call.agent)
    out = []
    for k in range(len(call.near) // FRAME):
        s = slice(k * FRAME, (k + 1) * FRAME)
        canceller.agent(sent[s], k * 0.02)
        arrival = (k + 1) * 0.02 + (float(rng.uniform(0, jitter_s)) if jitter_s else 0.0)
        out.append(canceller.cancel(call.near[s], arrival))
    return out


def frames_level(x: np.ndarray, frames: slice) -> float:
    return level_dbfs(x[frames.start * FRAME:frames.stop * FRAME])


@pytest.mark.parametrize("gain_db", [0.0, -6.0, -12.0])
def test_the_echo_is_cancelled_and_the_caller_kept(gain_db: float) -> None:
    call = simulated_call(gain_db)
    frames = run(call, EchoCanceller())
    out = np.concatenate([f.samples for f in frames])
    echo_only = slice(75, call.caller_at // FRAME)  # after 1.5 s of convergence, before the caller
    echo_in = frames_level(ulaw_to_float(call.near), echo_only)
    erle = echo_in - frames_level(out, echo_only)
    assert erle > 25.0
    words = slice(call.caller_at // FRAME, call.caller_at // FRAME + 75)  # 1.5 s of double talk
    assert frames_level(out, words) - frames_level(call.caller, words) > -6.0  # the caller is not suppressed


def test_jittered_arrivals_still_line_up_with_the_reference() -> None:
    call = simulated_call(-6.0, caller_at_s=None)
    frames = run(call, EchoCanceller(), jitter_s=0.012)
    out = np.concatenate([f.samples for f in frames])
    span = slice(75, len(frames) - 100)
    assert frames_level(ulaw_to_float(call.near), span) - frames_level(out, span) > 25.0


def test_idle_agent_costs_nothing_and_the_caller_passes_untouched() -> None:
    call = simulated_call(-6.0)
    canceller = EchoCanceller(idle_s=0.5)
    sent = float_to_ulaw(call.agent)
    canceller.agent(sent[: 50 * FRAME], 0.0)  # 1 s of agent audio queued ...
    canceller.agent_flushed(0.2)  # ... but flushed after 200 ms (barge-in): the rest never plays
    quiet = [canceller.cancel(call.near[k * FRAME:(k + 1) * FRAME], (k + 1) * 0.02) for k in range(60, 100)]
    assert canceller.engine_frames == 0
    assert all(not f.agent_active for f in quiet)
    assert b"".join(f.ulaw for f in quiet) == call.near[60 * FRAME:100 * FRAME]


def test_odd_frame_sizes_keep_the_stream_whole() -> None:
    """Asterisk may send frames of any size (157 B was seen): whole 10 ms blocks go through, the
    rest waits for the next frame, nothing is lost or repeated."""
    call = simulated_call(-12.0, caller_at_s=None)
    canceller = EchoCanceller()
    canceller.agent(float_to_ulaw(call.agent), 0.0)
    sizes = [157, 163, 80, 1, 239]
    pos, got, k = 0, 0, 0
    while pos + 239 < 2 * LINE_RATE:
        n = sizes[k % len(sizes)]
        got += len(canceller.cancel(call.near[pos:pos + n], (pos + n) / LINE_RATE).ulaw)
        pos, k = pos + n, k + 1
    assert pos - got < 80 and (pos - got) >= 0


def test_vad_plus_gate_hears_the_caller_not_the_echo() -> None:
    """The chain the voice session will run: cleaned frames into the VAD, the gate asked at each
    speech start. Echo at 0 dB: no start gets through while only the agent talks; the caller talking
    over the agent is accepted within 300 ms."""
    call = simulated_call(0.0)
    canceller, gate = EchoCanceller(), EchoGate()
    pool = VadPool()
    model = pool.acquire()
    endpointer = Endpointer(model, end_of_speech_ms=600, pregate=PreGate())
    sent = float_to_ulaw(call.agent)
    accepted: list[float] = []
    pending: float | None = None
    try:
        for k in range(len(call.near) // FRAME):
            s = slice(k * FRAME, (k + 1) * FRAME)
            now = (k + 1) * 0.02
            canceller.agent(sent[s], k * 0.02)
            frame = canceller.cancel(call.near[s], now)
            gate.observe(frame, caller_speaking=endpointer.in_speech)
            for event in endpointer.feed(frame.ulaw, now):
                if isinstance(event, SpeechStarted):
                    pending = event.at
            if pending is not None and gate.judge_start(since=pending).accepted:
                accepted.append(now)
                pending = None
    finally:
        pool.release(model)
    onset = call.caller_at / LINE_RATE
    assert accepted and all(t >= onset for t in accepted)  # nothing before the caller spoke
    assert accepted[0] - onset < 0.3


def _frame(at: float, residual: float, reference: float, active: bool = True) -> CleanFrame:
    return CleanFrame(b"", np.zeros(0, np.float32), at, residual, residual, reference, active)


def test_gate_learns_the_leak_and_needs_a_margin_above_it() -> None:
    gate = EchoGate(margin_db=10.0)
    for k in range(50):  # the agent talks at -20 dBFS, 40 dB of it is cancelled
        gate.observe(_frame(k * 0.02, -60.0, -20.0), caller_speaking=False)
    assert gate.leak_db == pytest.approx(-40.0)
    for k in range(50, 60):  # a little louder residual: still the echo
        gate.observe(_frame(k * 0.02, -55.0, -20.0), caller_speaking=True)
    decision = gate.judge_start(since=1.0)
    assert not decision.accepted and decision.reason in ("echo", "too quiet")
    for k in range(60, 70):  # the caller at -25 dBFS over the agent
        gate.observe(_frame(k * 0.02, -25.0, -20.0), caller_speaking=True)
    decision = gate.judge_start(since=1.19)
    assert decision.accepted and decision.reason == "above echo"
    assert gate.leak_db == pytest.approx(-40.0)  # caller speech is not learnt as leak


def test_gate_wants_the_caller_louder_than_the_echo_itself_whatever_the_canceller_says() -> None:
    """A canceller that lost the echo lets it through at its own level: the learned leak would call
    that the caller; the echo's own level (reference + echo return) does not."""
    gate = EchoGate(margin_db=10.0)
    for k in range(50):  # converged: the echo comes back at -6 dB, 40 dB of it cancelled
        gate.observe(CleanFrame(b"", np.zeros(0, np.float32), k * 0.02, -26.0, -66.0, -20.0, True),
                     caller_speaking=False)
    lost = [CleanFrame(b"", np.zeros(0, np.float32), 1.0 + k * 0.02, -26.0, -27.0, -20.0, True) for k in range(10)]
    for frame in lost:
        gate.observe(frame, caller_speaking=True)
    decision = gate.judge_start(since=0.99)
    assert not decision.accepted and decision.reason == "not above the echo itself"
    for k in range(10):  # the caller, louder than the agent
        gate.observe(CleanFrame(b"", np.zeros(0, np.float32), 1.2 + k * 0.02, -14.0, -15.0, -20.0, True),
                     caller_speaking=True)
    assert gate.judge_start(since=1.19).accepted


def test_gate_takes_a_caller_as_loud_as_a_0_db_echo_when_the_output_is_no_copy_of_the_agent() -> None:
    """On a 0 dB line the caller is no louder than the echo itself: the level cannot tell them
    apart, the canceller's output can (a lost canceller passes a copy of the agent's voice)."""
    gate = EchoGate(margin_db=10.0)
    for k in range(50):  # converged: the echo comes back at 0 dB, 40 dB of it cancelled
        gate.observe(CleanFrame(b"", np.zeros(0, np.float32), k * 0.02, -20.0, -60.0, -20.0, True),
                     caller_speaking=False)
    for k in range(10):  # the caller at the echo's level: what is left is the caller
        gate.observe(CleanFrame(b"", np.zeros(0, np.float32), 1.0 + k * 0.02, -17.0, -19.0, -20.0, True),
                     caller_speaking=True)
    assert gate.judge_start(since=0.99).reason == "not above the echo itself"
    assert gate.judge_start(since=0.99, agent_share=lambda: 0.95).reason == "not above the echo itself"
    decision = gate.judge_start(since=0.99, agent_share=lambda: 0.1)
    assert decision.accepted and decision.reason == "not the echo"


class _LostEngine:
    """A canceller that cancels nothing: the echo goes through whole."""

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        return near


@pytest.mark.parametrize("gain_db", [0.0, -12.0])
def test_agent_share_tells_an_echo_let_through_from_the_caller(gain_db: float) -> None:
    call = simulated_call(gain_db)
    sent = float_to_ulaw(call.agent)
    lost, working = EchoCanceller(engine=_LostEngine), EchoCanceller()
    passed, caller = [], []
    for k in range(len(call.near) // FRAME):
        s, now = slice(k * FRAME, (k + 1) * FRAME), (k + 1) * 0.02
        for canceller in (lost, working):
            canceller.agent(sent[s], k * 0.02)
            canceller.cancel(call.near[s], now)
        if k % 5 == 0 and 1.5 < now < call.caller_at / LINE_RATE - 0.1:  # the agent alone
            passed.append(lost.agent_share(now - 0.2))
        if k % 5 == 0 and call.caller_at / LINE_RATE + 0.1 < now < call.caller_at / LINE_RATE + 1.3:
            caller.append(working.agent_share(now - 0.2))
    assert min(passed) > 0.8, passed
    assert float(np.median(caller)) < 0.3, caller
    assert working.agent_share(now + 1.0) == 1.0  # nothing to go on


def test_gate_before_learning_assumes_a_full_echo_and_accepts_when_the_agent_is_silent() -> None:
    gate = EchoGate(margin_db=10.0)
    gate.observe(_frame(0.0, -22.0, -20.0), caller_speaking=True)
    assert not gate.judge_start().accepted  # could be the echo at 0 dB
    gate.observe(_frame(0.02, -5.0, -20.0), caller_speaking=True)
    assert gate.judge_start(since=0.01).accepted  # 15 dB above the loudest possible echo
    quiet = EchoGate()
    quiet.observe(_frame(0.0, -40.0, -100.0, active=False), caller_speaking=True)
    assert quiet.judge_start().reason == "agent silent"


def test_caller_words_drops_the_agents_own_words() -> None:
    agent = "Thanks for calling Acme. Say sales or support, or press one or two."
    assert caller_words("Thanks for calling.", agent) == []
    assert caller_words("say sales or support", agent) == []
    assert caller_words("Sales.", agent) == ["sales"]  # one word: the caller's answer
    assert caller_words("Transfer me to sales.", agent) == ["transfer", "me", "to", "sales"]
    assert caller_words("calling acme yes please", agent) == ["yes", "please"]
    assert caller_words("", agent) == []
