"""Barge-in on a line that may echo the agent back (speakerphones, bad hybrids, Asterisk `Echo()`).

Every caller frame goes through the echo canceller, whose reference is exactly what the agent
played and when (the call's `watch_playout`); the VAD then listens to what is left. A speech start
while the agent talks interrupts it only when the echo gate says the level is the caller's, not
what is left of the echo (agent/echo.py). An undecided start is judged again on each following
frame for up to `decide_s`; one never accepted is not a barge-in, but its words still count when
they are not the agent's own (agent.turns).

A line that sends nothing while only the agent talks (Asterisk sends no frames in silence) has
no echo worth cancelling: an echo would start the stream itself, at most its delay after the
agent starts talking. So a stream that begins after the agent has talked for `quiet_s` with
nothing coming back is the caller's: it bypasses the canceller (which, never having seen the
line, would hold the caller's first words down as possible echo) and a speech start on it is a
barge-in at once.

    guard = EchoGuard(EchoCanceller(), EchoGate())
    call.watch_playout(guard.canceller)
    ulaw = guard.clean(event.ulaw, arrived, caller_speaking=endpointer.in_speech)
    decision = guard.start(segment, onset)          # at a speech start while the agent talks
    later = guard.recheck(segment, in_speech, now)  # on each frame after an undecided start
"""
from __future__ import annotations

from dataclasses import dataclass

from agent.echo import EchoCanceller, EchoGate, GateDecision

NO_CANCELLER = GateDecision(True, "no echo canceller", 0.0, 0.0)
STREAM_GAP_S = 0.15
"""A pause in the caller's frames this long ends a stream (frames come every 20 ms, jittered)."""
TALKED = 0.4
"""Share of 20 ms blocks with agent speech that counts as talking (speech has its pauses)."""


@dataclass(frozen=True)
class _Undecided:
    segment: int
    onset: float


class EchoGuard:
    def __init__(self, canceller: EchoCanceller | None, gate: EchoGate | None = None, *,
                 decide_s: float = 0.5, quiet_s: float = 0.75) -> None:
        self.canceller = canceller
        self.gate = gate or EchoGate()
        self.decide_s, self.quiet_s = decide_s, quiet_s
        self._undecided: _Undecided | None = None
        self._last_frame_at = float("-inf")
        self._stream_since = float("-inf")
        self._caller_only = False
        """The current stream began under the agent's speech with nothing before it."""

    def clean(self, ulaw: bytes, at: float, *, caller_speaking: bool) -> bytes:
        """A caller frame (arrived at `at`) without the agent's echo."""
        if self.canceller is None:
            return ulaw
        if at - self._last_frame_at > STREAM_GAP_S:
            self._stream_since = at
            self._caller_only = self.canceller.agent_talked(at - self.quiet_s, at - 0.05) >= TALKED
        self._last_frame_at = at
        if self._caller_only:
            return ulaw
        frame = self.canceller.cancel(ulaw, at)
        self.gate.observe(frame, caller_speaking=caller_speaking)
        return frame.ulaw

    def start(self, segment: int, onset: float) -> GateDecision:
        """A speech start (at `onset`) while the agent talks: the caller (accepted) or not yet known."""
        self._undecided = None
        if self.canceller is None:
            return NO_CANCELLER
        if self._caller_only and self._stream_since >= onset - 0.3:
            return GateDecision(True, "line silent under the agent", 0.0, 0.0)
        decision = self.gate.judge_start(since=onset)
        if not decision.accepted:
            self._undecided = _Undecided(segment, onset)
        return decision

    def recheck(self, segment: int, in_speech: bool, now: float) -> tuple[GateDecision, float] | None:
        """The undecided start judged again with the frames since: (decision, onset) once it is
        accepted; None while it is not (it is given up after `decide_s` or when its speech ends)."""
        pending = self._undecided
        if pending is None:
            return None
        if pending.segment != segment or not in_speech or now - pending.onset > self.decide_s:
            self._undecided = None
            return None
        decision = self.gate.judge_start(since=pending.onset)
        if not decision.accepted:
            return None
        self._undecided = None
        return decision, pending.onset

    def forget(self) -> None:
        """The agent stopped talking: nothing is left to decide."""
        self._undecided = None
