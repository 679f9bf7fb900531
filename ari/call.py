"""One call (inbound, or an outbound call once dialled): its state machine, its outcome and the
events of its own channels.

`CallState` and the transitions `_ALLOWED` permits; any other raises `CallStateError` (a bug,
never a network condition):

    setting_up        → connecting_media | ending | tearing_down   (routing and answer, or dialling)
    connecting_media  → connected | ending | tearing_down           (external media requested)
    connected         → transferring | transferred | ending | tearing_down
    transferring      → connected (refused) | transferred | tearing_down   (blind: `continue` sent)
    transferred       → tearing_down              (the caller is no longer ours to hang up)
    ending            → tearing_down              (an end was requested; the call's task is cancelled)
    tearing_down      → ended

`end` is the outcome recorded for the run; the first one set wins (`settle`, `request_end`).
`request_end` also cancels the call's task, whose teardown then runs; a call that is handed over
(transferring, transferred) keeps its state, so the teardown still knows not to hang up the caller.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from dataclasses import dataclass, field

from ari.events import AriEvent, ChannelDestroyed, ChannelDtmfReceived, ChannelHangupRequest, StasisEnd, StasisStart
from media.recording import Recorder
from media.registry import PendingMedia
from media.session import MediaSession

log = logging.getLogger("switchboard.ari.calls")

SHUTDOWN_FLAG = 4  # ChannelHangupRequest soft cause on `core restart` / shutdown
OUTBOUND_APP_ARG = "switchboard"  # Stasis app args of our outbound originates: switchboard,run=<id>
TRANSFER_APP_ARG = "switchboard-transfer"  # ... and of an attended transfer's target


def new_channel_id(kind: str) -> str:
    """Unguessable ids we assign before Asterisk creates the channel or bridge."""
    return f"sb{kind}-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class CallTiming:
    media_timeout_s: float = 5.0  # StasisStart of the media channel, then its socket
    rest_timeout_s: float = 5.0


@dataclass(frozen=True)
class CallEnd:
    status: str
    reason: str
    error_id: str | None = None
    cause: str | None = None


class CallFailed(Exception):
    """The call cannot go on; recorded as `failed` with this error id."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class CallState(enum.Enum):
    SETTING_UP = "setting_up"
    CONNECTING_MEDIA = "connecting_media"
    CONNECTED = "connected"
    TRANSFERRING = "transferring"
    TRANSFERRED = "transferred"
    ENDING = "ending"
    TEARING_DOWN = "tearing_down"
    ENDED = "ended"


class CallStateError(RuntimeError):
    """A transition the call's state machine does not allow (a bug, never a network condition)."""


S = CallState
_ALLOWED: dict[CallState, frozenset[CallState]] = {
    S.SETTING_UP: frozenset({S.CONNECTING_MEDIA, S.ENDING, S.TEARING_DOWN}),
    S.CONNECTING_MEDIA: frozenset({S.CONNECTED, S.ENDING, S.TEARING_DOWN}),
    S.CONNECTED: frozenset({S.TRANSFERRING, S.TRANSFERRED, S.ENDING, S.TEARING_DOWN}),
    S.TRANSFERRING: frozenset({S.CONNECTED, S.TRANSFERRED, S.TEARING_DOWN}),
    S.TRANSFERRED: frozenset({S.TEARING_DOWN}),
    S.ENDING: frozenset({S.TEARING_DOWN}),
    S.TEARING_DOWN: frozenset({S.ENDED}),
    S.ENDED: frozenset(),
}
_ENDABLE = frozenset({S.SETTING_UP, S.CONNECTING_MEDIA, S.CONNECTED})
_HANDED_OVER = frozenset({S.TRANSFERRING, S.TRANSFERRED})


@dataclass(eq=False)
class Call:
    channel_id: str
    config_id: int
    org_id: int
    caller: str
    called: str
    direction: str = "inbound"
    run_id: int | None = None
    media_id: str | None = None
    bridge_id: str | None = None
    pending: PendingMedia | None = None
    session: MediaSession | None = None
    task: asyncio.Task[None] | None = None
    recorder: Recorder | None = None
    transfer_target: str | None = None  # an attended transfer's channel while it rings
    _state: CallState = field(default=S.SETTING_UP, init=False)
    _end: CallEnd | None = field(default=None, init=False)
    _seen: set[CallState] = field(default_factory=lambda: {S.SETTING_UP}, init=False, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def label(self) -> str:
        return f"config={self.config_id} channel={self.channel_id} run={self.run_id}"

    @property
    def far_end_hung_up(self) -> str:
        return "caller hung up" if self.direction == "inbound" else "the called party hung up"

    # --- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> CallState:
        return self._state

    @property
    def end(self) -> CallEnd | None:
        return self._end

    @property
    def live(self) -> bool:
        """Not (being) torn down: its channels and bridge are ours and in use."""
        return self._state not in (S.TEARING_DOWN, S.ENDED)

    @property
    def handed_over(self) -> bool:
        """The caller was (or is being) transferred: not ours to hang up."""
        return self._state in _HANDED_OVER

    def _to(self, state: CallState) -> None:
        if state not in _ALLOWED[self._state]:
            raise CallStateError(f"call {self.label}: {self._state.value} → {state.value} is not allowed")
        self._state = state
        self._seen.add(state)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def reached(self, state: CallState) -> None:
        """Wait until the call is, or has been, in `state`."""
        while state not in self._seen:
            await self._changed.wait()

    def media_requested(self) -> None:
        self._to(S.CONNECTING_MEDIA)

    def media_entered(self) -> None:
        self._to(S.CONNECTED)

    def blind_transfer_sent(self) -> None:
        self._to(S.TRANSFERRING)

    def blind_transfer_refused(self) -> None:
        self._to(S.CONNECTED)

    def transferred(self) -> None:
        self._to(S.TRANSFERRED)

    def settle(self, end: CallEnd) -> None:
        """Record how the call ends, unless an earlier reason was recorded (the first wins)."""
        if self._end is None:
            self._end = end

    def request_end(self, end: CallEnd) -> None:
        """End the call: record why (first wins) and cancel its task, whose teardown follows."""
        self.settle(end)
        if not self.live:
            return
        if self._state in _ENDABLE:
            self._to(S.ENDING)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def begin_teardown(self) -> CallState:
        """Enter teardown (once); returns the state the call was in."""
        was = self._state
        self._to(S.TEARING_DOWN)
        return was

    def finished(self) -> None:
        self._to(S.ENDED)

    # --- its channels' events (an EventOwner) --------------------------------------------------
    @property
    def active(self) -> bool:
        return self.live

    async def on_event(self, event: AriEvent) -> None:
        if not self.live:
            return
        if isinstance(event, StasisStart):
            if event.channel.id == self.media_id and self._state is S.CONNECTING_MEDIA:
                self.media_entered()
        elif isinstance(event, ChannelHangupRequest):
            self._on_hangup_request(event)
        elif isinstance(event, StasisEnd):
            self._on_gone(event.channel.id, "left the Stasis app", None)
        elif isinstance(event, ChannelDestroyed):
            self._on_gone(event.channel.id, f"destroyed: {event.cause} {event.cause_txt}", event)
        elif isinstance(event, ChannelDtmfReceived):
            if self.session is not None and event.channel.id == self.channel_id:
                self.session.dtmf(event.digit, "ari")

    def _on_hangup_request(self, event: ChannelHangupRequest) -> None:
        if event.soft and event.cause == SHUTDOWN_FLAG:
            self.request_end(CallEnd("failed", "Asterisk is shutting down or restarting", "asterisk-shutdown",
                                     "shutdown"))
        elif event.channel.id == self.channel_id and not event.soft:
            self.request_end(CallEnd("completed", self.far_end_hung_up, None, f"cause {event.cause}"))

    def _on_gone(self, channel_id: str, what: str, destroyed: ChannelDestroyed | None) -> None:
        if channel_id == self.channel_id:
            if not self.handed_over:
                self.request_end(CallEnd("completed", self.far_end_hung_up, None, what))
        elif self._state is S.CONNECTING_MEDIA and destroyed is not None:
            self.request_end(CallEnd(
                "failed",
                f"Asterisk could not open the media WebSocket (cause {destroyed.cause} {destroyed.cause_txt}): "
                "check that the uri in websocket_client.conf reaches Switchboard",
                "media-connect-failed", what,
            ))
        else:
            self.request_end(CallEnd("failed", f"the media channel ended ({what})", "media-channel-ended"))
