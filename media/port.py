"""The typed port between call control (`ari/`) and the agent (`agent/`): both import this
module, neither imports the other.

    call control                                  agent
    ------------                                  -----
    AgentRunner(call, definition, context, on_event) -> AgentOutcome
                 │
                 └── call: CallPort ──────────────► events (AudioIn | Dtmf | MarkPlayed | Closed)
                                                    play, mark, flush, speaking, closed
                                                    watch_playout(tap): what plays and when
                                                    hangup(reason), transfer(...) -> TransferResult

The media session (`media.session.MediaSession`) is the `CallPort`: audio goes through it
directly; `hangup` and `transfer` are handed to the `CallControls` that call control attaches
to the session. The workflow definition crosses as the stored JSON (`Mapping[str, Any]`):
call control does not know the agent's types; the agent parses it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "AgentOutcome", "AgentRunner", "AudioIn", "CallControls", "CallPort", "Closed", "Dtmf", "EventSink",
    "MarkPlayed", "MediaEvent", "PlayoutTap", "TransferResult",
]


# --- what the caller's side sends the agent (CallPort.events) -------------------------------------
@dataclass(frozen=True)
class AudioIn:
    ulaw: bytes
    at: float | None = None
    """When the frame arrived, on the call's clock (the clock `PlayoutTap` times are on)."""


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True)
class Closed:
    reason: str


MediaEvent = AudioIn | Dtmf | MarkPlayed | Closed


@dataclass(frozen=True)
class TransferResult:
    """`ok`: the caller is transferred (the agent's part is over). Not ok: the transfer did not
    happen and the call is still the agent's; `why` says why (busy, no answer...)."""

    ok: bool
    why: str = ""


class CallControls(Protocol):
    """What call control does for the agent beyond audio (attached to the media session)."""

    async def hangup(self, reason: str) -> None: ...

    async def transfer(self, extension: str, *, attended: bool = False,
                       timeout_s: float = 20.0) -> TransferResult: ...


class PlayoutTap(Protocol):
    """Sees the agent's audio as it plays (an echo canceller's reference). Called on the media hot
    path: it must only buffer. Times are on the call's clock."""

    def agent(self, ulaw: bytes, at: float) -> None:
        """`ulaw` (any length) starts playing to the caller at `at`."""

    def agent_flushed(self, at: float) -> None:
        """Nothing queued after `at` will play (barge-in)."""


class CallPort(Protocol):
    """One call as the agent sees it."""

    @property
    def events(self) -> asyncio.Queue[MediaEvent]:
        """Caller audio, key presses, marks played and, last, `Closed`."""
        ...

    def play(self, ulaw: bytes) -> None:
        """Queue µ-law audio for the caller (any length)."""

    def mark(self, name: str) -> asyncio.Future[bool]:
        """True once the caller heard everything queued before it; False if flushed or closed."""
        ...

    async def flush(self) -> float:
        """Drop unplayed agent audio (barge-in); seconds of the current playout the caller heard."""
        ...

    @property
    def speaking(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def watch_playout(self, tap: PlayoutTap) -> None:
        """From now on, also tell `tap` what agent audio plays and when."""

    async def hangup(self, reason: str) -> None: ...

    async def transfer(self, extension: str, *, attended: bool = False,
                       timeout_s: float = 20.0) -> TransferResult:
        """Blind (default): hand the caller back to the dialplan; `ok`, or an exception when the
        caller could not be handed over. Attended: ring `extension` for up to `timeout_s` and
        bridge it with the caller on answer (`ok`, the agent's leg is dropped); not answered,
        busy or unavailable → not ok with `why`, and the agent keeps the call."""
        ...


EventSink = Callable[[str, str | None, str | None, dict[str, Any]], Awaitable[None]]
"""`on_event(kind, role, text, data)`: a run event (transcript, dtmf, action, latency, error)."""


class AgentOutcome(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str: ...


class AgentRunner(Protocol):
    """Runs the agent on one answered call until it hangs up, transfers or the call closes."""

    async def __call__(self, call: CallPort, definition: Mapping[str, Any], context: dict[str, Any],
                       on_event: EventSink) -> AgentOutcome: ...
