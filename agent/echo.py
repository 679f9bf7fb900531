"""The agent's own voice coming back on the caller stream (speakerphones, bad hybrids, Asterisk
`Echo()`): an echo canceller fed with exactly what we played and when, and a gate that decides
whether a speech start while the agent talks is the caller or the echo.

Why a canceller: the VAD cannot tell the caller from the agent's echo, so without one every agent
sentence triggers barge-in. WebRTC AEC3 (pywebrtc-audio) was chosen by measurement
(bench/echo_cancellers.py, bench/README.md "Echo cancellation"): 26-45 dB ERLE at 8 kHz, no false
speech starts at 0/-6/-12 dB echo, caller speech kept in double talk (-1 to -3 dB), ~0.2 ms CPU per
20 ms frame.

    canceller = EchoCanceller()
    canceller.agent(ulaw, at)           # agent audio that starts playing at `at` (playout clock)
    canceller.agent_flushed(at)         # barge-in: nothing after `at` plays
    frame = canceller.cancel(ulaw, at)  # a caller frame received at `at` -> CleanFrame

`agent`/`agent_flushed` have the signatures of `media.session.AudioTap`, so the media session's tap
can feed the reference. Times are seconds on the session's clock. The reference is placed on a
sample timeline by its play time; caller frames are placed by arrival (back to back while they
arrive on time, re-anchored after a gap), so the canceller sees the far end `echo delay + jitter`
ahead of its echo. When the agent has been silent for `idle_s` the engine is not run at all.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from agent.audio import LINE_RATE, Samples
from agent.echo_align import EchoDelay, NearClock, Pcm, Timeline, peak_correlation
from agent.stt_filters import FILLERS
from agent.text import words
from media.g711 import ulaw_decode, ulaw_encode

BLOCK = LINE_RATE // 100  # the engine works on 10 ms blocks
SILENT_DBFS = -100.0
ONSET_SLACK_S = 0.15
"""The VAD places a speech onset up to this late: the caller's first frames come before it."""


class EchoEngine(Protocol):
    def process(self, near: Pcm, far: Pcm) -> Pcm: ...


def webrtc_engine() -> EchoEngine:
    """WebRTC AEC3 through pywebrtc-audio at 8 kHz (its high-pass filter is always on with AEC)."""
    from pywebrtc_audio import AudioProcessor
    engine: EchoEngine = AudioProcessor(sample_rate=LINE_RATE, echo_cancellation=True)
    return engine


@dataclass(frozen=True)
class CleanFrame:
    """One caller frame after echo cancellation."""
    ulaw: bytes
    samples: Samples
    at: float
    near_dbfs: float
    """Level before cancellation."""
    residual_dbfs: float
    """Level after cancellation (the caller plus what is left of the echo)."""
    reference_dbfs: float
    """Level of what the agent played over the frame and the `echo_window_s` before it."""
    agent_active: bool
    """The agent played something within `idle_s` of this frame."""
    settling: bool = False
    """Less than `settle_s` ago the agent started talking again (after `idle_s` of silence), the
    caller stream was anchored anew or the echo's delay moved: the engine may not have caught up
    with the echo path yet."""


def level_dbfs(samples: npt.NDArray[Any]) -> float:
    """RMS level of int16 or float (-1..1) samples in dBFS (full-scale square = 0 dBFS)."""
    if len(samples) == 0:
        return SILENT_DBFS
    x = samples.astype(np.float64)
    power = float(np.dot(x, x)) / len(x) / (32768.0**2 if samples.dtype == np.int16 else 1.0)
    return max(SILENT_DBFS, 10 * math.log10(power)) if power > 0 else SILENT_DBFS


class EchoCanceller:
    """Removes the agent's echo from one call's caller stream."""

    def __init__(self, *, engine: Callable[[], EchoEngine] = webrtc_engine, idle_s: float = 1.0,
                 echo_window_s: float = 0.3, max_jitter_s: float = 0.015, history_s: float = 8.0,
                 settle_s: float = 1.0, gap_s: float = 0.15) -> None:
        self._make_engine = engine
        self._engine: EchoEngine | None = None
        self.idle = int(idle_s * LINE_RATE)
        self.settle = int(settle_s * LINE_RATE)
        self._spurt = -(10**12)  # sample where the agent last started talking after `idle_s` of silence
        self._moved = -(10**12)  # sample where the caller stream or the echo's delay last moved
        self._moves = 0
        self.echo_window = int(echo_window_s * LINE_RATE)
        self._near = NearClock(tolerance=int(max_jitter_s * LINE_RATE), gap=int(gap_s * LINE_RATE))
        self.delay = EchoDelay()
        self._far = Timeline(history_s)
        self._origin: float | None = None
        self._pending = np.zeros(0, np.int16)  # caller samples short of a whole 10 ms block
        self.frames = 0
        self.engine_frames = 0
        self._cleaned: deque[tuple[float, int, Pcm]] = deque(maxlen=16)  # (arrival, timeline index, output)

    def _index(self, at: float) -> int:
        if self._origin is None:
            self._origin = at
        return round((at - self._origin) * LINE_RATE)

    def agent(self, ulaw: bytes, at: float) -> None:
        """`ulaw` (any length) starts playing at `at`."""
        start, pcm = self._index(at), ulaw_decode(np.frombuffer(ulaw, np.uint8))
        loud = np.flatnonzero(np.abs(pcm) > 8)
        if len(loud) and start + int(loud[0]) > self._far.last_loud + self.idle:
            self._spurt = start + int(loud[0])
        self._far.write(start, pcm)

    def agent_flushed(self, at: float) -> None:
        self._far.cut(self._index(at))

    def agent_talked(self, since: float, until: float, *, loud_dbfs: float = -45.0) -> float:
        """The share of 20 ms blocks between `since` and `until` in which the agent's audio was
        louder than `loud_dbfs` (0.0 to 1.0)."""
        start, end = self._index(since), self._index(until)
        block = LINE_RATE // 50
        n = (end - start) // block
        if n <= 0:
            return 0.0
        pcm = self._far.read(start, n * block).astype(np.float64).reshape(n, block) / 32768.0
        power = np.mean(pcm * pcm, axis=1)
        return float(np.mean(power > 10 ** (loud_dbfs / 10)))

    def cancel(self, ulaw: bytes, at: float, *, caller_speaking: bool = False) -> CleanFrame:
        """A caller frame that arrived at `at` (its last sample) with the agent's echo removed. With a
        frame that is not a whole number of 10 ms blocks, the remainder waits for the next frame.
        `caller_speaking`: the VAD hears the caller (the frame is not echo alone)."""
        near = ulaw_decode(np.frombuffer(ulaw, np.uint8))
        carried = len(self._pending)
        arrived = self._index(at) - len(near) - carried
        near = np.concatenate([self._pending, near]) if carried else near
        whole = len(near) - len(near) % BLOCK
        near, self._pending = near[:whole], near[whole:]
        start = self._near.place(arrived, whole)
        if self._near.moves + self.delay.moves != self._moves:
            self._moves, self._moved = self._near.moves + self.delay.moves, start
        played = start - self.delay.shift  # where the agent audio echoed in this frame sits
        self.frames += 1
        far = self._far.read(played, whole)
        active = self._far.last_loud >= played - self.idle
        out = near
        if active and whole:
            if self._engine is None:
                self._engine = self._make_engine()
            out = np.asarray(self._engine.process(near, far), np.int16)
            self.engine_frames += 1
        near_dbfs = level_dbfs(near)
        if out is not near and level_dbfs(out) > near_dbfs + 1.0:
            out = near  # the engine added sound (a misplaced echo estimate): never worse than nothing
        self.delay.observe(near, start, self._far, echo_only=active and not caller_speaking and near_dbfs > -50)
        if whole:
            self._cleaned.append((at, start, out))
        window = self._far.read(played - self.echo_window, self.echo_window + whole)
        untouched = out is near and not carried and whole == len(ulaw)  # nothing to cancel: the frame as it came
        cleaned = ulaw if untouched else ulaw_encode(out).tobytes()
        settling = -self.echo_window <= played - self._spurt < self.settle or start - self._moved < self.settle
        return CleanFrame(cleaned, out.astype(np.float32) / 32768.0, at, near_dbfs, level_dbfs(out),
                          level_dbfs(window), bool(active), settling)


    def agent_share(self, since: float, *, window_s: float = 0.2) -> float:
        """How much of the cleaned caller stream that arrived after `since` (the last `window_s` of
        it) is still the agent's voice: its peak normalised correlation, 0..1, with what the agent
        played, over every delay the delay tracker searches. Near 1: the echo came through (the
        canceller lost it, whatever its level); low: someone else is talking. 1.0 with less than
        two frames to go on."""
        last = self._cleaned[-1][0] if self._cleaned else since
        frames = [(start, out) for at, start, out in self._cleaned if at > since and at > last - window_s]
        run = frames[-1:]
        for start, out in reversed(frames[:-1]):  # the contiguous run that ends with the last frame
            if start + len(out) != run[0][0]:
                break
            run.insert(0, (start, out))
        if len(run) < 2:
            return 1.0
        cleaned = np.concatenate([out for _, out in run]).astype(np.float64)
        _, share = peak_correlation(cleaned, run[0][0], self._far, self.delay.min_lag, self.delay.max_lag,
                                    either_sign=True)
        return min(1.0, share)


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    reason: str  # "agent silent" | "above echo" | "echo" | "not above the echo itself" | ...
    residual_dbfs: float
    expected_dbfs: float
    """The loudest echo expected after cancellation over the window (reference + leak)."""


class EchoGate:
    """Decides whether a speech start while the agent talks is the caller (accept) or the echo.

    It learns the *leak* (residual minus reference, dB) on frames where the agent plays and the
    caller is not speaking: the 90th percentile of the last `learn_frames`. Until it has `min_frames`
    of them it assumes the echo may be as loud as the reference (`initial_leak_db`). A start is
    accepted when the residual over the last `window_s` is `margin_db` above reference + leak, or
    when the agent played nothing in that window. The canceller can lose the echo for a while (a
    new delay when a reply starts, a jump in timing): the leak is also never taken lower than the
    worst one of the `lately_s` before the start (capped at the echo's level before cancellation:
    anything louder was the caller), and while the canceller is settling (the agent
    just started talking again) the echo is expected at its level *before* cancellation (the
    learned echo return, near minus reference) when that is higher; and frames that came out of
    the canceller louder than they went in (it is adding a misplaced echo) are not the caller.
    Whatever the canceller's state, the caller must also be `over_return_db` louder than the echo
    itself would be before cancellation (reference + echo return: a lost canceller lets exactly
    that through), unless what came out of the canceller is shown not to be the agent's voice: its
    correlation with what the agent played (`agent_share`, asked only then) is below
    `foreign_below`. A lost canceller passes the echo on as a copy of the agent (correlation near 1);
    a caller as loud as the echo on a 0 dB line is not louder than the echo, but is not a copy of it.
    And nothing quieter than `quietest_speech_dbfs`. Pure: levels and times in, decisions out.
    """

    def __init__(self, *, margin_db: float = 10.0, window_s: float = 0.2, initial_leak_db: float = 0.0,
                 learn_frames: int = 150, min_frames: int = 10, loud_reference_dbfs: float = -45.0,
                 lately_s: float = 0.5, over_return_db: float = 3.0, quietest_speech_dbfs: float = -50.0,
                 foreign_below: float = 0.3) -> None:
        self.margin_db, self.initial_leak_db, self.foreign_below = margin_db, initial_leak_db, foreign_below
        self.over_return_db, self.quietest_speech_dbfs = over_return_db, quietest_speech_dbfs
        self.min_frames, self.loud_reference_dbfs = min_frames, loud_reference_dbfs
        self.window_s, self.lately_s = window_s, lately_s
        self._recent: deque[CleanFrame] = deque()
        self._leaks: deque[float] = deque(maxlen=learn_frames)
        self._returns: deque[float] = deque(maxlen=learn_frames)
        self._lately: deque[tuple[float, float]] = deque()  # (at, leak) over the last `lately_s`

    @property
    def leak_db(self) -> float:
        return self._learned(self._leaks)

    @property
    def return_db(self) -> float:
        """The echo's level before cancellation, relative to what the agent played."""
        return self._learned(self._returns)

    def _learned(self, values: deque[float]) -> float:
        if len(values) < self.min_frames:
            return self.initial_leak_db
        return float(np.percentile(np.fromiter(values, float), 90))

    def observe(self, frame: CleanFrame, *, caller_speaking: bool) -> None:
        """Every caller frame, with whether the VAD currently hears the caller."""
        self._recent.append(frame)
        while self._recent and frame.at - self._recent[0].at > self.window_s:
            self._recent.popleft()
        if frame.agent_active and not caller_speaking and frame.reference_dbfs > self.loud_reference_dbfs:
            leak = frame.residual_dbfs - frame.reference_dbfs
            self._leaks.append(leak)
            self._returns.append(frame.near_dbfs - frame.reference_dbfs)
            self._lately.append((frame.at, leak))
        while self._lately and frame.at - self._lately[0][0] > self.lately_s:
            self._lately.popleft()

    def judge_start(self, since: float | None = None, *,
                    agent_share: Callable[[], float] | None = None) -> GateDecision:
        """At a VAD speech start (and, while it is undecided, on the frames after it): is it the
        caller? `since`: the speech onset; only frames from then on are weighed (at least one).
        `agent_share`: how much the canceller's output over those frames is still the agent's voice
        (`EchoCanceller.agent_share`, 0..1); without it the caller must be louder than the echo."""
        frames = [f for f in self._recent if since is None or f.at > since] or list(self._recent)[-1:]
        residual = _mean_dbfs([f.residual_dbfs for f in frames])
        if residual < self.quietest_speech_dbfs:
            return GateDecision(False, "too quiet", residual, SILENT_DBFS)
        if not any(f.agent_active and f.reference_dbfs > self.loud_reference_dbfs for f in frames):
            return GateDecision(True, "agent silent", residual, SILENT_DBFS)
        if residual > _mean_dbfs([f.near_dbfs for f in frames]) + 1.0:  # cancelling made it louder
            return GateDecision(False, "canceller lost the echo", residual, SILENT_DBFS)
        reference = _mean_dbfs([f.reference_dbfs for f in frames])
        lately = [x for at, x in self._lately if since is None or at <= since - ONSET_SLACK_S]
        leak = max([self.leak_db, *(min(x, self.return_db + 3.0) for x in lately)])
        if any(f.settling for f in frames):
            leak = max(leak, self.return_db)
        expected = reference + leak
        if residual < expected + self.margin_db:
            return GateDecision(False, "echo", residual, expected)
        if residual >= reference + self.return_db + self.over_return_db:
            return GateDecision(True, "above echo", residual, expected)
        if agent_share is not None and agent_share() < self.foreign_below:
            return GateDecision(True, "not the echo", residual, expected)
        return GateDecision(False, "not above the echo itself", residual, reference + self.return_db)


    def first_above(self, since: float, level_dbfs: float) -> float | None:
        """When the first frame after `since` (of the last `window_s`) whose residual reaches
        `level_dbfs` arrived: where the speech the gate accepted begins."""
        return next((f.at for f in self._recent if f.at > since and f.residual_dbfs >= level_dbfs), None)


def _mean_dbfs(levels: list[float]) -> float:
    if not levels:
        return SILENT_DBFS
    power = float(np.mean([10 ** (x / 10) for x in levels]))
    return max(SILENT_DBFS, 10 * math.log10(power)) if power > 0 else SILENT_DBFS


def caller_words(transcript: str, agent_text: str) -> list[str]:
    """The words of `transcript` not explained by an echo of `agent_text` (what the agent was saying).

    A rejected start can still be the caller: if its transcript has words, and they are not a run
    of the agent's own words, it was the caller after all. Every run of at least 2 transcript words
    that occurs consecutively in the agent's text is removed. A single word is always kept: "Sales."
    said over "Say sales or support" is the caller's answer more often than an echo (after
    cancellation the echo rarely transcribes at all)."""
    heard, said = words(transcript), words(agent_text)
    if not said:
        return heard
    keep: list[str] = []
    i = 0
    while i < len(heard):
        run = _longest_run_at(heard, i, said)
        if run >= 2:
            i += run
        else:
            keep.append(heard[i])
            i += 1
    return keep


def caller_content(transcript: str, agent_text: str = "") -> list[str]:
    """The caller's own words in `transcript`: without runs of what the agent was saying
    (`caller_words`) and without fillers ("uh", "hmm": a cough or a noise burst has none)."""
    return [w for w in caller_words(transcript, agent_text) if w not in FILLERS]


def _longest_run_at(heard: list[str], i: int, said: list[str]) -> int:
    best = 0
    for j in range(len(said)):
        n = 0
        while i + n < len(heard) and j + n < len(said) and heard[i + n] == said[j + n]:
            n += 1
        best = max(best, n)
    return best
