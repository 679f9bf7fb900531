"""Who holds the floor of one call: the state listening, turn taking and speaking share, and
the run events they report.

Listening sets `closed` and the caller's activity; speaking owns the reply under way (`reply`,
`spoken`, `interruptible`) that barge-in cancels and notes as `cut`; turn taking reads the quiet
clock and notes when a caller turn ended (`turn`) so the first audio of the answer can report the
latency.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.utterance import Utterance

log = logging.getLogger("switchboard.agent")

EventSink = Callable[[str, str | None, str | None, dict[str, Any]], Awaitable[None]]
"""on_event(kind, role, text, data): the run's events (see agent.runtime)."""


class Events:
    """Reports run events to the sink; a failing sink is logged and never breaks the call."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    async def __call__(self, kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
        try:
            await self.sink(kind, role, text, data)
        except Exception:  # recording must never break the call
            log.exception("event sink failed for %s", kind)


@dataclass(frozen=True)
class TurnTiming:
    """When the caller's last turn ended, how long STT took, when the words were known."""
    ended_at: float
    stt_s: float
    heard_at: float


@dataclass(frozen=True)
class Cut:
    """A reply that barge-in stopped: what it queued, and the seconds of its current playout run
    the caller heard. Kept until the next reply, so a false interruption can resume it."""
    spoken: Utterance
    heard_s: float


@dataclass
class Floor:
    started: float
    quiet_since: float
    """Since when the caller has given no input (words, keys), not counting the time the agent
    spoke: the no-input timers run from here."""
    closed: str | None = None
    """Why the call closed, once it has."""
    caller_speaking: bool = False
    reprompted: bool = False
    reply: asyncio.Task[Any] | None = None
    """The agent's reply being produced or played."""
    interruptible: bool = False
    spoken: Utterance = field(default_factory=Utterance)
    """What the current reply has queued so far."""
    turn: TurnTiming | None = None
    cut: Cut | None = None

    def ended(self) -> bool:
        return self.closed is not None

    def replying(self) -> bool:
        return self.reply is not None and not self.reply.done()

    def caller_active(self, now: float) -> None:
        """The caller gave input (words understood, a key): the no-input clocks start again."""
        self.quiet_since = now
        self.reprompted = False

    def agent_spoke(self, began: float, ended: float) -> None:
        """The no-input clock stands still while the agent speaks."""
        if self.quiet_since <= began:
            self.quiet_since += ended - began
