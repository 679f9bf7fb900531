"""Silero VAD v6 (MIT) on onnxruntime, for 8 kHz phone audio.

The model file is the one faster-whisper ships in its package (`faster_whisper/assets/
silero_vad_v6.onnx`), so nothing downloads and nothing new installs: faster-whisper and
onnxruntime are already dependencies, with wheels for x86_64 and aarch64. That export takes
16 kHz only (512 new samples plus 64 of context per step), so each 32 ms window of 256 line
samples is upsampled 2x by linear interpolation; a phone line carries nothing above 4 kHz anyway.

One `InferenceSession` (thread-safe, one intra-op thread) serves every call; a `SileroStream` holds
one call's recurrent state.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio import Samples

WINDOW_8K = 256  # 32 ms at 8 kHz
CONTEXT_16K = 64


def model_path() -> Path:
    """Found without importing faster_whisper (its import pulls in CTranslate2 and PyAV)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise RuntimeError("faster-whisper is not installed: its package carries the Silero VAD model")
    path = Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise RuntimeError(f"Silero VAD model not found at {path} (faster-whisper changed its assets?)")
    return path


class SileroModel:
    """The loaded model, shared by every call."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session: Any = onnxruntime.InferenceSession(
            str(path or model_path()), sess_options=options, providers=["CPUExecutionProvider"])

    def stream(self) -> SileroStream:
        return SileroStream(self)

    def step(self, window16k: Samples, h: Samples, c: Samples) -> tuple[float, Samples, Samples]:
        """One window (64 context + 512 new samples at 16 kHz) → speech probability and new state."""
        probability, h, c = self._session.run(None, {"input": window16k[None, :], "h": h, "c": c})
        return float(np.asarray(probability).reshape(-1)[0]), h, c


class SileroStream:
    """One call's VAD state; scores consecutive 256-sample windows of 8 kHz float audio."""

    window_size_samples = WINDOW_8K

    def __init__(self, model: SileroModel) -> None:
        self._model = model
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT_16K, np.float32)
        self._last = np.float32(0.0)

    def process(self, data: memoryview) -> float:
        samples = np.frombuffer(data, dtype=np.float32)
        if len(samples) != WINDOW_8K:
            raise ValueError(f"a window is {WINDOW_8K} samples, not {len(samples)}")
        upsampled = self._upsample(samples)
        probability, self._h, self._c = self._model.step(np.concatenate([self._context, upsampled]),
                                                         self._h, self._c)
        self._context = upsampled[-CONTEXT_16K:]
        return probability

    def _upsample(self, samples: Samples) -> Samples:
        """2x linear interpolation, continuous across windows (half a sample late)."""
        out = np.empty(2 * len(samples), np.float32)
        previous = np.concatenate([np.array([self._last], np.float32), samples[:-1]])
        out[0::2] = (previous + samples) * 0.5
        out[1::2] = samples
        self._last = samples[-1]
        return out
