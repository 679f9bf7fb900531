"""One call's chan_websocket media connection, after MEDIA_START: the agent's audio API.

Out: `play()` takes µ-law bytes of any length; a pacer sends whole 160-byte frames in real time
a little ahead of playout (Asterisk drops a partial frame and caps its queue), pauses on
MEDIA_XOFF until MEDIA_XON. `mark()` is answered when playout reaches it; `flush()` cuts the
agent short (barge-in) and says how much of the current utterance the caller heard.
In: caller audio, DTMF and marks arrive on `events` (an asyncio.Queue).
The session is the agent's `media.port.CallPort`; `hangup`/`transfer` go to the `controls`
call control attaches.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from media.commands import format_command
from media.framing import Framer, PlayoutClock
from media.port import AudioIn, CallControls, Closed, Dtmf, MarkPlayed, MediaEvent, PlayoutTap, TransferResult
from media.protocol import (
    ControlParseError,
    DtmfEnd,
    MarkProcessed,
    MediaError,
    MediaStart,
    MediaXoff,
    MediaXon,
    parse_control,
)

__all__ = [
    "AudioIn", "AudioTap", "CallControls", "Closed", "Dtmf", "MarkPlayed", "MediaEvent", "MediaSession",
    "MediaSocket", "MediaStats", "PlayoutTap",
]

log = logging.getLogger("switchboard.media")

DTMF_PAIR_WINDOW_S = 1.0


class MediaSocket(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...
    async def send_text(self, text: str) -> None: ...
    async def receive(self) -> str | bytes | None: ...
    async def close(self, code: int = 1000) -> None: ...


@dataclass
class MediaStats:
    frames_in: int = 0
    frames_out: int = 0
    late_frames: int = 0
    xoff_count: int = 0
    bad_messages: int = 0


@dataclass
class _Mark:
    name: str
    done: asyncio.Future[bool]


class AudioTap(PlayoutTap, Protocol):
    """Sees both directions of audio (a call recorder, `media.recording.Recorder`). Called on the
    hot path: it must only buffer. Times are on the session's clock."""

    def caller(self, ulaw: bytes, at: float) -> None: ...


# How far ahead of playout the pacer keeps Asterisk's queue. It absorbs event-loop stalls (GC,
# load); a FLUSH_MEDIA empties that queue at once, so barge-in does not get slower. Measured in
# bench/README.md: 80 ms → zero underruns up to 200 calls, 200 ms → up to 312 on 2 cores.
PACER_LEAD_S = 0.2


class MediaSession:
    def __init__(
        self, socket: MediaSocket, start: MediaStart, *, run_id: int, lead_s: float = PACER_LEAD_S,
        clock: Callable[[], float] = time.monotonic, json_commands: bool = False,
    ) -> None:
        self.socket = socket
        self.start = start
        self.channel_id = start.channel_id or ""
        self.run_id = run_id
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.stats = MediaStats()
        self.controls: CallControls | None = None
        self.recorder: AudioTap | None = None
        self._playout_taps: list[PlayoutTap] = []
        """Beside the recorder: who else sees the agent audio as it plays (the echo canceller)."""
        self._frame_size = start.optimal_frame_size or 160
        self._ptime = (start.ptime or 20) / 1000
        self._lead = lead_s
        self._now = clock
        self._json = json_commands
        self._framer = Framer(self._frame_size)
        self._out: deque[bytes | _Mark] = deque()
        self._wake = asyncio.Event()
        self._xon = asyncio.Event()
        self._xon.set()
        self._send_lock = asyncio.Lock()
        self._playout: PlayoutClock | None = None
        self._sent_since_clock = 0
        self._backlog = False
        self._marks_sent: list[_Mark] = []
        self._recent_dtmf: deque[tuple[str, str, float]] = deque()
        self._closed = asyncio.Event()
        self.close_reason = ""
        self._pacer: asyncio.Task[None] | None = None

    # --- agent API --------------------------------------------------------------------------
    def play(self, ulaw: bytes) -> None:
        """Queue µ-law audio for the caller (any length; whole frames go out, the rest waits)."""
        for frame in self._framer.feed(ulaw):
            self._out.append(frame)
        self._wake.set()

    def mark(self, name: str) -> asyncio.Future[bool]:
        """A marker after everything queued so far: resolves True when the caller has heard up to
        here, False if the audio before it was flushed or the call ended."""
        tail = self._framer.flush()
        if tail is not None:
            self._out.append(tail)
        marker = _Mark(name, asyncio.get_running_loop().create_future())
        self._out.append(marker)
        self._wake.set()
        return marker.done

    async def flush(self) -> float:
        """Drop all agent audio not yet played. Returns seconds of the current playout the caller
        heard since the last flush or silence."""
        heard = 0.0
        if self._playout is not None:
            heard = self._playout.played(self._now(), self._sent_since_clock) * self._ptime
        self._drop_marks(False)
        self._out.clear()
        self._framer.clear()
        self._playout, self._sent_since_clock = None, 0
        now = self._now()
        for tap in self._taps():
            tap.agent_flushed(now)
        await self._command("FLUSH_MEDIA")
        return heard

    def watch_playout(self, tap: PlayoutTap) -> None:
        self._playout_taps.append(tap)

    def _taps(self) -> list[PlayoutTap]:
        return [self.recorder, *self._playout_taps] if self.recorder is not None else self._playout_taps

    @property
    def speaking(self) -> bool:
        """True while agent audio is queued here or still playing at Asterisk."""
        if self._out:
            return True
        if self._playout is None:
            return False
        return not self._playout.ran_dry(self._now(), self._sent_since_clock)

    async def hangup(self, reason: str) -> None:
        if self.controls is not None:
            await self.controls.hangup(reason)
        else:
            await self.close()

    async def transfer(self, extension: str, *, attended: bool = False, timeout_s: float = 20.0) -> TransferResult:
        """See `media.port.CallPort.transfer`; call control does it."""
        if self.controls is None:
            raise RuntimeError("this call cannot be transferred")
        return await self.controls.transfer(extension, attended=attended, timeout_s=timeout_s)

    def dtmf(self, digit: str, source: str) -> None:
        """A key press from `source` ("media" DTMF_END or "ari" ChannelDtmfReceived): both report
        the same press, so the second report of a digit within a second is dropped."""
        now = self._now()
        while self._recent_dtmf and now - self._recent_dtmf[0][2] > DTMF_PAIR_WINDOW_S:
            self._recent_dtmf.popleft()
        for i, (seen_digit, seen_source, _) in enumerate(self._recent_dtmf):
            if seen_digit == digit and seen_source != source:
                del self._recent_dtmf[i]
                return
        self._recent_dtmf.append((digit, source, now))
        self.events.put_nowait(Dtmf(digit))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self, code: int = 1000, reason: str = "closed by us") -> None:
        if not self._closed.is_set():
            self._finish(reason)
        try:
            await self.socket.close(code)
        except Exception:  # the socket may already be gone
            pass

    # --- connection loop --------------------------------------------------------------------
    async def run(self) -> None:
        """Read until the socket closes; runs in the endpoint's task."""
        self._pacer = asyncio.create_task(self._pace(), name=f"media-pacer-{self.channel_id}")
        try:
            while True:
                message = await self.socket.receive()
                if message is None:
                    self._finish("media socket closed by Asterisk")
                    return
                if isinstance(message, bytes):
                    self.stats.frames_in += 1
                    arrived = self._now()
                    if self.recorder is not None:
                        self.recorder.caller(message, arrived)
                    self.events.put_nowait(AudioIn(message, arrived))
                else:
                    self._on_text(message)
        finally:
            self._pacer.cancel()
            try:
                await self._pacer
            except (asyncio.CancelledError, Exception):
                pass
            if not self._closed.is_set():
                self._finish("media session ended")

    def _finish(self, reason: str) -> None:
        self.close_reason = reason
        self._closed.set()
        self._drop_marks(False)
        self._out.clear()
        self.events.put_nowait(Closed(reason))

    def _drop_marks(self, played: bool) -> None:
        """Resolve every pending mark, sent or still queued here."""
        for marker in [*self._marks_sent, *(m for m in self._out if isinstance(m, _Mark))]:
            if not marker.done.done():
                marker.done.set_result(played)
        self._marks_sent.clear()

    def _on_text(self, text: str) -> None:
        try:
            message = parse_control(text)
        except ControlParseError as exc:
            self.stats.bad_messages += 1
            log.warning("bad control message error_id=%s channel=%s run=%s: %s",
                        exc.error_id, self.channel_id, self.run_id, exc)
            return
        if isinstance(message, MediaXoff):
            self.stats.xoff_count += 1
            self._xon.clear()
        elif isinstance(message, MediaXon):
            self._xon.set()
        elif isinstance(message, MarkProcessed):
            self._mark_played(message.mark)
        elif isinstance(message, DtmfEnd):
            self.dtmf(message.digit, "media")
        elif isinstance(message, MediaError):
            log.warning("asterisk media error channel=%s run=%s: %s", self.channel_id, self.run_id,
                        message.error_text)

    def _mark_played(self, name: str) -> None:
        for i, marker in enumerate(self._marks_sent):
            if marker.name == name:
                for earlier in self._marks_sent[: i + 1]:
                    if not earlier.done.done():
                        earlier.done.set_result(True)
                del self._marks_sent[: i + 1]
                self.events.put_nowait(MarkPlayed(name))
                return

    async def _command(self, name: str, arg: str | None = None) -> None:
        if self._closed.is_set():
            return
        async with self._send_lock:
            await self.socket.send_text(format_command(name, arg=arg, json=self._json))

    async def _pace(self) -> None:
        while True:
            if not self._out:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._xon.wait()
            now = self._now()
            if self._playout is None:
                self._playout, self._sent_since_clock = PlayoutClock(now, self._ptime, self._lead), 0
            elif self._playout.ran_dry(now, self._sent_since_clock):
                if self._backlog:  # audio was waiting here while Asterisk played silence
                    self.stats.late_frames += 1
                self._playout, self._sent_since_clock = PlayoutClock(now, self._ptime, self._lead), 0
            budget = self._playout.sendable(now, self._sent_since_clock)
            batch: list[bytes] = []
            while self._out and len(batch) < budget:
                item = self._out[0]
                if isinstance(item, _Mark):
                    break
                self._out.popleft()
                batch.append(item)
            if batch:
                data = b"".join(batch)
                async with self._send_lock:
                    await self.socket.send_bytes(data)
                plays_at = self._playout.play_time(self._sent_since_clock)
                for tap in self._taps():
                    tap.agent(data, plays_at)
                self._sent_since_clock += len(batch)
                self.stats.frames_out += len(batch)
            self._backlog = bool(self._out)
            if self._out and isinstance(self._out[0], _Mark):
                marker = self._out.popleft()
                assert isinstance(marker, _Mark)
                self._marks_sent.append(marker)
                await self._command("MARK_MEDIA", marker.name)
                continue
            next_at = self._playout.send_time(self._sent_since_clock)
            await asyncio.sleep(max(0.0, next_at - self._now()))

