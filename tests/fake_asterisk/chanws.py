"""Pure model of one chan_websocket instance: the frame queue, the control protocol and its replies.

A port of ``channels/chan_websocket.c`` (Asterisk GIT-master-f0c1c1a7b7) without any I/O:
``on_text``/``on_binary`` are called for messages from the app, ``tick`` for every 20 ms timer
expiry; each returns the texts to send to the app (in order) and what the channel must do.
"""
from __future__ import annotations

import enum
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .codecs import MediaFormat

QUEUE_LENGTH_MAX = 1000
QUEUE_LENGTH_XOFF_LEVEL = 900
QUEUE_LENGTH_XON_LEVEL = 800
MAX_TEXT_MESSAGE_LEN = 128


class ControlFormat(str, enum.Enum):
    PLAIN = "plain-text"
    JSON = "json"


class Direction(str, enum.Enum):
    BOTH = "both"
    OUT = "out"  # the app does not want media: Asterisk stops sending frames to it
    IN = "in"  # the app only receives: its binary messages are dropped, no playout timer


class Action(str, enum.Enum):
    ANSWER = "answer"
    HANGUP = "hangup"  # cause 16, tech_cause 1000
    TIMER_START = "timer_start"
    TIMER_STOP = "timer_stop"


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Result:
    texts: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    frame: bytes | None = None  # only from tick(): the frame played out this timeslot


@dataclass
class _Option:
    text: str


class ChanWebSocket:
    """State of one WebSocket channel instance."""

    def __init__(
        self,
        channel_id: str,
        fmt: MediaFormat,
        *,
        control_format: ControlFormat = ControlFormat.PLAIN,
        direction: Direction = Direction.BOTH,
        passthrough: bool = False,
    ) -> None:
        self.channel_id = channel_id
        self.fmt = fmt
        self.control_format = control_format
        self.direction = direction
        self.passthrough = passthrough or fmt.passthrough
        self.optimal_frame_size = 0 if self.passthrough and fmt.passthrough else fmt.optimal_frame_size
        self.queue: deque[bytes | _Option] = deque()
        self.frame_queue_length = 0
        self.queue_full = False
        self.bulk_media_in_progress = False
        self.report_queue_drained = False
        self.queue_paused = False
        self.leftover = b""
        self.bytes_read = 0
        self.frames_dropped_whole_messages = 0

    # ------------------------------------------------------------------ events
    @property
    def json(self) -> bool:
        return self.control_format is ControlFormat.JSON

    def _nodata(self, event: str) -> str:
        if self.json:
            return _dumps({"event": event, "channel_id": self.channel_id})
        return event

    def media_start(self, connection_id: str, channel_name: str, channel_vars: dict[str, str]) -> str:
        if self.json:
            return _dumps(
                {
                    "event": "MEDIA_START",
                    "connection_id": connection_id,
                    "channel": channel_name,
                    "channel_id": self.channel_id,
                    "format": self.fmt.name,
                    "optimal_frame_size": self.optimal_frame_size,
                    "ptime": self.fmt.ptime,
                    "channel_variables": dict(channel_vars),
                }
            )
        return (
            f"MEDIA_START connection_id:{connection_id} channel:{channel_name} channel_id:{self.channel_id} "
            f"format:{self.fmt.name} optimal_frame_size:{self.optimal_frame_size} ptime:{self.fmt.ptime}"
        )

    def _with_id(self, event: str, cid: str | None) -> str:
        if self.json:
            return _dumps({"event": event, "channel_id": self.channel_id, "correlation_id": cid or ""})
        return f"{event} {cid}" if cid else event

    def dtmf_end(self, digit: str) -> str:
        if self.json:
            return _dumps({"event": "DTMF_END", "channel_id": self.channel_id, "digit": digit[:1]})
        return f"DTMF_END digit:{digit[:1]} channel_id:{self.channel_id}"

    def status(self) -> str:
        if self.json:
            return _dumps(
                {
                    "event": "STATUS",
                    "channel_id": self.channel_id,
                    "queue_length": self.frame_queue_length,
                    "xon_level": QUEUE_LENGTH_XON_LEVEL,
                    "xoff_level": QUEUE_LENGTH_XOFF_LEVEL,
                    "queue_full": self.queue_full,
                    "bulk_media": self.bulk_media_in_progress,
                    "media_paused": self.queue_paused,
                }
            )
        tf = lambda b: "true" if b else "false"  # noqa: E731
        return (
            f"STATUS channel_id:{self.channel_id} queue_length:{self.frame_queue_length} "
            f"xon_level:{QUEUE_LENGTH_XON_LEVEL} xoff_level:{QUEUE_LENGTH_XOFF_LEVEL} "
            f"queue_full:{tf(self.queue_full)} bulk_media:{tf(self.bulk_media_in_progress)} "
            f"media_paused:{tf(self.queue_paused)}"
        )

    def error(self, text: str) -> str:
        if self.json:
            return _dumps({"event": "ERROR", "channel_id": self.channel_id, "error_text": text})
        return f"ERROR channel_id:{self.channel_id} error_text:{text}"

    # ------------------------------------------------------------------ queue
    def _queue_frame(self, data: bytes, res: Result) -> None:
        self.queue.append(bytes(data))
        self.frame_queue_length += 1
        if not self.queue_full and self.frame_queue_length >= QUEUE_LENGTH_XOFF_LEVEL:
            self.queue_full = True
            res.texts.append(self._nodata("MEDIA_XOFF"))

    def on_binary(self, payload: bytes) -> Result:
        """process_binary_message (plus the direction check of read_from_ws_and_queue)."""
        res = Result()
        if self.direction is Direction.IN:
            return res
        if self.frame_queue_length >= QUEUE_LENGTH_MAX:
            self.frames_dropped_whole_messages += 1
            return res
        self.bytes_read += len(payload)
        if self.passthrough:
            self._queue_frame(payload, res)
            return res
        size = self.optimal_frame_size
        data = memoryview(payload)
        if self.bulk_media_in_progress and self.leftover:
            need = size - len(self.leftover)
            take = min(need, len(data))
            self.leftover += bytes(data[:take])
            if take < need:
                return res
            self._queue_frame(self.leftover, res)
            data = data[take:]
            self.leftover = b""
        if not self.bulk_media_in_progress and self.leftover:
            self.leftover = b""
        off = 0
        while len(data) - off >= size:
            self._queue_frame(bytes(data[off : off + size]), res)
            off += size
        if self.bulk_media_in_progress and len(data) - off > 0:
            self.leftover = bytes(data[off:])
        return res

    def tick(self) -> Result:
        """One timer expiry: dequeue_frame + the leftover handling of webchan_read."""
        res = Result()
        if self.queue_paused:
            return res
        if self.queue_full and self.frame_queue_length < QUEUE_LENGTH_XON_LEVEL:
            self.queue_full = False
            res.texts.append(self._nodata("MEDIA_XON"))
        if not self.queue:
            if self.report_queue_drained:
                self.report_queue_drained = False
                res.texts.append(self._nodata("QUEUE_DRAINED"))
            res.frame = self._take_leftover()
            return res
        item = self.queue.popleft()
        while isinstance(item, _Option):
            res.texts.append(item.text)
            if not self.queue:
                res.frame = self._take_leftover()
                return res
            item = self.queue.popleft()
        self.frame_queue_length -= 1
        res.frame = item
        return res

    def _take_leftover(self) -> bytes | None:
        if self.leftover:
            frame, self.leftover = self.leftover, b""
            return frame
        return None

    # ------------------------------------------------------------------ commands
    def on_text(self, payload: str | bytes) -> Result:
        """process_text_message + handle_command."""
        res = Result()
        raw = payload.encode() if isinstance(payload, str) else payload
        if len(raw) == 0 or len(raw) > MAX_TEXT_MESSAGE_LEN:
            return res
        text = raw.decode("utf-8", errors="replace").strip()
        data: str | None = None
        obj: dict[str, Any] | None = None
        if self.json:
            try:
                parsed = json.loads(text)
            except ValueError:
                res.texts.append(self.error("Unable to parse JSON command"))
                return res
            obj = parsed if isinstance(parsed, dict) else {}
            command = obj.get("command") if isinstance(obj.get("command"), str) else None
        else:
            command, sep, rest = text.partition(" ")
            data = rest if sep else None

        def corr() -> str | None:
            if obj is not None:
                value = obj.get("correlation_id")
                return value if isinstance(value, str) else None
            return data

        def refuse(cmd: str, *, check_direction: bool = True) -> bool:
            if self.passthrough:
                res.texts.append(self.error(f"{cmd} not supported in passthrough mode"))
                return True
            if check_direction and self.direction is Direction.IN:
                res.texts.append(self.error(f"{cmd} not supported while media direction is 'in'"))
                return True
            return False

        if command == "ANSWER":
            res.actions.append(Action.ANSWER)
        elif command == "HANGUP":
            res.actions.append(Action.HANGUP)
        elif command == "START_MEDIA_BUFFERING":
            if not refuse(command):
                self.bulk_media_in_progress = True
        elif command == "STOP_MEDIA_BUFFERING":
            cid = corr()
            if not refuse(command):
                self.bulk_media_in_progress = False
                if self.leftover:
                    self._queue_frame(self.leftover, res)
                self.leftover = b""
                self.queue.append(_Option(self._with_id("MEDIA_BUFFERING_COMPLETED", cid)))
        elif command == "MARK_MEDIA":
            if not refuse(command):
                self.queue.append(_Option(self._with_id("MEDIA_MARK_PROCESSED", corr())))
        elif command == "FLUSH_MEDIA":
            if not refuse(command, check_direction=False):
                self.queue.clear()
                self.frame_queue_length = 0
                self.bulk_media_in_progress = False
                self.leftover = b""
        elif command == "REPORT_QUEUE_DRAINED":
            if not refuse(command, check_direction=False):
                self.report_queue_drained = True
        elif command == "GET_STATUS":
            res.texts.append(self.status())
        elif command == "PAUSE_MEDIA":
            if not refuse(command):
                self.queue_paused = True
        elif command == "CONTINUE_MEDIA":
            if not refuse(command):
                self.queue_paused = False
        elif command == "SET_MEDIA_DIRECTION":
            self._set_direction(obj, res)
        # anything else: unknown command, logged by Asterisk, no reply
        return res

    def _set_direction(self, obj: dict[str, Any] | None, res: Result) -> None:
        cmd = "SET_MEDIA_DIRECTION"
        if self.passthrough:
            res.texts.append(self.error(f"{cmd} not supported in passthrough mode"))
            return
        if obj is None:
            res.texts.append(self.error(f"{cmd} only supports JSON format.\n"))
            return
        value = obj.get("direction")
        if not isinstance(value, str):
            res.texts.append(self.error(f"{cmd} requires a 'direction' parameter.\n"))
            return
        try:
            new = Direction(value)
        except ValueError:
            res.texts.append(self.error(f"'{value}' is not a valid direction for {cmd}.\n"))
            return
        if new is self.direction:
            return
        old = self.direction
        self.direction = new
        if new is Direction.IN:
            res.actions.append(Action.TIMER_STOP)
        elif old is Direction.IN:
            res.actions.append(Action.TIMER_START)
