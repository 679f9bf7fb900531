"""Caller speech detection at 8 kHz: silero (agent/silero.py, on onnxruntime) behind a webrtcvad
pre-gate, and an endpointer that turns window scores into speech start / pause / end events.

Asterisk sends nothing while the caller is silent, so time passes through `tick(now)` as well as
through audio: the end of speech is declared after `end_of_speech_ms` of silence by the wall
clock, whether silent frames arrived or none did. `SpeechPaused` comes earlier (`early_ms`) with
exactly the audio `SpeechEnded` will carry if the caller stays silent, so transcription can start
before the turn is over.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.audio import LINE_RATE, Samples, ulaw_to_float
from agent.silero import SileroModel


class ScoreModel(Protocol):
    window_size_samples: int
    def process(self, data: memoryview) -> float: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class SpeechStarted:
    at: float
    """Wall-clock time of the first speech window."""


@dataclass(frozen=True)
class SpeechPaused:
    segment: int
    audio: Samples
    at: float = 0.0
    """Wall-clock time of the end of the last speech window (as `SpeechEnded.at`)."""


@dataclass(frozen=True)
class SpeechEnded:
    segment: int
    audio: Samples
    at: float
    """Wall-clock time the caller stopped speaking (end of the last speech window)."""
    speech_s: float


@dataclass(frozen=True)
class NoiseIgnored:
    segment: int


VadEvent = SpeechStarted | SpeechPaused | SpeechEnded | NoiseIgnored


class VadPool:
    """Per-call silero states over one shared model (loaded on first use), reset and reused."""

    def __init__(self) -> None:
        self._free: list[ScoreModel] = []
        self._lock = threading.Lock()
        self._model: SileroModel | None = None

    def acquire(self) -> ScoreModel:
        with self._lock:
            if self._free:
                model = self._free.pop()
                model.reset()
                return model
            if self._model is None:
                self._model = SileroModel()
            return self._model.stream()

    def release(self, model: ScoreModel) -> None:
        with self._lock:
            self._free.append(model)


class PreGate:
    """webrtcvad (mode 0: highest recall) on whole 20 ms frames: silero is skipped while idle and
    webrtcvad has heard nothing voiced for `hold_s`."""

    def __init__(self, hold_s: float = 0.2) -> None:
        import webrtcvad
        self._vad = webrtcvad.Vad(0)
        self.hold_s = hold_s
        self.last_voiced = -1e9

    def feed(self, pcm16: bytes, now: float) -> None:
        for i in range(0, len(pcm16) - 319, 320):
            if self._vad.is_speech(pcm16[i:i + 320], LINE_RATE):
                self.last_voiced = now
                return

    def open(self, now: float) -> bool:
        return now - self.last_voiced <= self.hold_s


class Endpointer:
    def __init__(self, model: ScoreModel, *, end_of_speech_ms: int, early_ms: int | None = None,
                 pregate: PreGate | None = None, threshold: float = 0.5, release: float = 0.35,
                 start_windows: int = 2, min_speech_ms: int = 120, preroll_ms: int = 300,
                 tail_ms: int = 200, max_utterance_s: float = 30.0) -> None:
        self.model = model
        self.window = model.window_size_samples
        self.eos_s = end_of_speech_ms / 1000
        early = early_ms if early_ms is not None else min(150, end_of_speech_ms // 2)
        self.early_s = early / 1000 if early < end_of_speech_ms else None
        self.pregate = pregate
        self.threshold, self.release, self.start_windows = threshold, release, start_windows
        self.min_speech_s = min_speech_ms / 1000
        self.tail = int(tail_ms * LINE_RATE / 1000)
        self.max_samples = int(max_utterance_s * LINE_RATE)
        self._pending = np.zeros(0, np.float32)
        self._preroll: deque[Samples] = deque(maxlen=max(1, preroll_ms * LINE_RATE // 1000 // self.window))
        self._voiced_run = 0
        self._onset = 0.0
        self.segment = 0
        self.in_speech = False
        self._audio: list[Samples] = []
        self._length = 0
        self._speech_end_idx = 0
        self._speech_windows = 0
        self._last_speech_at = 0.0
        self._paused = False

    def feed(self, ulaw: bytes, now: float) -> list[VadEvent]:
        samples = ulaw_to_float(ulaw)
        if self.pregate is not None:
            self.pregate.feed((samples * 32767).astype("<i2").tobytes(), now)
        self._pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        events: list[VadEvent] = []
        while len(self._pending) >= self.window:
            window = np.ascontiguousarray(self._pending[:self.window], dtype=np.float32)
            self._pending = self._pending[self.window:]
            events.extend(self._window(window, now))
        events.extend(self.tick(now))
        return events

    def tick(self, now: float) -> list[VadEvent]:
        """Let time pass: ends (or pauses) speech after enough silence, with or without audio."""
        if not self.in_speech or now - self._last_speech_at <= 0:
            return []
        silent = now - self._last_speech_at
        if silent >= self.eos_s or self._length >= self.max_samples:
            return [self._end()]
        if self.early_s is not None and silent >= self.early_s and not self._paused:
            self._paused = True
            return [SpeechPaused(self.segment, self._trimmed(), self._last_speech_at)]
        return []

    def _window(self, window: Samples, now: float) -> list[VadEvent]:
        if not self.in_speech and self.pregate is not None and not self.pregate.open(now):
            score = 0.0
        else:
            score = float(self.model.process(memoryview(window.data)))
        if self.in_speech:
            self._audio.append(window)
            self._length += len(window)
            if score >= self.release:
                if score >= self.threshold or not self._paused:
                    self._speech_end_idx = self._length
                    self._last_speech_at = now
                    self._speech_windows += 1
                    self._paused = False
            return []
        self._preroll.append(window)
        if score < self.threshold:
            self._voiced_run = 0
            return []
        self._voiced_run += 1
        if self._voiced_run == 1:
            self._onset = now - self.window / LINE_RATE
        if self._voiced_run < self.start_windows:
            return []
        self.segment += 1
        self.in_speech, self._paused = True, False
        self._audio = list(self._preroll)
        self._preroll.clear()
        self._length = sum(len(a) for a in self._audio)
        self._speech_end_idx, self._last_speech_at = self._length, now
        self._speech_windows = self._voiced_run
        self._voiced_run = 0
        return [SpeechStarted(self._onset)]

    def _trimmed(self) -> Samples:
        audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)
        return audio[:self._speech_end_idx + self.tail]

    def _end(self) -> VadEvent:
        self.in_speech = False
        speech_s = self._speech_windows * self.window / LINE_RATE
        audio = self._trimmed()
        self._audio, self._length = [], 0
        if speech_s < self.min_speech_s:
            return NoiseIgnored(self.segment)
        return SpeechEnded(self.segment, audio, self._last_speech_at, speech_s)
