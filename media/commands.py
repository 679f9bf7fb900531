"""The chan_websocket control channel, app -> Asterisk: ``format_command`` writes one command,
refusing what Asterisk would silently ignore (over 128 bytes, unknown name) or cannot take
(SET_MEDIA_DIRECTION in plain text). Pure: no I/O.

Exceptions::

    ValueError
     └── CommandError   error_id "media-bad-command": format_command was asked for
                        something Asterisk would ignore or reject
"""

from __future__ import annotations

import json as _json
import re

__all__ = ["COMMANDS", "DIRECTIONS", "JSON_ONLY_COMMANDS", "MAX_COMMAND_BYTES", "CommandError", "format_command"]

MAX_COMMAND_BYTES = 128
"""Asterisk ignores (log warning only) a text frame longer than this."""

COMMANDS = frozenset({
    "ANSWER",
    "HANGUP",
    "GET_STATUS",
    "MARK_MEDIA",
    "REPORT_QUEUE_DRAINED",
    "START_MEDIA_BUFFERING",
    "STOP_MEDIA_BUFFERING",
    "FLUSH_MEDIA",
    "PAUSE_MEDIA",
    "CONTINUE_MEDIA",
    "SET_MEDIA_DIRECTION",
})
DIRECTIONS = frozenset({"in", "out", "both"})
JSON_ONLY_COMMANDS = frozenset({"SET_MEDIA_DIRECTION"})

_ID_COMMANDS = frozenset({"MARK_MEDIA", "STOP_MEDIA_BUFFERING"})
_ARG = re.compile(r"[!-~]+\Z")  # printable ASCII, no space


class CommandError(ValueError):
    """A command that Asterisk would ignore or reject, refused before sending."""

    error_id = "media-bad-command"


def _pick(name: str, first: str | None, second: str | None, what: str) -> str | None:
    if first is not None and second is not None and first != second:
        raise CommandError(f"{name}: arg {first!r} and {what} {second!r} disagree")
    return first if first is not None else second


def _command_value(
    command: str, arg: str | None, correlation_id: str | None, direction: str | None
) -> str | None:
    if command in JSON_ONLY_COMMANDS:
        if correlation_id is not None:
            raise CommandError(f"{command} takes no correlation_id")
        value = _pick(command, arg, direction, "direction")
        if value not in DIRECTIONS:
            raise CommandError(f"{command}: direction must be in, out or both, got {value!r}")
        return value
    if direction is not None:
        raise CommandError(f"{command} takes no direction")
    value = _pick(command, arg, correlation_id, "correlation_id")
    if value is not None and command not in _ID_COMMANDS:
        raise CommandError(f"{command} takes no argument")
    if value is not None and not _ARG.match(value):
        raise CommandError(f"{command}: id must be printable ASCII without spaces: {value!r}")
    return value


def format_command(
    command: str,
    *,
    arg: str | None = None,
    json: bool = False,
    correlation_id: str | None = None,
    direction: str | None = None,
) -> str:
    """Write one command in the plain-text or JSON control format.

    ``arg`` is the id of MARK_MEDIA / STOP_MEDIA_BUFFERING (alias ``correlation_id``) or
    the direction of SET_MEDIA_DIRECTION (alias ``direction``). Raises ``CommandError``
    for an unknown command, an argument the command does not take, an id that is not
    printable ASCII without spaces, SET_MEDIA_DIRECTION in plain text, or a result over
    128 bytes, all of which Asterisk would ignore or reject.
    """
    if command not in COMMANDS:
        raise CommandError(f"unknown command {command!r}")
    if command in JSON_ONLY_COMMANDS and not json:
        raise CommandError(f"{command} only works in the JSON control format")
    value = _command_value(command, arg, correlation_id, direction)
    if not json:
        text = command if value is None else f"{command} {value}"
    else:
        obj = {"command": command}
        if value is not None:
            obj["direction" if command in JSON_ONLY_COMMANDS else "correlation_id"] = value
        text = _json.dumps(obj, separators=(",", ":"))
    if len(text.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise CommandError(f"{command}: {len(text)} bytes exceed {MAX_COMMAND_BYTES}")
    return text
