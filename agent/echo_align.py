"""Where the two sides of a call sit on one sample timeline, for the echo canceller (agent/echo.py).

- `Timeline`: the agent's audio as it plays, placed by play time.
- `NearClock`: the caller's frames, placed back to back and anchored by arrival.
- `EchoDelay`: where the echo actually is against that timeline, found by cross-correlation, so
  the canceller can be shown the echo at one constant delay.

Our clocks are only estimates: a reply's first frame is taken to play when it is sent (Asterisk
plays it on its next 20 ms tick), and a caller frame is stamped when our event loop reads it.
Each new reply or stream can thus move the echo by 0-20 ms, more under load; WebRTC AEC3 takes
such a jump badly (measured: a 20 ms jump every 3 s lets 1% of frames through louder than the
echo itself) and relearns it slowly. `EchoDelay` measures the echo's delay and moves the reference
so the canceller always sees the echo at the same small delay.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from agent.audio import LINE_RATE

Pcm = npt.NDArray[np.int16]


class Timeline:
    """The agent audio as played, on an absolute sample index; unwritten samples read as silence."""

    def __init__(self, seconds: float) -> None:
        self.buf = np.zeros(int(seconds * LINE_RATE), np.int16)
        self.end = 0  # one past the last written sample
        self.last_loud = -(10**12)  # index of the last non-silent sample written

    def write(self, start: int, pcm: Pcm) -> None:
        cap = len(self.buf)
        if start > self.end:
            self._put(self.end, np.zeros(min(start - self.end, cap), np.int16))
        pcm = pcm[-cap:]
        self._put(start, pcm)
        self.end = max(self.end, start + len(pcm))
        loud = np.flatnonzero(np.abs(pcm) > 8)
        if len(loud):
            self.last_loud = max(self.last_loud, start + int(loud[-1]))

    def cut(self, at: int) -> None:
        """Forget what was written from `at` on (it was flushed, it will never play)."""
        if at < self.end:
            self._put(at, np.zeros(min(self.end - at, len(self.buf)), np.int16))
            self.end = at
            self.last_loud = min(self.last_loud, at - 1)

    def read(self, start: int, n: int) -> Pcm:
        cap = len(self.buf)
        lo, hi = max(start, self.end - cap, 0), min(start + n, self.end)
        out = np.zeros(n, np.int16)
        if lo < hi:
            out[lo - start:hi - start] = self._get(lo, hi - lo)
        return out

    def _put(self, start: int, pcm: Pcm) -> None:
        cap, at = len(self.buf), start % len(self.buf)
        first = min(len(pcm), cap - at)
        self.buf[at:at + first] = pcm[:first]
        self.buf[:len(pcm) - first] = pcm[first:]

    def _get(self, start: int, n: int) -> Pcm:
        cap, at = len(self.buf), start % len(self.buf)
        first = min(n, cap - at)
        return np.concatenate([self.buf[at:at + first], self.buf[:n - first]])


class NearClock:
    """Where each caller frame sits on the timeline. The frames of a stream are back to back;
    arrival times only anchor the stream: a frame arrives late when the event loop was busy (the
    next ones then come in a burst) but never early. So the stream is anchored at its first frame,
    moved back to any frame that arrives early, and anchored again after a pause of `gap`. Frames
    the far end skipped leave the stream late: `EchoDelay` finds the echo there."""

    def __init__(self, *, tolerance: int, gap: int) -> None:
        self.tolerance, self.gap = tolerance, gap
        self._next: int | None = None
        self.moves = 0

    def place(self, arrived: int, n: int) -> int:
        """The timeline index of `n` samples that arrived starting at index `arrived`."""
        start = self._next
        if start is None or not -self.tolerance <= arrived - start <= self.gap:
            start = arrived
            self.moves += 1
        self._next = start + n
        return start


class EchoDelay:
    """Finds the echo's delay against the timeline and shows it to the canceller at one constant
    delay, `target` (WebRTC AEC3 cannot cancel an echo that comes before its reference, and
    relearns a moved one slowly).

    `observe` collects the caller stream while it carries only the echo (the agent talks, the
    caller does not, the stream is loud enough); every `every` samples it cross-correlates the last
    `window` of it with the agent's audio over lags `min_lag`..`max_lag`. A clear peak (normalised
    correlation at least `min_corr`, and the one before it within 2 ms) is the echo's delay now;
    `shift` is how much later the reference must be read so the canceller sees that echo `target`
    samples after it. Until the first measurement the echo is taken to come as early as Asterisk's
    `Echo()` sends it: back in the tick it plays, a whole frame before a caller frame stamped on
    arrival would put it."""

    def __init__(self, *, min_lag: int = -LINE_RATE // 25, max_lag: int = LINE_RATE * 3 // 10,
                 window: int = LINE_RATE // 5, every: int = LINE_RATE // 25, min_corr: float = 0.5,
                 target: int = LINE_RATE // 100, early: int = LINE_RATE // 50) -> None:
        self.min_lag, self.max_lag, self.window, self.every = min_lag, max_lag, window, every
        self.min_corr, self.target = min_corr, target
        self.agree = LINE_RATE // 500  # 2 ms
        self.shift = -early - target
        self.found: list[int] = []
        """Every delay measured, in samples (for the tests and the bench)."""
        self.moves = 0
        """How often `shift` changed."""
        self._near: deque[Pcm] = deque()
        self._start = 0  # timeline index of the first sample held
        self._held = 0
        self._due = every

    def observe(self, near: Pcm, start: int, far: Timeline, *, echo_only: bool) -> None:
        """A caller frame placed at `start`; `echo_only`: the agent talks and the caller does not."""
        if not echo_only or (self._held and start != self._start + self._held):
            self._near.clear()
            self._held, self._due = 0, self.every
            if not echo_only:
                return
        if not self._held:
            self._start = start
        self._near.append(near)
        self._held += len(near)
        while self._held - len(self._near[0]) >= self.window:
            self._held -= len(self._near.popleft())
            self._start = start + len(near) - self._held
        self._due -= len(near)
        if self._due <= 0 and self._held >= self.window:
            self._due = self.every
            self._measure(far)

    def _measure(self, far: Timeline) -> None:
        near = np.concatenate(self._near).astype(np.float64)
        delay, score = peak_correlation(near, self._start, far, self.min_lag, self.max_lag)
        if score < self.min_corr:
            return
        self.found.append(delay)
        if len(self.found) < 2 or abs(self.found[-2] - delay) > self.agree:
            return  # one peak could be the speech's own rhythm: wait for the next to agree
        if abs(delay - self.target - self.shift) > self.agree:
            self.shift = delay - self.target
            self.moves += 1


def peak_correlation(near: npt.NDArray[np.float64], start: int, far: Timeline, min_lag: int, max_lag: int, *,
                     either_sign: bool = False) -> tuple[int, float]:
    """How well `near` (placed at timeline index `start`) is explained by the agent's audio played
    `min_lag`..`max_lag` samples before it: (the delay of the best match, its normalised
    correlation: 1 = a scaled copy, near 0 = unrelated). `either_sign`: an inverted copy counts too."""
    span = len(near) + max_lag - min_lag
    ref = far.read(start - max_lag, span).astype(np.float64)
    size = 1 << int(np.ceil(np.log2(span + len(near))))
    corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(near, size)), size)[:span - len(near) + 1]
    energy = np.concatenate([[0.0], np.cumsum(ref * ref)])
    windows = energy[len(near):] - energy[:len(energy) - len(near)]
    norm = np.sqrt(np.maximum(windows[:len(corr)], 1e-9) * float(np.dot(near, near)))
    scores = corr / np.maximum(norm, 1e-9)
    if either_sign:
        scores = np.abs(scores)
    best = int(np.argmax(scores))
    return max_lag - best, float(scores[best])  # ref index `best` lines up with near[0]: far[t - delay]
