"""What a dialog engine is, to the voice session and to the test chat.

A `Dialog` turns what the caller did (`Turn`) into `Step`s: text to say (a stream: the LLM
engine yields sentences while tokens still arrive), then at most one ending action. The session
speaks, handles barge-in and timers, and tells the dialog what the caller actually heard.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.stt_choice import AnswerEvidence


@dataclass(frozen=True)
class Say:
    text: str
    interruptible: bool = True
    """False for words that lead into an action already decided (a transfer, a hang-up)."""


@dataclass(frozen=True)
class Transfer:
    extension: str
    intent: str | None = None


@dataclass(frozen=True)
class HangUp:
    reason: str


@dataclass(frozen=True)
class Note:
    """Something the dialog did that the call records but nobody hears: a tool call (`kind`
    "tool", data from `agent.tools.tool_event`), variables set ("variables", {"source", "values"}),
    an answer that could not be captured ("capture", {"name", "reason", "gave_up"})."""
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict, hash=False)


Step = Say | Transfer | HangUp | Note


@dataclass(frozen=True)
class Heard:
    """The caller said `text` (a transcript); `answers`: when it names none of the expected words,
    how strongly the audio supports each of them (agent/stt_choice.py)."""
    text: str
    answers: tuple[AnswerEvidence, ...] = ()


@dataclass(frozen=True)
class Pressed:
    """The caller pressed DTMF keys."""
    digits: str


@dataclass(frozen=True)
class Silent:
    """No input for the reprompt timeout (`final` False) or the hang-up timeout (`final` True)."""
    final: bool


Turn = Heard | Pressed | Silent


class Dialog(Protocol):
    apology: str
    """Said when the dialog fails (an unreachable LLM) before the call is ended."""
    @property
    def dtmf_gap_s(self) -> float:
        """Collect key presses until this long a gap or '#' (0: every key is a turn of its own)."""

    def greeting(self) -> AsyncIterator[Step]: ...
    def respond(self, turn: Turn) -> AsyncIterator[Step]: ...
    def heard(self, text: str, *, interrupted: bool) -> None:
        """What the caller heard of the last reply (all of it unless interrupted)."""
    def transfer_failed(self, extension: str, reason: str) -> None:
        """The last `Transfer` was not completed (an attended transfer nobody answered); the
        caller is still on the line and the conversation goes on."""
    def expected_words(self) -> Sequence[str]:
        """The words or phrases the caller is likely to say now (speech-to-text hints): the
        script's intent keywords in its current state; nothing for the LLM engine."""
        ...
    def snapshot(self) -> dict[str, Any]: ...
    async def aclose(self) -> None: ...
