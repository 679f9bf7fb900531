"""The far end of a call: the inbound caller (Local ;1 half) or the outbound callee.

It streams queued audio into the call as 20 ms frames (the last one may be short), sends nothing
while silent, records everything it hears with timestamps and can run like Asterisk's Echo().
A bad line (``line.py``) adds a delayed, attenuated echo, line noise and noise bursts, mixed into
what it sends on each tick.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .codecs import ULAW, MediaFormat
from .line import EchoPath, LineMix, LineNoise
from .media import PlayedFrame


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
    echo: bool | EchoPath = False  # True: Echo() (no delay, 0 dB)
    tick_index: Callable[[], int] = lambda: 0  # the media clock's current tick
    active: bool = False  # audio flows once the call is answered
    hung_up: bool = False
    heard: list[HeardFrame] = field(default_factory=list)
    said: list[HeardFrame] = field(default_factory=list)
    sent: list[PlayedFrame] = field(default_factory=list)  # everything sent into the call (speech, echo, noise)
    dtmf_sent: list[str] = field(default_factory=list)
    _queue: deque[bytes] = field(default_factory=deque)
    clock_token: int | None = None
    line: LineMix = field(init=False)

    def __post_init__(self) -> None:
        self.line = LineMix(self.fmt)

    @property
    def echo_path(self) -> EchoPath | None:
        if isinstance(self.echo, EchoPath):
            return self.echo
        return EchoPath() if self.echo else None

    def set_noise(self, noise: LineNoise | None) -> None:
        """Line noise on every tick from now on (None: a clean line again)."""
        self.line.set_noise(noise)

    def noise_burst(self, duration_s: float = 0.4, level_dbfs: float = -20.0, kind: str = "babble") -> None:
        """A burst of noise mixed into what the far end sends from the next tick on."""
        self.line.add_burst(kind, duration_s, level_dbfs)

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

    def tick(self, index: int, now: float) -> None:
        if not self.active or self.hung_up:
            return
        speech = self._queue.popleft() if self._queue else None
        if speech is not None:
            self.said.append(HeardFrame(now, speech))
        self.line.echo = self.echo_path
        frame = self.line.mix(index, speech)
        if frame:
            self.sent.append(PlayedFrame(now, index, frame))
            self.send(self.channel_id, frame)

    def hear(self, frame: bytes) -> None:
        if self.hung_up:
            return
        self.heard.append(HeardFrame(self.now(), frame))
        if not self.active:
            return
        self.line.echo = self.echo_path
        back = self.line.immediate_echo(frame)
        if back is not None:
            self.sent.append(PlayedFrame(self.now(), self.tick_index(), back))
            self.send(self.channel_id, back)
        else:
            self.line.heard(frame, self.tick_index())

    def heard_bytes(self) -> bytes:
        return b"".join(f.data for f in self.heard)
