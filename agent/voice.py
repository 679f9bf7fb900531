"""One call's conversation: listen (VAD → STT), decide (the dialog), speak (TTS), and the rules
of a phone conversation around them.

- Turn taking: the caller's turn ends after `end_of_speech_ms` of silence; transcription starts
  earlier, at a pause, and its result is used when the caller stays silent.
- Barge-in: caller speech (or a key) while the agent's reply is being produced or played cancels
  the reply (TTS and the LLM stream stop) and flushes queued audio at once; the transcript keeps
  what the caller heard, worked out from the seconds `flush()` reports and the sentence marks.
- No input: `no_input_reprompt_s` of silence → a reprompt, `no_input_hangup_s` → the farewell and
  a hang-up (the clock runs only while nobody speaks). `max_duration_s` ends the call politely.
- Endings: a farewell is played to its mark before `hangup`; a transfer waits for the words
  before it. When the call closes the session returns at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.audio import LINE_RATE
from agent.dialog import Dialog, HangUp, Heard, Pressed, Say, Silent, Step, Transfer, Turn
from agent.errors import AgentError
from agent.stt import SpeechToText, Transcript
from agent.text import render, split_sentences
from agent.tts import TextToSpeech
from agent.utterance import Utterance
from agent.vad import Endpointer, NoiseIgnored, SpeechEnded, SpeechPaused, SpeechStarted, VadEvent
from media.port import AudioIn, CallPort, Closed, Dtmf

log = logging.getLogger("switchboard.agent")

EventSink = Callable[[str, str | None, str | None, dict[str, Any]], Awaitable[None]]
TICK_S = 0.03
NOT_ANSWERED = "Sorry, nobody is available to take your call right now. I'll stay with you."


@dataclass(frozen=True)
class AgentResult:
    status: str  # "completed" | "failed"
    reason: str
    transferred_to: str | None = None


@dataclass(frozen=True)
class _Utterance:
    transcript: asyncio.Task[Transcript]
    ended_at: float
    speech_s: float


@dataclass(frozen=True)
class _Key:
    digit: str


@dataclass(frozen=True)
class _Closed:
    reason: str


@dataclass(frozen=True)
class _MaxDuration:
    pass


_Input = _Utterance | _Key | _Closed


class VoiceSession:
    def __init__(self, *, call: CallPort, definition: dict[str, Any], context: dict[str, Any], on_event: EventSink,
                 dialog: Dialog, stt: SpeechToText, tts: TextToSpeech, endpointer: Endpointer,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.call, self.dialog, self.stt, self.tts, self.endpointer = call, dialog, stt, tts, endpointer
        self.on_event, self.clock = on_event, clock
        self.barge_in: bool = definition["barge_in"]
        self.reprompt_s: float = definition["no_input_reprompt_s"]
        self.hangup_s: float = definition["no_input_hangup_s"]
        self.max_s: float = definition["max_duration_s"]
        self.farewell = render(definition.get("farewell") or "", context)
        transfer = definition.get("transfer") or {}
        self.attended: bool = transfer.get("mode") == "attended"
        self.transfer_timeout_s: float = float(transfer.get("timeout_s") or 20)
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self._held: deque[_Input] = deque()
        self._reply: asyncio.Task[AgentResult | None] | None = None
        self._spoken = Utterance()
        self._interruptible = False
        self._closed: str | None = None
        self._started = clock()
        self._quiet_since = self._started
        self._reprompted = False
        self._caller_speaking = False
        self._ignored_segment = 0
        self._speculative: tuple[int, int, asyncio.Task[Transcript]] | None = None
        self._turn: dict[str, float] | None = None
        self._marks = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- the conversation ------------------------------------------------------------------------
    async def run(self) -> AgentResult:
        listener = asyncio.create_task(self._listen(), name="agent-listen")
        ticker = asyncio.create_task(self._tick(), name="agent-tick")
        try:
            async with asyncio.timeout(self.max_s + 60):
                return await self._converse()
        except TimeoutError:
            await self._hangup_call("maximum call duration reached")
            return AgentResult("completed", "maximum call duration reached")
        except Exception as exc:
            log.exception("agent session crashed")
            await self._emit("error", None, f"agent-crashed: {exc}", {"error_id": "agent-crashed"})
            await self._hangup_call("agent error")
            return AgentResult("failed", f"agent-crashed: {exc}")
        finally:
            for task in (listener, ticker, self._reply, *(self._tasks)):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(listener, ticker, *(t for t in (self._reply, *self._tasks) if t is not None),
                                 return_exceptions=True)
            await self.dialog.aclose()

    async def _converse(self) -> AgentResult:
        result = await self._perform(self.dialog.greeting())
        while result is None:
            turn = await self._next_turn()
            if isinstance(turn, AgentResult):
                return turn
            steps = _steps(HangUp("maximum call duration reached")) if isinstance(turn, _MaxDuration) \
                else self.dialog.respond(turn)
            result = await self._perform(steps)
        return result

    async def _perform(self, steps: AsyncIterator[Step]) -> AgentResult | None:
        """Run one reply as a task barge-in can cancel. None: the conversation goes on."""
        if self._closed is not None:
            await _aclose(steps)
            return self._closed_result()
        self._spoken, self._interruptible = Utterance(), True
        reply = self._reply = asyncio.create_task(self._play(steps, self._spoken), name="agent-reply")
        await asyncio.wait({reply})
        self._reply = None
        self._quiet_since = self.clock()
        if self._closed is not None and (reply.cancelled() or reply.result() is None):
            return self._closed_result()
        if reply.cancelled():
            return None
        return reply.result()

    async def _play(self, steps: AsyncIterator[Step], spoken: Utterance) -> AgentResult | None:
        try:
            async for step in steps:
                if isinstance(step, Say):
                    self._interruptible = step.interruptible
                    await self._say(step.text, spoken)
                elif isinstance(step, Transfer):
                    return await self._transfer(step, spoken)
                elif isinstance(step, HangUp):
                    return await self._hang_up(step.reason, spoken)
            await self._finish(spoken)
            return None
        except AgentError as exc:
            return await self._fail(exc, spoken)
        finally:
            await _aclose(steps)  # stops the LLM stream at once on barge-in

    async def _say(self, text: str, spoken: Utterance) -> None:
        for sentence in split_sentences(text):
            index = spoken.begin(sentence)
            async for chunk in self.tts.synthesize(sentence):
                if self._closed is not None:
                    return
                new_run = not self.call.speaking
                self.call.play(chunk)
                spoken.queued(index, len(chunk) / LINE_RATE, new_run=new_run)
                await self._first_audio()
            self._marks += 1
            spoken.marks.append(self.call.mark(f"agent-{self._marks}"))

    async def _finish(self, spoken: Utterance) -> None:
        """Wait until the reply has played, then record it as heard."""
        if spoken.marks:
            await spoken.marks[-1]
        if not spoken.reported and spoken.sentences:
            spoken.reported = True
            await self._emit("transcript", "agent", spoken.text, {"interrupted": False})
            self.dialog.heard(spoken.text, interrupted=False)

    async def _transfer(self, step: Transfer, spoken: Utterance) -> AgentResult | None:
        self._interruptible = False
        await self._finish(spoken)
        mode = "attended" if self.attended else "blind"
        await self._emit("action", "agent", f"transfer to {step.extension}",
                         {"action": "transfer", "extension": step.extension, "intent": step.intent, "mode": mode})
        try:
            result = await self.call.transfer(step.extension, attended=self.attended,
                                              timeout_s=self.transfer_timeout_s)
        except Exception as exc:
            log.warning("transfer to %s failed: %s", step.extension, exc)
            await self._emit("error", None, f"transfer-failed: {exc}", {"error_id": "transfer-failed"})
            after = Utterance()
            with contextlib.suppress(AgentError):
                await self._say("Sorry, I couldn't transfer your call.", after)
            await self._hang_up("transfer failed", after)
            return AgentResult("failed", f"transfer to {step.extension} failed: {exc}")
        if not result.ok:
            await self._transfer_not_answered(step, result.why)
            return None
        suffix = " (attended)" if self.attended else ""
        return AgentResult("completed", f"transferred to {step.extension}{suffix}", step.extension)

    async def _transfer_not_answered(self, step: Transfer, why: str) -> None:
        """Attended transfer not answered: say so and carry on (the script stays in its state;
        the LLM gets the tool result)."""
        if self._closed is not None:
            return
        why = why or "no answer"
        await self._emit("action", "agent", f"transfer to {step.extension} not completed: {why}",
                         {"action": "transfer_failed", "extension": step.extension, "reason": why})
        failed = getattr(self.dialog, "transfer_failed", None)
        if failed is not None:
            failed(step.extension, why)
        after = self._spoken = Utterance()
        self._interruptible = True
        await self._say(NOT_ANSWERED, after)
        await self._finish(after)

    async def _hang_up(self, reason: str, spoken: Utterance) -> AgentResult:
        self._interruptible = False
        if self.farewell.strip():
            await self._say(self.farewell, spoken)
        await self._finish(spoken)
        await self._emit("action", "agent", "hang up", {"action": "hang_up", "reason": reason})
        await self._hangup_call(reason)
        return AgentResult("completed", reason)

    async def _fail(self, exc: AgentError, spoken: Utterance) -> AgentResult:
        """A dialog or speech failure: apologise (if speech still works), then end the call."""
        log.warning("agent failure: %s", exc)
        self._interruptible = False
        await self._emit("error", None, str(exc), {"error_id": exc.error_id})
        with contextlib.suppress(AgentError):
            await self._say(self.dialog.apology, spoken)
        await self._finish(spoken)
        await self._emit("action", "agent", "hang up", {"action": "hang_up", "reason": exc.error_id})
        await self._hangup_call(exc.error_id)
        return AgentResult("failed", str(exc))

    async def _hangup_call(self, reason: str) -> None:
        if self._closed is not None or self.call.closed:
            return
        try:
            await self.call.hangup(reason)
        except Exception as exc:  # the far end may already be gone
            log.info("hangup failed: %s", exc)

    def _closed_result(self) -> AgentResult:
        return AgentResult("completed", f"call ended: {self._closed}")

    # --- waiting for the caller --------------------------------------------------------------------
    async def _next_turn(self) -> Turn | AgentResult | _MaxDuration:
        while True:
            if self._closed is not None:
                return self._closed_result()
            deadline, kind = self._deadline()
            try:
                item = await self._get(max(0.0, deadline - self.clock()))
            except TimeoutError:
                if kind == "wait":
                    continue
                if kind == "max":
                    return _MaxDuration()
                self._reprompted = True
                return Silent(final=kind == "hangup")
            if isinstance(item, _Closed):
                return self._closed_result()
            turn = await (self._keys(item) if isinstance(item, _Key) else self._words(item))
            if turn is not None:
                return turn

    def _deadline(self) -> tuple[float, str]:
        now = self.clock()
        ends = self._started + self.max_s
        if self._caller_speaking:
            return min(now + 0.25, ends), ("max" if ends <= now + 0.25 else "wait")
        if self.reprompt_s < self.hangup_s and not self._reprompted:
            at, kind = self._quiet_since + self.reprompt_s, "reprompt"
        elif self.reprompt_s < self.hangup_s:
            at, kind = self._quiet_since + self.hangup_s - self.reprompt_s, "hangup"
        else:
            at, kind = self._quiet_since + self.hangup_s, "hangup"
        return (ends, "max") if ends <= at else (at, kind)

    async def _get(self, timeout: float) -> _Input:
        if self._held:
            return self._held.popleft()
        return await asyncio.wait_for(self._inputs.get(), timeout)

    async def _words(self, item: _Utterance) -> Turn | None:
        try:
            transcript = await item.transcript
        except AgentError as exc:
            await self._emit("error", None, str(exc), {"error_id": exc.error_id})
            return None
        except asyncio.CancelledError:
            if self._closed is not None:
                return None
            raise
        if not transcript.text:
            return None
        self._turn = {"ended_at": item.ended_at, "stt_s": transcript.seconds, "heard_at": self.clock()}
        await self._emit("transcript", "caller", transcript.text,
                         {"stt_ms": round(transcript.seconds * 1000), "speech_ms": round(item.speech_s * 1000)})
        return Heard(transcript.text)

    async def _keys(self, item: _Key) -> Turn | None:
        digits = item.digit
        while self.dialog.dtmf_gap_s > 0 and not digits.endswith("#"):
            try:
                more = await self._get(self.dialog.dtmf_gap_s)
            except TimeoutError:
                break
            if not isinstance(more, _Key):
                self._held.appendleft(more)
                break
            digits += more.digit
        self._turn = {"ended_at": self.clock(), "stt_s": 0.0, "heard_at": self.clock()}
        return Pressed(digits)

    async def _first_audio(self) -> None:
        if self._turn is None:
            return
        turn, self._turn = self._turn, None
        now = self.clock()
        await self._emit("latency", None, None, {
            "voice_to_voice_ms": round((now - turn["ended_at"]) * 1000),
            "stt_ms": round(turn["stt_s"] * 1000), "reply_ms": round((now - turn["heard_at"]) * 1000)})

    # --- listening -------------------------------------------------------------------------------
    async def _listen(self) -> None:
        while True:
            event = await self.call.events.get()
            if isinstance(event, AudioIn):
                await self._on_vad(self.endpointer.feed(event.ulaw, self.clock()))
            elif isinstance(event, Dtmf):
                await self._on_key(event.digit)
            elif isinstance(event, Closed):
                self._on_closed(event.reason)
                return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self._on_vad(self.endpointer.tick(self.clock()))

    async def _on_vad(self, events: list[VadEvent]) -> None:
        for event in events:
            if isinstance(event, SpeechStarted):
                self._caller_speaking = True
                self._caller_active()
                if self._reply is not None and not self._reply.done():
                    if not self.barge_in:
                        self._ignored_segment = self.endpointer.segment
                    elif self._interruptible:
                        await self._interrupt(event.at)
            elif isinstance(event, SpeechPaused):
                if self._speculative is not None:
                    self._speculative[2].cancel()  # speech went on: drop it if it has not started
                    self._speculative = None
                if event.segment != self._ignored_segment and not getattr(self.stt, "busy", False):
                    self._speculative = (event.segment, len(event.audio), self._transcribe(event.audio))
            elif isinstance(event, SpeechEnded):
                self._caller_speaking = False
                self._caller_active()
                if event.segment == self._ignored_segment:
                    continue
                spec, self._speculative = self._speculative, None
                if spec is not None and spec[:2] == (event.segment, len(event.audio)):
                    task = spec[2]
                else:
                    if spec is not None:
                        spec[2].cancel()
                    task = self._transcribe(event.audio)
                self._inputs.put_nowait(_Utterance(task, event.at, event.speech_s))
            elif isinstance(event, NoiseIgnored):
                self._caller_speaking = False
                self._caller_active()

    def _transcribe(self, audio: Any) -> asyncio.Task[Transcript]:
        task = asyncio.create_task(self.stt.transcribe(audio), name="agent-stt")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_key(self, digit: str) -> None:
        self._caller_active()
        await self._emit("dtmf", "caller", digit, {})
        if self.barge_in and self._interruptible and self._reply is not None and not self._reply.done():
            await self._interrupt(self.clock())
        self._inputs.put_nowait(_Key(digit))

    def _on_closed(self, reason: str) -> None:
        self._closed = reason
        if self._reply is not None and self._interruptible:
            self._reply.cancel()
        self._inputs.put_nowait(_Closed(reason))

    def _caller_active(self) -> None:
        self._quiet_since = self.clock()
        self._reprompted = False

    async def _interrupt(self, onset: float) -> None:
        """Barge-in: stop the reply, drop queued audio, record what the caller heard."""
        reply, spoken = self._reply, self._spoken
        if reply is None or reply.done():
            return
        reply.cancel()
        heard_s = await self.call.flush() if spoken.pieces else 0.0
        flushed_ms = round((self.clock() - onset) * 1000)
        self._turn = None
        if spoken.reported or not spoken.sentences:
            return
        spoken.reported = True
        heard = spoken.heard(heard_s)
        await self._emit("transcript", "agent", heard, {
            "interrupted": True, "said": spoken.text, "heard_s": round(heard_s, 3), "flush_ms": flushed_ms})
        self.dialog.heard(heard, interrupted=True)

    async def _emit(self, kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
        try:
            await self.on_event(kind, role, text, data)
        except Exception:  # recording must never break the call
            log.exception("event sink failed for %s", kind)


async def _steps(*steps: Step) -> AsyncIterator[Step]:
    for step in steps:
        yield step


async def _aclose(steps: AsyncIterator[Step]) -> None:
    close = getattr(steps, "aclose", None)
    if close is not None:
        await close()
