"""Call recordings: a stereo 8 kHz 16-bit WAV, the caller on the left, the agent on the right.

The media session taps both directions (`MediaSession.recorder`): caller frames as they arrive,
agent frames as they are sent, stamped with when Asterisk plays them (the session's playout
clock). Each track is placed on one timeline that starts when recording starts:

- a frame that arrives more than `GAP_TOLERANCE_S` after the end of its track is preceded by
  silence (Asterisk sends nothing while a side is silent), so both sides stay aligned;
- a frame that arrives early or on time is appended (network jitter never inserts clicks);
- a flush (barge-in) cuts the agent track back to what had played by then.

The hot path only appends bytes to a `bytearray`. A writer task converts what is older than
`SETTLE_S` (so it can no longer change) to PCM and appends it to `<name>.part` on a thread,
once a second; `close()` writes the rest, fixes the WAV header and renames the file to `<name>`.
A write error stops the recording (logged with error id `recording-failed`), never the call.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from media.g711 import ULAW_DECODE, ULAW_SILENCE

log = logging.getLogger("switchboard.media.recording")

RATE = 8000
GAP_TOLERANCE_S = 0.06
SETTLE_S = 1.0
WRITE_EVERY_S = 1.0


@dataclass
class _Track:
    """µ-law samples from sample index `base` of the timeline on."""

    buf: bytearray = field(default_factory=bytearray)
    base: int = 0

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def place(self, ulaw: bytes, at: int, tolerance: int) -> None:
        gap = at - self.end
        if gap > tolerance:
            self.buf.extend(bytes([ULAW_SILENCE]) * gap)
        self.buf.extend(ulaw)

    def cut(self, at: int) -> None:
        """Forget samples from `at` on (never before what was already written)."""
        keep = max(0, at - self.base)
        if keep < len(self.buf):
            del self.buf[keep:]

    def take(self, upto: int) -> bytes:
        """Samples [base, upto) padded with silence, and drop them from the buffer."""
        n = max(0, upto - self.base)
        chunk = bytes(self.buf[:n])
        if len(chunk) < n:
            chunk += bytes([ULAW_SILENCE]) * (n - len(chunk))
        del self.buf[:n]
        self.base += n
        return chunk


def stereo_pcm(left: bytes, right: bytes) -> bytes:
    """Two equally long µ-law tracks → interleaved signed 16-bit little-endian PCM."""
    out = np.empty(2 * len(left), dtype="<i2")
    out[0::2] = ULAW_DECODE[np.frombuffer(left, dtype=np.uint8)]
    out[1::2] = ULAW_DECODE[np.frombuffer(right, dtype=np.uint8)]
    return out.tobytes()


class Recorder:
    """One call's recording. Times are seconds on the session's monotonic clock."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self._clock = clock
        self._t0 = clock()
        self._caller = _Track()
        self._agent = _Track()
        self._tolerance = int(GAP_TOLERANCE_S * RATE)
        self._wav: wave.Wave_write | None = None
        self._written = 0
        self._failed = False
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, path: Path, clock: Callable[[], float] = time.monotonic) -> Recorder:
        recorder = cls(path, clock)
        await asyncio.to_thread(recorder._open)
        recorder._task = asyncio.create_task(recorder._writer(), name=f"recorder-{path.name}")
        return recorder

    # --- the session's taps (hot path: no I/O) ----------------------------------------------
    def caller(self, ulaw: bytes, at: float) -> None:
        self._caller.place(ulaw, self._index(at), self._tolerance)

    def agent(self, ulaw: bytes, at: float) -> None:
        """Agent audio that starts playing at `at`."""
        self._agent.place(ulaw, self._index(at), self._tolerance)

    def agent_flushed(self, at: float) -> None:
        """FLUSH_MEDIA at `at`: what had not played by then was never heard."""
        self._agent.cut(self._index(at))

    def _index(self, at: float) -> int:
        return max(0, round((at - self._t0) * RATE))

    # --- writing ----------------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        return self._written / RATE

    async def close(self) -> float | None:
        """Write everything, finish the file; returns its length in seconds (None if it failed)."""
        await self._stop_writer()
        end = max(self._caller.end, self._agent.end, self._index(self._clock()))
        await self._flush_upto(end)
        if self._failed:
            return None
        try:
            await asyncio.to_thread(self._finish)
        except OSError as exc:
            self._fail(exc)
        return None if self._failed else self.seconds

    async def discard(self) -> None:
        """Stop and delete (the call never got far enough to be worth keeping)."""
        await self._stop_writer()
        self._failed = True
        await asyncio.to_thread(self._remove)

    async def _stop_writer(self) -> None:
        """Let the writer finish the chunk it is writing (a cancelled thread write would race)."""
        self._stop.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _writer(self) -> None:
        while not self._failed and not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), WRITE_EVERY_S)
            except TimeoutError:
                await self._flush_upto(self._index(self._clock()) - int(SETTLE_S * RATE))

    async def _flush_upto(self, upto: int) -> None:
        async with self._lock:
            if self._failed or upto <= self._written:
                return
            left, right = self._caller.take(upto), self._agent.take(upto)
            try:
                await asyncio.to_thread(self._append, stereo_pcm(left, right))
            except OSError as exc:
                self._fail(exc)
                return
            self._written = upto

    def _fail(self, exc: OSError) -> None:
        self._failed = True
        log.warning("recording stopped error_id=recording-failed file=%s: %s", self.path.name, exc)
        self._remove()

    # --- on a thread ------------------------------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.part), "wb")
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        self._wav = wav

    def _append(self, pcm: bytes) -> None:
        if self._wav is not None and pcm:
            self._wav.writeframesraw(pcm)

    def _finish(self) -> None:
        if self._wav is not None:
            self._wav.close()  # patches the RIFF and data sizes
            self._wav = None
        os.replace(self.part, self.path)

    def _remove(self) -> None:
        if self._wav is not None:
            try:
                self._wav.close()
            except OSError:
                pass
            self._wav = None
        for path in (self.part, self.path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
