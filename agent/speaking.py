"""The agent's side of one call: sentences through TTS into the call with a mark after each,
waiting for a reply to play out, and barge-in (stop, flush, record what the caller heard)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.audio import LINE_RATE
from agent.dialog import Dialog
from agent.floor import Cut, Events, Floor
from agent.text import split_sentences
from agent.tts import TextToSpeech
from agent.utterance import Utterance
from media.port import CallPort


class Speaker:
    def __init__(self, *, call: CallPort, tts: TextToSpeech, dialog: Dialog, floor: Floor, events: Events,
                 clock: Callable[[], float]) -> None:
        self.call, self.tts, self.dialog, self.floor = call, tts, dialog, floor
        self.events, self.clock = events, clock
        self._marks = 0

    async def say(self, text: str, spoken: Utterance) -> None:
        """Queue `text` sentence by sentence (stops when the call closes)."""
        for sentence in split_sentences(text):
            index = spoken.begin(sentence)
            async for chunk in self.tts.synthesize(sentence):
                if self.floor.ended():
                    return
                new_run = not self.call.speaking
                self.call.play(chunk)
                spoken.queued(index, len(chunk) / LINE_RATE, new_run=new_run)
                await self._first_audio()
            self._marks += 1
            spoken.marks.append(self.call.mark(f"agent-{self._marks}"))

    async def finish(self, spoken: Utterance) -> None:
        """Wait until the reply has played, then record it as heard."""
        if spoken.marks:
            await spoken.marks[-1]
        if not spoken.reported and spoken.sentences:
            spoken.reported = True
            await self.events("transcript", "agent", spoken.text, {"interrupted": False, **_resumed(spoken)})
            self.dialog.heard(spoken.text, interrupted=False)

    async def interrupt(self, onset: float, *, cause: dict[str, Any] | None = None) -> None:
        """Barge-in: stop the reply, drop queued audio, record what the caller heard. `cause`:
        what decided it (the echo gate's verdict), recorded with the agent's line."""
        reply, spoken = self.floor.reply, self.floor.spoken
        if reply is None or reply.done():
            return
        reply.cancel()
        heard_s = await self.call.flush() if spoken.pieces else 0.0
        flushed_ms = round((self.clock() - onset) * 1000)
        self.floor.turn = None
        self.floor.cut = Cut(spoken, heard_s)
        if spoken.reported or not spoken.sentences:
            return
        spoken.reported = True
        heard = spoken.heard(heard_s)
        await self.events("transcript", "agent", heard, {
            "interrupted": True, "said": spoken.text, "heard_s": round(heard_s, 3), "flush_ms": flushed_ms,
            **({"barge_in": cause} if cause else {}), **_resumed(spoken)})
        self.dialog.heard(heard, interrupted=True)

    async def _first_audio(self) -> None:
        """The answer's first audio is queued: report the latency of the turn it answers."""
        if self.floor.turn is None:
            return
        turn, self.floor.turn = self.floor.turn, None
        now = self.clock()
        await self.events("latency", None, None, {
            "voice_to_voice_ms": round((now - turn.ended_at) * 1000),
            "stt_ms": round(turn.stt_s * 1000), "reply_ms": round((now - turn.heard_at) * 1000)})


def _resumed(spoken: Utterance) -> dict[str, Any]:
    """How a resumed line is marked: resumed, and what the false interruption sounded like."""
    if not spoken.resumed:
        return {}
    return {"resumed": True, **({"after": spoken.resumed_after} if spoken.resumed_after else {})}
