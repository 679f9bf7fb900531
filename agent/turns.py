"""Turn taking: waiting for the caller's next turn with the no-input and maximum-duration clocks.

`no_input_reprompt_s` of silence gives `Silent(final=False)` (the dialog reprompts), then
`no_input_hangup_s` in all gives `Silent(final=True)`; the clock runs only while nobody speaks.
Keys are collected into one turn until the dialog's `dtmf_gap_s` passes without another key.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from agent.dialog import Dialog, Heard, Pressed, Silent, Turn
from agent.errors import AgentError
from agent.floor import Events, Floor, TurnTiming
from agent.listening import CallClosed, CallerSpeech, KeyPress, Listener


@dataclass(frozen=True)
class MaxDuration:
    """The call reached `max_duration_s`."""


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

    async def next_turn(self) -> Turn | MaxDuration | CallClosed:
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
        if floor.caller_speaking:
            return min(now + 0.25, ends), ("max" if ends <= now + 0.25 else "wait")
        if timers.reprompt_s < timers.hangup_s and not floor.reprompted:
            at, kind = floor.quiet_since + timers.reprompt_s, "reprompt"
        elif timers.reprompt_s < timers.hangup_s:
            at, kind = floor.quiet_since + timers.hangup_s - timers.reprompt_s, "hangup"
        else:
            at, kind = floor.quiet_since + timers.hangup_s, "hangup"
        return (ends, "max") if ends <= at else (at, kind)

    async def _words(self, item: CallerSpeech) -> Turn | None:
        try:
            transcript = await item.transcript
        except AgentError as exc:
            await self.events("error", None, str(exc), {"error_id": exc.error_id})
            return None
        except asyncio.CancelledError:
            if self.floor.ended():
                return None
            raise
        if not transcript.text:
            return None
        self.floor.turn = TurnTiming(ended_at=item.ended_at, stt_s=transcript.seconds, heard_at=self.clock())
        await self.events("transcript", "caller", transcript.text,
                          {"stt_ms": round(transcript.seconds * 1000), "speech_ms": round(item.speech_s * 1000)})
        return Heard(transcript.text)

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
