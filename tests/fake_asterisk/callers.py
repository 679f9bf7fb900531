"""The far end of a call: the inbound caller (Local ;1 half) or the outbound callee.

It streams queued audio into the call as 20 ms frames (the last one may be short), sends nothing
while silent, records everything it hears with timestamps and can run like Asterisk's Echo().
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .codecs import ULAW, MediaFormat


@dataclass
class HeardFrame:
    t: float  # loop time the frame reached the far end
    data: bytes


@dataclass
class FarEnd:
    channel_id: str  # the app-visible channel this far end talks through
    send: Callable[[str, bytes], None]  # injects a frame as read from channel_id
    now: Callable[[], float]
    fmt: MediaFormat = ULAW
    echo: bool = False
    active: bool = False  # audio flows once the call is answered
    hung_up: bool = False
    heard: list[HeardFrame] = field(default_factory=list)
    said: list[HeardFrame] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    _queue: deque[bytes] = field(default_factory=deque)
    clock_token: int | None = None

    @property
    def frame_size(self) -> int:
        return self.fmt.optimal_frame_size or 160

    def say(self, audio: bytes) -> None:
        """Queue audio to stream as ``frame_size`` frames, one per tick."""
        size = self.frame_size
        for off in range(0, len(audio), size):
            self._queue.append(bytes(audio[off : off + size]))

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def clear(self) -> None:
        self._queue.clear()

    def tick(self, _index: int, now: float) -> None:
        if not self.active or self.hung_up or not self._queue:
            return
        frame = self._queue.popleft()
        self.said.append(HeardFrame(now, frame))
        self.send(self.channel_id, frame)

    def hear(self, frame: bytes) -> None:
        if self.hung_up:
            return
        self.heard.append(HeardFrame(self.now(), frame))
        if self.echo and self.active:
            self.send(self.channel_id, frame)

    def heard_bytes(self) -> bytes:
        return b"".join(f.data for f in self.heard)
