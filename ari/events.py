"""Typed ARI events, parsed from the text of an events-WebSocket message.

Pure: text in, frozen dataclasses out, no I/O. ``parse_event`` is the only entry point.

Exceptions::

    ValueError
     └── AriEventError    error_id "ari-bad-event": not UTF-8, not JSON, not an object,
                          no ``type``, a field of the wrong type, or a required field of a
                          known event missing

An event type this module does not model is not an error: it comes back as
``UnknownEvent`` with the decoded object in ``raw``.

The event and resource classes live in ``ari.event_types`` and are re-exported here, so
``from ari.events import StasisStart`` keeps working.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypedDict

from ari.event_types import (
    ApplicationReplaced,
    AriEvent,
    Bridge,
    BridgeDestroyed,
    Channel,
    ChannelCallerId,
    ChannelConnectedLine,
    ChannelCreated,
    ChannelDestroyed,
    ChannelDialplan,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    StasisEnd,
    StasisStart,
    UnknownEvent,
)

__all__ = [
    "AriEvent",
    "AriEventError",
    "ApplicationReplaced",
    "Bridge",
    "BridgeDestroyed",
    "Channel",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelCreated",
    "ChannelDestroyed",
    "ChannelDialplan",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelHangupRequest",
    "ChannelLeftBridge",
    "ChannelStateChange",
    "ChannelVarset",
    "Dial",
    "Event",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "parse_event",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class AriEventError(ValueError):
    """An events-WebSocket message that is not a well-formed ARI event."""

    error_id = "ari-bad-event"


# --- field access --------------------------------------------------------------------------


class _Fields:
    """Typed, path-aware reads from one JSON object; every failure is an AriEventError."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: Mapping[str, object], path: str) -> None:
        self._data = data
        self._path = path

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _get(self, key: str, required: bool) -> object:
        """The value, or ``None`` when absent or null (an error when required)."""
        value = self._data.get(key)
        if value is None and required:
            raise AriEventError(f"missing required field {self._where(key)!r}")
        return value

    def _fail(self, key: str, expected: str, value: object) -> AriEventError:
        got = type(value).__name__
        return AriEventError(f"field {self._where(key)!r} must be {expected}, got {got}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def integer(self, key: str, required: bool = True) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        return value

    def req_integer(self, key: str) -> int:
        value = self.integer(key)
        assert value is not None
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._fail(key, "a boolean", value)
        return value

    def child(self, key: str, required: bool = True) -> _Fields | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._fail(key, "an object", value)
        return _Fields(value, self._where(key))

    def req_child(self, key: str) -> _Fields:
        value = self.child(key)
        assert value is not None
        return value

    def text_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings", value)
        return tuple(value)

    def text_map(self, key: str) -> Mapping[str, str]:
        value = self._get(key, False)
        if value is None:
            return _EMPTY
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._fail(key, "an object of strings", value)
        return MappingProxyType(dict(value))


def _channel(fields: _Fields) -> Channel:
    caller = fields.child("caller", required=False) or _Fields({}, "")
    connected = fields.child("connected", required=False) or _Fields({}, "")
    dialplan = fields.child("dialplan", required=False) or _Fields({}, "")
    return Channel(
        id=fields.text("id"),
        name=fields.text("name"),
        state=fields.text("state"),
        caller_number=caller.text("number", ""),
        caller_name=caller.text("name", ""),
        connected_number=connected.text("number", ""),
        connected_name=connected.text("name", ""),
        context=dialplan.text("context", ""),
        exten=dialplan.text("exten", ""),
        priority=dialplan.integer("priority", required=False),
        app_name=dialplan.text("app_name", ""),
        app_data=dialplan.text("app_data", ""),
        creationtime=fields.text("creationtime", ""),
        language=fields.text("language", ""),
        accountcode=fields.text("accountcode", ""),
        channelvars=fields.text_map("channelvars"),
    )


def _bridge(fields: _Fields) -> Bridge:
    return Bridge(
        id=fields.text("id"),
        technology=fields.text("technology", ""),
        bridge_type=fields.text("bridge_type", ""),
        bridge_class=fields.text("bridge_class", ""),
        creator=fields.text("creator", ""),
        name=fields.text("name", ""),
        channels=fields.text_list("channels"),
        creationtime=fields.text("creationtime", ""),
        video_mode=fields.text("video_mode", ""),
    )


def _req_channel(fields: _Fields, key: str = "channel") -> Channel:
    return _channel(fields.req_child(key))


def _opt_channel(fields: _Fields, key: str) -> Channel | None:
    child = fields.child(key, required=False)
    return None if child is None else _channel(child)


# --- per-type parsers --------------------------------------------------------------------


class _Common(TypedDict):
    application: str | None
    timestamp: str | None
    asterisk_id: str | None


def _stasis_start(f: _Fields, c: _Common) -> AriEvent:
    return StasisStart(
        channel=_req_channel(f),
        args=f.text_list("args"),
        replace_channel=_opt_channel(f, "replace_channel"),
        **c,
    )


def _hangup_request(f: _Fields, c: _Common) -> AriEvent:
    return ChannelHangupRequest(
        channel=_req_channel(f),
        cause=f.integer("cause", required=False),
        soft=f.flag("soft"),
        tech_cause=f.integer("tech_cause", required=False),
        **c,
    )


def _destroyed(f: _Fields, c: _Common) -> AriEvent:
    return ChannelDestroyed(
        channel=_req_channel(f),
        cause=f.req_integer("cause"),
        cause_txt=f.text("cause_txt"),
        tech_cause=f.integer("tech_cause", required=False),
        **c,
    )


def _dtmf(f: _Fields, c: _Common) -> AriEvent:
    return ChannelDtmfReceived(
        channel=_req_channel(f),
        digit=f.text("digit"),
        duration_ms=f.req_integer("duration_ms"),
        **c,
    )


def _dial(f: _Fields, c: _Common) -> AriEvent:
    return Dial(
        peer=_req_channel(f, "peer"),
        dialstatus=f.text("dialstatus"),
        caller=_opt_channel(f, "caller"),
        dialstring=f.text("dialstring", ""),
        forward=f.text("forward", ""),
        forwarded=_opt_channel(f, "forwarded"),
        **c,
    )


def _entered_bridge(f: _Fields, c: _Common) -> AriEvent:
    bridge = _bridge(f.req_child("bridge"))
    return ChannelEnteredBridge(bridge=bridge, channel=_opt_channel(f, "channel"), **c)


def _left_bridge(f: _Fields, c: _Common) -> AriEvent:
    return ChannelLeftBridge(bridge=_bridge(f.req_child("bridge")), channel=_req_channel(f), **c)


def _bridge_destroyed(f: _Fields, c: _Common) -> AriEvent:
    return BridgeDestroyed(bridge=_bridge(f.req_child("bridge")), **c)


def _varset(f: _Fields, c: _Common) -> AriEvent:
    return ChannelVarset(
        variable=f.text("variable"),
        value=f.text("value"),
        channel=_opt_channel(f, "channel"),
        **c,
    )


def _caller_id(f: _Fields, c: _Common) -> AriEvent:
    return ChannelCallerId(
        channel=_req_channel(f),
        caller_presentation=f.req_integer("caller_presentation"),
        caller_presentation_txt=f.text("caller_presentation_txt"),
        **c,
    )


def _dialplan(f: _Fields, c: _Common) -> AriEvent:
    return ChannelDialplan(
        channel=_req_channel(f),
        dialplan_app=f.text("dialplan_app"),
        dialplan_app_data=f.text("dialplan_app_data"),
        **c,
    )


def _replaced(f: _Fields, c: _Common) -> AriEvent:
    return ApplicationReplaced(**c)


_Parser = Callable[[_Fields, _Common], AriEvent]

_PARSERS: Mapping[str, _Parser] = MappingProxyType({
    "StasisStart": _stasis_start,
    "StasisEnd": lambda f, c: StasisEnd(channel=_req_channel(f), **c),
    "ChannelCreated": lambda f, c: ChannelCreated(channel=_req_channel(f), **c),
    "ChannelStateChange": lambda f, c: ChannelStateChange(channel=_req_channel(f), **c),
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelDtmfReceived": _dtmf,
    "Dial": _dial,
    "ChannelEnteredBridge": _entered_bridge,
    "ChannelLeftBridge": _left_bridge,
    "BridgeDestroyed": _bridge_destroyed,
    "ChannelVarset": _varset,
    "ApplicationReplaced": _replaced,
    "ChannelCallerId": _caller_id,
    "ChannelConnectedLine": lambda f, c: ChannelConnectedLine(channel=_req_channel(f), **c),
    "ChannelDialplan": _dialplan,
})


# --- entry point -------------------------------------------------------------------------


def _load(text: str | bytes) -> dict[str, object]:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AriEventError(f"event is not UTF-8: {exc}") from None
    if not isinstance(text, str):
        raise AriEventError(f"event must be str or bytes, got {type(text).__name__}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise AriEventError(f"event is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AriEventError(f"event must be a JSON object, got {type(data).__name__}")
    return data


def parse_event(text: str | bytes) -> AriEvent:
    """Parse one events-WebSocket message into its typed event.

    Raises ``AriEventError`` (and nothing else) for anything that is not a well-formed
    event; returns ``UnknownEvent`` for a well-formed event of a type not modelled here.
    """
    data = _load(text)
    fields = _Fields(data, "")
    type_ = fields.text("type")
    if not type_:
        raise AriEventError("field 'type' must not be empty")
    common = _Common(
        application=fields.opt_text("application"),
        timestamp=fields.opt_text("timestamp"),
        asterisk_id=fields.opt_text("asterisk_id"),
    )
    parser = _PARSERS.get(type_)
    if parser is None:
        return UnknownEvent(type=type_, raw=MappingProxyType(data), **common)
    try:
        return parser(fields, common)
    except AriEventError as exc:
        raise AriEventError(f"{type_}: {exc}") from None
