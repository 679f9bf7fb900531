"""Turn taking: waiting for the caller's next turn with the no-input and maximum-duration clocks.

No input means no *understood* input: `no_input_reprompt_s` without caller words or keys gives
`Silent(final=False)` (the dialog reprompts), then `no_input_hangup_s` in all gives
`Silent(final=True)` (farewell, hang-up), so a line that only echoes or hisses still ends by
itself. Sound without words (an echo, a cough, a noise burst) does not start the clock again;
while the VAD hears speech the clock waits, at most `SPEECH_GRACE_S` past its deadline, for the
words that may come. The clock stands still while the agent speaks (a reprompt, or a sentence said
again after a noise), so replies to sounds without words do not keep a call alive.

Transcripts are judged on the caller's own words (`agent.echo.caller_content`): without fillers
and, for speech that started while the agent talked, without runs of what the agent was saying.
Speech that barged in and leaves no words, or only backchannels the dialog does not expect as an
answer ("okay", "yeah": what a noise burst often becomes), or, from less than 0.6 s of speech,
only Whisper's usual words for noise ("Thank you.", "Bye."), is a false interruption: `Resume`
says the cut sentence again from its start. Keys are collected into one turn until the dialog's `dtmf_gap_s`
passes without another key.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from agent.dialog import Dialog, Heard, Pressed, Silent, Turn
from agent.echo import caller_content
from agent.errors import AgentError
from agent.floor import Events, Floor, TurnTiming
from agent.listening import CallClosed, CallerSpeech, KeyPress, Listener
from agent.stt_filters import backchannel_only, noise_words

SPEECH_GRACE_S = 5.0


@dataclass(frozen=True)
class MaxDuration:
    """The call reached `max_duration_s`."""


@dataclass(frozen=True)
class Resume:
    """A barge-in that brought no words: say `text` (the cut sentence and the rest) again."""
    text: str
    heard: str = ""
    """What the caller's sound was transcribed as ('' for nothing)."""


@dataclass(frozen=True)
class Timers:
    reprompt_s: float
    hangup_s: float
    max_s: float


class TurnTaker:
    def __init__(self, *, listener: Listener, dialog: Dialog, floor: Floor, events: Events,
                 clock: Callable[[], float], timers: Timers) -> None:
        self.listener, self.dialog, self.floor, self.events = listener, dialog, floor, events
        self.clock, self.timers = clock, timers

    async def next_turn(self) -> Turn | MaxDuration | Resume | CallClosed:
        while True:
            if self.floor.ended():
                return CallClosed(self.floor.closed or "")
            deadline, kind = self._deadline()
            try:
                item = await self.listener.get(max(0.0, deadline - self.clock()))
            except TimeoutError:
                if kind == "wait":
                    continue
                if kind == "max":
                    return MaxDuration()
                self.floor.reprompted = True
                return Silent(final=kind == "hangup")
            if isinstance(item, CallClosed):
                return item
            turn = await (self._keys(item) if isinstance(item, KeyPress) else self._words(item))
            if turn is not None:
                return turn

    def _deadline(self) -> tuple[float, str]:
        """When to stop waiting, and why: "wait" (the caller is speaking), "reprompt", "hangup", "max"."""
        now, floor, timers = self.clock(), self.floor, self.timers
        ends = floor.started + timers.max_s
        if timers.reprompt_s < timers.hangup_s and not floor.reprompted:
            at, kind = floor.quiet_since + timers.reprompt_s, "reprompt"
        else:
            at, kind = floor.quiet_since + timers.hangup_s, "hangup"
        if floor.caller_speaking and now + 0.25 < min(ends, at + SPEECH_GRACE_S):
            return now + 0.25, "wait"
        return (ends, "max") if ends <= at else (at, kind)

    async def _words(self, item: CallerSpeech) -> Turn | Resume | None:
        try:
            transcript = await item.transcript
        except AgentError as exc:
            await self.events("error", None, str(exc), {"error_id": exc.error_id})
            return None
        except asyncio.CancelledError:
            if self.floor.ended():
                return None
            raise
        said = caller_content(transcript.text, item.over_agent)
        interrupted = item.barged_in or self.floor.cut is not None
        if not said or (interrupted and (backchannel_only(said, self.dialog.expected_words())
                                         or noise_words(said, item.speech_s))):
            return self._resume(transcript.text) if interrupted else None
        text = transcript.text if not item.over_agent else " ".join(said)
        now = self.clock()
        self.floor.caller_active(now)
        self.floor.turn = TurnTiming(ended_at=item.ended_at, stt_s=transcript.seconds, heard_at=now)
        await self.events("transcript", "caller", text,
                          {"stt_ms": round(transcript.seconds * 1000), "speech_ms": round(item.speech_s * 1000)})
        return Heard(text, transcript.answers)

    def _resume(self, heard: str) -> Resume | None:
        """After a false interruption, once the caller is quiet: what to say again, if anything."""
        cut = self.floor.cut
        if cut is None or self.floor.caller_speaking or self.floor.replying():
            return None
        self.floor.cut = None
        text = cut.spoken.unheard(cut.heard_s)
        return Resume(text, heard) if text else None

    async def _keys(self, item: KeyPress) -> Turn | None:
        digits = item.digit
        while self.dialog.dtmf_gap_s > 0 and not digits.endswith("#"):
            try:
                more = await self.listener.get(self.dialog.dtmf_gap_s)
            except TimeoutError:
                break
            if not isinstance(more, KeyPress):
                self.listener.hold(more)
                break
            digits += more.digit
        now = self.clock()
        self.floor.turn = TurnTiming(ended_at=now, stt_s=0.0, heard_at=now)
        return Pressed(digits)
