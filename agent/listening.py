"""The caller's side of one call: media events through the echo canceller and the endpointer into
queued inputs.

Speech is transcribed as soon as the caller pauses (`SpeechPaused`); when the turn then ends with
exactly that audio the early transcription is used, otherwise it is dropped and the whole turn
transcribed, with the dialog's expected words as hints. Caller speech or a key while an
interruptible reply is under way is a barge-in (unless the workflow turned barge-in off: then that
speech is ignored as a turn). Speech counts as the caller's once the echo guard accepts it
(agent/barge_in.py): at its start, or later in its segment (a late barge-in); a segment it never
accepts is the agent's echo and is dropped; speech it accepted over the echo is transcribed from
where it found the caller, not from the VAD's pre-roll (the echo before it). Speech that started
over the agent is marked with what the agent was saying, so turn taking can drop the agent's own
words from its transcript.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.audio import LINE_RATE, Samples
from agent.barge_in import EchoGuard
from agent.echo import ONSET_SLACK_S, GateDecision
from agent.floor import Events, Floor
from agent.speaking import Speaker
from agent.stt import SpeechToText, Transcript
from agent.vad import Endpointer, NoiseIgnored, SpeechEnded, SpeechPaused, SpeechStarted, VadEvent
from media.port import CallPort
from media.session import AudioIn, Closed, Dtmf

TICK_S = 0.03
CALLER_MARGIN_S = 0.1
"""Kept before the first frame the echo gate took for the caller's (the first syllable); more would
be the echo, of which Whisper makes words ("thank you" from the greeting's echo before a noise
burst: bench/line_reactions.py)."""


@dataclass(frozen=True)
class CallerSpeech:
    transcript: asyncio.Task[Transcript]
    ended_at: float
    speech_s: float
    barged_in: bool = False
    """This speech interrupted the agent."""
    over_agent: str = ""
    """What the agent was saying when this speech started, if it did not barge in at once (its
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
        self._over_agent: tuple[int, str] | None = None  # (segment, agent text) of a start not taken at once
        self._callers_from: tuple[int, float] | None = None
        """(segment, since when it is the caller's) for speech the echo gate accepted over the echo."""
        self._speculative: tuple[int, int, asyncio.Task[Transcript]] | None = None

    async def get(self, timeout: float) -> CallerInput:
        """The next input (TimeoutError after `timeout` seconds without one)."""
        if self._held:
            return self._held.popleft()
        if not self._inputs.empty():  # already here: even a deadline that has passed takes it first
            return self._inputs.get_nowait()
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
        if later is not None:
            self._callers_from = (self.endpointer.segment, later[1])
            if self._may_interrupt():
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
        decision = self.guard.start(segment, event.at)
        if not self.floor.replying():
            return
        if not self.barge_in:
            self._ignored_segment = segment
            return
        if decision.accepted and self._may_interrupt():
            since = self.guard.callers_from(event.at - ONSET_SLACK_S, decision)
            if since is not None:
                self._callers_from = (segment, since)
            await self._interrupt(event.at, decision)
        else:
            self._over_agent = (segment, self.floor.spoken.text)

    def _may_interrupt(self) -> bool:
        return self.barge_in and self.floor.interruptible and self.floor.replying()

    async def _interrupt(self, onset: float, decision: GateDecision) -> None:
        self._barged_segment = self.endpointer.segment
        await self.speaker.interrupt(onset, cause={
            "gate": decision.reason, "decided_ms": round((self.clock() - onset) * 1000)})

    def _speech_paused(self, event: SpeechPaused) -> None:
        if self._speculative is not None:
            self._speculative[2].cancel()  # speech went on: drop it if it has not started
            self._speculative = None
        if event.segment != self._ignored_segment and not self.guard.undecided(event.segment) \
                and not getattr(self.stt, "busy", False):
            audio = self._callers_part(event.segment, event.audio, event.at)
            self._speculative = (event.segment, len(event.audio), self._transcribe(audio))

    def _speech_ended(self, event: SpeechEnded) -> None:
        self.floor.caller_speaking = False
        if event.segment == self._ignored_segment or self.guard.echo(event.segment):
            if self._speculative is not None:
                self._speculative[2].cancel()
                self._speculative = None
            return
        spec, self._speculative = self._speculative, None
        if spec is not None and spec[:2] == (event.segment, len(event.audio)):
            task = spec[2]
        else:
            if spec is not None:
                spec[2].cancel()
            task = self._transcribe(self._callers_part(event.segment, event.audio, event.at))
        over = self._over_agent[1] if self._over_agent and self._over_agent[0] == event.segment else ""
        speech = CallerSpeech(task, event.at, event.speech_s, barged_in=event.segment == self._barged_segment,
                              over_agent=over)
        self._inputs.put_nowait(speech)

    def _callers_part(self, segment: int, audio: Samples, last_speech_at: float) -> Samples:
        """The segment's audio (ending `tail` after `last_speech_at`), from a little before where
        the echo gate found the caller in it when it judged it against the echo: what came
        before was the agent's echo (the VAD's pre-roll, or the start of a segment accepted late)."""
        if self._callers_from is None or self._callers_from[0] != segment:
            return audio
        ends_at = last_speech_at + self.endpointer.tail / LINE_RATE
        keep = int((ends_at - self._callers_from[1] + CALLER_MARGIN_S) * LINE_RATE)
        return audio[-keep:] if 0 < keep < len(audio) else audio

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
