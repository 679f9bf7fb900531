"""The ARI resources and events we model, as frozen dataclasses (no parsing, no I/O).

Field names follow the ARI swagger (``events.json``), flattened where that helps:
``Channel.exten`` is ``channel.dialplan.exten``, ``Channel.caller_number`` is
``channel.caller.number``. Timestamps stay the strings Asterisk sends
(``2026-11-27T13:09:56.394+0000``). ``ari.events.parse_event`` builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return _EMPTY


# --- resources ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """An ARI ``Channel`` snapshot as carried by an event."""

    id: str
    name: str
    state: str
    caller_number: str = ""
    caller_name: str = ""
    connected_number: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    priority: int | None = None
    app_name: str = ""
    app_data: str = ""
    creationtime: str = ""
    language: str = ""
    accountcode: str = ""
    channelvars: Mapping[str, str] = field(default_factory=_empty, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    """An ARI ``Bridge`` snapshot as carried by an event."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: str = ""
    video_mode: str = ""


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Fields every ARI event may carry; each is ``None`` when the message omits it."""

    application: str | None = None
    timestamp: str | None = None
    asterisk_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(Event):
    """A channel entered the application. ``args`` are the comma-split Stasis/appArgs."""

    type = "StasisStart"
    channel: Channel
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(Event):
    type = "StasisEnd"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(Event):
    type = "ChannelCreated"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(Event):
    type = "ChannelStateChange"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(Event):
    """A hangup was requested on ``channel``.

    With ``soft=True`` the ``cause`` is Asterisk's soft-hangup *bit flag*, not a Q.850
    cause: 32 (``AST_SOFTHANGUP_EXPLICIT``) after an ARI ``DELETE``, even one with
    ``reason_code``; 4 (``AST_SOFTHANGUP_SHUTDOWN``) on ``core restart``. Only with
    ``soft=False`` is it Q.850 (0 when the caller hung up, 16 after a media-side HANGUP).
    The real Q.850 cause of a channel is in ``ChannelDestroyed``. ``tech_cause`` is the
    WebSocket close code for chan_websocket channels (1000 HANGUP, 1001 socket closed).
    """

    type = "ChannelHangupRequest"
    channel: Channel
    cause: int | None = None
    soft: bool = False
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(Event):
    """The channel is gone; ``cause``/``cause_txt`` are Q.850 (16 "Normal Clearing").

    Asterisk does not send it for every channel: an inbound Local ``;2`` channel ends at
    ``StasisEnd``.
    """

    type = "ChannelDestroyed"
    channel: Channel
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(Event):
    type = "ChannelDtmfReceived"
    channel: Channel
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    """Dial progress. ``dialstatus`` is ``""`` at the start, then RINGING, ANSWER, BUSY,
    NOANSWER, CANCEL... For an outbound call it is the only trustworthy "busy" signal."""

    type = "Dial"
    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    dialstring: str = ""
    forward: str = ""
    forwarded: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(Event):
    type = "ChannelEnteredBridge"
    bridge: Bridge
    channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(Event):
    type = "ChannelLeftBridge"
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(Event):
    type = "BridgeDestroyed"
    bridge: Bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    """A variable was set; ``channel`` is ``None`` for a global variable."""

    type = "ChannelVarset"
    variable: str
    value: str
    channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another events socket registered the same application name."""

    type = "ApplicationReplaced"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCallerId(Event):
    type = "ChannelCallerId"
    channel: Channel
    caller_presentation: int
    caller_presentation_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(Event):
    type = "ChannelConnectedLine"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(Event):
    type = "ChannelDialplan"
    channel: Channel
    dialplan_app: str
    dialplan_app_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """Any event type not modelled here; ``raw`` is the decoded JSON object."""

    type: str
    raw: Mapping[str, object] = field(default_factory=_empty, hash=False)


AriEvent = (
    StasisStart
    | StasisEnd
    | ChannelCreated
    | ChannelStateChange
    | ChannelHangupRequest
    | ChannelDestroyed
    | ChannelDtmfReceived
    | Dial
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | BridgeDestroyed
    | ChannelVarset
    | ApplicationReplaced
    | ChannelCallerId
    | ChannelConnectedLine
    | ChannelDialplan
    | UnknownEvent
)
