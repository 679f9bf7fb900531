"""The Asterisk side of the chan_websocket control channel (``media.protocol`` and
``media.commands`` are the app's side): ``format_control`` writes control messages exactly as
chan_websocket does, ``parse_command`` reads commands the way it does. Used by tests only.
"""

from __future__ import annotations

import json as _json
from dataclasses import dataclass

from media.commands import COMMANDS, JSON_ONLY_COMMANDS, MAX_COMMAND_BYTES
from media.protocol import (
    AST_SPACE,
    BufferingCompleted,
    ControlMessage,
    ControlParseError,
    DtmfEnd,
    MarkProcessed,
    MediaError,
    MediaStart,
    Status,
    UnknownMessage,
    decode_frame,
    load_json_object,
)

__all__ = ["Command", "format_control", "parse_command"]


def _plain_pairs(name: str, pairs: list[tuple[str, object]]) -> str:
    def show(value: object) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return " ".join([name, *(f"{k}:{show(v)}" for k, v in pairs)])


def _fields_of(message: ControlMessage) -> list[tuple[str, object]]:
    if isinstance(message, MediaStart):
        return [
            ("connection_id", message.connection_id), ("channel", message.channel),
            ("channel_id", message.channel_id or ""), ("format", message.format),
            ("optimal_frame_size", message.optimal_frame_size), ("ptime", message.ptime),
        ]
    if isinstance(message, Status):
        return [
            ("channel_id", message.channel_id or ""), ("queue_length", message.queue_length),
            ("xon_level", message.xon_level), ("xoff_level", message.xoff_level),
            ("queue_full", message.queue_full), ("bulk_media", message.bulk_media),
            ("media_paused", message.media_paused),
        ]
    if isinstance(message, DtmfEnd):
        return [("digit", message.digit), ("channel_id", message.channel_id or "")]
    if isinstance(message, MediaError):
        return [("channel_id", message.channel_id or ""), ("error_text", message.error_text)]
    return []


def _ident_of(message: ControlMessage) -> str | None:
    if isinstance(message, MarkProcessed):
        return message.mark
    if isinstance(message, BufferingCompleted):
        return message.id
    return None


def format_control(message: ControlMessage, *, json: bool = False) -> str:
    """Write a control message the way chan_websocket does (used by the fake Asterisk).

    Plain text carries what Asterisk's plain format carries: no ``channel_id`` on
    MEDIA_XOFF/XON, QUEUE_DRAINED and the id messages, no ``channel_variables``.
    """
    if isinstance(message, UnknownMessage):
        return message.raw
    ident = _ident_of(message)
    if not json:
        if ident is not None:
            return f"{message.name} {ident}" if ident else message.name
        return _plain_pairs(message.name, _fields_of(message))
    obj: dict[str, object] = {"event": message.name}
    if not isinstance(message, MediaStart):  # Asterisk puts channel_id second, except here
        obj["channel_id"] = message.channel_id or ""
    obj.update(_fields_of(message))
    if isinstance(message, MediaStart):
        obj["channel_variables"] = dict(message.channel_variables)
    if ident is not None:
        obj["correlation_id"] = ident
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False)



@dataclass(frozen=True, slots=True)
class Command:
    """A command as Asterisk reads it.

    ``arg`` is the plain-text argument (all text after the first space), or in JSON the
    ``direction`` of SET_MEDIA_DIRECTION and the ``correlation_id`` of anything else.
    """

    name: str
    arg: str | None = None
    json: bool = False

    @property
    def known(self) -> bool:
        """False for a name Asterisk ignores with only a log warning."""
        return self.name in COMMANDS



def _parse_json_command(text: str) -> Command:
    data = load_json_object(text)
    name = data.get("command")
    if not isinstance(name, str) or not name:
        raise ControlParseError("JSON command has no 'command' string")
    key = "direction" if name in JSON_ONLY_COMMANDS else "correlation_id"
    arg = data.get(key)
    if arg is not None and not isinstance(arg, str):
        raise ControlParseError(f"{name}: {key!r} must be a string")
    return Command(name, arg, json=True)


def parse_command(text: str | bytes, *, json: bool | None = None) -> Command:
    """Read a command the way chan_websocket does.

    ``json`` is the socket's control format; ``None`` detects it from a leading ``{``.
    Raises ``ControlParseError`` for what Asterisk drops or cannot parse: an empty frame,
    one over 128 bytes, invalid JSON in JSON mode or a JSON object without ``command``.
    An unknown name is returned (``Command.known`` is False): Asterisk logs and ignores it.
    """
    decoded = decode_frame(text)
    size = len(decoded.encode("utf-8", "surrogatepass"))
    if size > MAX_COMMAND_BYTES:
        raise ControlParseError(f"command of {size} bytes exceeds {MAX_COMMAND_BYTES}")
    stripped = decoded.strip(AST_SPACE)
    if not stripped:
        raise ControlParseError("empty command")
    is_json = stripped.startswith("{") if json is None else json
    if is_json:
        return _parse_json_command(stripped)
    name, space, arg = stripped.partition(" ")
    return Command(name, arg if space else None, json=False)
