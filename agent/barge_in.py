"""Caller speech on a line that may echo the agent back (speakerphones, bad hybrids, Asterisk
`Echo()`): is it the caller, or the agent's own voice coming back?

Every caller frame goes through the echo canceller, whose reference is exactly what the agent
played and when (the call's `watch_playout`); the VAD then listens to what is left. Every speech
start is judged by the echo gate (agent/echo.py): the caller's if what is left is well above
what is left of the echo and either louder than the echo itself or no copy of the agent's voice
(a caller as loud as a 0 dB echo), or if the agent has been silent. A start that is not accepted is judged
again on each following frame of its segment; accepted later, it is the caller's from then on
(a barge-in then, if the agent still talks). A segment never accepted is the echo: it is dropped,
words and all (a canceller that lost the echo for a moment makes Whisper hear words in it).

A line that sends nothing while only the agent talks (Asterisk sends no frames in silence) has
no echo worth cancelling: an echo would start the stream itself, at most its delay after the
agent starts talking. So a stream that begins after the agent has talked for `quiet_s` with
nothing coming back is the caller's: it bypasses the canceller (which, never having seen the
line, would hold the caller's first words down as possible echo) and its speech is the
caller's at once. (`quiet_s` is far longer than any stall of our event loop, which can delay
frames of a stream that is there.)

    guard = EchoGuard(EchoCanceller())
    call.watch_playout(guard.canceller)
    ulaw = guard.clean(event.ulaw, arrived, caller_speaking=endpointer.in_speech)
    decision = guard.start(segment, onset)          # at each speech start
    later = guard.recheck(segment, in_speech, now)  # on each frame of a segment not yet accepted
    guard.echo(segment)                             # at its end: True if never accepted
"""
from __future__ import annotations

from dataclasses import dataclass

from agent.echo import EchoCanceller, EchoGate, GateDecision

NO_CANCELLER = GateDecision(True, "no echo canceller", 0.0, 0.0)
CALLER_ONLY = GateDecision(True, "line silent under the agent", 0.0, 0.0)
FRAME_S = 0.02
AGAINST_ECHO = ("above echo", "not the echo")
TALKED = 0.4
"""Share of 20 ms blocks with agent speech that counts as talking (speech has its pauses)."""


@dataclass(frozen=True)
class _Undecided:
    segment: int
    onset: float


class EchoGuard:
    def __init__(self, canceller: EchoCanceller | None, gate: EchoGate | None = None, *,
                 quiet_s: float = 0.75) -> None:
        self.canceller = canceller
        self.gate = gate or EchoGate()
        self.quiet_s = quiet_s
        self._undecided: _Undecided | None = None
        self._rejected = 0
        """The last segment that ended without ever being accepted."""
        self._last_frame_at = float("-inf")
        self._caller_only = False
        """The current stream began under the agent's speech with nothing before it."""

    def clean(self, ulaw: bytes, at: float, *, caller_speaking: bool) -> bytes:
        """A caller frame (arrived at `at`) without the agent's echo."""
        if self.canceller is None:
            return ulaw
        if at - self._last_frame_at > self.quiet_s:
            self._caller_only = self.canceller.agent_talked(at - self.quiet_s, at - 0.05) >= TALKED
        self._last_frame_at = at
        if self._caller_only:
            return ulaw
        frame = self.canceller.cancel(ulaw, at, caller_speaking=caller_speaking)
        self.gate.observe(frame, caller_speaking=caller_speaking)
        return frame.ulaw

    def start(self, segment: int, onset: float) -> GateDecision:
        """A speech start at `onset`: the caller's (accepted), or not known yet."""
        self._undecided = None
        if self.canceller is None:
            return NO_CANCELLER
        if self._caller_only:
            return CALLER_ONLY
        decision = self._judge(onset)
        if not decision.accepted:
            self._undecided = _Undecided(segment, onset)
        return decision

    def _judge(self, onset: float) -> GateDecision:
        canceller = self.canceller
        if canceller is None:
            return NO_CANCELLER
        return self.gate.judge_start(since=onset, agent_share=lambda: canceller.agent_share(
            onset, window_s=self.gate.window_s))

    def recheck(self, segment: int, in_speech: bool, now: float) -> tuple[GateDecision, float] | None:
        """The segment not yet accepted, judged again with its frames so far: (decision, since)
        once it is accepted, else None; `since` is where the evidence starts: the first frame the
        gate weighed (from the segment's onset or, later in it, the gate's window) that is loud
        enough to have been accepted (what came before it was taken for the echo). A segment
        that ends unaccepted is the echo."""
        pending = self._undecided
        if pending is None:
            return None
        if pending.segment != segment or not in_speech:
            self._undecided = None
            self._rejected = pending.segment
            return None
        decision = self._judge(pending.onset)
        if not decision.accepted:
            return None
        self._undecided = None
        weighed = max(pending.onset, now - self.gate.window_s)
        return decision, self.callers_from(weighed, decision) or weighed

    def callers_from(self, since: float, decision: GateDecision) -> float | None:
        """Where the speech the gate accepted against the echo begins: the start of the first
        frame after `since` loud enough to be accepted (None for a decision not made against an
        echo, as when the agent was silent)."""
        if decision.reason not in AGAINST_ECHO:
            return None
        enough = max(decision.expected_dbfs + self.gate.margin_db, self.gate.quietest_speech_dbfs)
        loud = self.gate.first_above(since, enough)
        return None if loud is None else max(since, loud - FRAME_S)

    def undecided(self, segment: int) -> bool:
        """`segment` is not (yet) taken for the caller's."""
        return self._undecided is not None and self._undecided.segment == segment

    def echo(self, segment: int) -> bool:
        """At the end of `segment`: True when it was never accepted as the caller's."""
        self.recheck(segment, False, 0.0)
        return segment == self._rejected
