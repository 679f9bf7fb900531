"""Framing and pacing arithmetic for audio sent to chan_websocket. Pure: no clocks, no I/O.

Why: outside START/STOP_MEDIA_BUFFERING Asterisk silently drops the part of a binary
message beyond a multiple of ``optimal_frame_size`` (160 B for ulaw), so ``Framer`` only
ever hands out whole frames. Asterisk queues what it receives and plays one frame per
20 ms tick; ``PlayoutClock`` models that queue so a sender can stay a little ahead of
playout, never reach the XOFF level, and tell how much of an utterance was heard when
the caller barges in.

Errors: ``ValueError`` for a bad constructor argument (non-positive sizes or times, a pad
byte outside 0..255); nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from media.g711 import ULAW_SILENCE

__all__ = [
    "QUEUE_MAX",
    "XOFF_LEVEL",
    "XON_LEVEL",
    "Framer",
    "PlayoutClock",
]

QUEUE_MAX = 1000
"""Asterisk drops a whole binary message that arrives while this many frames are queued."""
XOFF_LEVEL = 900
"""Asterisk sends MEDIA_XOFF when the queue reaches this many frames."""
XON_LEVEL = 800
"""Asterisk sends MEDIA_XON when the queue falls below this many frames after an XOFF."""

_EPSILON = 1e-6  # in frames: absorbs float error of (t - start) / ptime on large clocks


class Framer:
    """Cuts a byte stream into whole frames of ``frame_size`` bytes, keeping the remainder."""

    __slots__ = ("_frame_size", "_pending")

    def __init__(self, frame_size: int = 160) -> None:
        if frame_size <= 0:
            raise ValueError(f"frame_size must be positive, got {frame_size}")
        self._frame_size = frame_size
        self._pending = bytearray()

    @property
    def frame_size(self) -> int:
        return self._frame_size

    @property
    def pending(self) -> int:
        """Bytes held back because they do not yet fill a frame."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data``; return every frame now complete, oldest first."""
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self._frame_size
        size = self._frame_size
        frames = [bytes(self._pending[i:i + size]) for i in range(0, whole, size)]
        del self._pending[:whole]
        return frames

    def flush(self, pad: int = ULAW_SILENCE) -> bytes | None:
        """Return the partial frame filled up with ``pad`` bytes, or ``None`` if empty.

        Use ``pad=0`` for slin. The framer is empty afterwards.
        """
        if not 0 <= pad <= 255:
            raise ValueError(f"pad must be a byte value 0..255, got {pad}")
        if not self._pending:
            return None
        frame = bytes(self._pending) + bytes([pad]) * (self._frame_size - len(self._pending))
        self._pending.clear()
        return frame

    def clear(self) -> int:
        """Drop the partial frame (barge-in); return how many bytes were dropped."""
        dropped = len(self._pending)
        self._pending.clear()
        return dropped


@dataclass(frozen=True, slots=True)
class PlayoutClock:
    """Real-time pacing of one continuous run of frames, and Asterisk's queue model.

    The model: frame ``n`` (counting from 0) starts playing at ``start + n * ptime``;
    so at time ``t`` Asterisk has played ``floor((t - start) / ptime)`` frames (never
    more than were sent) and ``sent - played`` frames wait in its queue. Measured on a
    real Asterisk, 50 frames sent at once play out in 1.00 s plus up to one tick, and a
    queue of 1000 reaches 799 (XON) 201 ticks later.

    Pacing "a little ahead": frame ``n`` may be sent ``lead`` seconds before it plays,
    so the first ``lead / ptime`` frames go at once and then one per ``ptime``, keeping
    about ``lead`` of audio queued, which is also the most a FLUSH_MEDIA throws away.

    Times are in seconds on any monotonic clock. ``start`` is when frame 0 is sent.
    If the sender falls behind, the queue runs dry and Asterisk plays silence: call
    ``resync`` before sending again. After PAUSE_MEDIA/CONTINUE_MEDIA use ``shifted``.
    After FLUSH_MEDIA the queue is empty: start a new clock.
    """

    start: float
    ptime: float = 0.020
    lead: float = 0.080

    def __post_init__(self) -> None:
        if not self.ptime > 0:
            raise ValueError(f"ptime must be positive, got {self.ptime}")
        if not self.lead >= 0:
            raise ValueError(f"lead must not be negative, got {self.lead}")

    def send_time(self, n: int) -> float:
        """When frame ``n`` may be sent: ``lead`` before it plays, never before ``start``."""
        return max(self.start, self.start + n * self.ptime - self.lead)

    def play_time(self, n: int) -> float:
        """When frame ``n`` starts playing in the model."""
        return self.start + n * self.ptime

    def due(self, now: float) -> int:
        """How many frames may have been sent by ``now`` (0 before ``start``)."""
        if now < self.start:
            return 0
        return math.floor((now - self.start + self.lead) / self.ptime + _EPSILON) + 1

    def played(self, now: float, sent: int) -> int:
        """Frames of ``sent`` that have finished playing by ``now``: what was heard."""
        elapsed = math.floor((now - self.start) / self.ptime + _EPSILON)
        return max(0, min(sent, elapsed))

    def queued(self, now: float, sent: int) -> int:
        """Frames of ``sent`` still waiting in Asterisk's queue at ``now``."""
        return sent - self.played(now, sent)

    def sendable(self, now: float, sent: int, limit: int = XOFF_LEVEL - 1) -> int:
        """How many more frames to send at ``now``: those due, capped so the queue stays
        at or below ``limit`` (by default just under the XOFF level)."""
        room = limit - self.queued(now, sent)
        return max(0, min(self.due(now) - sent, room))

    def ran_dry(self, now: float, sent: int) -> bool:
        """True when every sent frame has played and playout has moved past them."""
        return (now - self.play_time(sent)) / self.ptime > _EPSILON

    def resync(self, now: float, sent: int) -> PlayoutClock:
        """This clock, or, if the queue ran dry, one where frame ``sent`` plays at ``now``."""
        if not self.ran_dry(now, sent):
            return self
        return replace(self, start=now - sent * self.ptime)

    def shifted(self, seconds: float) -> PlayoutClock:
        """This clock delayed by ``seconds`` (the length of a PAUSE_MEDIA)."""
        return replace(self, start=self.start + seconds)
