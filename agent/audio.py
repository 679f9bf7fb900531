"""Sample conversions between the phone line (8 kHz µ-law) and the models (float32 mono)."""
from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt
import soxr

from media.g711 import ulaw_decode, ulaw_encode

LINE_RATE = 8000
Samples = npt.NDArray[np.float32]


def ulaw_to_float(ulaw: bytes) -> Samples:
    return (ulaw_decode(np.frombuffer(ulaw, dtype=np.uint8)).astype(np.float32) / 32768.0)


def float_to_ulaw(samples: Samples) -> bytes:
    pcm = np.clip(samples * 32767.0, -32768, 32767).astype(np.int16)
    return ulaw_encode(pcm).tobytes()


def resample(samples: Samples, rate_in: int, rate_out: int) -> Samples:
    if rate_in == rate_out or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    out: Samples = soxr.resample(samples.astype(np.float32, copy=False), rate_in, rate_out).astype(np.float32)
    return out


def trim_silence(samples: Samples, rate: int, *, lead_s: float = 0.03, tail_s: float = 0.15,
                 floor: float = 0.005) -> Samples:
    """Cut a synthesised sentence's silent margins (hibari adds ~0.3 s before and ~0.4 s after),
    keeping `lead_s` before the first and `tail_s` after the last sample above `floor` (-46 dBFS)."""
    loud = np.flatnonzero(np.abs(samples) > floor)
    if len(loud) == 0:
        return samples[:0]
    start = max(0, int(loud[0]) - int(lead_s * rate))
    end = min(len(samples), int(loud[-1]) + 1 + int(tail_s * rate))
    return samples[start:end]


def to_line(samples: Samples, rate: int) -> bytes:
    """Model output at `rate` -> 8 kHz µ-law for the call."""
    return float_to_ulaw(resample(samples, rate, LINE_RATE))


def wav_bytes(samples: Samples, rate: int) -> bytes:
    """16-bit mono WAV (what HTTP speech-to-text endpoints accept)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(samples * 32767.0, -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def read_wav(data: bytes) -> tuple[Samples, int]:
    """A 16-bit PCM WAV -> (mono float32, rate)."""
    with wave.open(io.BytesIO(data), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit WAV, got {8 * src.getsampwidth()}-bit")
        rate, channels = src.getframerate(), src.getnchannels()
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.float32), rate
