"""The caller's side of one call: media events through the endpointer into queued inputs.

Speech is transcribed as soon as the caller pauses (`SpeechPaused`); when the turn then ends with
exactly that audio the early transcription is used, otherwise it is dropped and the whole turn
transcribed. Caller speech or a key while an interruptible reply is under way is a barge-in
(unless the workflow turned barge-in off: then that speech is ignored as a turn).
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.audio import Samples
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


@dataclass(frozen=True)
class KeyPress:
    digit: str


@dataclass(frozen=True)
class CallClosed:
    reason: str


CallerInput = CallerSpeech | KeyPress | CallClosed


class Listener:
    def __init__(self, *, call: CallPort, stt: SpeechToText, endpointer: Endpointer, floor: Floor, speaker: Speaker,
                 events: Events, clock: Callable[[], float], barge_in: bool) -> None:
        self.call, self.stt, self.endpointer, self.floor, self.speaker = call, stt, endpointer, floor, speaker
        self.events, self.clock, self.barge_in = events, clock, barge_in
        self.tasks: set[asyncio.Task[Any]] = set()
        """Transcriptions under way (cancelled when the session ends)."""
        self._inputs: asyncio.Queue[CallerInput] = asyncio.Queue()
        self._held: deque[CallerInput] = deque()
        self._ignored_segment = 0
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
                await self._on_vad(self.endpointer.feed(event.ulaw, self.clock()))
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
                self.floor.caller_active(self.clock())

    async def _speech_started(self, event: SpeechStarted) -> None:
        self.floor.caller_speaking = True
        self.floor.caller_active(self.clock())
        if self.floor.replying():
            if not self.barge_in:
                self._ignored_segment = self.endpointer.segment
            elif self.floor.interruptible:
                await self.speaker.interrupt(event.at)

    def _speech_paused(self, event: SpeechPaused) -> None:
        if self._speculative is not None:
            self._speculative[2].cancel()  # speech went on: drop it if it has not started
            self._speculative = None
        if event.segment != self._ignored_segment and not getattr(self.stt, "busy", False):
            self._speculative = (event.segment, len(event.audio), self._transcribe(event.audio))

    def _speech_ended(self, event: SpeechEnded) -> None:
        self.floor.caller_speaking = False
        self.floor.caller_active(self.clock())
        if event.segment == self._ignored_segment:
            return
        spec, self._speculative = self._speculative, None
        if spec is not None and spec[:2] == (event.segment, len(event.audio)):
            task = spec[2]
        else:
            if spec is not None:
                spec[2].cancel()
            task = self._transcribe(event.audio)
        self._inputs.put_nowait(CallerSpeech(task, event.at, event.speech_s))

    def _transcribe(self, audio: Samples) -> asyncio.Task[Transcript]:
        task = asyncio.create_task(self.stt.transcribe(audio), name="agent-stt")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _on_key(self, digit: str) -> None:
        self.floor.caller_active(self.clock())
        await self.events("dtmf", "caller", digit, {})
        if self.barge_in and self.floor.interruptible and self.floor.replying():
            await self.speaker.interrupt(self.clock())
        self._inputs.put_nowait(KeyPress(digit))

    def _on_closed(self, reason: str) -> None:
        self.floor.closed = reason
        if self.floor.reply is not None and self.floor.interruptible:
            self.floor.reply.cancel()
        self._inputs.put_nowait(CallClosed(reason))
