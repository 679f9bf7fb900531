"""The chan_websocket control channel, Asterisk -> app: text frames in, typed messages out.

Pure: no I/O. ``parse_control`` reads both formats, whatever was asked for in ``f()``:

- plain text: ``NAME key:value key:value`` (``MEDIA_START connection_id:dograh ...``),
  ``MEDIA_MARK_PROCESSED <id>``, ``ERROR channel_id:X error_text:<text to the end>``;
- JSON: ``{"event": "NAME", "channel_id": ..., ...}`` with ``correlation_id`` for ids.

Commands (app -> Asterisk) are written by ``media.commands``. The Asterisk side of both
(writing control messages, reading commands) lives with the fake Asterisk in
``tests/fake_asterisk/media_protocol.py``.

Exceptions::

    ValueError
     └── ControlParseError   error_id "media-bad-control": a text frame that is not a
                             well-formed control message
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "AST_SPACE",
    "BufferingCompleted",
    "ControlMessage",
    "ControlParseError",
    "DtmfEnd",
    "MarkProcessed",
    "MediaError",
    "MediaStart",
    "MediaXoff",
    "MediaXon",
    "QueueDrained",
    "Status",
    "UnknownMessage",
    "decode_frame",
    "load_json_object",
    "parse_control",
]

_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
AST_SPACE = " \t\n\v\f\r"  # what Asterisk's ast_strip() removes


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


class ControlParseError(ValueError):
    """A text frame that is not a well-formed control message or command."""

    error_id = "media-bad-control"


# --- messages from Asterisk --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    channel_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaStart(_Message):
    """First message on a media socket. Route by ``channel_id`` (the ARI id of the
    external media channel); ``connection_id`` is the websocket_client name, the same
    for every call. ``channel_variables`` only exist in the JSON format."""

    name = "MEDIA_START"
    format: str
    optimal_frame_size: int
    ptime: int = 20
    connection_id: str = ""
    channel: str = ""
    channel_variables: Mapping[str, str] = field(default_factory=_empty, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaXoff(_Message):
    """The playout queue reached the XOFF level (900 frames): stop sending."""

    name = "MEDIA_XOFF"


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaXon(_Message):
    """The playout queue fell below the XON level (800 frames): sending may resume."""

    name = "MEDIA_XON"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDrained(_Message):
    """Reply to REPORT_QUEUE_DRAINED: the playout queue is empty."""

    name = "QUEUE_DRAINED"


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkProcessed(_Message):
    """Playout reached a MARK_MEDIA; ``mark`` is its id, ``""`` when it had none."""

    name = "MEDIA_MARK_PROCESSED"
    mark: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferingCompleted(_Message):
    """Playout reached a STOP_MEDIA_BUFFERING; ``id`` is its id, ``""`` when it had none."""

    name = "MEDIA_BUFFERING_COMPLETED"
    id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(_Message):
    """Reply to GET_STATUS."""

    name = "STATUS"
    queue_length: int
    xon_level: int
    xoff_level: int
    queue_full: bool
    bulk_media: bool
    media_paused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfEnd(_Message):
    name = "DTMF_END"
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaError(_Message):
    """An ``ERROR`` reply. ``error_text`` has Asterisk's trailing newline removed."""

    name = "ERROR"
    error_text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(_Message):
    """A well-formed message whose name this module does not know; ``raw`` is the text."""

    name: str
    raw: str = ""


ControlMessage = (
    MediaStart
    | MediaXoff
    | MediaXon
    | QueueDrained
    | MarkProcessed
    | BufferingCompleted
    | Status
    | DtmfEnd
    | MediaError
    | UnknownMessage
)


# --- reading fields ----------------------------------------------------------------------


class _Reader:
    """Typed reads of one message's fields; plain values are strings, JSON ones typed."""

    def __init__(self, name: str, fields: Mapping[str, object], ident: str, plain: bool) -> None:
        self.name = name
        self._fields = fields
        self._plain = plain
        self.ident = ident  # the mark / buffering id (plain: all text after the name)

    def _fail(self, key: str, expected: str) -> ControlParseError:
        return ControlParseError(f"{self.name}: {key!r} must be {expected}")

    def _get(self, key: str) -> object:
        if key not in self._fields:
            raise ControlParseError(f"{self.name}: missing {key!r}")
        return self._fields[key]

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self._fields:
            return default
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._fields.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        if default is not None and key not in self._fields:
            return default
        value = self._get(key)
        if self._plain and isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        if not self._plain and isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self._fail(key, "an integer")

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if self._plain and value in ("true", "false"):
            return value == "true"
        if not self._plain and isinstance(value, bool):
            return value
        raise self._fail(key, "true or false")

    def text_map(self, key: str) -> Mapping[str, str]:
        value = self._fields.get(key)
        if value is None:
            return _empty()
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._fail(key, "an object of strings")
        return MappingProxyType(dict(value))


def _media_start(r: _Reader) -> ControlMessage:
    return MediaStart(
        channel_id=r.opt_text("channel_id"),
        format=r.text("format"),
        optimal_frame_size=r.integer("optimal_frame_size"),
        ptime=r.integer("ptime", 20),
        connection_id=r.text("connection_id", ""),
        channel=r.text("channel", ""),
        channel_variables=r.text_map("channel_variables"),
    )


def _status(r: _Reader) -> ControlMessage:
    return Status(
        channel_id=r.opt_text("channel_id"),
        queue_length=r.integer("queue_length"),
        xon_level=r.integer("xon_level"),
        xoff_level=r.integer("xoff_level"),
        queue_full=r.flag("queue_full"),
        bulk_media=r.flag("bulk_media"),
        media_paused=r.flag("media_paused"),
    )


def _dtmf_end(r: _Reader) -> ControlMessage:
    digit = r.text("digit")
    if len(digit) != 1:
        raise ControlParseError(f"DTMF_END: 'digit' must be one character, got {digit!r}")
    return DtmfEnd(channel_id=r.opt_text("channel_id"), digit=digit)


def _error(r: _Reader) -> ControlMessage:
    text = r.text("error_text").rstrip(AST_SPACE)
    return MediaError(channel_id=r.opt_text("channel_id"), error_text=text)


_Builder = Callable[[_Reader], ControlMessage]

_BUILDERS: Mapping[str, _Builder] = MappingProxyType({
    "MEDIA_START": _media_start,
    "MEDIA_XOFF": lambda r: MediaXoff(channel_id=r.opt_text("channel_id")),
    "MEDIA_XON": lambda r: MediaXon(channel_id=r.opt_text("channel_id")),
    "QUEUE_DRAINED": lambda r: QueueDrained(channel_id=r.opt_text("channel_id")),
    "MEDIA_MARK_PROCESSED": lambda r: MarkProcessed(
        channel_id=r.opt_text("channel_id"), mark=r.ident
    ),
    "MEDIA_BUFFERING_COMPLETED": lambda r: BufferingCompleted(
        channel_id=r.opt_text("channel_id"), id=r.ident
    ),
    "STATUS": _status,
    "DTMF_END": _dtmf_end,
    "ERROR": _error,
})

# Plain-text messages whose argument is a bare id, not key:value pairs.
_PLAIN_IDENT = frozenset({"MEDIA_MARK_PROCESSED", "MEDIA_BUFFERING_COMPLETED"})
# Keys whose value runs to the end of a plain-text message, spaces included.
_PLAIN_TAIL_KEYS = ("error_text",)


def _plain_fields(name: str, rest: str) -> dict[str, object]:
    """``key:value key:value`` -> dict; a tail key takes the rest of the text."""
    fields: dict[str, object] = {}
    while rest:
        token, _, after = rest.partition(" ")
        key, colon, value = token.partition(":")
        if not colon or not key:
            raise ControlParseError(f"{name}: expected key:value, got {token!r}")
        if key in _PLAIN_TAIL_KEYS:
            fields[key] = rest[len(key) + 1:]
            break
        fields[key] = value
        rest = after.lstrip(" ")
    return fields


def _lenient_channel_id(rest: str) -> str | None:
    for token in rest.split(" "):
        if token.startswith("channel_id:"):
            return token[len("channel_id:"):]
    return None


def decode_frame(text: str | bytes) -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ControlParseError(f"not UTF-8: {exc}") from None
    if not isinstance(text, str):
        raise ControlParseError(f"expected str or bytes, got {type(text).__name__}")
    return text


def load_json_object(text: str) -> dict[str, object]:
    try:
        data = _json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ControlParseError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlParseError(f"JSON message must be an object, got {type(data).__name__}")
    return data


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ControlParseError(f"bad message name {name!r}")
    return name


def _parse_json(text: str) -> ControlMessage:
    data = load_json_object(text)
    if "event" not in data:
        raise ControlParseError("JSON message has no 'event'")
    name = _check_name(data["event"])
    ident = _Reader(name, data, "", plain=False).opt_text("correlation_id") or ""
    reader = _Reader(name, data, ident, plain=False)
    builder = _BUILDERS.get(name)
    if builder is None:
        return UnknownMessage(name=name, raw=text, channel_id=reader.opt_text("channel_id"))
    return builder(reader)


def _parse_plain(text: str) -> ControlMessage:
    stripped = text.strip(AST_SPACE)
    name, _, rest = stripped.partition(" ")
    _check_name(name)
    builder = _BUILDERS.get(name)
    if builder is None:
        return UnknownMessage(name=name, raw=text, channel_id=_lenient_channel_id(rest))
    if name in _PLAIN_IDENT:
        return builder(_Reader(name, {}, rest, plain=True))
    return builder(_Reader(name, _plain_fields(name, rest.lstrip(" ")), "", plain=True))


def parse_control(text: str | bytes) -> ControlMessage:
    """Parse a control message from Asterisk, plain text or JSON (detected).

    Raises ``ControlParseError`` (and nothing else) for anything malformed; a well-formed
    message with an unknown name is an ``UnknownMessage``.
    """
    decoded = decode_frame(text)
    if decoded.lstrip(AST_SPACE).startswith("{"):
        return _parse_json(decoded)
    return _parse_plain(decoded)
