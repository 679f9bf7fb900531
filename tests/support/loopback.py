"""An in-memory call for tests, benchmarks and demos: the agent side behaves like the media
session (agent audio plays out in real time, 20 ms a frame; marks resolve when playout reaches
them; `flush()` says how much of the current run was heard), and the caller side feeds µ-law
audio and key presses in real time and can hang up. Everything is recorded with timestamps.

`LoopbackCall(echo=EchoPath(0.04, -12.0))` makes it a bad line (the fake Asterisk's
`tests/fake_asterisk/line.py`): what the agent plays comes back that late and that much quieter,
mixed with the caller's speech into one frame per 20 ms tick.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from media.framing import Framer
from media.g711 import ulaw_decode
from media.port import AudioIn, Closed, Dtmf, MarkPlayed, MediaEvent, PlayoutTap, TransferResult
from tests.fake_asterisk.codecs import ULAW
from tests.fake_asterisk.line import EchoPath, LineMix

FRAME = 160
FRAME_S = 0.02


@dataclass(frozen=True)
class Played:
    at: float
    frame: bytes


@dataclass
class _Mark:
    name: str
    done: asyncio.Future[bool]


class LoopbackCall:
    def __init__(self, clock: Callable[[], float] = time.monotonic, *, echo: EchoPath | None = None) -> None:
        self.clock = clock
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.played: list[Played] = []
        self.flushes: list[tuple[float, float]] = []  # (when, seconds heard)
        self.marks: list[tuple[float, str, bool]] = []
        self.transferred_to: str | None = None
        self.attended_answers = True  # what an attended transfer's target does (tests)
        self.transfer_attempts: list[tuple[str, bool]] = []  # (extension, attended)
        self.hangup_reason: str | None = None
        self.ended_at: float | None = None
        self.unplayed_at_end = 0  # frames still queued when the agent hung up or transferred
        self._queue: deque[tuple[float, bytes | _Mark]] = deque()
        self._framer = Framer(FRAME)
        self._run_frames = 0
        self._run_start = 0.0
        self._busy_until = 0.0
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._player: asyncio.Task[None] | None = None
        self._closed = False
        self._taps: list[PlayoutTap] = []
        self._line: LineMix | None = None
        if echo is not None:
            if echo.delay_s < FRAME_S:
                raise ValueError("a loopback echo needs a delay of at least one frame (20 ms)")
            self._line = LineMix(ULAW)
            self._line.echo = echo
        self._line_start = clock()
        self._speech: deque[bytes] = deque()
        self._ticker: asyncio.Task[None] | None = None
        self._spoken: list[float] = []  # when each queued speech frame went (a bad line's ticks)

    # --- the agent's side (CallPort) ---------------------------------------------------------------
    def play(self, ulaw: bytes) -> None:
        now = self.clock()
        self._queue.extend((now, frame) for frame in self._framer.feed(ulaw))
        self._start()

    def mark(self, name: str) -> asyncio.Future[bool]:
        tail = self._framer.flush()
        if tail is not None:
            self._queue.append((self.clock(), tail))
        marker = _Mark(name, asyncio.get_running_loop().create_future())
        if self._closed:
            marker.done.set_result(False)
            return marker.done
        self._queue.append((self.clock(), marker))
        self._start()
        return marker.done

    async def flush(self) -> float:
        now = self.clock()
        queued = sum(1 for _, item in self._queue if isinstance(item, bytes))
        heard = 0.0
        if self._run_frames or queued:
            heard = min(self._run_frames + queued, max(0, int((now - self._run_start) / FRAME_S))) * FRAME_S
        for _, item in self._queue:
            if isinstance(item, _Mark) and not item.done.done():
                item.done.set_result(False)
        self._queue.clear()
        self._framer.clear()
        self._run_frames = 0
        self._busy_until = min(self._busy_until, now)
        for tap in self._taps:
            tap.agent_flushed(now)
        self.flushes.append((self.clock(), heard))
        await self._notify()
        return heard

    @property
    def speaking(self) -> bool:
        return bool(self._queue) or self.clock() < self._busy_until

    @property
    def closed(self) -> bool:
        return self._closed

    def watch_playout(self, tap: PlayoutTap) -> None:
        self._taps.append(tap)

    async def hangup(self, reason: str) -> None:
        self.hangup_reason = reason
        await self._end(f"hung up by the agent: {reason}")

    async def transfer(self, extension: str, *, attended: bool = False, timeout_s: float = 20.0) -> TransferResult:
        self.transfer_attempts.append((extension, attended))
        if attended and not self.attended_answers:
            return TransferResult(False, "no answer")
        self.transferred_to = extension
        await self._end(f"transferred to {extension}" + (" (attended)" if attended else ""))
        return TransferResult(True)

    # --- the caller's side -----------------------------------------------------------------------
    async def say(self, ulaw: bytes) -> float:
        """Send caller audio in 20 ms frames in real time; returns when the first frame went."""
        if self._line is not None:
            return await self._say_on_the_line(ulaw)
        started = self.clock()
        for i in range(0, len(ulaw), FRAME):
            if self._closed:
                break
            due = started + (i // FRAME) * FRAME_S
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self.events.put_nowait(AudioIn(ulaw[i:i + FRAME], self.clock()))
        return started

    async def _say_on_the_line(self, ulaw: bytes) -> float:
        """On a bad line the frames go on the line's ticks, mixed with the echo."""
        self._start_line()
        first = len(self._spoken)
        self._speech.extend(ulaw[i:i + FRAME] for i in range(0, len(ulaw), FRAME))
        await self.until(lambda: not self._speech or self._closed, len(ulaw) / 8000 + 5)
        return self._spoken[first] if len(self._spoken) > first else self.clock()

    def _start_line(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_line(), name="loopback-line")

    async def _tick_line(self) -> None:
        """One frame a tick from the far end: its speech plus the echo due, nothing in silence."""
        assert self._line is not None
        tick = 0
        while not self._closed:
            tick += 1
            delay = self._line_start + tick * FRAME_S - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            speech = self._speech.popleft() if self._speech else None
            if speech is not None:
                self._spoken.append(self.clock())
            frame = self._line.mix(tick, speech)
            if frame:
                self.events.put_nowait(AudioIn(frame, self.clock()))
            if speech is not None and not self._speech:
                await self._notify()

    def press(self, digit: str) -> None:
        self.events.put_nowait(Dtmf(digit))

    async def hang_up_by_caller(self) -> None:
        await self._end("caller hung up")

    async def until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait (at most `timeout` s) until `predicate()` holds. It is checked on every change of
        this call and every 20 ms (for conditions on state kept elsewhere, such as run events)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), FRAME_S)

    def agent_audio(self, since: float = 0.0, until: float = float("inf")) -> bytes:
        return b"".join(p.frame for p in self.played if since <= p.at < until)

    def first_audio_after(self, t: float, *, audible: bool = False) -> float | None:
        """When the first agent frame at or after `t` played (`audible`: the first above -40 dBFS)."""
        for p in self.played:
            if p.at >= t and (not audible or _loud(p.frame)):
                return p.at
        return None

    # --- playout ---------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._player is None:
            self._player = asyncio.create_task(self._play_out(), name="loopback-playout")
        self._wake.set()

    async def _play_out(self) -> None:
        """Frames play on a virtual line clock: frame n of a run starts at run start + n * 20 ms,
        whatever the event loop's jitter; a run restarts when audio arrives after playout went quiet."""
        while not self._closed:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            enqueued, item = self._queue[0]
            if isinstance(item, _Mark):
                delay = self._busy_until - self.clock()
                if delay > 0:  # the frame before it is still playing
                    await asyncio.sleep(delay)
                    continue
                self._queue.popleft()
                if not item.done.done():
                    item.done.set_result(True)
                self.marks.append((max(self._busy_until, enqueued), item.name, True))
                self.events.put_nowait(MarkPlayed(item.name))
                await self._notify()
                continue
            if enqueued > self._busy_until:  # the line had gone quiet: a new run starts
                self._run_start, self._run_frames, self._busy_until = enqueued, 0, enqueued
            at = self._busy_until
            delay = at - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self._queue.popleft()
            self.played.append(Played(at, item))
            for tap in self._taps:
                tap.agent(item, at)
            if self._line is not None:
                self._start_line()
                self._line.heard(item, round((at - self._line_start) / FRAME_S))
            self._run_frames += 1
            self._busy_until = at + FRAME_S
            await self._notify()

    async def _end(self, reason: str) -> None:
        if self._closed:
            return
        self.unplayed_at_end = sum(1 for _, item in self._queue if isinstance(item, bytes))
        self.ended_at = self.clock()
        self._closed = True
        for _, item in self._queue:
            if isinstance(item, _Mark) and not item.done.done():
                item.done.set_result(False)
        self._queue.clear()
        self._wake.set()
        self.events.put_nowait(Closed(reason))
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._player, self._ticker):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def _loud(frame: bytes) -> bool:
    samples = ulaw_decode(np.frombuffer(frame, dtype=np.uint8)).astype(np.float32) / 32768.0
    return float(np.sqrt(np.mean(samples ** 2))) > 0.01
