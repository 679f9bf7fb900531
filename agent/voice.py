"""One call's conversation: listen (VAD → STT, `listening.py`), take turns (`turns.py`), decide
(the dialog), speak (TTS, `speaking.py`), and the rules of a phone conversation around them.

- Turn taking: the caller's turn ends after `end_of_speech_ms` of silence; transcription starts
  earlier, at a pause, and its result is used when the caller stays silent.
- Echo: the caller's audio goes through an echo canceller fed with what the agent played and
  when (`CallPort.watch_playout`), so a line that echoes the agent back does not interrupt it.
- Barge-in: caller speech (or a key) while the agent's reply is being produced or played cancels
  the reply (TTS and the LLM stream stop) and flushes queued audio at once, once the echo gate
  takes the speech for the caller's (agent/barge_in.py); the transcript keeps what the caller
  heard, worked out from the seconds `flush()` reports and the sentence marks. A barge-in that
  brings no words (a noise, a cough) is a false interruption: the cut sentence is said again
  from its start (the agent line is marked `resumed`).
- No input: `no_input_reprompt_s` without understood words or keys → a reprompt,
  `no_input_hangup_s` → the farewell and a hang-up (agent/turns.py). `max_duration_s` ends the
  call politely.
- Endings: a farewell is played to its mark before `hangup`; a transfer waits for the words
  before it. When the call closes the session returns at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from agent.barge_in import EchoGuard
from agent.definition import DEFAULT_TRANSFER_TIMEOUT_S, WorkflowDefinition
from agent.dialog import Dialog, HangUp, Note, Say, Step, Transfer
from agent.echo import EchoCanceller
from agent.errors import AgentError
from agent.floor import Events, EventSink, Floor
from agent.listening import CallClosed, Listener
from agent.speaking import Speaker
from agent.stt import SpeechToText
from agent.text import render
from agent.tts import TextToSpeech
from agent.turns import MaxDuration, Resume, Timers, TurnTaker
from agent.utterance import Utterance
from agent.vad import Endpointer
from media.port import CallPort

__all__ = ["AgentResult", "EventSink", "VoiceSession"]

log = logging.getLogger("switchboard.agent")

NOT_ANSWERED = "Sorry, nobody is available to take your call right now. I'll stay with you."


@dataclass(frozen=True)
class AgentResult:
    status: str  # "completed" | "failed"
    reason: str
    transferred_to: str | None = None


class VoiceSession:
    def __init__(self, *, call: CallPort, definition: WorkflowDefinition, context: dict[str, Any], on_event: EventSink,
                 dialog: Dialog, stt: SpeechToText, tts: TextToSpeech, endpointer: Endpointer,
                 echo: EchoCanceller | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.call, self.dialog, self.clock = call, dialog, clock
        self.events = Events(on_event)
        self.max_s: float = definition.max_duration_s
        self.farewell = render(definition.farewell, context)
        transfer = definition.transfer
        self.attended = transfer is not None and transfer.attended
        self.transfer_timeout_s = float((transfer.timeout_s if transfer else None) or DEFAULT_TRANSFER_TIMEOUT_S)
        now = clock()
        self.floor = Floor(started=now, quiet_since=now)
        self.speaker = Speaker(call=call, tts=tts, dialog=dialog, floor=self.floor, events=self.events, clock=clock)
        if echo is not None:
            call.watch_playout(echo)
        self.listener = Listener(call=call, stt=stt, endpointer=endpointer, floor=self.floor, speaker=self.speaker,
                                 events=self.events, clock=clock, barge_in=definition.barge_in,
                                 guard=EchoGuard(echo), hints=dialog.expected_words)
        self.turns = TurnTaker(listener=self.listener, dialog=dialog, floor=self.floor, events=self.events,
                               clock=clock, timers=Timers(reprompt_s=definition.no_input_reprompt_s,
                                                          hangup_s=definition.no_input_hangup_s, max_s=self.max_s))

    # --- the conversation ------------------------------------------------------------------------
    async def run(self) -> AgentResult:
        listener = asyncio.create_task(self.listener.listen(), name="agent-listen")
        ticker = asyncio.create_task(self.listener.tick(), name="agent-tick")
        try:
            async with asyncio.timeout(self.max_s + 60):
                return await self._converse()
        except TimeoutError:
            await self._hangup_call("maximum call duration reached")
            return AgentResult("completed", "maximum call duration reached")
        except Exception as exc:
            log.exception("agent session crashed")
            await self.events("error", None, f"agent-crashed: {exc}", {"error_id": "agent-crashed"})
            await self._hangup_call("agent error")
            return AgentResult("failed", f"agent-crashed: {exc}")
        finally:
            tasks = [t for t in (listener, ticker, self.floor.reply, *self.listener.tasks) if t is not None]
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.dialog.aclose()

    async def _converse(self) -> AgentResult:
        result = await self._perform(self.dialog.greeting())
        while result is None:
            turn = await self.turns.next_turn()
            if isinstance(turn, CallClosed):
                return self._closed_result()
            if isinstance(turn, Resume):
                result = await self._perform(_steps(Say(turn.text)), resume=turn)
                continue
            steps = _steps(HangUp("maximum call duration reached")) if isinstance(turn, MaxDuration) \
                else self.dialog.respond(turn)
            result = await self._perform(steps)
        return result

    async def _perform(self, steps: AsyncIterator[Step], *, resume: Resume | None = None) -> AgentResult | None:
        """Run one reply as a task barge-in can cancel. None: the conversation goes on."""
        if self.floor.ended():
            await _aclose(steps)
            return self._closed_result()
        self.floor.spoken, self.floor.interruptible = Utterance(resumed=resume is not None), True
        if resume is not None:
            self.floor.spoken.resumed_after = resume.heard
        self.floor.cut = None
        reply: asyncio.Task[AgentResult | None] = asyncio.create_task(self._play(steps, self.floor.spoken),
                                                                      name="agent-reply")
        self.floor.reply = reply
        began = self.clock()
        await asyncio.wait({reply})
        self.floor.reply = None
        self.floor.agent_spoke(began, self.clock())
        if self.floor.ended() and (reply.cancelled() or reply.result() is None):
            return self._closed_result()
        if reply.cancelled():
            return None
        return reply.result()

    async def _play(self, steps: AsyncIterator[Step], spoken: Utterance) -> AgentResult | None:
        try:
            async for step in steps:
                if isinstance(step, Say):
                    self.floor.interruptible = step.interruptible
                    await self.speaker.say(step.text, spoken)
                elif isinstance(step, Transfer):
                    return await self._transfer(step, spoken)
                elif isinstance(step, HangUp):
                    return await self._hang_up(step.reason, spoken)
                elif isinstance(step, Note):  # a tool call, variables set: recorded, not said
                    await self.events(step.kind, None, step.text, step.data)
            await self.speaker.finish(spoken)
            return None
        except AgentError as exc:
            return await self._fail(exc, spoken)
        finally:
            await _aclose(steps)  # stops the LLM stream at once on barge-in

    # --- endings ---------------------------------------------------------------------------------
    async def _transfer(self, step: Transfer, spoken: Utterance) -> AgentResult | None:
        self.floor.interruptible = False
        await self.speaker.finish(spoken)
        mode = "attended" if self.attended else "blind"
        await self.events("action", "agent", f"transfer to {step.extension}",
                          {"action": "transfer", "extension": step.extension, "intent": step.intent, "mode": mode})
        try:
            result = await self.call.transfer(step.extension, attended=self.attended,
                                              timeout_s=self.transfer_timeout_s)
        except Exception as exc:
            log.warning("transfer to %s failed: %s", step.extension, exc)
            await self.events("error", None, f"transfer-failed: {exc}", {"error_id": "transfer-failed"})
            after = Utterance()
            with contextlib.suppress(AgentError):
                await self.speaker.say("Sorry, I couldn't transfer your call.", after)
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
        if self.floor.ended():
            return
        why = why or "no answer"
        await self.events("action", "agent", f"transfer to {step.extension} not completed: {why}",
                          {"action": "transfer_failed", "extension": step.extension, "reason": why})
        self.dialog.transfer_failed(step.extension, why)
        after = self.floor.spoken = Utterance()
        self.floor.interruptible = True
        await self.speaker.say(NOT_ANSWERED, after)
        await self.speaker.finish(after)

    async def _hang_up(self, reason: str, spoken: Utterance) -> AgentResult:
        self.floor.interruptible = False
        if self.farewell.strip():
            await self.speaker.say(self.farewell, spoken)
        await self.speaker.finish(spoken)
        await self.events("action", "agent", "hang up", {"action": "hang_up", "reason": reason})
        await self._hangup_call(reason)
        return AgentResult("completed", reason)

    async def _fail(self, exc: AgentError, spoken: Utterance) -> AgentResult:
        """A dialog or speech failure: apologise (if speech still works), then end the call."""
        log.warning("agent failure: %s", exc)
        self.floor.interruptible = False
        await self.events("error", None, str(exc), {"error_id": exc.error_id})
        with contextlib.suppress(AgentError):
            await self.speaker.say(self.dialog.apology, spoken)
        await self.speaker.finish(spoken)
        await self.events("action", "agent", "hang up", {"action": "hang_up", "reason": exc.error_id})
        await self._hangup_call(exc.error_id)
        return AgentResult("failed", str(exc))

    async def _hangup_call(self, reason: str) -> None:
        if self.floor.ended() or self.call.closed:
            return
        try:
            await self.call.hangup(reason)
        except Exception as exc:  # the far end may already be gone
            log.info("hangup failed: %s", exc)

    def _closed_result(self) -> AgentResult:
        return AgentResult("completed", f"call ended: {self.floor.closed}")


async def _steps(*steps: Step) -> AsyncIterator[Step]:
    for step in steps:
        yield step


async def _aclose(steps: AsyncIterator[Step]) -> None:
    close = getattr(steps, "aclose", None)
    if close is not None:
        await close()
