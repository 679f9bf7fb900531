"""The VAD on real audio: Silero v6 (faster-whisper's packaged ONNX model) at 8 kHz through the
production endpointer, over the caller phrases in tests/fixtures and over noise."""
from __future__ import annotations

import numpy as np
import pytest

from agent.audio import LINE_RATE, float_to_ulaw, ulaw_to_float
from agent.silero import SileroModel, model_path
from agent.vad import Endpointer, PreGate, SpeechEnded, SpeechStarted, VadEvent, VadPool
from tests.fixtures import caller_ulaw

SILENCE_1S = b"\xff" * LINE_RATE  # µ-law zero


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()


def fed(endpointer: Endpointer, ulaw: bytes, start: float = 0.0) -> tuple[list[VadEvent], float]:
    """Feed 20 ms frames on a clock of their own; then let 1 s pass. Returns (events, end time)."""
    events: list[VadEvent] = []
    now = start
    for i in range(0, len(ulaw) - 159, 160):
        now += 0.02
        events += endpointer.feed(ulaw[i:i + 160], now)
    for _ in range(50):
        now += 0.02
        events += endpointer.tick(now)
    return events, now


def onset_s(ulaw: bytes) -> float:
    samples = ulaw_to_float(ulaw)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    return float(np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)[0]) * 0.02


def test_the_model_comes_from_an_installed_package() -> None:
    path = model_path()
    assert path.name == "silero_vad_v6.onnx" and path.stat().st_size > 500_000


@pytest.mark.parametrize("number", range(10))
def test_each_caller_phrase_is_one_utterance_with_its_speech(model: SileroModel, number: int) -> None:
    phrase = caller_ulaw(number)
    endpointer = Endpointer(model.stream(), end_of_speech_ms=600, pregate=PreGate())
    events, _ = fed(endpointer, SILENCE_1S + phrase + SILENCE_1S)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1, events
    onset = 1.0 + onset_s(phrase)
    assert onset - 0.1 <= starts[0].at <= onset + 0.2
    assert ends[0].speech_s >= 0.2
    # The utterance handed to STT holds the phrase's loud part.
    heard = ends[0].audio
    loudest = np.abs(ulaw_to_float(phrase)).max()
    assert np.abs(heard).max() == pytest.approx(loudest, rel=0.05)


def test_noise_and_silence_make_no_utterance(model: SileroModel) -> None:
    rng = np.random.default_rng(7)
    noise = float_to_ulaw((rng.normal(0, 0.03, 10 * LINE_RATE)).astype(np.float32))  # -30 dBFS, 10 s
    hum = float_to_ulaw((0.1 * np.sin(2 * np.pi * 50 * np.arange(5 * LINE_RATE) / LINE_RATE)).astype(np.float32))
    for audio in (SILENCE_1S * 5, noise, hum):
        endpointer = Endpointer(model.stream(), end_of_speech_ms=600, pregate=PreGate())
        events, _ = fed(endpointer, audio)
        assert events == []


def test_a_reset_stream_scores_like_a_new_one(model: SileroModel) -> None:
    samples = ulaw_to_float(caller_ulaw(4))[: 40 * 256]
    windows = [np.ascontiguousarray(samples[i:i + 256]) for i in range(0, len(samples), 256)]
    fresh = model.stream()
    first = [fresh.process(memoryview(w.data)) for w in windows]
    fresh.reset()
    again = [fresh.process(memoryview(w.data)) for w in windows]
    assert first == again and max(first) > 0.9 and min(first) < 0.1


def test_a_window_of_the_wrong_size_is_refused(model: SileroModel) -> None:
    with pytest.raises(ValueError, match="256 samples"):
        model.stream().process(memoryview(np.zeros(160, np.float32).data))


def test_the_pool_reuses_released_streams_reset() -> None:
    pool = VadPool()
    first = pool.acquire()
    speech = np.ascontiguousarray(ulaw_to_float(caller_ulaw(0))[8000:8256])
    silent = np.zeros(256, np.float32)
    baseline = first.process(memoryview(silent.data))
    first.process(memoryview(speech.data))
    pool.release(first)
    again = pool.acquire()
    assert again is first and again.process(memoryview(silent.data)) == baseline
    assert pool.acquire() is not first
