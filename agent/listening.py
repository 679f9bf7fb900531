"""The caller's side of one call: media events through the echo canceller and the endpointer into
queued inputs.

Speech is transcribed as soon as the caller pauses (`SpeechPaused`); when the turn then ends with
exactly that audio the early transcription is used, otherwise it is dropped and the whole turn
transcribed, with the dialog's expected words as hints. Caller speech or a key while an
interruptible reply is under way is a barge-in (unless the workflow turned barge-in off: then that
speech is ignored as a turn). A speech start the echo gate does not accept (agent/barge_in.py) is
not a barge-in; its segment still becomes an input marked with what the agent was saying, so
turn taking can drop the agent's own words, and when its transcript leaves caller words while
the reply still plays, the reply is interrupted then.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.audio import Samples
from agent.barge_in import EchoGuard
from agent.echo import GateDecision, caller_content
from agent.errors import AgentError
from agent.floor import Events, Floor
from agent.speaking import Speaker
from agent.stt import SpeechToText, Transcript
from agent.vad import Endpointer, NoiseIgnored, SpeechEnded, SpeechPaused, SpeechStarted, VadEvent
from media.port import CallPort
from media.session import AudioIn, Closed, Dtmf

TICK_S = 0.03


@dataclass(frozen=True)
class CallerSpeech:
    transcript: asyncio.Task[Transcript]
    ended_at: float
    speech_s: float
    barged_in: bool = False
    """This speech interrupted the agent."""
    over_agent: str = ""
    """What the agent was saying when this speech started and was not taken as a barge-in (its
    echo may be in the transcript)."""


@dataclass(frozen=True)
class KeyPress:
    digit: str


@dataclass(frozen=True)
class CallClosed:
    reason: str


CallerInput = CallerSpeech | KeyPress | CallClosed


class Listener:
    def __init__(self, *, call: CallPort, stt: SpeechToText, endpointer: Endpointer, floor: Floor, speaker: Speaker,
                 events: Events, clock: Callable[[], float], barge_in: bool, guard: EchoGuard | None = None,
                 hints: Callable[[], Sequence[str]] = tuple) -> None:
        self.call, self.stt, self.endpointer, self.floor, self.speaker = call, stt, endpointer, floor, speaker
        self.events, self.clock, self.barge_in = events, clock, barge_in
        self.guard = guard or EchoGuard(None)
        self.hints = hints
        self.tasks: set[asyncio.Task[Any]] = set()
        """Transcriptions under way (cancelled when the session ends)."""
        self._inputs: asyncio.Queue[CallerInput] = asyncio.Queue()
        self._held: deque[CallerInput] = deque()
        self._ignored_segment = 0
        self._barged_segment = 0
        self._over_agent: tuple[int, str] | None = None  # (segment, agent text) of a start not taken as barge-in
        self._speculative: tuple[int, int, asyncio.Task[Transcript]] | None = None

    async def get(self, timeout: float) -> CallerInput:
        """The next input (TimeoutError after `timeout` seconds without one)."""
        if self._held:
            return self._held.popleft()
        return await asyncio.wait_for(self._inputs.get(), timeout)

    def hold(self, item: CallerInput) -> None:
        """Put back an input taken too early; `get` returns it first."""
        self._held.appendleft(item)

    async def listen(self) -> None:
        while True:
            event = await self.call.events.get()
            if isinstance(event, AudioIn):
                await self._on_audio(event)
            elif isinstance(event, Dtmf):
                await self._on_key(event.digit)
            elif isinstance(event, Closed):
                self._on_closed(event.reason)
                return

    async def tick(self) -> None:
        """Let time pass through the endpointer: Asterisk sends nothing while the caller is silent."""
        while True:
            await asyncio.sleep(TICK_S)
            await self._on_vad(self.endpointer.tick(self.clock()))

    async def _on_audio(self, event: AudioIn) -> None:
        now = self.clock()
        ulaw = self.guard.clean(event.ulaw, event.at if event.at is not None else now,
                                caller_speaking=self.endpointer.in_speech)
        await self._on_vad(self.endpointer.feed(ulaw, now))
        later = self.guard.recheck(self.endpointer.segment, self.endpointer.in_speech, now)
        if later is not None and self._may_interrupt():
            self._over_agent = None
            await self._interrupt(later[1], later[0])

    async def _on_vad(self, events: list[VadEvent]) -> None:
        for event in events:
            if isinstance(event, SpeechStarted):
                await self._speech_started(event)
            elif isinstance(event, SpeechPaused):
                self._speech_paused(event)
            elif isinstance(event, SpeechEnded):
                self._speech_ended(event)
            elif isinstance(event, NoiseIgnored):
                self.floor.caller_speaking = False

    async def _speech_started(self, event: SpeechStarted) -> None:
        self.floor.caller_speaking = True
        segment = self.endpointer.segment
        if not self.floor.replying():
            return
        if not self.barge_in:
            self._ignored_segment = segment
            return
        self._over_agent = (segment, self.floor.spoken.text)
        if self.floor.interruptible:
            decision = self.guard.start(segment, event.at)
            if decision.accepted:
                self._over_agent = None
                await self._interrupt(event.at, decision)

    def _may_interrupt(self) -> bool:
        return self.barge_in and self.floor.interruptible and self.floor.replying()

    async def _interrupt(self, onset: float, decision: GateDecision) -> None:
        self._barged_segment = self.endpointer.segment
        self.guard.forget()
        await self.speaker.interrupt(onset, cause={
            "gate": decision.reason, "decided_ms": round((self.clock() - onset) * 1000)})

    def _speech_paused(self, event: SpeechPaused) -> None:
        if self._speculative is not None:
            self._speculative[2].cancel()  # speech went on: drop it if it has not started
            self._speculative = None
        if event.segment != self._ignored_segment and not getattr(self.stt, "busy", False):
            self._speculative = (event.segment, len(event.audio), self._transcribe(event.audio))

    def _speech_ended(self, event: SpeechEnded) -> None:
        self.floor.caller_speaking = False
        if event.segment == self._ignored_segment:
            return
        spec, self._speculative = self._speculative, None
        if spec is not None and spec[:2] == (event.segment, len(event.audio)):
            task = spec[2]
        else:
            if spec is not None:
                spec[2].cancel()
            task = self._transcribe(event.audio)
        over = self._over_agent[1] if self._over_agent and self._over_agent[0] == event.segment else ""
        speech = CallerSpeech(task, event.at, event.speech_s, barged_in=event.segment == self._barged_segment,
                              over_agent=over)
        self._inputs.put_nowait(speech)
        if over and self._may_interrupt():
            self._track(asyncio.create_task(self._late_barge_in(speech), name="agent-late-barge-in"))

    async def _late_barge_in(self, speech: CallerSpeech) -> None:
        """Speech the gate did not take for the caller, while the reply still plays: if its
        words are the caller's after all, interrupt now (turn taking then answers them)."""
        with contextlib.suppress(AgentError, asyncio.CancelledError):
            transcript = await asyncio.shield(speech.transcript)
            if caller_content(transcript.text, speech.over_agent) and self._may_interrupt():
                await self.speaker.interrupt(speech.ended_at, cause={"gate": "caller words"})

    def _transcribe(self, audio: Samples) -> asyncio.Task[Transcript]:
        return self._track(asyncio.create_task(self.stt.transcribe(audio, hints=self.hints()), name="agent-stt"))

    def _track(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _on_key(self, digit: str) -> None:
        self.floor.caller_active(self.clock())
        await self.events("dtmf", "caller", digit, {})
        if self._may_interrupt():
            await self.speaker.interrupt(self.clock(), cause={"gate": "key"})
        self._inputs.put_nowait(KeyPress(digit))

    def _on_closed(self, reason: str) -> None:
        self.floor.closed = reason
        if self.floor.reply is not None and self.floor.interruptible:
            self.floor.reply.cancel()
        self._inputs.put_nowait(CallClosed(reason))
